"""Reading Content Credentials: conformance with the c2pa reference reader, trust, statuses, metadata."""
from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import C2PA_CLI_ANCHORS, C2PA_FIXTURES, C2PA_SDK_ANCHORS, require
from forensics import config
from forensics.errors import ConfigError, Corrupt
from forensics.media import Media, sniff_path
from forensics.provenance import keys
from forensics.provenance.credentials import (finding_from_store, judge_state, load_trust_anchors,
                                              read_credentials, reader_settings)
from forensics.provenance.metadata import jpeg_is_complete, read_metadata, check_integrity, xmp_digital_source_type
from forensics.provenance.signing import SigningIdentity, sign_bytes
from forensics.provenance.statuses import STATUS_CODES, explain, is_known

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
CLI_ANCHORS = C2PA_CLI_ANCHORS
SDK_ROOTS = C2PA_SDK_ANCHORS


def _jpeg(size=(64, 48), color=(20, 120, 200), **save) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", size, color).save(b, "JPEG", **save)
    return b.getvalue()


def _fixtures() -> list[Path]:
    return sorted(p for p in C2PA_FIXTURES.iterdir() if p.is_file())


TRUST_SETTINGS = {"no-anchors": [], "c2pa-test-anchors": [SDK_ROOTS, CLI_ANCHORS]}


def _reference(path: Path, media_type: str, anchors: list[Path]):
    """What c2pa-python's Reader says with the very same settings: (state, failure codes) or an error."""
    import c2pa

    ctx = c2pa.Context.from_dict(reader_settings(load_trust_anchors(anchors)))
    try:
        with open(path, "rb") as fh, c2pa.Reader(media_type, fh, context=ctx) as r:
            store = json.loads(r.json())
    except c2pa.C2paError.ManifestNotFound:
        return "absent"
    except c2pa.C2paError as exc:
        return ("error", str(exc))
    return store.get("validation_state"), sorted({s["code"] for s in store.get("validation_status") or []})


# --- conformance with the reference reader --------------------------------------------------------

@pytest.mark.parametrize("trust", list(TRUST_SETTINGS))
@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: p.name)
def test_state_and_failure_codes_match_the_reference_reader(path, trust):
    require(CLI_ANCHORS)
    anchors = TRUST_SETTINGS[trust]
    media_type = sniff_path(path) or "application/octet-stream"
    ours = read_credentials(path, media_type, trust_anchor_paths=anchors)
    ref = _reference(path, media_type, anchors)
    if ref == "absent":
        assert not ours.present and ours.state is None
    elif isinstance(ref, tuple) and ref[0] == "error":
        # c2pa cannot read it: we report that the credentials were not checked, never a made-up state
        assert ours.state is None and ours.statuses and not ours.failures
    else:
        assert ours.present
        assert ours.state == ref[0]
        assert sorted({s.code for s in ours.failures}) == ref[1]


@pytest.mark.parametrize("name,anchored,state,codes", [
    ("XCA.jpg", False, "Invalid", {"assertion.dataHash.mismatch", "signingCredential.untrusted"}),
    ("XCA.jpg", True, "Invalid", {"assertion.dataHash.mismatch"}),
    ("E-sig-CA.jpg", True, "Invalid", {"claimSignature.mismatch"}),
    ("dashinit.mp4", True, "Invalid", {"assertion.bmffHash.mismatch", "signingCredential.untrusted"}),
    ("CIE-sig-CA.jpg", True, "Trusted", set()),
    ("C.jpg", False, "Valid", {"signingCredential.untrusted"}),
    ("C.jpg", True, "Trusted", set()),
    ("C_with_CAWG_data.jpg", True, "Valid", {"cawg.x509.credential.untrusted"}),
])
def test_named_fixtures(name, anchored, state, codes):
    path = require(C2PA_FIXTURES / name)
    anchors = TRUST_SETTINGS["c2pa-test-anchors" if anchored else "no-anchors"]
    f = read_credentials(path, sniff_path(path), trust_anchor_paths=anchors)
    assert f.state == state
    assert {s.code for s in f.failures} == codes


def test_fixture_details_signer_actions_source_type_ingredients():
    f = read_credentials(require(C2PA_FIXTURES / "CACAE-uri-CA.jpg"), "image/jpeg", trust_anchor_paths=[])
    assert f.signer.common_name == "C2PA Signer"
    assert f.signed_at.startswith("2024-09-24")
    assert f.actions[0] == "c2pa.created" and f.ai_generated
    assert f.claim_generator.startswith("make_test_images")
    assert f.ingredients and f.ingredients[0]["relationship"] == "componentOf"
    assert f.ingredients[0]["manifest_id"] in f.manifest_store["manifests"]
    assert f.manifest_id == f.manifest_store["active_manifest"]
    ocsp = read_credentials(require(C2PA_FIXTURES / "ocsp.jpg"), "image/jpeg", trust_anchor_paths=[])
    assert ocsp.digital_source_type.endswith("compositeWithTrainedAlgorithmicMedia") and ocsp.ai_generated


def test_remote_manifest_is_not_fetched_offline():
    f = read_credentials(require(C2PA_FIXTURES / "cloud.jpg"), "image/jpeg", trust_anchor_paths=[])
    assert f.present and f.remote and f.state is None
    assert f.statuses[0].code == "forensics.manifest.remote"
    assert "cai-manifests.adobe.com" in f.statuses[0].explanation


def test_no_credentials():
    f = read_credentials(_jpeg(), "image/jpeg", trust_anchor_paths=[])
    assert not f.present and f.state is None and f.manifest_id is None


# --- statuses ---------------------------------------------------------------------------------------

def test_every_code_seen_in_the_fixtures_has_a_specific_explanation():
    require(C2PA_FIXTURES)
    seen = set()
    for p in _fixtures():
        for anchors in TRUST_SETTINGS.values():
            f = read_credentials(p, sniff_path(p) or "application/octet-stream", trust_anchor_paths=anchors)
            seen |= {s.code for s in f.statuses}
    assert len(seen) > 15
    assert sorted(c for c in seen if not is_known(c)) == []


def test_status_table_and_fallback():
    assert all(kind in ("success", "informational", "failure") and len(text) > 20
               for kind, text in STATUS_CODES.values())
    s = explain("assertion.dataHash.mismatch", "failure", "hash mismatch detail")
    assert s.kind == "failure" and "changed after signing" in s.explanation and "hash mismatch detail" in s.explanation
    unknown = explain("assertion.futureThing.mismatch")
    assert unknown.kind == "failure" and "futureThing" in unknown.explanation
    assert explain("claimSignature.validated", detail="claim signature valid").explanation.count("c2pa:") == 0


def test_trust_is_judged_explicitly():
    assert judge_state("Valid", ["signingCredential.untrusted"]) == "Valid"
    assert judge_state("Trusted", ["signingCredential.untrusted"]) == "Valid"  # never trust over a failure
    assert judge_state("Trusted", []) == "Trusted"
    assert judge_state("Valid", ["assertion.dataHash.mismatch"]) == "Invalid"
    assert judge_state(None, []) == "Valid"
    store = {"active_manifest": "urn:x", "manifests": {"urn:x": {"assertions": []}}, "validation_state": "Trusted",
             "validation_results": {"activeManifest": {"failure": [{"code": "signingCredential.untrusted"}]}}}
    assert finding_from_store(store).state == "Valid"


# --- trust settings: local PKI, EKUs, concurrency ---------------------------------------------------

@pytest.fixture
def signed(forensics_home):
    pki = keys.init_pki()
    asset = sign_bytes(_jpeg(), "image/jpeg", identity=SigningIdentity.default(), digital_source_type=CAPTURE)
    return pki, asset


def test_keys_init_anchor_makes_our_signature_trusted(signed):
    pki, asset = signed
    assert read_credentials(asset.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths()).state == "Trusted"
    f = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=[])
    assert f.state == "Valid" and {s.code for s in f.failures} == {"signingCredential.untrusted"}


def test_document_signing_eku_accepted_with_our_trust_config(forensics_home):
    import c2pa

    pki = keys.init_pki(leaf_ekus=(keys.DOCUMENT_SIGNING_OID,))
    asset = sign_bytes(_jpeg(), "image/jpeg", identity=SigningIdentity.default(), digital_source_type=CAPTURE)
    assert read_credentials(asset.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths()).state == "Trusted"
    # c2pa without an explicit trust_config refuses that EKU: why reader_settings always sets one
    ctx = c2pa.Context.from_dict({"trust": {"trust_anchors": pki.root_cert.read_text()}})
    with c2pa.Reader("image/jpeg", io.BytesIO(asset.data), context=ctx) as r:
        assert json.loads(r.json())["validation_state"] != "Trusted"


def test_missing_intermediate_is_not_trusted(forensics_home):
    pki = keys.init_pki()
    chain = pki.signer_chain.read_bytes()
    leaf_only = chain[:chain.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----\n")]
    ident = SigningIdentity(leaf_only, pki.signer_key.read_bytes())
    try:
        asset = sign_bytes(_jpeg(), "image/jpeg", identity=ident, digital_source_type=CAPTURE)
    except Exception:
        return  # refused outright is fine too
    f = read_credentials(asset.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths())
    assert f.state != "Trusted"


def test_concurrent_reads_with_different_anchors_do_not_mix(signed, tmp_path):
    pki, asset = signed
    other = require(CLI_ANCHORS)
    ours = config.trust_anchor_paths()
    jobs = [(ours, "Trusted"), ([other], "Valid"), ([], "Valid")] * 12
    barrier = threading.Barrier(4)

    def run(job):
        anchors, expected = job
        try:
            barrier.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return read_credentials(asset.data, "image/jpeg", trust_anchor_paths=anchors).state, expected

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, jobs))
    assert all(got == want for got, want in results)


def test_bad_anchor_files(tmp_path):
    (tmp_path / "bad.pem").write_text("hello")
    with pytest.raises(ConfigError):
        load_trust_anchors([tmp_path / "bad.pem"])
    with pytest.raises(ConfigError):
        load_trust_anchors([tmp_path / "missing.pem"])


def test_env_trust_anchors_are_used(signed, monkeypatch, tmp_path):
    pki, asset = signed
    config.local_trust_anchors_path().unlink()  # only the env var may make it trusted now
    assert read_credentials(asset.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths()).state == "Valid"
    monkeypatch.setenv("FORENSICS_TRUST_ANCHORS", str(pki.root_cert))
    assert read_credentials(asset.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths()).state == "Trusted"


def test_edit_of_ai_media_keeps_its_source_type(signed, forensics_home):
    _, _ = signed
    ident = SigningIdentity.default()
    gen = sign_bytes(_jpeg(), "image/jpeg", identity=ident, digital_source_type=AI)
    edit = sign_bytes(gen.data, "image/jpeg", identity=ident, parent=gen.data,
                      actions=[{"action": "c2pa.color_adjustments"}])
    f = read_credentials(edit.data, "image/jpeg", trust_anchor_paths=config.trust_anchor_paths())
    assert f.actions == ["c2pa.opened", "c2pa.color_adjustments"]
    assert f.digital_source_type == AI and f.ai_generated
    assert f.ingredients[0]["manifest_id"] == gen.manifest_id and f.ingredients[0]["digital_source_type"] == AI


# --- metadata -----------------------------------------------------------------------------------------

def _media(tmp_path, name, data) -> Media:
    p = tmp_path / name
    p.write_bytes(data)
    return Media.open(p)


def test_png_generator_chunks(tmp_path):
    from PIL import Image, PngImagePlugin

    for key, value, hint in [
        ("parameters", "a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7", "AUTOMATIC1111"),
        ("prompt", json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}), "ComfyUI"),
        ("workflow", json.dumps({"nodes": []}), "ComfyUI"),
        ("prompt", "just a prompt text", "generation prompt"),
    ]:
        info = PngImagePlugin.PngInfo()
        info.add_text(key, value)
        b = io.BytesIO()
        Image.new("RGB", (8, 8)).save(b, "PNG", pnginfo=info)
        m = read_metadata(_media(tmp_path, "g.png", b.getvalue()))
        assert hint in m.generator_hint and m.generator_text and m.ai_hint


def test_exif_and_xmp(tmp_path):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "EOS R5", "Lightroom"
    xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f'<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           f'Iptc4xmpExt:DigitalSourceType="{AI}"/></rdf:RDF></x:xmpmeta>').encode()
    b = io.BytesIO()
    Image.new("RGB", (16, 16)).save(b, "JPEG", exif=exif, xmp=xmp)
    m = read_metadata(_media(tmp_path, "e.jpg", b.getvalue()))
    assert m.exif["Make"] == "Canon" and m.exif["Model"] == "EOS R5" and m.exif["Software"] == "Lightroom"
    assert m.xmp_digital_source_type == AI and m.ai_hint and m.generator_text is None
    assert (m.width, m.height) == (16, 16)
    # element and rdf:resource forms
    assert xmp_digital_source_type(f"<Iptc4xmpExt:DigitalSourceType>{AI}</Iptc4xmpExt:DigitalSourceType>") == AI
    assert xmp_digital_source_type(f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{AI}"/>') == AI
    assert xmp_digital_source_type("<x/>") is None


def test_generator_software_in_exif(tmp_path):
    # the EXIF DiffusionDB-style Stable Diffusion samples carry (DRCT's data/samples/01.png, for one)
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = "unfinished building by santiago calatrava, highly detailed"  # ImageDescription: the prompt
    exif[0x0110], exif[0x0131] = "stable-diffusion-v1", "stability.ai"  # Model, Software
    b = io.BytesIO()
    Image.new("RGB", (64, 112), (90, 60, 30)).save(b, "PNG", exif=exif)
    m = read_metadata(_media(tmp_path, "sd.png", b.getvalue()))
    assert m.generator_hint == "EXIF Software names a generator" and m.generator_text == "stability.ai"
    assert m.ai_hint


def test_truncation_checks(tmp_path):
    good = _jpeg((300, 200), (1, 2, 3))
    prog = _jpeg((300, 200), (9, 9, 9), progressive=True)
    assert jpeg_is_complete(good) and jpeg_is_complete(prog)
    assert jpeg_is_complete(good + b"trailing junk after EOI")
    assert not jpeg_is_complete(good[: len(good) * 2 // 3])
    with pytest.raises(Corrupt):
        check_integrity(_media(tmp_path, "t.jpg", good[: len(good) - 40]))
    from PIL import Image

    b = io.BytesIO()
    Image.new("RGB", (64, 64), (5, 6, 7)).save(b, "PNG")
    with pytest.raises(Corrupt):
        check_integrity(_media(tmp_path, "t.png", b.getvalue()[:-20]))
    check_integrity(_media(tmp_path, "ok.png", b.getvalue()))
