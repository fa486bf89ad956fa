"""The trust lists a verification accepts: the official C2PA list, the frozen interim list, the TSA list and
the user's local anchors.

The official lists ship as package data (``forensics/provenance/trust``, see its SOURCES.md) and can be
replaced by current copies with ``forensics trust update --allow-network`` (kept under
``$FORENSICS_HOME/trust/lists``; the shipped snapshot stays the fallback). Each list is handed to c2pa as a
named trust list (``trust.anchors`` in c2pa's settings), so c2pa itself validates the chain, the EKUs and the
validity and reports which list the signer chains to (``validation_results.trustListUri``).

Import-light: stdlib only on the verify path; ``cryptography`` is imported by the listing and update code.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from .. import config
from ..errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parent / "trust"

# list names as they appear in verify JSON (``c2pa.trust_list``) and in `forensics trust list`
OFFICIAL, INTERIM, LOCAL, TSA = "c2pa", "interim", "local", "c2pa-tsa"
# the trust_uri handed to c2pa for each list; c2pa reports it back as trustListUri
URIS = {
    OFFICIAL: "https://github.com/c2pa-org/conformance-public/tree/main/trust-list#C2PA-TRUST-LIST",
    INTERIM: "https://contentcredentials.org/trust/anchors.pem#interim",
    LOCAL: "urn:forensics-suite:trust:local",
    TSA: "https://github.com/c2pa-org/conformance-public/tree/main/trust-list#C2PA-TSA-TRUST-LIST",
}
NAME_OF_URI = {v: k for k, v in URIS.items()}

INTERIM_FROZEN = "2026-01-01"  # contentauth/verify-site froze the interim list on this date (SOURCES.md)
TITLES = {OFFICIAL: "C2PA Trust List", INTERIM: "Interim trust list (contentcredentials.org, frozen)",
          LOCAL: "Local anchors", TSA: "C2PA TSA Trust List"}
LICENCES = {OFFICIAL: "CC BY 4.0", TSA: "CC BY 4.0", INTERIM: "Apache-2.0", LOCAL: None}

# where `trust update` fetches the current official lists from (only with --allow-network)
UPDATE_URLS = {
    "C2PA-TRUST-LIST.pem": "https://raw.githubusercontent.com/c2pa-org/conformance-public/main/trust-list/C2PA-TRUST-LIST.pem",
    "C2PA-TRUST-LIST.json": "https://raw.githubusercontent.com/c2pa-org/conformance-public/main/trust-list/C2PA-TRUST-LIST.json",
    "C2PA-TSA-TRUST-LIST.pem": "https://raw.githubusercontent.com/c2pa-org/conformance-public/main/trust-list/C2PA-TSA-TRUST-LIST.pem",
    "C2PA-TSA-TRUST-LIST.json": "https://raw.githubusercontent.com/c2pa-org/conformance-public/main/trust-list/C2PA-TSA-TRUST-LIST.json",
}
MAX_LIST_BYTES = 8 * 1024 * 1024
_FILES = {OFFICIAL: ("C2PA-TRUST-LIST.pem", "C2PA-TRUST-LIST.json"),
          TSA: ("C2PA-TSA-TRUST-LIST.pem", "C2PA-TSA-TRUST-LIST.json")}

_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s+([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----")
_OID = re.compile(r"^\d+(\.\d+)+$")


def pem_certificates(raw: bytes) -> list[str]:
    """The certificate blocks of a PEM bundle, re-wrapped cleanly (comments and other blocks dropped).

    Only the PEM/base64/DER envelope is checked (cheap, no cryptography import on the verify path);
    c2pa parses the certificates themselves.
    """
    out = []
    for m in _PEM_CERT.finditer(raw):
        body = b"".join(m.group(1).split())
        try:
            der = base64.b64decode(body, validate=True)
        except ValueError:
            continue
        if len(der) < 64 or der[0] != 0x30:  # an X.509 certificate is a DER SEQUENCE
            continue
        out.append(_der_to_pem(der))
    return out


def _der_to_pem(der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))  # 64-column lines (a regex-free wrap)
    return "-----BEGIN CERTIFICATE-----\n" + lines + "\n-----END CERTIFICATE-----\n"


@dataclass(frozen=True)
class TrustList:
    """One named set of anchors as handed to c2pa."""

    name: str
    anchors_pem: str
    allowed_pem: str = ""  # end-entity certificates accepted as such (the interim list has them)
    issued: str | None = None  # ISO-8601, from the list itself
    next_update: str | None = None
    frozen: str | None = None
    origin: str = "shipped"  # shipped | updated | user
    paths: tuple[str, ...] = field(default_factory=tuple)

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256((self.name + self.anchors_pem + "|" + self.allowed_pem).encode()).hexdigest()

    @property
    def uri(self) -> str:
        return URIS[self.name]

    @property
    def kind(self) -> str:
        return "tsa" if self.name == TSA else "manifest"

    @property
    def title(self) -> str:
        return TITLES[self.name]

    def stale(self, now: dt.datetime | None = None) -> bool:
        """Past the list's own next-update date: newer roots (and removals) are not known here."""
        if not self.next_update:
            return False
        try:
            nu = dt.datetime.fromisoformat(self.next_update.replace("Z", "+00:00"))
        except ValueError:
            return True  # an unreadable date is not a promise of freshness
        return (now or dt.datetime.now(dt.timezone.utc)) > nu

    def c2pa_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"trust_uri": self.uri, "trust_kind": self.kind, "trust_anchors": self.anchors_pem}
        if self.allowed_pem:
            entry["allowed_list"] = self.allowed_pem
        return entry


class ListError(ValueError):
    pass


def parse_lote(json_bytes: bytes) -> tuple[str, str, list[bytes]]:
    """(issue date, next update, certificates as DER) of an ETSI TS 119 602 list-of-trusted-entities JSON."""
    try:
        lote = json.loads(json_bytes)["LoTE"]
        info = lote["ListAndSchemeInformation"]
        issued, next_update = str(info["ListIssueDateTime"]), str(info["NextUpdate"])
        ders = [base64.b64decode(c["val"], validate=True)
                for te in lote["TrustedEntitiesList"] for svc in te["TrustedEntityServices"]
                for c in svc["ServiceInformation"]["ServiceDigitalIdentity"]["X509Certificates"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ListError(f"not a C2PA list-of-trusted-entities JSON ({type(exc).__name__}: {exc})") from None
    for d in (issued, next_update):
        try:
            dt.datetime.fromisoformat(d.replace("Z", "+00:00"))
        except ValueError:
            raise ListError(f"bad date {d!r} in the list") from None
    if not ders:
        raise ListError("the list names no certificates")
    return issued, next_update, ders


def check_list(pem_bytes: bytes, json_bytes: bytes) -> tuple[str, str, int]:
    """Full check of one downloaded list (PEM + JSON): every certificate parses (cryptography), and the
    PEM holds exactly the JSON's certificates. Returns (issued, next update, count); ListError otherwise."""
    from cryptography import x509

    issued, next_update, ders = parse_lote(json_bytes)
    try:
        pem_certs = x509.load_pem_x509_certificates(pem_bytes)
        json_certs = [x509.load_der_x509_certificate(d) for d in ders]
    except ValueError as exc:
        raise ListError(f"a certificate does not parse: {exc}") from None
    if {c.fingerprint(_sha256()) for c in pem_certs} != {c.fingerprint(_sha256()) for c in json_certs}:
        raise ListError("the PEM and JSON forms of the list name different certificates")
    return issued, next_update, len(pem_certs)


def _sha256():
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def updated_dir() -> Path:
    return config.home() / "trust" / "lists"


_cache: dict[tuple, TrustList] = {}
_cache_lock = threading.Lock()


def _stat_key(paths: list[Path]) -> tuple:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def _official(name: str) -> TrustList:
    """The official list ``name`` (c2pa or c2pa-tsa): the updated copy when it is complete and parses,
    else the shipped snapshot."""
    pem_name, json_name = _FILES[name]
    candidates = [(updated_dir(), "updated"), (SHIPPED_DIR, "shipped")]
    key = (name, _stat_key([updated_dir() / pem_name, updated_dir() / json_name]))
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    result = None
    for directory, origin in candidates:
        pem_path, json_path = directory / pem_name, directory / json_name
        try:
            pem = pem_certificates(pem_path.read_bytes())
            issued, next_update, _ = parse_lote(json_path.read_bytes())
        except (OSError, ListError):
            continue
        if pem:
            result = TrustList(name, "".join(pem), issued=issued, next_update=next_update, origin=origin,
                               paths=(str(pem_path), str(json_path)))
            break
    if result is None:  # pragma: no cover - the package data is broken
        raise ConfigError(f"the shipped {TITLES[name]} is missing or damaged ({SHIPPED_DIR})")
    with _cache_lock:
        _cache[key] = result
    return result


def official_list() -> TrustList:
    return _official(OFFICIAL)


def tsa_list() -> TrustList:
    return _official(TSA)


def interim_list() -> TrustList:
    key = ("interim",)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    anchors = pem_certificates((SHIPPED_DIR / "interim-anchors.pem").read_bytes())
    allowed = pem_certificates((SHIPPED_DIR / "interim-allowed.pem").read_bytes())
    tl = TrustList(INTERIM, "".join(anchors), "".join(allowed), issued=INTERIM_FROZEN, frozen=INTERIM_FROZEN,
                   paths=(str(SHIPPED_DIR / "interim-anchors.pem"), str(SHIPPED_DIR / "interim-allowed.pem")))
    with _cache_lock:
        _cache[key] = tl
    return tl


def eku_config(base: tuple[str, ...]) -> str:
    """The EKUs accepted for signers: ``base`` plus every OID of the interim list's store.cfg (the
    lists' own configuration; '//' lines there are comments)."""
    oids = list(base)
    for line in (SHIPPED_DIR / "interim-store.cfg").read_text().splitlines():
        line = line.strip()
        if _OID.match(line) and line not in oids:
            oids.append(line)
    return "\n".join(oids) + "\n"


def default_lists() -> list[TrustList]:
    """The lists every verification accepts besides the user's: official, interim, TSA."""
    return [official_list(), interim_list(), tsa_list()]


def trust_settings(local_pem: str, base_ekus: tuple[str, ...]) -> dict[str, Any]:
    """c2pa's ``trust`` settings: one named entry per list, local anchors first (a user's own root is
    reported as local even when a public list also has it)."""
    lists = ([TrustList(LOCAL, local_pem, origin="user")] if local_pem else []) + default_lists()
    return {"anchors": [tl.c2pa_entry() for tl in lists], "trust_config": eku_config(base_ekus)}


def list_name(trust_list_uri: str | None) -> str | None:
    return NAME_OF_URI.get(trust_list_uri or "")


_allowed_index: dict[str, set[tuple[str, str | None]]] = {}


def allowed_list_name(serial_hex: str | None, common_name: str | None) -> str | None:
    """The list whose allowed end-entity certificates hold this signing certificate (serial + subject CN).

    c2pa names the list (trustListUri) only for chains to an anchor; a certificate it trusted because it is
    on an allowed list is reported without one, so it is identified here.
    """
    if not serial_hex:
        return None
    want = (serial_hex.lower().lstrip("0"), common_name)
    tl = interim_list()
    idx = _allowed_index.get(tl.fingerprint)
    if idx is None:
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        idx = set()
        for block in pem_certificates(tl.allowed_pem.encode()):
            try:
                c = x509.load_pem_x509_certificate(block.encode())
            except ValueError:
                continue
            cn = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            idx.add((format(c.serial_number, "x"), str(cn[0].value) if cn else None))
        _allowed_index[tl.fingerprint] = idx
    return INTERIM if want in idx else None


def stale_lists(now: dt.datetime | None = None) -> list[TrustList]:
    return [tl for tl in (official_list(), tsa_list()) if tl.stale(now)]


# --- `forensics trust list` -------------------------------------------------------------------------

def _name_attr(name, oid) -> str | None:
    vals = name.get_attributes_for_oid(oid)
    return str(vals[0].value) if vals else None


def describe(cert_pem: str, tl: TrustList, role: str) -> dict[str, Any]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    c = x509.load_pem_x509_certificate(cert_pem.encode())
    return {
        "list": tl.name,
        "list_title": tl.title,
        "role": role,  # anchor | allowed (an end-entity certificate accepted as such)
        "subject": c.subject.rfc4514_string(),
        "common_name": _name_attr(c.subject, NameOID.COMMON_NAME),
        "organization": _name_attr(c.subject, NameOID.ORGANIZATION_NAME),
        "country": _name_attr(c.subject, NameOID.COUNTRY_NAME),
        "issuer": c.issuer.rfc4514_string(),
        "sha256": hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest(),
        "not_before": c.not_valid_before_utc.isoformat(),
        "not_after": c.not_valid_after_utc.isoformat(),
        "list_issued": tl.issued,
        "list_next_update": tl.next_update,
        "list_frozen": tl.frozen,
        "list_stale": tl.stale(),
    }


def all_lists(local_paths: list[Path]) -> list[TrustList]:
    from .credentials import load_trust_anchors

    local = load_trust_anchors(local_paths) if local_paths else ""
    out = [official_list(), interim_list(), tsa_list()]
    if local:
        out.append(TrustList(LOCAL, local, origin="user", paths=tuple(str(p) for p in local_paths)))
    return out


def list_summary(tl: TrustList) -> dict[str, Any]:
    return {"name": tl.name, "title": tl.title, "origin": tl.origin, "issued": tl.issued,
            "next_update": tl.next_update, "frozen": tl.frozen, "stale": tl.stale(),
            "licence": LICENCES[tl.name], "paths": list(tl.paths),
            "anchors": len(pem_certificates(tl.anchors_pem.encode())),
            "allowed": len(pem_certificates(tl.allowed_pem.encode()))}


def entries(local_paths: list[Path]) -> list[dict[str, Any]]:
    out = []
    for tl in all_lists(local_paths):
        out += [describe(c, tl, "anchor") for c in pem_certificates(tl.anchors_pem.encode())]
        out += [describe(c, tl, "allowed") for c in pem_certificates(tl.allowed_pem.encode())]
    return out


# --- local anchors: `trust add` / `trust remove` -------------------------------------------------------

def add_local(pem_bytes: bytes, bundle: Path | None = None) -> list[str]:
    """Add every certificate of ``pem_bytes`` to the local anchor bundle; returns their SHA-256."""
    from cryptography import x509

    from .keys import register_trust_anchor

    try:
        certs = x509.load_pem_x509_certificates(pem_bytes)
    except ValueError:
        raise ConfigError("not a PEM certificate file") from None
    out = []
    for c in certs:
        from cryptography.hazmat.primitives.serialization import Encoding

        register_trust_anchor(c.public_bytes(Encoding.PEM), bundle)
        out.append(hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest())
    return out


def remove_local(sha256_hex: str, bundle: Path | None = None) -> int:
    """Remove the local anchor(s) whose DER SHA-256 is ``sha256_hex``; returns how many were removed."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    want = sha256_hex.strip().lower().replace(":", "")
    if not re.fullmatch(r"[0-9a-f]{64}", want):
        raise ConfigError("give the anchor's SHA-256 as 64 hex digits (see `forensics trust list`)")
    bundle = bundle or config.local_trust_anchors_path()
    if not bundle.is_file():
        return 0
    try:
        certs = x509.load_pem_x509_certificates(bundle.read_bytes())
    except ValueError:
        raise ConfigError(f"{bundle} is not a PEM certificate bundle; fix or delete it") from None
    keep = [c for c in certs if hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest() != want]
    if keep and len(keep) != len(certs):
        bundle.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in keep))
    elif not keep:
        bundle.unlink()  # an empty bundle is not a PEM file: no local anchors at all
    return len(certs) - len(keep)


# --- `trust update --allow-network` --------------------------------------------------------------------

def _fetch_url(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - fixed https URLs (or a test's file://)
        data = resp.read(MAX_LIST_BYTES + 1)
    if len(data) > MAX_LIST_BYTES:
        raise ListError(f"{url} is larger than {MAX_LIST_BYTES} bytes")
    return data


@dataclass
class UpdateResult:
    ok: bool
    message: str
    lists: list[dict] = field(default_factory=list)


def update(*, allow_network: bool, fetch: Callable[[str], bytes] | None = None,
           urls: dict[str, str] | None = None) -> UpdateResult:
    """Fetch the current official lists, check that they parse, and install them all or none.

    On any failure the lists in force (the last good update, else the shipped snapshot) stay as they are.
    """
    if not allow_network:
        return UpdateResult(False, "updating the trust lists downloads them: pass --allow-network "
                                   "(the shipped snapshot stays in force)")
    fetch = fetch or _fetch_url
    urls = urls or UPDATE_URLS
    got: dict[str, bytes] = {}
    try:
        for fname, url in urls.items():
            got[fname] = fetch(url)
        checked = []
        for name, (pem_name, json_name) in _FILES.items():
            issued, next_update, n = check_list(got[pem_name], got[json_name])
            checked.append({"name": name, "issued": issued, "next_update": next_update, "certificates": n})
    except Exception as exc:  # noqa: BLE001 - network, HTTP, parse: every failure keeps the lists in force
        kept = official_list()
        return UpdateResult(False, f"update failed ({type(exc).__name__}: {exc}); keeping the {kept.origin} "
                                   f"list issued {kept.issued}")
    d = updated_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = {f: d / (f + ".tmp") for f in got}
    for f, data in got.items():
        tmp[f].write_bytes(data)
    for f in got:  # rename each only once all are written: a crash leaves the old set or a complete new one
        tmp[f].replace(d / f)
    return UpdateResult(True, "trust lists updated", checked)
