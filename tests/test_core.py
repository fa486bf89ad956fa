"""Core: verdict policy, media sniffing and guards, the verify JSON shape, analyser registry."""
from __future__ import annotations

import io

import pytest

from forensics.analysers import VerifyOptions, load_analysers
from forensics.errors import Corrupt, NotFound, TooLarge, Unsupported
from forensics.media import Media, sniff
from forensics.report import (CredentialsFinding, DetectorFinding, ErrorInfo, MetadataFinding, Report, Signer,
                              Status, WatermarkDetection, WatermarkFinding, is_ai_source_type)
from forensics.verdict import decide
from forensics.verify import Verifier

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


def creds(state="Trusted", dst=None, failures=(), **kw) -> CredentialsFinding:
    return CredentialsFinding(present=True, state=state, digital_source_type=dst,
                              statuses=[Status(c, "x", "failure") for c in failures],
                              signer=Signer("signer", "Org", "CA"), **kw)


def report(**findings) -> Report:
    r = Report(path="f.jpg", media_type="image/jpeg")
    for key, f in findings.items():
        r.findings[key] = f
    return r


# --- verdict policy ------------------------------------------------------------------------------

def test_tampered_wins_over_everything():
    r = report(c2pa=creds("Invalid", AI, ["assertion.dataHash.mismatch"]),
               detector=DetectorFinding("m@1", 0.99, 0.5, "synthetic"))
    v = decide(r)
    assert v.label == "tampered"
    assert "assertion.dataHash.mismatch" in v.reasons[0]
    assert any("detector" in x for x in v.reasons)  # disagreeing / other evidence is still listed


def test_credentials_declaring_ai():
    v = decide(report(c2pa=creds("Valid", AI)))
    assert v.label == "ai-generated" and "trainedAlgorithmicMedia" in v.reasons[0]
    assert "not on a trust list" in v.reasons[0]
    assert "(trusted)" in decide(report(c2pa=creds("Trusted", AI))).reasons[0]


def test_authentic_credentials_and_metadata_ai_hint_order():
    v = decide(report(c2pa=creds("Trusted", CAPTURE), metadata=MetadataFinding(xmp_digital_source_type=AI)))
    assert v.label == "authentic-credentials"  # signed claim beats unsigned metadata, which is still shown
    assert any("unsigned XMP" in x for x in v.reasons)


def test_metadata_and_detector_rules():
    assert decide(report(metadata=MetadataFinding(generator_text="Steps: 20", generator_hint="A1111"))).label == "ai-generated"
    assert decide(report(detector=DetectorFinding("m@1", 0.9, 0.5, "synthetic"))).label == "likely-synthetic"
    v = decide(report(detector=DetectorFinding("m@1", 0.1, 0.5, "real")))
    assert v.label == "no-evidence" and any("0.10" in x for x in v.reasons)


def test_watermark_rules():
    ai_mark = WatermarkDetection("sd-dwtDct", True, "ab", 48, 48, 1e-9, implies_ai=True, source="SD scripts")
    assert decide(report(watermarks=WatermarkFinding([ai_mark]))).label == "ai-generated"
    own = WatermarkDetection("fsw-v1", True, "cd", 46, 48, 1e-12, manifest_id="urn:x")
    v = decide(report(watermarks=WatermarkFinding([own])))
    assert v.label == "no-evidence" and any("urn:x" in x for x in v.reasons)


def test_unreadable_credentials_do_not_claim_absence():
    c = CredentialsFinding(present=True, state=None, statuses=[Status("forensics.manifest.remote", "remote", "informational")])
    v = decide(report(c2pa=c))
    assert v.label == "no-evidence"
    assert not v.reasons[0].startswith("no Content Credentials")
    assert any("could not be checked" in x for x in v.reasons)


def test_error_report_verdict():
    r = Report(path="x", error=ErrorInfo("corrupt", "broken"))
    assert decide(r).label == "error" and decide(r).reasons == ["broken"]


def test_recovered_credentials_are_not_tampered():
    v = decide(report(c2pa=creds("Invalid", AI, ["assertion.dataHash.mismatch"], recovered_from="watermark")))
    assert v.label != "tampered"


def test_ai_source_types():
    for term in ("trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia"):
        assert is_ai_source_type("http://cv.iptc.org/newscodes/digitalsourcetype/" + term)
    assert not is_ai_source_type(CAPTURE) and not is_ai_source_type(None)


# --- media sniffing and guards ---------------------------------------------------------------------

@pytest.mark.parametrize("head,expected", [
    (b"\xff\xd8\xff\xe0", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
    (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"), (b"GIF89a", "image/gif"),
    (b"\0\0\0\x1cftypavif", "image/avif"), (b"\0\0\0\x18ftypisom", "video/mp4"), (b"\0\0\0\x14ftypqt  ", "video/quicktime"),
    (b"hello world", None), (b"<html>", None),
])
def test_sniff(head, expected):
    assert sniff(head) == expected


def test_media_guards(tmp_path):
    with pytest.raises(NotFound):
        Media.open(tmp_path / "nope.jpg")
    with pytest.raises(Unsupported):
        Media.open(tmp_path)
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(Corrupt):
        Media.open(tmp_path / "e.jpg")
    (tmp_path / "t.jpg").write_text("plain text")
    with pytest.raises(Unsupported):
        Media.open(tmp_path / "t.jpg")
    from PIL import Image

    Image.new("RGB", (100, 100)).save(tmp_path / "ok.png")
    with pytest.raises(TooLarge):
        Media.open(tmp_path / "ok.png", max_pixels=100 * 99)
    with pytest.raises(TooLarge):
        Media.open(tmp_path / "ok.png", max_bytes=10)
    m = Media.open(tmp_path / "ok.png")
    assert m.media_type == "image/png" and m.dimensions == (100, 100) and m.is_image
    (tmp_path / "j.png").write_bytes((tmp_path / "ok.png").read_bytes())
    assert Media.open(tmp_path / "j.png").media_type == "image/png"  # content decides, not the name


# --- report JSON shape -------------------------------------------------------------------------------

def test_report_json_has_contract_defaults_when_nothing_ran():
    r = Report(path="x.jpg", media_type="image/jpeg")
    r.verdict = decide(r)
    j = r.to_json()
    assert j["c2pa"]["present"] is False and j["c2pa"]["state"] is None and j["c2pa"]["recovered_from"] is None
    assert j["watermarks"] == [] and j["detector"] is None and j["frames"] is None
    assert j["metadata"] == {"exif": {}, "xmp_digital_source_type": None, "generator_text": None}
    assert j["verdict"]["label"] == "no-evidence" and j["error"] is None


def test_report_json_error_shape_and_store_kept_out():
    r = Report(path="x", error=ErrorInfo("not_found", "no such file"))
    j = r.to_json()
    assert j["error"] == {"code": "not_found", "message": "no such file"}
    c = creds()
    c.manifest_store = {"big": "store"}
    assert "manifest_store" not in report(c2pa=c).to_json()["c2pa"]


# --- registry / pipeline ---------------------------------------------------------------------------

def test_default_analysers_include_ours_and_pipeline_runs(tmp_path):
    names = [a.name for a in load_analysers()]
    assert names[:2] == ["metadata", "credentials"]
    from PIL import Image

    Image.new("RGB", (32, 32), (1, 2, 3)).save(tmp_path / "a.jpg")
    rep = Verifier(VerifyOptions(detector=False)).verify(tmp_path / "a.jpg")
    assert rep.error is None and rep.credentials is not None and not rep.credentials.present
    assert rep.metadata.width == 32 and rep.verdict.label == "no-evidence"


def test_missing_analyser_module_is_skipped_but_real_import_errors_surface(monkeypatch):
    import forensics.analysers as an

    monkeypatch.setattr(an, "DEFAULT_ANALYSERS", an.DEFAULT_ANALYSERS + ["forensics.not_written_yet:Nope"])
    assert "credentials" in [a.name for a in load_analysers()]
    with pytest.raises(ModuleNotFoundError):
        load_analysers(["forensics.not_written_yet:Nope"])  # explicit specs never hide a missing module


def test_import_error_inside_an_existing_analyser_module_surfaces(monkeypatch, tmp_path):
    import forensics.analysers as an

    (tmp_path / "fx_broken_analyser.py").write_text("import definitely_missing_package_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(an, "DEFAULT_ANALYSERS", ["fx_broken_analyser:Analyser"])
    with pytest.raises(ModuleNotFoundError, match="definitely_missing_package_xyz"):
        load_analysers()


def test_plugin_analysers_are_still_found_through_entry_points(tmp_path, monkeypatch):
    import sys

    from forensics.analysers import PLUGIN_GROUP, may_declare_entry_points

    empty, path = tmp_path / "empty", list(sys.path)
    empty.mkdir()
    monkeypatch.setattr(sys, "path", [str(empty), str(tmp_path / "missing")])
    assert not may_declare_entry_points(PLUGIN_GROUP)  # importlib.metadata is not even asked
    monkeypatch.setattr(sys, "path", path)
    # a distribution on the path declaring one analyser
    dist = tmp_path / "fx_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fx-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\nfx = fx_plugin_mod:FxAnalyser\n")
    (tmp_path / "fx_plugin_mod.py").write_text(
        "class FxAnalyser:\n    name = 'fx'\n\n    def applies_to(self, media, options):\n        return False\n\n"
        "    def analyse(self, media, ctx):\n        return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert may_declare_entry_points(PLUGIN_GROUP)
    assert [a.name for a in load_analysers()][-1] == "fx"


def test_invalid_ingredient_is_called_out():
    c = creds("Trusted", CAPTURE, ingredients=[{"title": "orig.jpg", "state": "Invalid", "ingredients": []}])
    v = decide(report(c2pa=c))
    assert v.label == "authentic-credentials"  # c2pa's state stands; the history problem is a reason
    assert any("orig.jpg" in x and "do not validate" in x for x in v.reasons)


def test_media_rgb_reuses_decoded_pixels(tmp_path):
    # analysers ask for several sizes; a small image must not be converted twice, and a smaller copy
    # is derived from what is already decoded
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1)
    p = tmp_path / "a.png"
    Image.fromarray((rng.random((300, 400, 3)) * 255).astype(np.uint8)).save(p)
    m = Media.open(p)
    full = m.rgb()
    assert m.rgb(max_side=1024) is full
    small = m.rgb(max_side=100)
    assert small.shape == (75, 100, 3)
    assert abs(float(small.mean()) - float(full.mean())) < 2.0
