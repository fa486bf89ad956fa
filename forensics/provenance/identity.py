"""Who signed: the signing certificate's subject (organisation, country, validity) and chain, and CAWG
identity assertions (named actor, verified identities), from c2pa's crJSON.

c2pa's store JSON gives only the signer's common name and the issuer's organisation; crJSON carries the
signing certificate's subject, issuer and validity. The rest of the chain is completed from the trust list
the signer chains to (c2pa validated that chain): each issuer is looked up there by name with
``cryptography``, and entries say where they come from (``source``: "manifest" or "trust-list").
"""
from __future__ import annotations

import threading
from typing import Any

from ..report import CredentialsFinding, Signer
from . import trustlists

MAX_CHAIN = 8
_ORDER = ("CN", "OU", "O", "L", "ST", "C")


def _dn(d: dict | None) -> str | None:
    if not isinstance(d, dict) or not d:
        return None
    keys = [k for k in _ORDER if k in d] + [k for k in d if k not in _ORDER]
    return ", ".join(f"{k}={d[k]}" for k in keys if isinstance(d[k], (str, int)))


def cert_info(cr_manifest: dict | None) -> dict | None:
    """crJSON's certificate info of a manifest's signing certificate (subject, issuer, serial, validity)."""
    sig = (cr_manifest or {}).get("signature")
    info = sig.get("certificateInfo") if isinstance(sig, dict) else None
    return info if isinstance(info, dict) else None


def _entry(subject: dict, issuer: dict, validity: dict | None, source: str) -> dict[str, Any]:
    validity = validity if isinstance(validity, dict) else {}
    return {"subject": _dn(subject), "issuer": _dn(issuer), "organization": subject.get("O"),
            "country": subject.get("C"), "not_before": validity.get("notBefore"),
            "not_after": validity.get("notAfter"), "source": source}


def apply(f: CredentialsFinding, cr_manifest: dict | None, store_manifest: dict | None) -> None:
    """Fill the signer's organisation, country, validity and leaf chain entry, and the CAWG identities."""
    info = cert_info(cr_manifest)
    if info:
        subject = info.get("subject") if isinstance(info.get("subject"), dict) else {}
        issuer = info.get("issuer") if isinstance(info.get("issuer"), dict) else {}
        validity = info.get("validity") if isinstance(info.get("validity"), dict) else {}
        s = f.signer or Signer()
        s.common_name = s.common_name or subject.get("CN")
        s.organization = s.organization or subject.get("O")
        s.country = subject.get("C")
        # c2pa's signature_info "issuer" is the signing certificate's subject O; name the issuing CA's
        # organisation instead (its full name is in chain[0]["issuer"])
        s.issuer = issuer.get("O") or issuer.get("CN") or s.issuer
        s.not_before, s.not_after = validity.get("notBefore"), validity.get("notAfter")
        s.chain = [_entry(subject, issuer, validity, "manifest")]
        f.signer = s
    f.identities = identities(cr_manifest, store_manifest)


# --- chain completion from the trust lists ------------------------------------------------------------

_index: dict[tuple, list[tuple[dict, dict, dict]]] = {}
_index_lock = threading.Lock()


def _name_dict(name) -> dict[str, str]:
    out: dict[str, str] = {}
    for attr in name:
        out.setdefault(attr.rfc4514_attribute_name, str(attr.value))
    return out


def _certs_of(pem: str) -> list[tuple[dict, dict, dict]]:
    """(subject, issuer, validity) of each certificate of a PEM bundle, cached per bundle: in the process,
    and on disk by the bundle's hash (parsing needs ``cryptography``, whose import costs more than a read)."""
    import hashlib

    digest = hashlib.sha256(pem.encode()).hexdigest()
    key = (digest,)
    with _index_lock:
        hit = _index.get(key)
    if hit is not None:
        return hit
    from .. import diskcache

    out = _valid_index(diskcache.read_json(CERT_INDEX_CACHE, digest))
    if out is None:
        out = _parse_certs(pem)
        diskcache.write_json(CERT_INDEX_CACHE, digest, out)
    with _index_lock:
        _index[key] = out
    return out


CERT_INDEX_CACHE = "cert-index"


def _parse_certs(pem: str) -> list[tuple[dict, dict, dict]]:
    from cryptography import x509

    out = []
    for block in trustlists.pem_certificates(pem.encode()):
        try:
            c = x509.load_pem_x509_certificate(block.encode())
        except ValueError:
            continue
        out.append((_name_dict(c.subject), _name_dict(c.issuer),
                    {"notBefore": c.not_valid_before_utc.isoformat(), "notAfter": c.not_valid_after_utc.isoformat()}))
    return out


def _str_dict(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _valid_index(value: Any) -> list[tuple[dict, dict, dict]] | None:
    """A cached index as :func:`_parse_certs` returns it, or None when the entry is not one."""
    if not isinstance(value, list):
        return None
    out = []
    for item in value:
        if not (isinstance(item, list) and len(item) == 3 and all(_str_dict(x) for x in item)):
            return None
        out.append((item[0], item[1], item[2]))
    return out


def _same_name(a: dict, b: dict) -> bool:
    return bool(a) and a.get("CN") == b.get("CN") and a.get("O") == b.get("O")


def complete_chain(f: CredentialsFinding, local_pem: str) -> None:
    """Append the issuers above the signing certificate from the list the signer chains to."""
    if f.signer is None or not f.signer.chain or not f.trust_list:
        return
    pem = {trustlists.OFFICIAL: lambda: trustlists.official_list().anchors_pem,
           trustlists.INTERIM: lambda: trustlists.interim_list().anchors_pem,
           trustlists.LOCAL: lambda: local_pem}.get(f.trust_list, lambda: "")()
    certs = _certs_of(pem) if pem else []
    want = _issuer_dict(f.signer.chain[-1])
    while want and len(f.signer.chain) < MAX_CHAIN:
        hit = next((c for c in certs if _same_name(c[0], want)), None)
        if hit is None:
            break
        subject, issuer, validity = hit
        f.signer.chain.append(_entry(subject, issuer, validity, "trust-list"))
        if _same_name(subject, issuer):  # a root
            break
        want = issuer


def _issuer_dict(entry: dict) -> dict:
    out = {}
    for part in (entry.get("issuer") or "").split(", "):
        k, _, v = part.partition("=")
        if k and v:
            out.setdefault(k, v)
    return out


# --- CAWG identity assertions ---------------------------------------------------------------------------

def _verified_identities(node: Any, depth: int = 0) -> list[dict]:
    """``verifiedIdentities`` entries anywhere in an identity claims aggregation credential (bounded)."""
    if depth > 8:
        return []
    out: list[dict] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "verifiedIdentities" and isinstance(v, list):
                for vi in v:
                    if isinstance(vi, dict):
                        prov = vi.get("provider") if isinstance(vi.get("provider"), dict) else {}
                        out.append({"type": vi.get("type"), "name": vi.get("name"), "username": vi.get("username"),
                                    "uri": vi.get("uri"), "provider": prov.get("name") or prov.get("id"),
                                    "verified_at": vi.get("verifiedAt")})
            else:
                out += _verified_identities(v, depth + 1)
    elif isinstance(node, list):
        for v in node[:64]:
            out += _verified_identities(v, depth + 1)
    return out


def identities(cr_manifest: dict | None, store_manifest: dict | None) -> list[dict]:
    """One entry per ``cawg.identity`` assertion: signature type, the named actor (X.509 subject) and the
    verified identities (identity claims aggregation)."""
    out: list[dict] = []
    assertions = (cr_manifest or {}).get("assertions")
    if isinstance(assertions, dict) and assertions:
        items = [(k, v) for k, v in assertions.items() if k.split("__")[0] == "cawg.identity"]
        for label, a in items:
            if not isinstance(a, dict):
                continue
            payload = a.get("signer_payload") if isinstance(a.get("signer_payload"), dict) else {}
            sig = a.get("signature") if isinstance(a.get("signature"), dict) else {}
            info = sig.get("certificateInfo") if isinstance(sig.get("certificateInfo"), dict) else None
            actor = None
            if info:
                subj = info.get("subject") if isinstance(info.get("subject"), dict) else {}
                actor = {"common_name": subj.get("CN"), "organization": subj.get("O"), "country": subj.get("C"),
                         "issuer": _dn(info.get("issuer") if isinstance(info.get("issuer"), dict) else None)}
            out.append({"label": label, "sig_type": payload.get("sig_type"), "named_actor": actor,
                        "verified_identities": _verified_identities(sig),
                        "referenced_assertions": [str(r.get("url")).rsplit("/", 1)[-1]
                                                  for r in payload.get("referenced_assertions") or []
                                                  if isinstance(r, dict) and r.get("url")]})
        return out
    for a in (store_manifest or {}).get("assertions") or []:  # store JSON only (no crJSON)
        if isinstance(a, dict) and str(a.get("label", "")).split("__")[0] == "cawg.identity":
            data = a.get("data") if isinstance(a.get("data"), dict) else {}
            si = data.get("signature_info") if isinstance(data.get("signature_info"), dict) else {}
            payload = data.get("signer_payload") if isinstance(data.get("signer_payload"), dict) else {}
            actor = ({"common_name": si.get("common_name"), "organization": si.get("issuer"), "country": None,
                      "issuer": None} if si else None)
            out.append({"label": a["label"], "sig_type": payload.get("sig_type"), "named_actor": actor,
                        "verified_identities": _verified_identities(data),
                        "referenced_assertions": [str(r.get("url")).rsplit("/", 1)[-1]
                                                  for r in payload.get("referenced_assertions") or []
                                                  if isinstance(r, dict) and r.get("url")]})
    return out
