"""Detector model identity: name@version plus a content hash in verify, the audit's reuse key, and
recalibration that never passes for the model it was made from."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from forensics.analysers import VerifyOptions
from forensics.cli import app
from forensics.detect.inference import DEFAULT_MODEL_DIR, MODEL_ENV, Detector, model_identity, model_sha256

runner = CliRunner()


def _photo(path, size=(300, 200), seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, quality=90)
    return path


def _copy_model(dest):
    shutil.copytree(DEFAULT_MODEL_DIR, dest)
    return dest


def test_model_sha256_covers_the_graph_and_the_calibration(tmp_path):
    m = _copy_model(tmp_path / "m")
    h0 = model_sha256(m)
    assert len(h0) == 64 and h0 == model_sha256(DEFAULT_MODEL_DIR)
    card = json.loads((m / "model.json").read_text())
    card["threshold"] = 0.9  # same name@version, other operating point
    (m / "model.json").write_text(json.dumps(card))
    h1 = model_sha256(m)
    assert h1 != h0
    (m / "model.onnx").write_bytes((m / "model.onnx").read_bytes() + b"\0")
    assert model_sha256(m) not in (h0, h1)


def test_verify_json_carries_name_version_and_hash(tmp_path, monkeypatch):
    from forensics.detect.analyser import DetectorAnalyser
    from forensics.verify import Verifier

    m = _copy_model(tmp_path / "m")
    monkeypatch.setenv(MODEL_ENV, str(m))
    d = Verifier(VerifyOptions(), analysers=[DetectorAnalyser()]).verify(_photo(tmp_path / "p.jpg")).to_json()["detector"]
    card = json.loads((m / "model.json").read_text())
    assert d["model"] == f"{card['name']}@{card['version']}"
    assert d["model_sha256"] == model_sha256(m) == model_identity()["model_sha256"]


def test_audit_reuse_key_changes_with_the_detector(tmp_path, monkeypatch):
    from forensics.audit import fingerprint

    m = _copy_model(tmp_path / "m")
    monkeypatch.setenv(MODEL_ENV, str(m))
    opts = VerifyOptions()
    k0 = fingerprint(opts, None)
    assert fingerprint(opts, None) == k0
    card = json.loads((m / "model.json").read_text())
    card["threshold"] = min(0.99, card["threshold"] + 0.1)  # a recalibration under the same name@version
    (m / "model.json").write_text(json.dumps(card))
    assert fingerprint(opts, None) != k0
    # with the detector off its model does not matter
    off = VerifyOptions(detector=False)
    k_off = fingerprint(off, None)
    (m / "model.json").write_text(json.dumps(card | {"threshold": 0.5}))
    assert fingerprint(off, None) == k_off


def _reals(tmp_path, n=4):
    data = tmp_path / "mine"
    data.mkdir()
    rows = ["path,label"]
    for i in range(n):
        _photo(data / f"r{i}.jpg", (200, 150), seed=40 + i)
        rows.append(f"r{i}.jpg,real")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    return data


def test_calibrate_writes_a_versioned_copy_never_the_shipped_model(tmp_path, forensics_home):
    data = _reals(tmp_path)
    shipped = hashlib.sha256((DEFAULT_MODEL_DIR / "model.json").read_bytes()).hexdigest()
    r = runner.invoke(app, ["detect", "calibrate", "--data", str(data), "--target-fpr", "0.1"])
    assert r.exit_code == 0, r.stderr + str(r.exception)
    assert hashlib.sha256((DEFAULT_MODEL_DIR / "model.json").read_bytes()).hexdigest() == shipped
    made = list((forensics_home / "detectors").iterdir())
    assert len(made) == 1
    card = json.loads((made[0] / "model.json").read_text())
    base = Detector(DEFAULT_MODEL_DIR)
    base_version = str(base.card["version"]).split("+cal.")[0]
    assert card["version"].startswith(base_version + "+cal.") and card["version"] != base.card["version"]
    assert made[0].name == f"{card['name']}@{card['version']}"
    assert card["recalibrated_from"] == {"model": base.name, "model_sha256": base.sha256}
    assert 0 < card["video_uncertain_below"] <= card["video_threshold"] <= 1
    assert card["video_threshold_calibration"]["n_scores"] == 4 * 2  # 4 photos × (codec, half size + codec)
    new = Detector(made[0])
    assert new.name != base.name and new.sha256 != base.sha256
    # recalibrating the copy again keeps one +cal. suffix
    r = runner.invoke(app, ["detect", "calibrate", "--data", str(data), "--model", str(made[0]), "--out",
                            str(tmp_path / "again"), "--target-fpr", "0.2"])
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "again" / "model.json").read_text())["version"].count("+cal.") == 1


def test_calibrate_in_place_only_for_your_own_model(tmp_path):
    data = _reals(tmp_path, 3)
    r = runner.invoke(app, ["detect", "calibrate", "--data", str(data), "--in-place"])
    assert r.exit_code == 2 and "never changed in place" in r.stderr
    r = runner.invoke(app, ["detect", "calibrate", "--data", str(data), "--in-place", "--model", str(DEFAULT_MODEL_DIR)])
    assert r.exit_code == 2
    m = _copy_model(tmp_path / "mine-model")
    before = model_sha256(m)
    r = runner.invoke(app, ["detect", "calibrate", "--data", str(data), "--model", str(m), "--in-place"])
    assert r.exit_code == 0, r.stderr
    assert model_sha256(m) != before and "+cal." in json.loads((m / "model.json").read_text())["version"]


# --- video operating point -------------------------------------------------------------------------

def _clip(path, n=6, size=(160, 128)):
    import cv2

    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, size)
    rng = np.random.default_rng(0)
    for _ in range(n):
        vw.write(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    vw.release()
    return path


def test_video_frames_use_the_video_operating_point(tmp_path):
    from forensics.detect.analyser import DetectorAnalyser
    from forensics.media import Media

    clip = _clip(tmp_path / "c.mp4")
    m = _copy_model(tmp_path / "m")
    card = json.loads((m / "model.json").read_text())
    for thr, expect in ((0.999999, {"real", "uncertain"}), (0.0, {"synthetic"})):
        (m / "model.json").write_text(json.dumps(card | {"video_threshold": thr, "video_uncertain_below": min(thr, 0.99)}))
        d, frames = DetectorAnalyser(str(m)).analyse_video(Media.open(clip), 4)
        assert d.threshold == round(thr, 4) and d.label in expect
        assert {f["label"] for f in frames.timeline} <= expect
    # a card without a video operating point falls back to the photo threshold
    (m / "model.json").write_text(json.dumps({k: v for k, v in card.items() if not k.startswith("video_")}))
    d, _ = DetectorAnalyser(str(m)).analyse_video(Media.open(clip), 2)
    assert d.threshold == round(card["threshold"], 4)


def test_video_frame_goes_through_a_codec():
    from forensics.detect.train import video_frame

    x = np.random.default_rng(1).integers(0, 256, (101, 150, 3), dtype=np.uint8)
    y = video_frame(x)
    assert y.shape == (100, 150, 3) and y.dtype == np.uint8 and np.abs(y.astype(int) - x[:100]).mean() > 1


def test_threshold_holds_in_every_source_folder(tmp_path):
    """A folder whose real photos score higher (camera originals) must not get more false alarms than the
    target because a larger folder dominates the pooled quantile."""
    from types import SimpleNamespace

    from forensics.detect.train import threshold_from_reals

    class ByBrightness:  # a stand-in detector: p = mean pixel value / 255
        def score(self, rgb):
            return SimpleNamespace(probability_synthetic=float(rgb.mean()) / 255)

    paths, sources, want = [], [], {}
    rng = np.random.default_rng(0)
    for src, (lo, hi), n in (("big", (0, 120), 300), ("camera", (100, 230), 60)):
        (tmp_path / src).mkdir()
        for i in range(n):
            v = int(rng.integers(lo, hi))
            Image.fromarray(np.full((8, 8, 3), v, np.uint8)).save(tmp_path / src / f"{i}.png")
            paths.append(str(tmp_path / src / f"{i}.png"))
            want.setdefault(src, []).append(v / 255)
    op = threshold_from_reals(ByBrightness(), paths, 0.01, conditions={"none": lambda x: x})
    assert set(op["per_source"]) == {"big", "camera"}
    for src, ps in want.items():
        assert np.mean(np.array(ps) >= op["threshold"]) <= 0.01, src
    pooled = threshold_from_reals(ByBrightness(), paths, 0.01, conditions={"none": lambda x: x}, min_source_scores=10**6)
    assert pooled["per_source"] == {} and pooled["threshold"] <= op["threshold"]
