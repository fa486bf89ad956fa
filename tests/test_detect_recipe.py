"""The genuine-output recipe: format-equalised regions, tiny autoencoders from safetensors, the fold rule,
paired batches, the format-cue control features, and a tiny end-to-end run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.cli import app
from forensics.datasets import Sample
from forensics.datasets.augment import AugmentConfig
from forensics.detect import recipe

runner = CliRunner()


def _img(seed, size=(200, 176)):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(float)
    return np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)


def test_equalised_region_draws_the_shared_history():
    rgb = _img(0, (400, 300))
    h = recipe.HistoryConfig(lossless_prejpeg_p=1.0, resample_p=0.0, aligned_crop_p=1.0)
    reg, done = recipe.equalised_region(rgb, True, 128, np.random.default_rng(0), h)
    assert reg.shape == (128, 128, 3) and done["prejpeg"] >= 70 and done["aligned"] and done["scale"] == 1.0
    reg, done = recipe.equalised_region(rgb, False, 128, np.random.default_rng(0), h)
    assert done["prejpeg"] == 0  # a JPEG keeps its own history
    h = recipe.HistoryConfig(lossless_prejpeg_p=0.0, resample_p=1.0)
    reg, done = recipe.equalised_region(rgb, True, 128, np.random.default_rng(1), h)
    assert reg.shape == (128, 128, 3) and 0.5 <= done["scale"] <= 0.95
    small = _img(1, (130, 130))  # too small to downscale: kept at scale 1, still one region
    reg, done = recipe.equalised_region(small, True, 128, np.random.default_rng(1), h)
    assert reg.shape == (128, 128, 3) and done["scale"] == 1.0


def test_fold_of_follows_source_repository_and_photo_folder():
    s = lambda g, label: Sample(Path(g), label, "x", g)  # noqa: E731
    assert recipe.fold_of(s("ai-train/dcsan-imagen/dalle-2/a.png", 1)) == "older"
    assert recipe.fold_of(s("ai-train/sdnext/flux/a.jpg", 1)) == "sdnext"
    assert recipe.fold_of(s("ai-train/kolors/k/a.jpg", 1)) == "community"
    assert recipe.fold_of(s("photos/camera/a.jpg", 0)) == "sdnext"
    assert recipe.fold_of(s("photos/bsds500/test/1.jpg", 0)) == "community"
    assert recipe.fold_of(s("mine/a.jpg", 0)) is None
    g = recipe.prompt_group(s("ai-train/dcsan-imagen/dalle-2/girl-lost-15746896__dal2-1.jpg", 1)).group
    assert g == "ai-train/dcsan-imagen/dalle-2/girl-lost-15746896"


def _tiny_autoencoder_dir(folder: Path, name="taesd", channels=4):
    """A TAESD-architecture pair with random weights, stored as the taesd-family files are (bf16 safetensors)."""
    import torch
    from safetensors.torch import save_file

    from forensics.datasets.builders import _taesd_modules

    torch.manual_seed(0)
    enc, dec = (m(channels, False) for m in _taesd_modules())
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in enc.state_dict().items()}, folder / f"{name}_encoder.safetensors")
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in dec.state_dict().items()}, folder / f"{name}_decoder.safetensors")
    return folder


def test_autoencoder_loads_from_bf16_safetensors(tmp_path):
    d = _tiny_autoencoder_dir(tmp_path / "ae")
    ae = recipe.load_autoencoder(d, "taesd")
    out = recipe.reconstruct(ae, _img(2, (64, 64)), np.random.default_rng(0), recipe.HistoryConfig())
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8 and ae.source == "taesd-recon"
    with pytest.raises(FileNotFoundError, match="taef1"):
        recipe.load_autoencoder(d, "taef1")


def test_format_cue_features_see_the_container():
    t = _img(3, (128, 128))
    png, q50, q95 = (recipe.format_cue_features(t, *a) for a in (("png",), ("jpeg", 50), ("jpeg", 95)))
    assert len(png) == len(recipe.FORMAT_CUE_NAMES)
    assert png[0] == 0 and q50[0] == 1 and q50[1] > q95[1] > 0  # coarser quantisation table at q50
    assert q50[3] < png[3]  # fewer bits per pixel


def _cache(n_real=6, n_fake=5, r=48):
    rng = np.random.default_rng(0)
    c = {"real": rng.integers(0, 256, (n_real, r, r, 3), dtype=np.uint8),
         "real_fold": np.array(["older", "sdnext"] * (n_real // 2)),
         "fake": rng.integers(0, 256, (n_fake, r, r, 3), dtype=np.uint8), "fake_fold": np.array(["community"] * n_fake)}
    c["pair:taesd-recon"] = c["real"] // 2
    return c


def test_paired_batch_is_balanced_and_records_its_format():
    meta = []
    x, y = recipe.sample_recipe_batch(_cache(), 10, 32, np.random.default_rng(0), AugmentConfig(),
                                      {"genuine": 0.5, "pair:taesd-recon": 0.5}, meta)
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.float32 and y.sum() == 10
    assert len(meta) == 20 and {m["kind"] for m in meta[::2]} == {"real"}
    assert {m["kind"] for m in meta[1::2]} <= {"genuine", "pair:taesd-recon"}
    assert all(m["jpeg_q"] is None or 65 <= m["jpeg_q"] <= 100 for m in meta)
    # genuine only: every fake patch comes from a generator output
    meta = []
    recipe.sample_recipe_batch(_cache(), 6, 32, np.random.default_rng(1), AugmentConfig(), {"genuine": 1.0}, meta)
    assert {m["kind"] for m in meta[1::2]} == {"genuine"} and {m["fold"] for m in meta[1::2]} == {"community"}


def test_subset_drops_a_fold_from_both_classes():
    c = _cache()
    s = recipe.subset(c, c["real_fold"] != "older", c["fake_fold"] != "older")
    assert len(s["real"]) == 3 and len(s["pair:taesd-recon"]) == 3 and len(s["fake"]) == 5


@pytest.mark.slow
def test_train_genuine_recipe_end_to_end(tmp_path):
    photos, fakes = tmp_path / "photos", tmp_path / "ai-train"
    rows_r, rows_f = ["path,label"], ["path,label,generator,source"]
    for i in range(10):
        (photos / "camera").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_img(i)).save(photos / "camera" / f"r{i}.jpg", quality=90)
        rows_r.append(f"camera/r{i}.jpg,real")
        (fakes / "sdnext" / f"g{i}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_img(100 + i)).save(fakes / "sdnext" / f"g{i}" / "a.png")
        rows_f.append(f"sdnext/g{i}/a.png,fake,gen-{i},test")
    (photos / "labels.csv").write_text("\n".join(rows_r) + "\n")
    (fakes / "labels.csv").write_text("\n".join(rows_f) + "\n")
    ae = _tiny_autoencoder_dir(tmp_path / "ae")
    out = tmp_path / "m"
    r = runner.invoke(app, ["detect", "train", "--data", str(photos), "--fakes-data", str(fakes), "--ae-dir", str(ae),
                            "--autoencoders", "taesd", "--steps", "2", "--batch", "8", "--region", "64", "--patch", "32",
                            "--threads", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out),
                            "--version", "9", "--name", "tiny-recipe"])
    assert r.exit_code == 0, r.stderr + str(r.exception)
    card = json.loads((out / "model.json").read_text())
    assert card["name"] == "tiny-recipe" and card["version"] == "9"
    assert card["recipe"]["autoencoders"] == ["taesd"] and card["training"]["fakes_data"] == [str(fakes)]
    assert card["recipe"]["train_fakes"] > 0 and 0 < card["threshold"] <= 1
    # two runs as one ensemble (one ONNX graph: the mean of the members' logits)
    from forensics.detect.inference import Detector
    from forensics.detect.train import load_config, train_ensemble

    cfg = load_config(out)
    cfg.out = str(tmp_path / "ens")
    train_ensemble([out, out], cfg, progress=lambda m: None)
    ens, one = Detector(tmp_path / "ens"), Detector(out)
    x = _img(7, (96, 96))
    assert np.allclose(ens.patch_logits(x), one.patch_logits(x), atol=1e-5)  # the mean of two equal members
    assert json.loads((tmp_path / "ens" / "model.json").read_text())["ensemble"]["members"] == [str(out)] * 2
    r = runner.invoke(app, ["detect", "train", "--data", str(photos), "--fakes-data", str(fakes), "--ae-dir", str(ae),
                            "--autoencoders", "taef1", "--out", str(tmp_path / "m2")])
    assert r.exit_code == 2 and "taef1" in r.stderr
