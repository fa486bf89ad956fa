"""`forensics watermark embed|detect|bench` and the verify pipeline's watermark analyser."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from conftest import photo

from forensics.cli import app

runner = CliRunner()
PAYLOAD = "a1b2c3d4e5f6"


@pytest.fixture(scope="module")
def photo_path() -> Path:
    return photo("nature_2-481x321.jpg")


def _run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_embed_then_detect_json(tmp_path, photo_path):
    out = tmp_path / "marked.png"
    r = _run("watermark", "embed", photo_path, "-o", out, "--payload", PAYLOAD, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"scheme": "fsw-v2", "payload": PAYLOAD, "path": str(out)}
    r = _run("watermark", "detect", out, photo_path, "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [row["path"] for row in rows] == [str(out), str(photo_path)]
    assert all(row["error"] is None for row in rows)
    fsw = {w["scheme"]: w for w in rows[0]["watermarks"]}["fsw-v2"]
    assert fsw["detected"] and fsw["payload"] == PAYLOAD and fsw["false_positive_probability"] < 1e-6
    assert set(fsw) >= {"scheme", "detected", "payload", "bits_matched", "bits_total",
                        "false_positive_probability", "manifest_id"}
    assert not any(w["detected"] for w in rows[1]["watermarks"])


def test_embed_random_payload_jpeg_and_text_output(tmp_path, photo_path):
    out = tmp_path / "marked.jpg"
    r = _run("watermark", "embed", photo_path, "-o", out)
    assert r.exit_code == 0, r.output
    payload = r.stdout.strip().rsplit(" ", 1)[-1]
    assert len(payload) == 12
    r = _run("watermark", "detect", out)
    assert r.exit_code == 0 and payload in r.stdout


def test_bad_inputs_exit_2_without_traceback(tmp_path, photo_path):
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all")
    r = _run("watermark", "detect", photo_path, tmp_path / "missing.png", junk, "--json")
    assert r.exit_code == 2
    rows = json.loads(r.stdout)
    assert rows[0]["error"] is None
    assert rows[1]["error"]["code"] == "not_found"
    assert rows[2]["error"]["code"] == "unsupported"
    assert "Traceback" not in r.output

    r = _run("watermark", "embed", photo_path, "-o", tmp_path / "x.png", "--payload", "abc")
    assert r.exit_code == 2 and "hex" in r.output and "Traceback" not in r.output
    r = _run("watermark", "embed", photo_path, "-o", tmp_path / "x.xyz")
    assert r.exit_code == 2
    r = _run("watermark", "embed", tmp_path / "missing.png", "-o", tmp_path / "x.png")
    assert r.exit_code == 2 and "no such file" in r.output
    r = _run("watermark", "detect", photo_path, "--scheme", "nope")
    assert r.exit_code == 2 and "unknown watermark scheme" in r.output


def test_compat_scheme_cli(tmp_path):
    src = photo("people_1-481x321.jpg")
    out = tmp_path / "svd.png"
    r = _run("watermark", "embed", src, "-o", out, "--scheme", "dwtDctSvd", "--payload", PAYLOAD)
    assert r.exit_code == 0, r.output
    r = _run("watermark", "detect", out, "--scheme", "dwtDctSvd", "--payload", PAYLOAD, "--json")
    w = json.loads(r.stdout)[0]["watermarks"][0]
    assert w["scheme"] == "dwtDctSvd" and w["detected"] and w["bits_matched"] == 48


def test_bench_small(tmp_path):
    photos = [photo("nature_2-481x321.jpg"), photo("people_1-481x321.jpg")]
    images = tmp_path / "imgs"
    images.mkdir()
    for p in photos:  # small copies keep the test fast
        Image.open(p).convert("RGB").resize((240, 160)).save(images / p.name)
    out = tmp_path / "bench"
    r = _run("watermark", "bench", "--images", images, "--out", out, "--schemes", "fsw-v1,dwtDct",
             "--attacks", "none,jpeg75", "--quiet")
    assert r.exit_code == 0, r.output
    res = json.loads((out / "watermark_bench.json").read_text())
    fsw = res["schemes"]["fsw-v1"]
    assert fsw["images"] == 2 and fsw["psnr_mean"] >= 40
    assert set(fsw["attacks"]) == {"none", "jpeg75"}
    assert fsw["attacks"]["none"]["tpr"] == 1.0
    assert fsw["false_positives"] == {"images": 2, "detections": 0, "rate": 0.0}
    # dwtDct refuses images under 256x256 pixels: reported as skipped, not as a crash
    assert res["schemes"]["dwtDct"]["images"] == 0 and len(res["schemes"]["dwtDct"]["skipped"]) == 2
    assert (out / "watermark_bench.md").read_text().startswith("Images: 2")
    assert (out / "watermark_bench.png").stat().st_size > 1000


def test_verify_report_includes_watermark(tmp_path, photo_path):
    from forensics.analysers import AnalysisContext, VerifyOptions
    from forensics.media import Media
    from forensics.provenance import watermark as wm
    from forensics.provenance.watermark.analyser import WatermarkAnalyser

    out = tmp_path / "m.png"
    Image.fromarray(wm.embed(np.asarray(Image.open(photo_path).convert("RGB")), bytes.fromhex(PAYLOAD))).save(out)
    a = WatermarkAnalyser()
    assert a.name == "watermark"
    media = Media.open(out)
    assert a.applies_to(media, VerifyOptions())
    finding = a.analyse(media, AnalysisContext(options=VerifyOptions()))
    d = {x.scheme: x for x in finding.detections}
    assert d["fsw-v2"].detected and d["fsw-v2"].payload == PAYLOAD and "fsw-v1" not in d  # one ID, read once
    assert not d["sdxl-dwtDct"].detected and not d["sd-dwtDct"].detected
    assert finding.to_json()[0]["scheme"] == "fsw-v2"


def test_verify_cli_json_has_watermarks(tmp_path, photo_path):
    out = tmp_path / "m.png"
    r = _run("watermark", "embed", photo_path, "-o", out, "--payload", PAYLOAD)
    assert r.exit_code == 0
    r = _run("verify", out, "--json", "--no-detector")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)[0]
    found = [w for w in report["watermarks"] if w["detected"]]
    assert [w["payload"] for w in found] == [PAYLOAD]


def test_video_frames(tmp_path, photo_path):
    import cv2

    from forensics.analysers import AnalysisContext, VerifyOptions
    from forensics.media import Media
    from forensics.provenance import watermark as wm
    from forensics.provenance.watermark.analyser import WatermarkAnalyser

    rgb = np.asarray(Image.open(photo_path).convert("RGB"))[:320, :480]
    frame = wm.embed(rgb, bytes.fromhex(PAYLOAD))
    path = tmp_path / "clip.mp4"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (480, 320))
    if not vw.isOpened():
        pytest.skip("OpenCV here cannot write MP4")
    for _ in range(6):
        vw.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    vw.release()
    media = Media.open(path)
    assert media.is_video
    finding = WatermarkAnalyser().analyse(media, AnalysisContext(options=VerifyOptions()))
    d = {x.scheme: x for x in finding.detections}
    assert set(d) == set(wm.default_detect_schemes())  # best detection per scheme over sampled frames
    assert d["fsw-v2"].detected and d["fsw-v2"].payload == PAYLOAD
