"""Video in verify: sampled frames through the detector, one aggregate + a per-frame timeline."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from forensics.analysers import VerifyOptions
from forensics.cli import app
from forensics.detect.analyser import DetectorAnalyser
from forensics.verify import Verifier


def _video(path, n=30, fps=10, size=(160, 128)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not w.isOpened():
        pytest.skip("OpenCV cannot write mp4v here")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    for i in range(n):
        frame = np.stack([(x + 3 * i) % 256, (y + i) % 256, (x * y // 7) % 256], -1).astype(np.uint8)
        frame = np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255).astype(np.uint8)
        w.write(frame)
    w.release()
    return path


def test_video_gets_aggregate_and_timeline(tmp_path):
    path = _video(tmp_path / "clip.mp4")
    rep = Verifier(VerifyOptions(max_frames=5), analysers=[DetectorAnalyser()]).verify(path)
    j = rep.to_json()
    assert j["error"] is None and j["media_type"] == "video/mp4"
    assert 0 <= j["detector"]["probability_synthetic"] <= 1
    frames = j["frames"]
    assert frames["sampled"] == 5 == len(frames["timeline"])
    ts = [e["t"] for e in frames["timeline"]]
    assert ts == sorted(ts) and ts[0] == 0.0 and ts[-1] == pytest.approx(2.9, abs=0.01)
    assert all(0 <= e["probability_synthetic"] <= 1 for e in frames["timeline"])
    assert frames["timeline"][0]["t_end"] == ts[1]


def test_video_no_detector_means_no_frames(tmp_path):
    path = _video(tmp_path / "clip.mp4", n=5)
    j = Verifier(VerifyOptions(detector=False), analysers=[DetectorAnalyser()]).verify(path).to_json()
    assert j["detector"] is None and j["frames"] is None


def test_broken_video_is_an_error_entry_not_a_traceback(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    j = Verifier(VerifyOptions(), analysers=[DetectorAnalyser()]).verify(bad).to_json()
    assert j["error"] is not None and j["error"]["code"] == "corrupt"
    assert j["verdict"]["label"] == "error"


def test_score_cli_on_video(tmp_path):
    path = _video(tmp_path / "clip.mp4", n=12)
    r = CliRunner().invoke(app, ["detect", "score", str(path), "--json", "--max-frames", "4"])
    assert r.exit_code == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["frames"]["sampled"] == 4 and row["detector"]["label"] in ("synthetic", "real", "uncertain")


def test_sampled_frames_are_the_frames_at_their_timestamps(tmp_path):
    from forensics.media import Media

    path = tmp_path / "ramp.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(40):  # frame i is a flat grey of value 5*i
        w.write(np.full((48, 64, 3), 5 * i, np.uint8))
    w.release()
    got = list(Media.open(path).sample_frames(6))
    assert len(got) == 6
    for t, frame in got:
        assert abs(frame.mean() - 5 * round(t * 10)) < 3, (t, frame.mean())


def test_video_without_frames_keeps_other_signals(tmp_path):
    from conftest import C2PA_FIXTURES, require

    path = require(C2PA_FIXTURES / "dashinit.mp4")  # a DASH init segment: a manifest but no frames
    j = Verifier(VerifyOptions(), analysers=[DetectorAnalyser()]).verify(path).to_json()
    assert j["error"] is None and j["detector"] is None
    assert j["analyser_errors"][0]["code"] == "no_frames"
