"""Manifest repository: store, look up by watermark, by fingerprint (banded prefilter), by ID."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forensics.errors import ConfigError
from forensics.provenance.repository import ManifestRepository, fingerprint, hamming
from test_service_support import any_database, postgres_url  # noqa: F401 (fixture)


@pytest.fixture(autouse=True, params=["sqlite", "postgresql"])
def registry_db(request, tmp_path, monkeypatch):
    """Every test here runs on SQLite and on PostgreSQL (where one is configured; always in CI), through
    $FORENSICS_REGISTRY; "default" leaves the registry at its default place."""
    if request.param == "default":
        return None
    url = any_database(request, tmp_path)
    monkeypatch.setenv("FORENSICS_REGISTRY", url)
    return url


DEFAULT_REGISTRY = pytest.mark.parametrize("registry_db", ["default"], indirect=True)


def _store(repo, mid, value, phash, scheme="test-scheme"):
    return repo.store(manifest_id=mid, manifest_store={"active_manifest": mid, "manifests": {mid: {"title": mid}}},
                      watermark_scheme=scheme, watermark_value=value, phash=phash, media_type="image/png",
                      validation_state="Trusted")


def _flip(phash: str, bits: list[int]) -> str:
    v = int(phash, 16)
    for b in bits:
        v ^= 1 << b
    return f"{v:016x}"


@DEFAULT_REGISTRY
def test_default_url_is_sqlite_under_home(forensics_home):
    repo = ManifestRepository()
    assert repo.url == "sqlite:///" + str((forensics_home / "registry.sqlite").resolve())
    assert repo.count() == 0


@DEFAULT_REGISTRY
def test_env_registry_and_existing(tmp_path, monkeypatch):
    path = tmp_path / "r" / "reg.sqlite"
    monkeypatch.setenv("FORENSICS_REGISTRY", str(path))
    assert ManifestRepository.existing() is None  # looking must not create a database
    assert not path.exists()
    _store(ManifestRepository(), "urn:c2pa:a", "0a0b0c0d0e0f", "ffff0000ffff0000")
    assert path.is_file()
    again = ManifestRepository.existing()
    assert again is not None and again.get("urn:c2pa:a").validation_state == "Trusted"


def test_by_watermark_and_get():
    repo = ManifestRepository()
    _store(repo, "urn:c2pa:1", "A1B2C3D4E5F6", "0123456789abcdef")
    _store(repo, "urn:c2pa:2", "a1b2c3d4e5f7", "fedcba9876543210")
    rec = repo.by_watermark("test-scheme", "a1b2c3d4e5f6")  # hex is normalised to lowercase
    assert rec.manifest_id == "urn:c2pa:1" and rec.manifest["title"] == "urn:c2pa:1"
    assert repo.by_watermark("other-scheme", "a1b2c3d4e5f6") is None
    assert repo.by_watermark("test-scheme", "not hex") is None
    assert repo.get("urn:c2pa:2").watermark_value == "a1b2c3d4e5f7"
    assert repo.get("urn:c2pa:missing") is None


def test_duplicates_are_refused():
    repo = ManifestRepository()
    _store(repo, "urn:c2pa:1", "aaaaaaaaaaaa", "0123456789abcdef")
    with pytest.raises(ConfigError):
        _store(repo, "urn:c2pa:1", "bbbbbbbbbbbb", "0123456789abcdef")
    with pytest.raises(ConfigError):
        _store(repo, "urn:c2pa:2", "AAAAAAAAAAAA", "0123456789abcdef")
    assert repo.count() == 1


def test_by_fingerprint_prefilter_and_full_scan():
    repo = ManifestRepository()
    base = "0123456789abcdef"
    _store(repo, "urn:c2pa:near", "01", _flip(base, [0, 9, 17, 33, 50]))  # distance 5, 5 bands touched
    _store(repo, "urn:c2pa:far", "02", _flip(base, list(range(0, 64, 3))))  # distance 22
    # distance 7 spread over 7 different bands: only one band still matches exactly
    _store(repo, "urn:c2pa:seven", "03", _flip(base, [1, 9, 17, 25, 33, 41, 49]))
    hits = repo.by_fingerprint(base, max_distance=6)
    assert [h.manifest_id for h in hits] == ["urn:c2pa:near"] and hits[0].distance == 5
    hits = repo.by_fingerprint(base, max_distance=7)
    assert [h.manifest_id for h in hits] == ["urn:c2pa:near", "urn:c2pa:seven"]
    hits = repo.by_fingerprint(base, max_distance=30)  # no prefilter: full scan
    assert [h.manifest_id for h in hits] == ["urn:c2pa:near", "urn:c2pa:seven", "urn:c2pa:far"]
    assert repo.by_fingerprint("zz") == []


@DEFAULT_REGISTRY  # no database involved
def test_fingerprint_survives_jpeg_reencode():
    rng = np.random.default_rng(3)
    # smooth image (natural images are mostly low-frequency; pHash looks at the low DCT band)
    small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
    img = np.asarray(Image.fromarray(small).resize((256, 256), Image.BICUBIC))
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=70)
    copy = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    other = np.asarray(Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).resize((256, 256)))
    assert hamming(fingerprint(img), fingerprint(copy)) <= 4
    assert hamming(fingerprint(img), fingerprint(other)) > 10


@DEFAULT_REGISTRY  # no database involved
def test_fingerprint_of_large_image_matches_full_resolution_phash():
    # fingerprint() area-reduces to 512 px first (speed); pHash of the full image must stay within 2 bits
    import imagehash

    rng = np.random.default_rng(0)
    small = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    from PIL import Image as _I

    big = np.asarray(_I.fromarray(small).resize((1600, 1200), _I.BICUBIC))
    full = str(imagehash.phash(_I.fromarray(big)))
    assert hamming(fingerprint(big), full) <= 2
    assert fingerprint(small) == str(imagehash.phash(_I.fromarray(small)))  # small images: unchanged
