"""Recovery of stripped credentials from the manifest repository (torch-free: no generator involved).

Images here are signed with the real signing API and marked with the real default watermark; the repository
rows are written the way the generator writes them.
"""
from __future__ import annotations

import io
import secrets

import numpy as np
import pytest
from PIL import Image

from forensics.analysers import VerifyOptions
from forensics.generate.pipeline import soft_binding_assertion
from forensics.provenance import watermark as wm
from forensics.provenance.credentials import finding_from_store
from forensics.provenance.keys import init_pki
from forensics.provenance.repository import ManifestRepository, fingerprint
from forensics.provenance.signing import SigningIdentity, sign_bytes
from forensics.verify import Verifier

TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def _smooth_image(seed: int, side: int = 512) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((side, side), Image.BICUBIC))


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def _jpeg_copy(data: bytes, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _publish(rgb: np.ndarray, *, mark: bool = True):
    """Mark (optionally), sign and store like the generator does. Returns (signed asset, payload hex)."""
    payload = secrets.token_bytes(wm.PAYLOAD_BYTES)
    pixels = wm.embed(rgb, payload) if mark else rgb
    identity = SigningIdentity.default()
    signed = sign_bytes(_png(pixels), "image/png", identity=identity, digital_source_type=TRAINED,
                        actions=[{"action": "c2pa.created"}, {"action": "c2pa.watermarked"}],
                        assertions=[soft_binding_assertion(payload)])
    creds = finding_from_store(signed.manifest_json).to_json()
    ManifestRepository().store(manifest_id=signed.manifest_id, manifest_store=signed.manifest_json,
                               watermark_scheme=wm.DEFAULT_SCHEME, watermark_value=payload.hex(),
                               phash=fingerprint(pixels), media_type="image/png",
                               validation_state=creds["state"], credentials=creds,
                               signer_chain_pem=identity.cert_chain_pem)
    return signed, payload.hex()


def _verify(path, **opts):
    return Verifier(VerifyOptions(detector=False, **opts)).verify(path)


@pytest.fixture
def pki(forensics_home):
    return init_pki()


def test_recovered_through_watermark(pki, tmp_path):
    signed, payload = _publish(_smooth_image(1))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    rep = _verify(copy)
    c = rep.credentials
    assert c.present and c.recovered_from == "watermark" and c.manifest_id == signed.manifest_id
    assert c.state == "Trusted" and c.digital_source_type == TRAINED
    assert c.statuses[0].code == "forensics.manifest.recovered" and payload in c.statuses[0].explanation
    assert c.statuses[1].code == "forensics.contentHash.unchecked"
    assert not any(s.code.startswith("assertion.dataHash") for s in c.statuses)  # not claimed for this copy
    [det] = [d for d in rep.watermarks.detected if d.scheme == wm.DEFAULT_SCHEME]
    assert det.payload == payload and det.manifest_id == signed.manifest_id
    assert rep.verdict.label == "ai-generated"
    out = rep.to_json()
    assert out["c2pa"]["recovered_from"] == "watermark" and out["watermarks"][0]["manifest_id"] == signed.manifest_id


def test_fingerprint_fallback_when_the_mark_is_gone(pki, tmp_path):
    signed, _ = _publish(_smooth_image(2), mark=False)  # as if the watermark had been destroyed
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data, quality=70))
    rep = _verify(copy)
    assert not [d for d in rep.watermarks.detected if d.scheme == wm.DEFAULT_SCHEME]
    c = rep.credentials
    assert c.recovered_from == "fingerprint" and c.manifest_id == signed.manifest_id
    assert "perceptual fingerprint" in c.statuses[0].explanation
    assert any("recovered through the image fingerprint" in r for r in rep.verdict.reasons)


def test_unrelated_image_recovers_nothing(pki, tmp_path):
    _publish(_smooth_image(3))
    other = tmp_path / "other.png"
    other.write_bytes(_png(_smooth_image(4)))
    rep = _verify(other)
    assert rep.credentials is None or not rep.credentials.present
    assert rep.verdict.label == "no-evidence"


def test_flat_images_never_match_by_fingerprint(pki, tmp_path):
    flat = np.full((512, 512, 3), 200, np.uint8)
    signed, _ = _publish(flat, mark=False)
    copy = tmp_path / "flat.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    c = _verify(copy).credentials
    assert c is None or not c.present  # a blank image is not evidence of anything


def test_trust_is_rechecked_against_current_anchors(pki, tmp_path, forensics_home):
    signed, _ = _publish(_smooth_image(5))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    pki.trust_anchors.unlink()  # the local test root is no longer trusted
    c = _verify(copy).credentials
    assert c.recovered_from == "watermark" and c.state == "Valid"
    assert any(s.code == "signingCredential.untrusted" for s in c.statuses)
    # naming the root again with --trust-anchors restores trust
    c = _verify(copy, trust_anchors=[str(pki.root_cert)]).credentials
    assert c.state == "Trusted"
    # a different root with the same name does not
    other = init_pki(tmp_path / "other-pki")
    c = _verify(copy, trust_anchors=[str(other.root_cert)]).credentials
    assert c.state == "Valid"


def test_embedded_credentials_win_but_mark_is_linked(pki, tmp_path):
    signed, payload = _publish(_smooth_image(6))
    path = tmp_path / "signed.png"
    path.write_bytes(signed.data)
    rep = _verify(path)
    assert rep.credentials.recovered_from is None and rep.credentials.state == "Trusted"
    [det] = [d for d in rep.watermarks.detected if d.scheme == wm.DEFAULT_SCHEME]
    assert det.manifest_id == signed.manifest_id


def test_no_repository_means_no_lookup_and_no_database(forensics_home, tmp_path):
    path = tmp_path / "plain.png"
    path.write_bytes(_png(_smooth_image(7)))
    rep = _verify(path)
    assert rep.verdict.label == "no-evidence"
    assert not (forensics_home / "registry.sqlite").exists()
    assert not any(e["analyser"] == "recovery" for e in rep.analyser_errors)


def test_registry_option_is_used(pki, tmp_path, monkeypatch):
    reg = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("FORENSICS_REGISTRY", str(reg))
    signed, _ = _publish(_smooth_image(8))
    monkeypatch.delenv("FORENSICS_REGISTRY")
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    assert _verify(copy).credentials is None or not _verify(copy).credentials.present
    assert _verify(copy, registry_url=str(reg)).credentials.manifest_id == signed.manifest_id


def test_recovery_path_does_not_import_torch(pki, tmp_path):
    """verify must stay light: the repository lookup (SQLAlchemy, imagehash) never pulls in torch."""
    import subprocess
    import sys

    signed, _ = _publish(_smooth_image(9))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    code = ("import sys; from forensics.analysers import VerifyOptions; from forensics.verify import Verifier; "
            f"r = Verifier(VerifyOptions(detector=False)).verify({str(copy)!r}); "
            "print(r.credentials.recovered_from, 'torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["watermark", "False", "False"], out.stderr[-2000:]
