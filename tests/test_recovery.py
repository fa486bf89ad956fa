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
from forensics.provenance.content_match import describe
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


def _publish(rgb: np.ndarray, *, mark: bool = True, legacy: bool = False, identity=None, descriptor: bool = False):
    """Mark (optionally), sign and store like the generator does (``descriptor``: with the content descriptor
    the generator stores; ``legacy``: without the manifest store bytes, as records made before 0003).
    Returns (signed asset, payload hex, the published pixels)."""
    payload = secrets.token_bytes(wm.PAYLOAD_BYTES)
    pixels = wm.embed(rgb, payload) if mark else rgb
    identity = identity or SigningIdentity.default()
    signed = sign_bytes(_png(pixels), "image/png", identity=identity, digital_source_type=TRAINED,
                        actions=[{"action": "c2pa.created"}, {"action": "c2pa.watermarked"}],
                        assertions=[soft_binding_assertion(payload)])
    creds = finding_from_store(signed.manifest_json).to_json()
    ManifestRepository().store(manifest_id=signed.manifest_id, manifest_store=signed.manifest_json,
                               watermark_scheme=wm.DEFAULT_SCHEME, watermark_value=payload.hex(),
                               phash=fingerprint(pixels), media_type="image/png",
                               validation_state=creds["state"], credentials=creds,
                               signer_chain_pem=identity.cert_chain_pem,
                               manifest_store_bytes=None if legacy else signed.manifest_store_bytes,
                               content_descriptor=describe(pixels) if descriptor else None)
    return signed, payload.hex(), pixels


def _verify(path, **opts):
    return Verifier(VerifyOptions(detector=False, **opts)).verify(path)


@pytest.fixture
def pki(forensics_home):
    return init_pki()


def test_recovered_through_watermark(pki, tmp_path):
    signed, payload, _ = _publish(_smooth_image(1))
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
    signed, _, _ = _publish(_smooth_image(2), mark=False)  # as if the watermark had been destroyed
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
    signed, _, _ = _publish(flat, mark=False)
    copy = tmp_path / "flat.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    c = _verify(copy).credentials
    assert c is None or not c.present  # a blank image is not evidence of anything


def test_trust_is_rechecked_against_current_anchors(pki, tmp_path, forensics_home):
    signed, _, _ = _publish(_smooth_image(5))
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
    signed, payload, _ = _publish(_smooth_image(6))
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
    signed, _, _ = _publish(_smooth_image(8))
    monkeypatch.delenv("FORENSICS_REGISTRY")
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    assert _verify(copy).credentials is None or not _verify(copy).credentials.present
    assert _verify(copy, registry_url=str(reg)).credentials.manifest_id == signed.manifest_id


def test_recovery_path_does_not_import_torch(pki, tmp_path):
    """verify must stay light: the repository lookup (SQLAlchemy, imagehash) never pulls in torch."""
    import subprocess
    import sys

    signed, _, _ = _publish(_smooth_image(9))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    code = ("import sys; from forensics.analysers import VerifyOptions; from forensics.verify import Verifier; "
            f"r = Verifier(VerifyOptions(detector=False)).verify({str(copy)!r}); "
            "print(r.credentials.recovered_from, 'torch' in sys.modules, 'diffusers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["watermark", "False", "False"], out.stderr[-2000:]


# --- issue 13 finding 15: c2pa re-validates recovered manifests from the stored store bytes ---------------

def test_recovered_manifest_is_revalidated_by_c2pa_from_the_stored_bytes(pki, tmp_path):
    from forensics.provenance.repository import ManifestRepository

    signed, _, _ = _publish(_smooth_image(10))
    rec = ManifestRepository().get(signed.manifest_id)
    assert rec.manifest_store_bytes == signed.manifest_store_bytes and rec.manifest_store_bytes[4:8] == b"jumb"
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    c = _verify(copy).credentials
    assert c.state == "Trusted" and c.trust_list == "local"
    assert any(s.code == "forensics.trust.rechecked" and "re-validated by c2pa" in s.explanation for s in c.statuses)
    assert {"id": "inception:signal_fullyGenAIMedia", "text": "Contains Fully GenAI Media"} in c.signals


def test_a_non_ca_issuer_is_not_trusted_on_recovery(forensics_home, tmp_path):
    """The hand-written issuer+dates check accepted a chain whose 'intermediate' is not a CA."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

    from forensics.provenance import keys

    pki = init_pki()  # its root is the local trust anchor

    from cryptography.hazmat.primitives import serialization

    root_key = serialization.load_pem_private_key(
        b"".join(l for l in (pki.directory / keys.ROOT_KEY).read_bytes().splitlines(True) if not l.startswith(b"#")), None)
    root = x509.load_pem_x509_certificate(pki.root_cert.read_bytes().split(b"\n", 2)[2])
    bad_int_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    bad_int = keys._cert("not a CA", bad_int_key, root.subject, root_key, ca=False, path_len=None, days=30,
                         issuer_ski=root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    leaf = keys._cert("signer under a non-CA", leaf_key, bad_int.subject, bad_int_key, ca=False, path_len=None,
                      days=30, leaf=True,
                      issuer_ski=bad_int.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    ident = SigningIdentity(keys._pem(leaf) + keys._pem(bad_int), keys._key_pem(leaf_key))
    signed, _, _ = _publish(_smooth_image(11), identity=ident)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    c = _verify(copy).credentials
    assert c.recovered_from == "watermark" and c.state in ("Valid", "Invalid"), [s.code for s in c.statuses]
    assert any(s.code.startswith("signingCredential.") for s in c.failures), [s.code for s in c.statuses]


def test_records_without_store_bytes_still_recover_but_are_not_trusted(pki, tmp_path):
    signed, _, _ = _publish(_smooth_image(12), legacy=True)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    rep = _verify(copy)
    c = rep.credentials
    assert c.recovered_from == "watermark" and c.state == "Valid" and c.digital_source_type == TRAINED
    assert any(s.code == "forensics.trust.notRechecked" for s in c.statuses)
    assert rep.verdict.label == "ai-generated"


def test_repository_created_before_revision_0003_keeps_working(forensics_home, tmp_path):
    import sqlalchemy as sa

    from forensics.provenance.repository import ManifestRepository

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    eng = sa.create_engine(url)
    with eng.begin() as conn:  # the 0002 table, without the bytes column
        conn.execute(sa.text("CREATE TABLE manifests (manifest_id VARCHAR(200) PRIMARY KEY, created_at DATETIME, "
                             "media_type VARCHAR(100), watermark_scheme VARCHAR(100), watermark_value VARCHAR(200), "
                             "phash VARCHAR(16), b0 INTEGER, b1 INTEGER, b2 INTEGER, b3 INTEGER, b4 INTEGER, "
                             "b5 INTEGER, b6 INTEGER, b7 INTEGER, validation_state VARCHAR(20), manifest_store TEXT, "
                             "credentials TEXT, signer_chain_pem TEXT)"))
        conn.execute(sa.text("INSERT INTO manifests (manifest_id, created_at, manifest_store, watermark_scheme, "
                             "watermark_value) VALUES ('urn:old', '2026-11-01 00:00:00', '{}', 'fsw-v1', 'ab')"))
    eng.dispose()
    ro = ManifestRepository.existing(url)  # the verify path: read-only, no schema change
    assert ro.get("urn:old").manifest_store_bytes is None and ro.by_watermark("fsw-v1", "ab") is not None
    rw = ManifestRepository(url)  # a writer adds the column
    rw.store(manifest_id="urn:new", manifest_store={}, manifest_store_bytes=b"\x00\x00\x00\x10jumb")
    assert rw.get("urn:new").manifest_store_bytes.endswith(b"jumb") and rw.get("urn:old") is not None


# --- the standard-library probe in front of the repository (cold verify without SQLAlchemy) ---------------

def test_probe_reads_the_repository_schema():
    from forensics.provenance import repoprobe, repository
    from forensics.provenance.repository import ManifestRow

    columns = set(ManifestRow.__table__.columns.keys())
    assert repoprobe.TABLE == ManifestRow.__tablename__
    assert {repoprobe.SCHEME, repoprobe.VALUE, repoprobe.PHASH} | {f"b{i}" for i in range(repository.BANDS)} <= columns
    assert repoprobe.KEY_COLUMNS == repository._KEY_COLUMNS


def test_probe_says_no_only_when_the_lookup_finds_nothing(pki, forensics_home, tmp_path):
    from forensics.provenance.repoprobe import Probe
    from forensics.provenance.repository import hamming

    rgb = _smooth_image(21)
    signed, payload, _ = _publish(rgb)
    repo = ManifestRepository()
    probe = Probe(forensics_home / "registry.sqlite")
    phash = repo.get(signed.manifest_id).phash
    far = f"{int(phash, 16) ^ 0xFFFF_0000_FFFF_0000:016x}"
    assert hamming(phash, far) == 32
    for scheme, value in ((wm.DEFAULT_SCHEME, payload), (wm.DEFAULT_SCHEME, "0X" + payload.upper()),
                          (wm.DEFAULT_SCHEME, "00" * 6), ("fsw-v2", payload), (wm.DEFAULT_SCHEME, "not hex")):
        assert probe.may_have_watermark(scheme, value) == (repo.by_watermark(scheme, value) is not None)
    for query in (phash, f"{int(phash, 16) ^ 0b101:016x}", far, "zz"):
        for d in (0, 2, 6, 8, 40):  # 8 and up: no band prefilter
            assert probe.may_have_fingerprint(query, d) == bool(repo.by_fingerprint(query, max_distance=d)), (query, d)


def test_probe_says_maybe_when_it_cannot_tell(tmp_path):
    import sqlite3

    from forensics.provenance.repoprobe import Probe

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE manifests (watermark_scheme TEXT, watermark_value TEXT, phash TEXT)")
    con.commit()
    con.close()
    for path in (garbage, other, tmp_path / "missing.sqlite"):
        assert Probe(path).may_have_watermark("fsw-v1", "00" * 6)
        assert Probe(path).may_have_fingerprint("0" * 16, 6)


def test_verify_against_a_repository_without_a_match_loads_no_sqlalchemy(pki, forensics_home, tmp_path):
    import subprocess
    import sys

    _publish(_smooth_image(22))  # a repository with one unrelated manifest
    unrelated = tmp_path / "unrelated.png"
    unrelated.write_bytes(_png(_smooth_image(23)))
    signed, _, _ = _publish(_smooth_image(24))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(_jpeg_copy(signed.data))
    code = ("import sys; from forensics.analysers import VerifyOptions; from forensics.verify import Verifier; "
            "v = Verifier(VerifyOptions(detector=False)); "
            f"a = v.verify({str(unrelated)!r}); print(a.credentials.present, 'sqlalchemy' in sys.modules); "
            f"b = v.verify({str(copy)!r}); print(b.credentials.recovered_from, 'sqlalchemy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False", "watermark", "True"], out.stderr[-2000:]
