"""The detector: inference (ONNX, no torch), the verify analyser, the CLI, metrics, and training end to end."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from forensics.analysers import AnalysisContext, VerifyOptions
from forensics.cli import app
from forensics.detect.inference import DEFAULT_MODEL_DIR, Detector, aggregate, tile
from forensics.detect.metrics import binary_metrics, tpr_at_fpr
from forensics.media import Media

from conftest import REPO, photo

runner = CliRunner()


def _photo(path, size=(300, 200), seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x % 256, y % 256, (x * y) % 256], -1).astype(float)
    arr = np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    # set up before the per-test $FORENSICS_HOME: give the session cache a home of its own, never ~/.config
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FORENSICS_HOME", str(tmp_path_factory.mktemp("detector-home")))
        return Detector.from_pretrained()


# --- pure functions ----------------------------------------------------------------------------

def test_tiling_covers_the_image_and_caps_patches():
    img = np.zeros((1024, 1024, 3), np.uint8)
    assert tile(img, 64, 64).shape == (64, 3, 64, 64)
    assert tile(img[:128, :192], 64, 64).shape == (6, 3, 64, 64)
    assert tile(np.zeros((20, 30, 3), np.uint8), 64, 64).shape == (1, 3, 64, 64)  # tiny image: padded
    t = tile(np.full((64, 64, 3), 255, np.uint8), 64, 4)
    assert t.dtype == np.float32 and t.max() == 1.0


def test_topk_aggregation():
    assert aggregate(np.array([0.0, 0.0, 4.0, 2.0]), 0.5) == 3.0
    assert aggregate(np.array([1.0]), 0.5) == 1.0


def test_metrics_on_known_scores():
    labels = np.array([0] * 100 + [1] * 10)
    scores = np.concatenate([np.linspace(0, 0.5, 100), np.linspace(0.45, 1.0, 10)])
    m = binary_metrics(labels, scores, 0.6)
    assert 0.9 < m["auc"] < 1.0
    assert m["fpr_at_threshold"] == 0.0 and m["tpr_at_threshold"] == 0.7
    assert tpr_at_fpr(labels, scores, 0.0) == pytest.approx(0.9)  # 9 fakes above every real
    assert tpr_at_fpr(labels, np.r_[np.zeros(100), np.ones(10)], 0.01) == 1.0


# --- the shipped model ------------------------------------------------------------------------

def test_shipped_model_card_is_complete_and_small():
    card = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    for key in ("name", "version", "patch", "threshold", "calibration", "training", "calibration_metrics"):
        assert key in card, key
    assert 0 < card["threshold"] < 1
    assert (DEFAULT_MODEL_DIR / "model.onnx").stat().st_size < 30 * 2**20


def test_scores_are_probabilities_and_deterministic(detector, tmp_path):
    img = np.asarray(Image.open(_photo(tmp_path / "a.jpg")).convert("RGB"))
    a, b = detector.score(img), detector.score(img)
    assert 0.0 <= a.probability_synthetic <= 1.0
    assert a.probability_synthetic == b.probability_synthetic
    h, w = img.shape[:2]
    expected = min(detector.max_patches, max(1, h // detector.patch) * max(1, w // detector.patch))
    assert a.label in ("synthetic", "real", "uncertain") and a.patches == expected


def test_analyser_never_imports_torch(tmp_path):
    path = _photo(tmp_path / "p.jpg")
    code = (
        "import sys\n"
        "from forensics.analysers import AnalysisContext, VerifyOptions\n"
        "from forensics.detect.analyser import DetectorAnalyser\n"
        "from forensics.media import Media\n"
        f"f = DetectorAnalyser().analyse(Media.open({str(path)!r}), AnalysisContext(VerifyOptions()))\n"
        "assert 0 <= f.probability_synthetic <= 1\n"
        "print(sorted(m for m in ('torch', 'timm', 'diffusers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_analyser_applies_only_when_enabled(tmp_path):
    from forensics.detect.analyser import DetectorAnalyser

    m = Media.open(_photo(tmp_path / "p.png"))
    an = DetectorAnalyser()
    assert an.applies_to(m, VerifyOptions())
    assert not an.applies_to(m, VerifyOptions(detector=False))


def test_missing_model_is_a_typed_error(tmp_path):
    from forensics.detect.analyser import DetectorAnalyser
    from forensics.errors import ConfigError

    m = Media.open(_photo(tmp_path / "p.png"))
    with pytest.raises(ConfigError, match="model.json"):
        DetectorAnalyser(str(tmp_path / "nomodel")).analyse(m, AnalysisContext(VerifyOptions()))


def test_verify_report_has_the_contract_detector_fields(tmp_path):
    from forensics.detect.analyser import DetectorAnalyser
    from forensics.verify import Verifier

    rep = Verifier(VerifyOptions(), analysers=[DetectorAnalyser()]).verify(_photo(tmp_path / "p.jpg"))
    d = rep.to_json()["detector"]
    assert set(d) >= {"model", "probability_synthetic", "threshold", "label"}
    assert d["model"].count("@") == 1 and rep.to_json()["frames"] is None
    off = Verifier(VerifyOptions(detector=False), analysers=[DetectorAnalyser()]).verify(tmp_path / "p.jpg")
    assert off.to_json()["detector"] is None


# --- CLI ----------------------------------------------------------------------------------------

def test_score_cli_json_and_bad_input(tmp_path):
    good = _photo(tmp_path / "good.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = runner.invoke(app, ["detect", "score", str(good), str(bad), str(tmp_path / "missing.png"), "--json"])
    assert r.exit_code == 2
    rows = json.loads(r.stdout)
    assert [row["error"] is None for row in rows] == [True, False, False]
    assert rows[2]["error"]["code"] == "not_found"
    assert 0 <= rows[0]["detector"]["probability_synthetic"] <= 1
    r = runner.invoke(app, ["detect", "score", str(good)])
    assert r.exit_code == 0 and "good.jpg:" in r.stdout and "Traceback" not in r.stdout


def test_score_cli_missing_model_is_usage_error(tmp_path):
    r = runner.invoke(app, ["detect", "score", str(_photo(tmp_path / "a.jpg")), "--model", str(tmp_path)])
    assert r.exit_code == 2 and "model.json" in r.stderr


def test_eval_cli_writes_json_markdown_and_roc(tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    rows = ["path,label,generator"]
    for i in range(6):
        _photo(data / f"r{i}.jpg", seed=i)
        rows.append(f"r{i}.jpg,real,")
    for i in range(4):  # "fakes": nearest-neighbour up-sampled images
        small = np.asarray(Image.open(_photo(tmp_path / f"s{i}.png", (150, 100), seed=10 + i)))
        Image.fromarray(small.repeat(2, 0).repeat(2, 1)).save(data / f"f{i}.png")
        rows.append(f"f{i}.png,fake,nearest-x2")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "eval"
    r = runner.invoke(app, ["detect", "eval", "--data", str(data), "--out", str(out), "--robustness", "--json"])
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["n_real"] == 6 and res["n_fake"] == 4
    assert set(res["conditions"]) == {"jpeg90", "jpeg75", "jpeg50", "resize0.5+jpeg90", "blur1+jpeg90"}
    assert "nearest-x2" in res["conditions"]["jpeg90"]["per_source"]
    assert (out / "eval.md").read_text().startswith("Model")
    assert (out / "roc.png").stat().st_size > 1000


def test_eval_cli_needs_both_classes(tmp_path):
    _photo(tmp_path / "r.jpg")
    (tmp_path / "labels.csv").write_text("path,label\nr.jpg,real\n")
    r = runner.invoke(app, ["detect", "eval", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "both classes" in r.stderr


@pytest.mark.slow
def test_train_end_to_end_on_a_tiny_dataset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = ["path,label"]
    for i in range(12):
        _photo(data / f"r{i}.jpg", (160, 120), seed=i)
        rows.append(f"r{i}.jpg,real")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "model"
    args = ["detect", "train", "--data", str(data), "--out", str(out), "--builders", "nearest,deconv",
            "--steps", "2", "--batch", "8", "--region", "96", "--patch", "32", "--threads", "1",
            "--cache-dir", str(tmp_path / "cache")]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.stderr + str(r.exception)
    card = json.loads((out / "model.json").read_text())
    assert card["patch"] == 32 and card["training"]["steps_done"] == 2
    assert card["training"]["fake_builders"] == ["nearest", "deconv"]
    assert (out / "checkpoint.pt").is_file()
    det = Detector(out)
    s = det.score(np.asarray(Image.open(data / "r0.jpg")))
    assert 0 <= s.probability_synthetic <= 1
    assert card["training"]["compression_history"] == {"real_downscale_p": 0.6, "fake_prejpeg_p": 0.85,
                                                       "prejpeg_quality": [70, 98]}
    # a second run reuses the cached regions
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "reusing cached regions" in r.stderr
    # ... but not when the compression history of the fakes changes (another cache file)
    r = runner.invoke(app, args + ["--fake-prejpeg-p", "1", "--prejpeg-quality", "70-90",
                                   "--backbone", "resnet_tiny_nopool"])
    assert r.exit_code == 0 and "reusing cached regions" not in r.stderr, r.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["compression_history"]["prejpeg_quality"] == [70, 90]
    assert card["backbone"] == "resnet_tiny_nopool"
    r = runner.invoke(app, args + ["--prejpeg-quality", "90-70"])
    assert r.exit_code == 2 and "prejpeg-quality" in r.stderr


def test_train_without_reals_is_a_clear_error(tmp_path):
    _photo(tmp_path / "f.jpg")
    (tmp_path / "labels.csv").write_text("path,label\nf.jpg,fake\n")
    r = runner.invoke(app, ["detect", "train", "--data", str(tmp_path), "--out", str(tmp_path / "m"),
                            "--builders", "nearest"])
    assert r.exit_code == 2 and "no real images" in r.stderr


def test_shipped_model_separates_some_real_photos_from_their_upsampled_copies(detector):
    """Sanity, not the benchmark: held-out real photos score lower than their ×2 nearest up-sampled copies.

    The shipped model learnt from genuine generator outputs, not from up-sampling simulators, so the
    up-sampling trace moves its logit only on some photos: the copies must win on average and on most
    photos (a network that learnt nothing gives a mean difference near 0 and about 3 wins of 6)."""
    import cv2

    from forensics.datasets import split_of

    # the first six ML72 photos of the held-out split, as 256² crops (tests/fixtures/SOURCES.md)
    heldout = [photo(f"{n}-crop256.png") for n in ("animals_10", "animals_4", "city_2", "city_4", "city_7", "city_9")]
    assert all(split_of(f"photos/ml72-real/{p.name.split('-')[0]}.jpg", 0) == "test" for p in heldout)
    gains = []
    for p in heldout:
        rgb = np.asarray(Image.open(p).convert("RGB"))[:256, :256]
        up = cv2.resize(rgb[::2, ::2], (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST)
        gains.append(detector.score(up).logit - detector.score(rgb).logit)
    assert float(np.mean(gains)) > 0.2 and sum(g > 0 for g in gains) >= 4, gains


def test_calibrate_sets_the_threshold_on_your_photos(tmp_path):
    data = tmp_path / "mine"
    data.mkdir()
    rows = ["path,label"]
    for i in range(6):
        _photo(data / f"r{i}.jpg", (200, 150), seed=40 + i)
        rows.append(f"r{i}.jpg,real")
    (data / "labels.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "recal"
    r = runner.invoke(app, ["detect", "calibrate", "--data", str(data), "--out", str(out), "--target-fpr", "0.1"])
    assert r.exit_code == 0, r.stderr + str(r.exception)
    card = json.loads((out / "model.json").read_text())
    tc = card["threshold_calibration"]
    from forensics.detect.train import real_conditions

    conds = real_conditions()
    assert tc["n_photos"] == 6 and tc["n_scores"] == 6 * len(conds) and card["target_fpr"] == 0.1
    det = Detector(out)
    scores = []
    for i in range(6):
        rgb = np.asarray(Image.open(data / f"r{i}.jpg").convert("RGB"))
        scores += [det.score(fn(rgb)).probability_synthetic for fn in conds.values()]
    above = sum(s >= card["threshold"] for s in scores)
    assert above <= 0.1 * len(scores)  # at most 10% of the scores over the threshold set for 10% FPR
    assert card["uncertain_below"] <= card["threshold"]


# --- the optimised-graph cache ---------------------------------------------------------------------------

def _sessions_built(monkeypatch) -> list[str]:
    """Records what each new ONNX Runtime session is built from: "model" (the shipped file, optimised
    now) or "cache" (an already optimised graph, as bytes)."""
    import onnxruntime as ort

    built: list[str] = []
    real = ort.InferenceSession

    def spy(source, *args, **kwargs):
        built.append("cache" if isinstance(source, bytes) else "model")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(ort, "InferenceSession", spy)
    return built


def _logits(det: Detector) -> np.ndarray:
    rng = np.random.default_rng(3)
    return det.patch_logits(rng.integers(0, 256, (300, 520, 3), dtype=np.uint8))


def test_cached_optimised_graph_gives_identical_scores(forensics_home, monkeypatch):
    from forensics.detect.inference import SESSION_CACHE, model_sha256

    built = _sessions_built(monkeypatch)
    first = Detector.from_pretrained()
    second = Detector.from_pretrained()
    assert built == ["model", "cache"]
    assert np.array_equal(_logits(first), _logits(second))
    assert first.sha256 == second.sha256 == model_sha256(DEFAULT_MODEL_DIR)  # the shipped files' hash
    assert len(list((forensics_home / "cache" / SESSION_CACHE).glob("*.onnx"))) == 1


@pytest.mark.parametrize("damage", ["graph-bytes", "record", "graph-and-record", "graph-missing"])
def test_damaged_graph_cache_is_ignored_and_rebuilt(forensics_home, monkeypatch, damage):
    import hashlib

    from forensics.detect.inference import SESSION_CACHE, _cached_graph

    reference = _logits(Detector.from_pretrained())
    folder = forensics_home / "cache" / SESSION_CACHE
    (graph,), (record,) = folder.glob("*.onnx"), folder.glob("*.json")
    good = graph.read_bytes()
    if damage == "graph-bytes":  # a flipped byte: the recorded sha256 no longer matches
        graph.write_bytes(good[:1000] + bytes([good[1000] ^ 0xFF]) + good[1001:])
    elif damage == "record":
        record.write_text("{not json")
    elif damage == "graph-and-record":  # consistent record, but not a graph ONNX Runtime can load
        graph.write_bytes(b"garbage" * 100)
        record.write_text(json.dumps({"sha256": hashlib.sha256(b"garbage" * 100).hexdigest()}))
    else:
        graph.unlink()
    built = _sessions_built(monkeypatch)
    det = Detector.from_pretrained()
    assert built[-1] == "model"  # the damaged entry was not used
    assert np.array_equal(_logits(det), reference)
    # rebuilt: a graph matching its record again (ORT's node names differ from save to save), used next time
    assert _cached_graph(graph, json.loads(record.read_text())) is not None
    assert Detector.from_pretrained() and built[-1] == "cache"


def test_unwritable_graph_cache_still_scores(forensics_home, monkeypatch):
    from forensics import diskcache

    reference = _logits(Detector.from_pretrained())
    monkeypatch.setattr(diskcache, "cache_dir", lambda kind: forensics_home / "not-a-folder" / kind)
    (forensics_home / "not-a-folder").write_text("a file where the cache folder would go")
    assert np.array_equal(_logits(Detector.from_pretrained()), reference)


def test_graph_cache_keeps_only_the_latest_graphs(forensics_home):
    import os

    from forensics.detect.inference import SESSION_CACHE, SESSION_CACHE_KEEP

    folder = forensics_home / "cache" / SESSION_CACHE
    folder.mkdir(parents=True)
    for i in range(SESSION_CACHE_KEEP + 3):  # graphs of other (older) models
        old = folder / f"{i:064x}.onnx"
        old.write_bytes(b"x")
        old.with_suffix(".json").write_text("{}")
        os.utime(old, ns=(10**18 + i, 10**18 + i))
    Detector.from_pretrained()
    graphs = sorted(folder.glob("*.onnx"))
    assert len(graphs) == SESSION_CACHE_KEEP and len(list(folder.glob("*.json"))) == SESSION_CACHE_KEEP
    assert f"{SESSION_CACHE_KEEP + 2:064x}.onnx" in {g.name for g in graphs}  # the newest of the old ones stays
