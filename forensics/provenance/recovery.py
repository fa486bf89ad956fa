"""Recovering stripped Content Credentials from the manifest repository (soft binding).

Runs after the credentials and watermark analysers. When a file carries no manifest of its own, a detected
watermark payload is looked up in the repository (the C2PA "soft binding" route); failing that, the image's
perceptual hash is (near-duplicate search). The stored manifest becomes the file's credentials finding, marked
``recovered_from`` and with informational statuses that say what could *not* be checked: the manifest's
hard binding (content hash) belongs to the original file, not to this copy.

Trust is re-validated by c2pa's Reader from the stored binary manifest store (application/c2pa) with the
trust lists in force now. Torch-free.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .. import config
from ..analysers import AnalysisContext, VerifyOptions
from ..media import Media
from ..report import CredentialsFinding, Signer, Status, WatermarkFinding

if TYPE_CHECKING:  # pragma: no cover - SQLAlchemy costs ~0.5 s of import: only paid when a repository exists
    from .repository import ManifestRecord, ManifestRepository

log = logging.getLogger(__name__)

RECOVERED = "forensics.manifest.recovered"
HASH_UNCHECKED = "forensics.contentHash.unchecked"
TRUST_RECHECKED = "forensics.trust.rechecked"
TRUST_NOT_RECHECKED = "forensics.trust.notRechecked"
AMBIGUOUS = "forensics.fingerprint.ambiguous"
FLAT_STD = 4.0  # grey levels; below this an image has too little structure for a fingerprint match

# hard-binding results recorded at signing time describe the original file, not this copy: never repeat them
_HASH_CODES = ("assertion.dataHash", "assertion.bmffHash", "assertion.boxesHash", "assertion.collectionHash")


class RecoveryAnalyser:
    name = "recovery"

    def applies_to(self, media: Media, options: VerifyOptions) -> bool:
        return media.is_image

    def analyse(self, media: Media, ctx: AnalysisContext) -> CredentialsFinding | None:
        current: CredentialsFinding | None = ctx.findings.get("c2pa")
        marks: WatermarkFinding | None = ctx.findings.get("watermarks")
        if not self._may_find(media, ctx, current, marks):
            return None  # what the lookups below would conclude, without loading SQLAlchemy
        repo = self._repository(ctx)
        if repo is None:
            return None
        if current is not None and current.present:
            # the file has its own manifest (valid or not): nothing to recover, but say which stored
            # manifest each of our watermarks points to (it may differ from the embedded one)
            for det in marks.detected if marks else []:
                rec = repo.by_watermark(det.scheme, det.payload) if det.payload else None
                if rec is not None:
                    det.manifest_id = rec.manifest_id
                    det.content_match = content_match(rec, media)
            return None
        not_this_image: set[str] = set()
        for det in _ordered(marks.detected if marks else []):
            if not det.payload:
                continue
            rec = repo.by_watermark(det.scheme, det.payload)
            if rec is not None:
                det.manifest_id = rec.manifest_id
                det.content_match = content_match(rec, media)
                if det.content_match is False:
                    # a mark anyone can embed (the fsw keys are public) in another image: the manifest
                    # belongs to that image, not to this file (the verdict says so)
                    not_this_image.add(rec.manifest_id)
                    continue
                why = (f"manifest recovered from the repository through the invisible watermark "
                       f"'{det.scheme}' (payload {det.payload}); it is not embedded in this file")
                return recovered_finding(rec, "watermark", why, ctx.options)
        from .phash import DEFAULT_MAX_DISTANCE, fingerprint

        if float(media.rgb(max_side=256).std()) < FLAT_STD:
            return None  # a near-uniform image has a meaningless pHash: it would "match" every flat image
        max_d = int(config.settings().get("registry.fingerprint_max_distance", DEFAULT_MAX_DISTANCE))
        # a 1024-px copy is plenty for pHash (computed on 512 px) and may be a cheap reduced JPEG decode
        hits = repo.by_fingerprint(fingerprint(media.rgb(max_side=1024)), max_distance=max_d)
        hits = [h for h in hits if h.manifest_id not in not_this_image]
        if not hits:
            return None
        best = hits[0]
        why = (f"manifest recovered from the repository by perceptual fingerprint (pHash distance "
               f"{best.distance}/64 bits); no watermark linked it, so it may belong to a similar image")
        finding = recovered_finding(best, "fingerprint", why, ctx.options)
        if len(hits) > 1:
            finding.statuses.append(Status(AMBIGUOUS, f"{len(hits)} stored manifests are within "
                                           f"{max_d} bits; the nearest is shown", "informational"))
        return finding

    @staticmethod
    def _may_find(media: Media, ctx: AnalysisContext, current: CredentialsFinding | None,
                  marks: WatermarkFinding | None) -> bool:
        """False when a SQLite repository, asked with the standard library, cannot hold any manifest the
        lookups in :meth:`analyse` would use; True (look properly) otherwise. Reads the same pixel copies
        :meth:`analyse` reads, in the same order."""
        url = config.registry_url(ctx.options.registry_url)
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
            return True  # no repository: analyse() returns at once
        from .repoprobe import Probe, sqlite_file

        path = sqlite_file(url)
        if path is None:
            return True  # another database: analyse() asks it
        probe = Probe(path)
        detections = [d for d in _ordered(marks.detected if marks else []) if d.payload]
        if any(probe.may_have_watermark(d.scheme, d.payload) for d in detections):
            return True
        if current is not None and current.present:
            return False  # only the watermark lookups run for a file with its own manifest
        from .phash import DEFAULT_MAX_DISTANCE, fingerprint

        if float(media.rgb(max_side=256).std()) < FLAT_STD:
            return False
        max_d = int(config.settings().get("registry.fingerprint_max_distance", DEFAULT_MAX_DISTANCE))
        return probe.may_have_fingerprint(fingerprint(media.rgb(max_side=1024)), max_d)

    @staticmethod
    def _repository(ctx: AnalysisContext) -> "ManifestRepository | None":
        url = config.registry_url(ctx.options.registry_url)
        if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).is_file():
            return None  # no repository yet: nothing to look up, and nothing (not even SQLAlchemy) to load
        key = "recovery.repository:" + url
        if ctx.cache.get(key) is None:  # an absent repository may appear later
            from .repository import ManifestRepository

            ctx.cache[key] = ManifestRepository.existing(url)
        return ctx.cache[key]


def content_match(rec: "ManifestRecord", media: Media) -> bool | None:
    """Is ``media`` a derived copy of the image ``rec`` was registered for? None: no descriptor to tell.

    Uses the 1024-px copy the watermark analyser already decoded."""
    if not rec.content_descriptor:
        return None
    from .content_match import is_copy

    return is_copy(rec.content_descriptor, media.rgb(max_side=1024))


def _ordered(detections):
    """Detections of the default soft-binding scheme first (the one the generator writes)."""
    try:
        from .watermark import DEFAULT_SCHEME
    except ImportError:  # watermark package not installed: every scheme is looked up in the order found
        DEFAULT_SCHEME = None
    return sorted(detections, key=lambda d: d.scheme != DEFAULT_SCHEME)


def recovered_finding(rec: "ManifestRecord", via: str, why: str, options: VerifyOptions) -> CredentialsFinding:
    """A credentials finding built from a stored manifest, honest about what was and was not checked."""
    f, trust_status = _validated(rec, options)
    f.present = True
    f.recovered_from = via
    f.manifest_id = rec.manifest_id
    f.remote = False
    f.statuses = [s for s in f.statuses if not s.code.startswith(_HASH_CODES) and s.kind != "success"]
    f.statuses.insert(0, Status(RECOVERED, why, "informational"))
    f.statuses.insert(1, Status(HASH_UNCHECKED, "the manifest's content hash binds the original file; it could "
                                "not be checked against this copy (metadata stripped or re-encoded)", "informational"))
    f.statuses.append(trust_status)
    return f


def _validated(rec: "ManifestRecord", options: VerifyOptions) -> tuple[CredentialsFinding, Status]:
    """The stored manifest, validated now. With the stored manifest store bytes, c2pa's Reader re-validates
    it (signature, certificate chain, basic constraints, key usage, EKU, validity, the trust lists in force);
    the content hash is the one thing it cannot check without the original file. Records stored before the
    bytes were kept are never shown as Trusted: their trust cannot be re-validated."""
    if rec.manifest_store_bytes:
        from .credentials import validate_store

        f = validate_store(rec.manifest_store_bytes,
                           trust_anchor_paths=config.trust_anchor_paths(options.trust_anchors),
                           allow_network=options.allow_network)
        if f.state is None:
            return f, Status(TRUST_NOT_RECHECKED, "c2pa could not re-validate the stored manifest store",
                             "informational")
        return f, Status(TRUST_RECHECKED, "the stored manifest store was re-validated by c2pa now: signature, "
                         "certificate chain and the trust lists in force"
                         + (f" (signer on the {f.trust_list} list)" if f.trust_list else ""), "informational")
    f = _from_stored(rec)
    f.state = rec.validation_state
    f.trust_list = None
    if f.state == "Trusted":
        f.state = "Valid"
    return f, Status(TRUST_NOT_RECHECKED, f"stored without its manifest store bytes, so c2pa cannot re-validate "
                     f"it; judged {rec.validation_state} when it was stored, shown as at most Valid",
                     "informational")


def _from_stored(rec: "ManifestRecord") -> CredentialsFinding:
    if rec.credentials:
        d = dict(rec.credentials)
        known = {k: d[k] for k in CredentialsFinding.__dataclass_fields__ if k in d}
        known["statuses"] = [Status(**{k: s.get(k) for k in ("code", "explanation", "kind", "url")})
                             for s in d.get("statuses") or []]
        if isinstance(d.get("signer"), dict):
            known["signer"] = Signer(**{k: d["signer"].get(k) for k in ("common_name", "organization", "issuer")})
        known["manifest_store"] = rec.manifest_store
        return CredentialsFinding(**known)
    from .credentials import finding_from_store

    return finding_from_store(rec.manifest_store)
