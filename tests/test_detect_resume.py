"""`forensics detect train --resume`: an interrupted run continues from its checkpoint to the same model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from forensics.cli import app

runner = CliRunner()


def _data(root, n=8):
    root.mkdir()
    rows = ["path,label"]
    for i in range(n):
        rng = np.random.default_rng(i)
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(root / f"r{i}.jpg", quality=90)
        rows.append(f"r{i}.jpg,real")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def _args(data, out, cache):
    return ["detect", "train", "--data", str(data), "--out", str(out), "--builders", "nearest,deconv",
            "--steps", "6", "--batch", "8", "--region", "96", "--patch", "32", "--threads", "1",
            "--cache-dir", str(cache)]


@pytest.mark.slow
def test_interrupted_run_resumed_equals_the_uninterrupted_one(tmp_path):
    data, cache = _data(tmp_path / "data"), tmp_path / "cache"
    whole, split = tmp_path / "whole", tmp_path / "split"
    r = runner.invoke(app, _args(data, whole, cache))
    assert r.exit_code == 0, r.stderr + str(r.exception)

    r = runner.invoke(app, _args(data, split, cache) + ["--stop-after-step", "3"])
    assert r.exit_code == 0, r.stderr + str(r.exception)
    assert "continue with --resume" in r.stderr and not (split / "model.onnx").exists()
    state = torch.load(split / "train_state.pt", weights_only=False)
    assert state["step"] == 3 and state["steps"] == 6
    # resuming takes the saved configuration: options given now (another seed) are ignored
    r = runner.invoke(app, ["detect", "train", "--out", str(split), "--resume", "--seed", "5"])
    assert r.exit_code == 0, r.stderr + str(r.exception)
    assert "resumed from step 3 of 6" in r.stderr

    a = torch.load(whole / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(split / "checkpoint.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    card = json.loads((split / "model.json").read_text())
    assert card["training"]["steps_done"] == 6 and card["threshold"] == json.loads((whole / "model.json").read_text())["threshold"]


def test_resume_without_a_checkpoint_is_a_usage_error(tmp_path):
    r = runner.invoke(app, ["detect", "train", "--out", str(tmp_path / "none"), "--resume"])
    assert r.exit_code == 2 and "nothing to resume" in r.stderr
    r = runner.invoke(app, ["detect", "train", "--out", str(tmp_path / "none")])
    assert r.exit_code == 2 and "--data is required" in r.stderr
