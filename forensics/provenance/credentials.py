"""Reading and validating Content Credentials (C2PA) with c2pa-python, and judging trust explicitly.

Design notes
- Every read builds its own c2pa ``Context`` from the trust anchors in force, so concurrent reads with
  different anchors (service workers, audit threads) never see each other's settings.
- Offline by default: remote manifests and OCSP are not fetched unless ``allow_network``.
- Trust is judged here, not taken from c2pa's state alone: c2pa reports ``Valid`` for an intact manifest
  whose signer is untrusted; we only say ``Trusted`` when c2pa says so *and* no trust failure is recorded.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..report import CredentialsFinding, Signer, Status
from . import identity, trustlists
from .keys import (C2PA_CLAIM_SIGNING_OID, DOCUMENT_SIGNING_OID, EMAIL_PROTECTION_OID, OCSP_SIGNING_OID,
                   TIME_STAMPING_OID)
from .statuses import FAILURE, INFO, explain

log = logging.getLogger(__name__)

# Extended key usages accepted for signing certificates (the C2PA trust list's store.cfg set plus the
# C2PA claim-signing OID). Without an explicit list c2pa refuses documentSigning-only certificates.
ALLOWED_EKUS: tuple[str, ...] = (EMAIL_PROTECTION_OID, DOCUMENT_SIGNING_OID, TIME_STAMPING_OID, OCSP_SIGNING_OID,
                                 C2PA_CLAIM_SIGNING_OID)

TSA_ONLY = "forensics.trustList.tsaOnly"
INTERIM_STATUS = "forensics.trustList.interim"
STALE_STATUS = "forensics.trustList.stale"
TRUNCATED_STATUS = "forensics.ingredients.truncated"

# Failures that only say "we do not know who signed"; they never make a manifest Invalid.
TRUST_FAILURES = {"signingCredential.untrusted", "cawg.x509.credential.untrusted", "timeStamp.untrusted", TSA_ONLY}

# Nesting kept in the JSON ingredient tree. The provenance walk itself (inherited source type, signals of
# every manifest in the history) has no depth limit: it is iterative and stops only at repeated manifests.
TREE_DEPTH = 64

_anchor_cache: dict[tuple, str] = {}
_anchor_lock = threading.Lock()


def _pem_certificates(raw: bytes) -> list[str]:
    return trustlists.pem_certificates(raw)


def load_trust_anchors(paths: list[Path] | tuple[Path, ...]) -> str:
    """Concatenate the user's PEM anchor bundles at ``paths`` (keys init, $FORENSICS_TRUST_ANCHORS,
    --trust-anchors): the one place those files are opened. ConfigError for a missing or non-PEM file."""
    from ..config import read_trust_anchor_file

    out: list[str] = []
    for p in paths:
        p = Path(p)
        try:
            st = p.stat()
        except OSError:
            raise ConfigError(f"trust anchors file not found: {p}") from None
        key = (str(p), st.st_mtime_ns, st.st_size, st.st_mode)
        with _anchor_lock:
            text = _anchor_cache.get(key)
        if text is None:
            certs = _pem_certificates(read_trust_anchor_file(p))  # regular files only, size-capped
            if not certs:
                raise ConfigError(f"{p} is not a PEM certificate bundle")
            text = "".join(certs)
            with _anchor_lock:
                _anchor_cache[key] = text
        out.append(text)
    return "".join(out)


def reader_settings(trust_anchors_pem: str, *, allow_network: bool = False) -> dict[str, Any]:
    """The c2pa settings we read with; the conformance tests give the reference reader the same dict.

    Trust: the user's anchors (``trust_anchors_pem``) as the list "local", plus the official C2PA list, the
    interim list and the TSA list, each named so c2pa reports which one the signer chains to.
    """
    return {
        "trust": trustlists.trust_settings(trust_anchors_pem, ALLOWED_EKUS),
        "verify": {"verify_trust": True, "remote_manifest_fetch": bool(allow_network),
                   "ocsp_fetch": bool(allow_network)},
    }


_contexts: dict[tuple, Any] = {}
_contexts_lock = threading.Lock()


def _context(trust_anchors_pem: str, allow_network: bool):
    """A c2pa Context per (anchors, network) pair, built once; Contexts are read-only once built."""
    import c2pa

    lists = tuple(tl.fingerprint for tl in trustlists.default_lists())
    key = (hashlib.sha256(trust_anchors_pem.encode()).hexdigest(), allow_network, lists)
    with _contexts_lock:
        ctx = _contexts.get(key)
        if ctx is None or not ctx.is_valid:
            ctx = c2pa.Context.from_dict(reader_settings(trust_anchors_pem, allow_network=allow_network))
            if len(_contexts) > 32:
                _contexts.clear()
            _contexts[key] = ctx
        return ctx


# --- store JSON -> finding ----------------------------------------------------------------------

def _actions_of(manifest: dict) -> list[dict]:
    out: list[dict] = []
    for a in manifest.get("assertions") or []:
        label = a.get("label", "")
        if label == "c2pa.actions" or label.startswith("c2pa.actions.v") or label.startswith("c2pa.actions__"):
            data = a.get("data") or {}
            out.extend(x for x in data.get("actions") or [] if isinstance(x, dict))
    return out


def _source_type(actions: list[dict]) -> str | None:
    first = [a for a in actions if a.get("action") in ("c2pa.created", "c2pa.opened")]
    for a in first + actions:
        dst = a.get("digitalSourceType")
        if isinstance(dst, str) and dst.strip():
            return dst.strip()
    return None


def _claim_generator(manifest: dict) -> str | None:
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info:
        parts = []
        for i in info:
            if isinstance(i, dict) and i.get("name"):
                parts.append(f"{i['name']}/{i['version']}" if i.get("version") else str(i["name"]))
        if parts:
            return " ".join(parts)
    cg = manifest.get("claim_generator")
    return cg if isinstance(cg, str) else None


def _signer(manifest: dict) -> Signer | None:
    si = manifest.get("signature_info")
    if not isinstance(si, dict):
        return None
    return Signer(common_name=si.get("common_name"), organization=si.get("organization") or si.get("issuer_org"),
                  issuer=si.get("issuer"))


def _statuses_from_results(results: dict | None) -> list[Status]:
    out: list[Status] = []
    if not isinstance(results, dict):
        return out

    def add(bucket: dict | None, where: str | None):
        for kind in ("failure", "informational", "success"):
            for s in (bucket or {}).get(kind) or []:
                if isinstance(s, dict) and s.get("code"):
                    st = explain(s["code"], kind, s.get("explanation"), s.get("url"))
                    if where:
                        st.explanation = f"[{where}] {st.explanation}"
                    out.append(st)

    add(results.get("activeManifest"), None)
    for delta in results.get("ingredientDeltas") or []:
        add(delta.get("validationDeltas"), "ingredient")
    return out


def _codes(bucket: dict | None, kind: str) -> set[str]:
    return {x.get("code") for x in (bucket or {}).get(kind) or [] if isinstance(x, dict)}


def _ingredient_state(ing: dict, delta: dict | None) -> str | None:
    """State of an ingredient's manifest: what was recorded when it was added, corrected by the deltas c2pa
    computes now (with today's trust settings). Trusted only on positive evidence."""
    res = ing.get("validation_results")
    recorded = (res.get("activeManifest") if isinstance(res, dict) else None) or {}
    fails = _codes(recorded, "failure") | _codes(delta, "failure")
    if isinstance(ing.get("validation_status"), list):  # older stores: failures only
        fails |= {x.get("code") for x in ing["validation_status"] if isinstance(x, dict)}
    if any(c not in TRUST_FAILURES for c in fails):
        return "Invalid"
    if fails & TRUST_FAILURES:
        return "Valid"
    if "signingCredential.trusted" in (_codes(recorded, "success") | _codes(delta, "success")):
        return "Trusted"
    return "Valid"


def _delta_for(ing: dict, deltas: list[dict]) -> dict | None:
    label, mid = ing.get("label"), ing.get("active_manifest")
    for d in deltas:
        uri = str(d.get("ingredientAssertionURI") or "")
        if label and uri.endswith("/" + label):
            return d.get("validationDeltas")
    for d in deltas:  # fall back to the ingredient's manifest id in the status URLs
        vd = d.get("validationDeltas") or {}
        if mid and any(f"/c2pa/{mid}" in str(x.get("url")) for k in ("success", "failure", "informational")
                       for x in vd.get(k) or [] if isinstance(x, dict)):
            return vd
    return None


def _ingredient_node(store: dict, ing: dict, delta: dict | None) -> tuple[dict[str, Any], dict | None]:
    mid = ing.get("active_manifest")
    node: dict[str, Any] = {
        "title": ing.get("title"),
        "format": ing.get("format"),
        "relationship": ing.get("relationship"),
        "manifest_id": mid,
        "state": _ingredient_state(ing, delta) if mid else None,
        "digital_source_type": None,
        "claim_generator": None,
        "signer": None,
        "actions": [],
        "signals": [],
        "ingredients": [],
    }
    sub = (store.get("manifests") or {}).get(mid) if mid else None
    if isinstance(sub, dict):
        acts = _actions_of(sub)
        node["actions"] = [str(a.get("action")) for a in acts if a.get("action")]
        node["digital_source_type"] = _source_type(acts)
        node["claim_generator"] = _claim_generator(sub)
        s = _signer(sub)
        node["signer"] = {k: getattr(s, k) for k in ("common_name", "organization", "issuer")} if s else None
        return node, sub
    return node, None


def _ingredient_tree(store: dict, active: dict, active_id: str | None) -> tuple[list[dict], list[dict], int | None]:
    """(tree, every node in walk order with its depth and parent, depth where the JSON tree was cut or None).

    Iterative, without a depth limit: each manifest is expanded once (a repeated manifest label, i.e. a
    cycle or a shared ingredient, is listed but not expanded again). Nodes deeper than TREE_DEPTH are left
    out of the nested tree only; the walk, and so the inherited source type and the signals, cover them.
    """
    # c2pa re-validates the active manifest's direct ingredients and reports the differences as deltas
    deltas = (store.get("validation_results") or {}).get("ingredientDeltas") or []
    tree: list[dict] = []
    flat: list[dict] = []
    truncated_at: int | None = None
    expanded = {active_id}
    queue: list[tuple[dict, list[dict] | None, int, dict | None]] = [(active, tree, 0, None)]
    while queue:
        manifest, siblings, depth, parent = queue.pop(0)
        for ing in manifest.get("ingredients") or []:
            if not isinstance(ing, dict):
                continue
            node, sub = _ingredient_node(store, ing, _delta_for(ing, deltas) if depth == 0 else None)
            flat.append({"node": node, "depth": depth + 1, "parent": parent, "manifest": sub})
            if siblings is not None:
                siblings.append(node)
            elif truncated_at is None:
                truncated_at = depth
            mid = node["manifest_id"]
            if sub is not None and mid not in expanded:
                expanded.add(mid)
                queue.append((sub, node["ingredients"] if depth + 1 < TREE_DEPTH else None, depth + 1, node))
    return tree, flat, truncated_at


def _inherited_source_type(flat: list[dict]) -> tuple[str | None, int | None]:
    """The nearest declared source type up the parentOf chain: an edit of AI-generated media is still
    AI-generated media, however many edits later. Returns (source type, depth where it was declared)."""
    parents: dict[int, dict] = {}
    for e in flat:
        if e["node"].get("relationship") == "parentOf":
            parents.setdefault(id(e["parent"]), e)
    parent = None
    while True:
        nxt = parents.get(id(parent))
        if nxt is None:
            return None, None
        if nxt["node"].get("digital_source_type"):
            return nxt["node"]["digital_source_type"], nxt["depth"]
        parent = nxt["node"]


def judge_state(c2pa_state: str | None, failure_codes: list[str]) -> str:
    """Our state from c2pa's: never more than c2pa says, and never Trusted with a trust failure."""
    if c2pa_state == "Invalid" or any(c not in TRUST_FAILURES for c in failure_codes):
        return "Invalid"
    if c2pa_state == "Trusted" and not any(c in TRUST_FAILURES for c in failure_codes):
        return "Trusted"
    return "Valid"


def _trust_statuses(f: CredentialsFinding, trust_uri: str | None, cert_info: dict | None = None) -> None:
    """Which list the signer chains to, and what the reader must know about that list."""
    name = trustlists.list_name(trust_uri) if f.state == "Trusted" else None
    if f.state == "Trusted" and name is None and not trust_uri and isinstance(cert_info, dict):
        subject = cert_info.get("subject") if isinstance(cert_info.get("subject"), dict) else {}
        name = trustlists.allowed_list_name(cert_info.get("serialNumber"), subject.get("CN"))
    if name == trustlists.TSA:
        # a time-stamping authority's root vouches for timestamps, not for who signed the content
        f.state = "Valid"
        f.statuses.append(explain(TSA_ONLY, FAILURE))
        name = None
    f.trust_list = name
    if name == trustlists.INTERIM:
        f.statuses.append(explain(INTERIM_STATUS, INFO))
    if f.state is not None:
        for tl in trustlists.stale_lists():
            f.statuses.append(Status(STALE_STATUS, f"The {tl.title} in use (issued {tl.issued}) is past its own "
                                     f"next-update date {tl.next_update}: certificates added or removed since are "
                                     "not known here. Run `forensics trust update --allow-network`.", INFO))


# hard-binding results: about the asset's bytes, so meaningless for a bare manifest store
HARD_BINDING_CODES = ("assertion.dataHash", "assertion.bmffHash", "assertion.boxesHash", "assertion.collectionHash")


def finding_from_store(store: dict, *, remote: bool = False, crjson: dict | None = None,
                       without_hard_binding: bool = False) -> CredentialsFinding:
    """Build the typed finding from a manifest store JSON (c2pa ``Reader.json()``) and, when available, the
    same store's crJSON (``Reader.crjson()``: signals, signer certificate details, CAWG identities).

    ``without_hard_binding``: the store was validated without its asset (``application/c2pa``), so the
    content-hash results are dropped and the state is judged from everything else c2pa checked.
    """
    from . import signals

    active_id = store.get("active_manifest")
    manifests = store.get("manifests") or {}
    active = manifests.get(active_id) if active_id else None
    statuses = _statuses_from_results(store.get("validation_results"))
    if not statuses and store.get("validation_status"):  # older c2pa output: failures only
        statuses = [explain(s["code"], FAILURE, s.get("explanation"), s.get("url"))
                    for s in store["validation_status"] if isinstance(s, dict) and s.get("code")]
    c2pa_state = store.get("validation_state")
    if without_hard_binding:
        statuses = [s for s in statuses if not s.code.startswith(HARD_BINDING_CODES)]
        trusted = any(s.code == "signingCredential.trusted" and s.kind == "success" and not s.explanation.startswith("[")
                      for s in statuses)
        c2pa_state = "Trusted" if trusted else "Valid"  # judge_state still lowers it for any failure left
    failures = [s.code for s in statuses if s.kind == FAILURE]
    f = CredentialsFinding(present=True, state=judge_state(c2pa_state, failures),
                           statuses=statuses, manifest_id=active_id, remote=remote, manifest_store=store,
                           crjson=crjson)
    cr = signals.crjson_manifests(crjson if crjson is not None else signals.crjson_from_store(store))
    _trust_statuses(f, (store.get("validation_results") or {}).get("trustListUri"),
                    identity.cert_info(cr.get(active_id)))
    if isinstance(active, dict):
        acts = _actions_of(active)
        f.actions = [str(a.get("action")) for a in acts if a.get("action")]
        f.signer = _signer(active)
        f.claim_generator = _claim_generator(active)
        f.signed_at = (active.get("signature_info") or {}).get("time")
        f.title = active.get("title")
        f.ingredients, flat, truncated_at = _ingredient_tree(store, active, active_id)
        inherited, _ = _inherited_source_type(flat)
        f.digital_source_type = _source_type(acts) or inherited
        f.signals = signals.evaluate(cr.get(active_id) or {})
        for e in flat:
            mid = e["node"].get("manifest_id")
            if mid and mid in cr:
                e["node"]["signals"] = signals.evaluate(cr[mid])
        f.history_signals = [{"manifest_id": e["node"]["manifest_id"], "title": e["node"].get("title"),
                              "relationship": e["node"].get("relationship"), "depth": e["depth"],
                              "signals": e["node"]["signals"]} for e in flat if e["node"].get("signals")]
        if truncated_at is not None:
            f.statuses.append(Status(TRUNCATED_STATUS, f"The ingredient tree in this report is cut at depth "
                                     f"{TREE_DEPTH}; the source type and signals were computed over all "
                                     f"{len(flat)} ingredients.", INFO))
        identity.apply(f, cr.get(active_id), active)
    return f


_REMOTE_RE = re.compile(r"remote manifests? from url (\S+)", re.I)


def _error_finding(exc: Exception, allow_network: bool = False) -> CredentialsFinding:
    """Map a c2pa read error to a finding: the credentials could not be checked, and why."""
    import c2pa

    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, c2pa.C2paError.NotSupported):
        return CredentialsFinding(present=False, statuses=[explain("forensics.format.unsupported", INFO, msg)])
    m = _REMOTE_RE.search(msg)
    if m or msg.startswith("Remote"):
        url = m.group(1) if m else None
        if allow_network:  # the fetch was allowed and attempted: say why it failed, not "offline"
            return CredentialsFinding(present=True, state=None, remote=True,
                                      statuses=[explain("forensics.manifest.remote.fetchFailed", INFO, msg)])
        return CredentialsFinding(present=True, state=None, remote=True,
                                  statuses=[explain("forensics.manifest.remote", INFO, url or msg)])
    if "could not be parsed" in msg:
        return CredentialsFinding(present=False, statuses=[explain("forensics.asset.unparsable", INFO, msg)])
    return CredentialsFinding(present=True, state=None,
                              statuses=[explain("forensics.manifest.unreadable", INFO, msg)])


def read_credentials(source: Path | bytes, media_type: str, *, trust_anchor_paths: list[Path],
                     allow_network: bool = False) -> CredentialsFinding:
    """Read and validate the Content Credentials of ``source`` (a path or the file's bytes).

    Returns a finding with ``present=False`` when there are none. Unreadable or remote manifests give a
    finding with ``state=None`` and an informational status saying why. Raises ConfigError for bad anchors.
    """
    import c2pa

    anchors = load_trust_anchors(list(trust_anchor_paths))
    ctx = _context(anchors, allow_network)
    try:
        with (open(source, "rb") if isinstance(source, (str, Path)) else io.BytesIO(source)) as stream:
            reader = c2pa.Reader.try_create(media_type, stream, None, ctx)
            if reader is None:
                return CredentialsFinding(present=False)
            with reader:
                store = json.loads(reader.json())
                remote = not reader.is_embedded()
                crjson = _crjson_of(reader)
                remote_url = reader.get_remote_url() if remote else None
    except c2pa.C2paError as exc:
        log.debug("c2pa could not read %s", source if isinstance(source, (str, Path)) else "<bytes>",
                  exc_info=True)
        return _error_finding(exc, allow_network)
    except (ValueError, RecursionError) as exc:  # malformed JSON from a hostile manifest
        return _error_finding(exc, allow_network)
    f = finding_from_store(store, remote=remote, crjson=crjson)
    identity.complete_chain(f, anchors)
    if remote:
        where = f" from {remote_url}" if remote_url else ""
        f.statuses.insert(0, Status("forensics.manifest.remote.fetched", "The manifest is stored remotely; it was "
                                    f"fetched{where} (--allow-network) and validated like an embedded one.", INFO))
    return f


def _crjson_of(reader) -> dict | None:
    try:
        out = json.loads(reader.crjson())
    except Exception:  # noqa: BLE001 - crJSON is extra detail: the store JSON alone still gives the finding
        log.debug("c2pa could not produce crJSON", exc_info=True)
        return None
    return out if isinstance(out, dict) else None


def read_crjson(source: Path | str | bytes, media_type: str | None = None, *,
                trust_anchor_paths: list[Path] | tuple[Path, ...] = (), allow_network: bool = False) -> dict:
    """c2pa's crJSON of ``source`` (a path or the file's bytes), validated with the same trust lists as
    ``verify``: the format rubric evaluators consume. ``{}`` when there are no Content Credentials.

    Raises the c2pa error when the credentials cannot be read, ConfigError for bad anchors.
    """
    import c2pa

    from ..media import sniff, sniff_path

    if media_type is None:
        media_type = (sniff_path(source) if isinstance(source, (str, Path)) else sniff(bytes(source[:64])))
        media_type = media_type or "application/octet-stream"
    ctx = _context(load_trust_anchors(list(trust_anchor_paths)), allow_network)
    with (open(source, "rb") if isinstance(source, (str, Path)) else io.BytesIO(source)) as stream:
        reader = c2pa.Reader.try_create(media_type, stream, None, ctx)
        if reader is None:
            return {}
        with reader:
            return json.loads(reader.crjson())


def validate_store(store_bytes: bytes, *, trust_anchor_paths: list[Path] | tuple[Path, ...] = (),
                   allow_network: bool = False) -> CredentialsFinding:
    """Validate a bare manifest store (``application/c2pa``, as ``Builder.sign`` returns it) with c2pa's
    Reader and the trust lists in force. The content hash cannot be checked without the asset, so c2pa
    reports the hard binding as unverifiable; every other check (signature, chain, EKU, validity) is c2pa's."""
    import c2pa

    anchors = load_trust_anchors(list(trust_anchor_paths))
    ctx = _context(anchors, allow_network)
    try:
        with c2pa.Reader("application/c2pa", io.BytesIO(store_bytes), None, ctx) as reader:
            store = json.loads(reader.json())
            crjson = _crjson_of(reader)
    except c2pa.C2paError as exc:
        return _error_finding(exc)
    except (ValueError, RecursionError) as exc:
        return _error_finding(exc)
    f = finding_from_store(store, crjson=crjson, without_hard_binding=True)
    identity.complete_chain(f, anchors)
    return f


class CredentialsAnalyser:
    """Content Credentials (C2PA hard binding) for every image and video c2pa can read."""

    name = "credentials"

    def applies_to(self, media, options) -> bool:
        return media.is_image or media.is_video

    def analyse(self, media, ctx) -> CredentialsFinding:
        from ..config import trust_anchor_paths

        return read_credentials(media.path, media.media_type,
                                trust_anchor_paths=trust_anchor_paths(ctx.options.trust_anchors),
                                allow_network=ctx.options.allow_network)
