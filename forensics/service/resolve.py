"""Manifest lookup and the C2PA Soft Binding Resolution API, over the manifest repository.

Algorithm names are the watermark scheme names of :mod:`forensics.provenance.watermark` (the default
scheme is the one generation embeds) plus the repository's perceptual fingerprint. Values arrive
base64-encoded as the API specifies; hex is accepted too when it decodes to the scheme's payload size.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_HEX = re.compile(r"^[0-9a-fA-F]+$")


class BadQuery(ValueError):
    pass


@dataclass
class Match:
    manifest_id: str
    similarity: int | None = None  # 0-100

    def to_json(self) -> dict:
        out = {"manifestId": self.manifest_id}
        if self.similarity is not None:
            out["similarityScore"] = int(self.similarity)
        return out


def decode_value(value: str, expected_len: int | None = None) -> bytes:
    """Base64 (standard or URL-safe, padding optional) per the API; hex as a convenience."""
    v = value.strip()
    if expected_len and _HEX.match(v) and len(v) == 2 * expected_len:
        return bytes.fromhex(v)
    try:
        return base64.b64decode(v + "=" * (-len(v) % 4), altchars=b"-_" if ("-" in v or "_" in v) else None,
                                validate=True)
    except (binascii.Error, ValueError):
        if _HEX.match(v) and len(v) % 2 == 0:
            return bytes.fromhex(v)
        raise BadQuery("value is neither base64 nor hex") from None


C2PA_MEDIA_TYPE = "application/c2pa"


def prefers_c2pa(accept: str | None, *, default: bool) -> bool:
    """Does the Accept header ask for the binary manifest store (application/c2pa) rather than JSON?

    ``default`` answers for no preference (no header, ``*/*``, or equal weights): the Soft Binding
    Resolution API's /manifests/{id} answers application/c2pa; the contract's /v1/manifests/{id}, JSON.
    """
    weights: dict[str, float] = {}
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        mtype = fields[0].lower()
        if not mtype:
            continue
        q = 1.0
        for f in fields[1:]:
            if f.startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        weights[mtype] = max(q, weights.get(mtype, 0.0))
    wild = max(weights.get("*/*", 0.0), weights.get("application/*", 0.0))
    c2pa_q = weights.get(C2PA_MEDIA_TYPE, wild)
    json_q = weights.get("application/json", wild)
    if c2pa_q == json_q:
        return default if c2pa_q > 0 or not weights else False
    return c2pa_q > json_q


FINGERPRINT_ALG = "org.forensics-suite.phash.1"  # 64-bit DCT pHash (imagehash), hex or base64 of 8 bytes


class Resolver:
    """Answers Soft Binding Resolution queries from the manifest repository."""

    def __init__(self, registry_url: str, max_fingerprint_distance: int | None = None):
        self.registry_url = registry_url
        self.max_distance = max_fingerprint_distance

    def _repo(self):
        from ..provenance.repository import ManifestRepository

        # existing(): a lookup must not create an empty database as a side effect
        return ManifestRepository.existing(self.registry_url)

    @staticmethod
    def watermark_algs() -> list[str]:
        from ..provenance import watermark as wm

        # The repository indexes the schemes the generator embeds (now and before); others carry no link.
        return list(wm.SOFT_BINDING_SCHEMES)

    def supported_algorithms(self) -> dict:
        return {"watermarks": [{"alg": a} for a in self.watermark_algs()],
                "fingerprints": [{"alg": FINGERPRINT_ALG}]}

    def get(self, manifest_id: str):
        repo = self._repo()
        return repo.get(manifest_id) if repo is not None else None

    def by_binding(self, alg: str, value: str, max_results: int = 10) -> list[Match]:
        from ..provenance import repository as r
        from ..provenance import watermark as wm

        if alg in self.watermark_algs():
            payload = decode_value(value, wm.PAYLOAD_BYTES)
            repo = self._repo()
            rec = repo.by_watermark(alg, payload.hex()) if repo is not None else None
            return [Match(rec.manifest_id, 100)] if rec is not None else []
        if alg == FINGERPRINT_ALG:
            raw = decode_value(value, 8)
            if len(raw) != 8:
                raise BadQuery(f"{FINGERPRINT_ALG} values are 8 bytes (64-bit pHash)")
            return self._by_phash(raw.hex(), max_results)
        raise BadQuery(f"unsupported algorithm {alg!r}; see /services/supportedAlgorithms")

    def _by_phash(self, phash: str, max_results: int) -> list[Match]:
        from ..provenance import repository as r

        repo = self._repo()
        if repo is None:
            return []
        dist = self.max_distance if self.max_distance is not None else r.DEFAULT_MAX_DISTANCE
        recs = repo.by_fingerprint(phash, max_distance=dist, limit=max_results)
        # similarity: 100 at distance 0, falling linearly to 0 at 64 differing bits
        return [Match(rec.manifest_id, round(100 * (1 - (rec.distance or 0) / 64))) for rec in recs]

    def by_content(self, path, alg: str | None = None, max_results: int = 10,
                   max_pixels: int | None = None) -> list[Match]:
        """Read the soft bindings from an uploaded image: the watermark first, then the fingerprint."""
        from ..media import Media
        from ..provenance import content_match
        from ..provenance import repository as r
        from ..provenance import watermark as wm

        if alg is not None and alg not in self.watermark_algs() and alg != FINGERPRINT_ALG:
            raise BadQuery(f"unsupported algorithm {alg!r}; see /services/supportedAlgorithms")
        media = Media.open(path, **({"max_pixels": max_pixels} if max_pixels else {}))
        if not media.is_image:
            raise BadQuery("byContent takes images")
        rgb = media.rgb()
        matches: list[Match] = []
        seen: set[str] = set()
        repo = self._repo()
        if repo is None:
            return []
        if alg in (None, *self.watermark_algs()):
            for d in wm.detect(rgb, schemes=[alg] if alg else self.watermark_algs()):
                if d.detected and d.payload:
                    rec = repo.by_watermark(d.scheme, d.payload)
                    if rec is not None and content_match.is_copy(rec.content_descriptor, rgb) is False:
                        continue  # a mark transplanted into another image: not this image's manifest
                    if rec is not None and rec.manifest_id not in seen:
                        seen.add(rec.manifest_id)
                        matches.append(Match(rec.manifest_id, 100))
        if alg in (None, FINGERPRINT_ALG) and len(matches) < max_results:
            for m in self._by_phash(r.fingerprint(rgb), max_results):
                if m.manifest_id not in seen:
                    seen.add(m.manifest_id)
                    matches.append(m)
        return matches[:max_results]
