"""Training: cached real/fake regions → paired, format-equalised patches → timm backbone → ONNX + model card.

One call of :func:`train` reproduces a shipped model (``forensics detect train`` wraps it). Imports torch;
never imported by ``forensics verify``.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..datasets import group_split, load_dataset
from ..datasets.augment import AugmentConfig, blur, jpeg
from ..datasets.splits import DEFAULT_FRACTIONS
from .cache import build_region_cache, load_cache, save_cache

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    data: list[str]  # dataset folders (labels.csv, ForenSynths or GenImage layout)
    out: str = "runs/detector/model"
    taesd_dir: str | None = None  # folder with taef2_encoder.pth / taef2_decoder.pth
    builders: list[str] = field(default_factory=lambda: ["taef2", "nearest", "bilinear", "bicubic", "deconv",
                                                         "pixelshuffle"])
    region: int = 256
    patch: int = 128
    front_end: str = "highpass"  # the ablation's choice (docs/detector.md)
    backbone: str = "resnet_tiny"
    batch: int = 48  # half real, half fake
    steps: int = 3000
    max_minutes: float = 25.0  # wall-clock cap on the optimisation loop
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto | cpu | cuda
    cache_dir: str = "runs/detector/cache"
    max_photos: int | None = None  # cap per split (tests, quick runs)
    target_fpr: float = 0.01
    topk_frac: float = 0.5
    max_patches: int = 32
    fake_weights: dict[str, float] = field(default_factory=dict)  # builder source -> sampling weight (default 1)
    # compression history: as many fakes as reals should carry an earlier JPEG grid, or "compressed
    # before" becomes the cue for "real" (format bias; see docs/detector.md)
    real_downscale_p: float = 0.6
    fake_prejpeg_p: float = 0.85
    prejpeg_quality: tuple[int, int] = (70, 98)
    name: str | None = None  # default: forensics-<front_end>-<backbone>
    version: str = "1"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # genuine-output recipe (forensics.detect.recipe): labelled generator outputs as the fakes, plus aligned
    # reconstructions of the reals through each tiny autoencoder in ae_dir; empty fakes_data = the
    # synthesised-fakes recipe of versions 1-2
    fakes_data: list[str] = field(default_factory=list)
    ae_dirs: list[str] = field(default_factory=list)  # folders holding <name>_encoder/_decoder weights
    autoencoders: list[str] = field(default_factory=lambda: ["taesd", "taesdxl", "taesd3", "taef1", "taef2"])
    mix: dict[str, float] = field(default_factory=lambda: {"genuine": 0.5, "recon": 0.35, "sim": 0.15})
    max_recon_reals: int = 360  # reals given reconstructions (each costs ~0.3 s per autoencoder on one core)
    holdout_fold: str | None = None  # selection protocol: train without this fold (forensics.detect.recipe.FOLDS)
    calibrate: bool = True  # False: export only (fold models of the selection protocol)
    checkpoint_every: int = 100
    stop_after_step: int | None = None  # stop (checkpointed, resumable) after this step


def _cache_key(cfg: TrainConfig, split: str, n: int) -> Path:
    # a builder may name a folder (vae:/models/sd-vae): its last part is enough to tell caches apart
    tag = "-".join(b.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].replace(":", "_") for b in cfg.builders)
    hist = ""
    if (cfg.real_downscale_p, cfg.fake_prejpeg_p, tuple(cfg.prejpeg_quality)) != (0.5, 0.3, (85, 98)):  # first-round caches keep their names
        hist = f"_d{cfg.real_downscale_p:g}_j{cfg.fake_prejpeg_p:g}q{cfg.prejpeg_quality[0]}-{cfg.prejpeg_quality[1]}"
    return Path(cfg.cache_dir) / f"{split}_r{cfg.region}_{tag}{hist}_n{n}_s{cfg.seed}.npz"


def prepare_regions(cfg: TrainConfig, progress: Callable[[str], None] = print) -> dict[str, dict]:
    """Load the data, split by photo, build (or reuse) the cached regions for train and calib."""
    from ..datasets.builders import default_builders

    samples = [s for d in cfg.data for s in load_dataset(d)]
    reals = [s for s in samples if s.label == 0]
    if not reals:
        raise ValueError("no real images in --data (the fakes are synthesised from reals)")
    splits = group_split(reals, seed=cfg.seed)
    builders = None
    out = {}
    for split in ("train", "calib"):
        items = splits[split][: cfg.max_photos] if cfg.max_photos else splits[split]
        if not items:
            raise ValueError(f"the {split} split is empty; give more real images")
        path = _cache_key(cfg, split, len(items))
        if path.is_file():
            progress(f"reusing cached regions {path}")
            out[split] = load_cache(path)
            continue
        builders = builders or default_builders(cfg.taesd_dir, cfg.builders)
        t = time.time()
        cache = build_region_cache(items, builders, cfg.region, seed=cfg.seed + (split == "calib"),
                                   downscale_p=cfg.real_downscale_p, fake_prejpeg_p=cfg.fake_prejpeg_p,
                                   prejpeg_quality=tuple(cfg.prejpeg_quality),
                                   progress=lambda i, n: progress(f"{split}: {i}/{n} photos, {time.time() - t:.0f}s")
                                   if i % 50 == 0 or i == n else None)
        save_cache(cache, path)
        out[split] = cache
    out["_splits"] = {k: [s.group for s in v] for k, v in splits.items()}
    calib = splits["calib"][: cfg.max_photos] if cfg.max_photos else splits["calib"]
    out["_calib_paths"] = [str(s.path) for s in calib]
    given = [s for s in samples if s.label == 1]
    if given:
        log.info("%d labelled fakes in --data are not used for training (fakes are synthesised from reals)", len(given))
    return out


def _round_robin(samples, cap: int, seed: int):
    """Up to ``cap`` samples, alternating over their source folders (hash order inside each), so a large
    folder (BSDS500) does not crowd out the small ones."""
    from .recipe import stable_seed

    by: dict[str, list] = {}
    for s in sorted(samples, key=lambda s: stable_seed(seed, s.group)):
        by.setdefault(s.group.split("/")[1] if "/" in s.group else "", []).append(s)
    out, lists = [], list(by.values())
    while len(out) < cap and any(lists):
        for lst in lists:
            if lst and len(out) < cap:
                out.append(lst.pop(0))
    return out


def prepare_recipe(cfg: TrainConfig, progress: Callable[[str], None] = print) -> dict:
    """The genuine-output recipe's data: train regions (reals with their aligned reconstructions and
    simulator fakes, genuine fakes), calib regions (reals and genuine fakes) and the split, cached."""
    from .recipe import AUTOENCODERS, HistoryConfig, build_recipe_cache, prompt_group

    reals = [s for d in cfg.data for s in load_dataset(d) if s.label == 0]
    fakes = [prompt_group(s) for d in cfg.fakes_data for s in load_dataset(d) if s.label == 1]
    if not reals:
        raise ValueError("no real images in --data")
    if not fakes:
        raise ValueError("no fake images in --fakes-data (labels.csv with label=fake)")
    rs, fs = group_split(reals, seed=cfg.seed), group_split(fakes, seed=cfg.seed)
    ae_dir = None
    names = [n for n in cfg.autoencoders if n in AUTOENCODERS or n.startswith("tae")]
    found = {}
    for n in names:
        for d in cfg.ae_dirs:
            if any((Path(d) / f"{n}_encoder{e}").is_file() for e in (".safetensors", ".pth")):
                found[n] = d
                break
        else:
            raise ValueError(f"autoencoder {n!r}: no {n}_encoder(.safetensors|.pth) in {cfg.ae_dirs or 'any --ae-dir'}")
    h = HistoryConfig()
    out = {}
    train_reals = _round_robin(rs["train"], cfg.max_recon_reals, cfg.seed) if cfg.max_recon_reals else rs["train"]
    tag = "-".join(names) or "none"
    for split, rl, fl, aes in (("train", train_reals, fs["train"], names), ("calib", rs["calib"], fs["calib"], [])):
        if cfg.max_photos:
            rl, fl = rl[: cfg.max_photos], fl[: cfg.max_photos]
        path = Path(cfg.cache_dir) / f"recipe_{split}_r{cfg.region}_{tag if aes else 'none'}_n{len(rl)}-{len(fl)}_s{cfg.seed}.npz"
        if path.is_file():
            progress(f"reusing cached regions {path}")
            out[split] = load_cache(path)
            continue
        t = time.time()
        parts = []
        for d in dict.fromkeys(found[n] for n in aes):  # one cache pass per folder of autoencoders
            parts.append(build_recipe_cache(rl, fl if not parts else [], region=cfg.region, seed=cfg.seed, h=h, ae_dir=d,
                                            autoencoders=[n for n in aes if found[n] == d],
                                            simulators=("bilinear", "deconv") if not parts else (),
                                            progress=lambda i, n: progress(f"{split}: {i}/{n} images, {time.time() - t:.0f}s")
                                            if i % 50 == 0 or i == n else None))
        if not parts:
            parts.append(build_recipe_cache(rl, fl, region=cfg.region, seed=cfg.seed, h=h, autoencoders=(), simulators=()))
        cache = parts[0]
        for extra in parts[1:]:
            cache.update({k: v for k, v in extra.items() if k.startswith("pair:")})
        if split == "calib":
            cache = {"real": cache["real"], "fake:genuine": cache["fake"], "groups": cache["real_group"]}
        save_cache(cache, path)
        out[split] = cache
    if cfg.holdout_fold:
        from .recipe import FOLDS, subset

        if cfg.holdout_fold not in FOLDS:
            raise ValueError(f"unknown fold {cfg.holdout_fold!r}; choose from {', '.join(FOLDS)}")
        tr = out["train"]
        out["train"] = subset(tr, tr["real_fold"] != cfg.holdout_fold, tr["fake_fold"] != cfg.holdout_fold)
    tr = out["train"]
    out["_splits"] = {k: [s.group for s in v] for k, v in rs.items()}
    out["_calib_paths"] = [str(s.path) for s in rs["calib"]]
    out["_calib_sources"] = [s.group.split("/")[1] if s.group.count("/") > 1 else s.source for s in rs["calib"]]
    out["_recipe"] = {"history": asdict(h), "region": cfg.region, "autoencoders": names, "mix": cfg.mix,
                      "holdout_fold": cfg.holdout_fold, "train_reals": int(len(tr["real"])),
                      "train_fakes": int(len(tr["fake"])),
                      "fake_split_counts": {k: len(v) for k, v in fs.items()},
                      "fake_split": "sha256(f'{seed}:{group}') → fractions; group = prompt or file"}
    return out


def _fake_keys(cache: dict) -> list[str]:
    return sorted(k for k in cache if k.startswith("fake:"))


def _photometric(p: np.ndarray, rng: np.random.Generator, a: AugmentConfig) -> np.ndarray:
    if rng.random() < a.blur_p:
        p = blur(p, float(rng.uniform(*a.blur_sigma)))
    if rng.random() < a.jpeg_p:
        p = jpeg(p, int(rng.integers(a.jpeg_quality[0], a.jpeg_quality[1] + 1)))
    return p


def sample_batch(cache: dict, n_pairs: int, patch: int, rng: np.random.Generator, a: AugmentConfig,
                 fake_weights: dict[str, float] | None = None):
    """n_pairs real patches and, at the same positions of the same photos, n_pairs fake patches (random
    builder each). Geometry is shared; photometric augmentations are drawn independently per patch from
    the same distribution for both classes."""
    import cv2

    reals = cache["real"]
    keys = _fake_keys(cache)
    w = np.array([(fake_weights or {}).get(k.removeprefix("fake:"), 1.0) for k in keys], float)
    w /= w.sum()
    n, r = reals.shape[0], reals.shape[1]
    xs, ys = [], []
    for _ in range(n_pairs):
        j = int(rng.integers(n))
        k = int(rng.choice(len(keys), p=w)) if fake_weights else int(rng.integers(len(keys)))
        fake = cache[keys[k]][j]
        size = patch
        if rng.random() < a.resize_p:
            size = int(np.clip(round(patch / rng.uniform(*a.resize_scale)), 16, r))
        y0, x0 = int(rng.integers(0, r - size + 1)), int(rng.integers(0, r - size + 1))
        for img, lab in ((reals[j], 0.0), (fake, 1.0)):
            p = img[y0:y0 + size, x0:x0 + size]
            if size != patch:
                p = cv2.resize(p, (patch, patch), interpolation=cv2.INTER_AREA if size > patch else cv2.INTER_CUBIC)
            xs.append(_photometric(np.ascontiguousarray(p), rng, a))
            ys.append(lab)
    x = np.stack(xs).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return x, np.array(ys, np.float32)


def calibration_set(cache: dict, rng: np.random.Generator, qualities=(70, 80, 90, 95, 100)):
    """Image-level calibration inputs: every calib region, real and each fake, JPEG at a random quality
    from ``qualities`` (100 = no re-encoding). Returns (images, labels, sources)."""
    imgs, labels, sources = [], [], []
    for key in ["real"] + _fake_keys(cache):
        for im in cache[key]:
            q = int(rng.choice(qualities))
            imgs.append(jpeg(im, q) if q < 100 else im)
            labels.append(0 if key == "real" else 1)
            sources.append(key.removeprefix("fake:"))
    return imgs, np.array(labels), sources


def fit_calibration(logits: np.ndarray, labels: np.ndarray, target_fpr: float) -> dict:
    """Platt scaling (scikit-learn logistic regression on the aggregated logit), then the threshold that
    gives ``target_fpr`` on the calibration reals; the 'uncertain' band starts at 10% FPR."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(class_weight="balanced", C=10.0).fit(logits.reshape(-1, 1), labels)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    probs = 1.0 / (1.0 + np.exp(-(a * logits + b)))
    return {"a": a, "b": b, **operating_point(probs[labels == 0], target_fpr), "probs": probs}


def operating_point(real_probs, target_fpr: float) -> dict:
    """Threshold at the (1 - target_fpr) quantile of real scores; 'uncertain' from their 90% quantile."""
    real = np.sort(np.asarray(real_probs, dtype=float))
    thr = float(np.quantile(real, 1.0 - target_fpr, method="higher")) + 1e-6
    low = float(np.quantile(real, 0.90, method="higher"))
    return {"threshold": min(thr, 0.999999), "uncertain_below": min(low, thr)}


def real_conditions() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """What real photos go through before they reach a newsroom: as sent, re-encoded (JPEG 95 to 50),
    halved, softened. The threshold must hold its false-positive rate over all of them."""
    from ..datasets.augment import jpeg, robustness_conditions

    return {"none": lambda x: x, "jpeg95": lambda x: jpeg(x, 95), **robustness_conditions()}


def video_frame(rgb: np.ndarray, max_side: int = 1024) -> np.ndarray:
    """A real photo as a video frame reaches the detector: scaled to ``max_side`` as
    :meth:`forensics.media.Media.sample_frames` scales frames, encoded as a short MPEG-4 clip (OpenCV's
    ``mp4v`` encoder at its default quality) and decoded again."""
    import tempfile

    import cv2

    from ..datasets.augment import resize

    if max(rgb.shape[:2]) > max_side:
        rgb = resize(rgb, max_side / max(rgb.shape[:2]))
    h, w = rgb.shape[0] - rgb.shape[0] % 2, rgb.shape[1] - rgb.shape[1] % 2
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2BGR)
    with tempfile.TemporaryDirectory() as td:
        path = str(Path(td) / "clip.mp4")
        vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (w, h))
        if not vw.isOpened():
            raise RuntimeError("OpenCV cannot write MPEG-4 video here")
        for _ in range(3):
            vw.write(bgr)
        vw.release()
        cap = cv2.VideoCapture(path)
        ok, frame = cap.read()
        cap.release()
    if not ok:
        raise RuntimeError("OpenCV cannot read back its MPEG-4 clip")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def video_conditions() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Real photos as frames of a lossy video: the codec at full and at half size. Video frames are scored
    against their own threshold, read on these: a codec softens and blocks a frame far more than the JPEG
    of a photo, and a real clip must not come out synthetic (measured: a real camera clip's frames all
    scored above the photo threshold)."""
    from ..datasets.augment import resize

    return {"mp4v": video_frame, "resize0.5+mp4v": lambda x: video_frame(resize(x, 0.5))}


def video_operating_point(det, paths, target_fpr: float = 0.01, progress=None) -> dict:
    """``video_threshold`` / ``video_uncertain_below`` for :class:`forensics.detect.analyser.DetectorAnalyser`'s
    video aggregate, from real photos through :func:`video_conditions`."""
    op = threshold_from_reals(det, paths, target_fpr, conditions=video_conditions(), progress=progress)
    return {"video_threshold": op["threshold"], "video_uncertain_below": op["uncertain_below"],
            "video_threshold_calibration": {k: v for k, v in op.items() if k not in ("threshold", "uncertain_below")}}


def threshold_from_reals(det, paths, target_fpr: float = 0.01, conditions: dict | None = None,
                         progress: Callable[[str], None] | None = None, sources: list[str] | None = None,
                         min_source_scores: int = 50) -> dict:
    """The operating point from whole real photos scored exactly as verify scores them (native resolution,
    every tile the inference path takes), each under every condition of :func:`real_conditions`.

    Why whole photos: calibration regions are 256² crops (16 tiles); verify aggregates up to 64 tiles of a
    whole image, whose top-k mean is distributed differently. Why the conditions: a softened or heavily
    re-compressed real photo scores higher than a clean one (measured: at a threshold read on clean photos
    only, 25% of blurred and 17% of JPEG-50 real photos were flagged); a newsroom must not call those
    synthetic. Why per source: the quantile over all scores is dominated by the largest folder; a source
    whose photos score higher (measured: camera originals, 14% flagged at a pooled threshold) would get far
    more than ``target_fpr``. So the threshold is the highest of the pooled quantile and the quantile of
    each source (``sources``, aligned with ``paths``; default each photo's folder) with at least
    ``min_source_scores`` scores. Returns threshold, uncertain_below (the pooled 90% quantile), the
    per-source thresholds and the counts."""
    from ..datasets.builders import read_rgb

    conditions = conditions or real_conditions()
    sources = sources or [Path(p).parent.name for p in paths]
    probs, by_source, used, errors = [], {}, 0, 0
    for i, (path, src) in enumerate(zip(paths, sources)):
        try:
            rgb = read_rgb(path)
        except Exception:  # unreadable calibration photo: skip it, count it
            errors += 1
            continue
        used += 1
        for fn in conditions.values():
            p = det.score(fn(rgb)).probability_synthetic
            probs.append(p)
            by_source.setdefault(src, []).append(p)
        if progress and (i + 1) % 25 == 0:
            progress(f"threshold: {i + 1}/{len(paths)} photos")
    if not probs:
        raise ValueError("no readable real photos to set the threshold on")
    op = operating_point(probs, target_fpr)
    per_source = {src: {"n_scores": len(v), "threshold": operating_point(v, target_fpr)["threshold"]}
                  for src, v in sorted(by_source.items()) if len(v) >= min_source_scores}
    op["threshold"] = max([op["threshold"]] + [v["threshold"] for v in per_source.values()])
    return {**op,
            "method": "quantiles over whole held-out real photos scored like verify, each under: "
                      + ", ".join(conditions) + f"; the highest of the pooled and the per-source (>= "
                      f"{min_source_scores} scores) {1 - target_fpr:.1%} quantiles",
            "per_source": per_source,
            "n_photos": used, "n_scores": len(probs), "unreadable": errors, "target_fpr": target_fpr}


CONFIG_FILE = "train_config.json"  # the run's configuration, for --resume


def save_config(cfg: TrainConfig, out: Path) -> None:
    (Path(out) / CONFIG_FILE).write_text(json.dumps(asdict(cfg), indent=2))


def train_ensemble(members: list[str | Path], cfg: TrainConfig, progress: Callable[[str], None] = print) -> Path:
    """One model from several trained runs (e.g. the fold models of the selection protocol): the mean of
    their patch logits, exported as one ONNX graph, then calibrated on the calib split like :func:`train`.
    ``cfg`` names the data (its ``holdout_fold`` must be None) and the output."""
    import torch

    from .model import DetectorNet, EnsembleNet

    t_start = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out)
    nets, folds = [], []
    for m in members:
        ck = torch.load(Path(m) / "checkpoint.pt", map_location="cpu", weights_only=True)
        net = DetectorNet(ck["front_end"], ck["backbone"])
        net.load_state_dict(ck["state_dict"])
        nets.append(net)
        card = json.loads((Path(m) / "model.json").read_text())
        folds.append(card.get("recipe", {}).get("holdout_fold"))
    model = EnsembleNet(nets).eval()
    data = prepare_recipe(cfg, progress) if cfg.fakes_data else prepare_regions(cfg, progress)
    torch.save({"members": [str(m) for m in members], "state_dicts": [n.state_dict() for n in nets]}, out / "checkpoint.pt")
    return finalise(model, cfg, data, out, step=cfg.steps, train_s=0.0, t_start=t_start, progress=progress,
                    extra={"ensemble": {"members": [str(m) for m in members], "member_holdout_folds": folds,
                                        "rule": "mean of the members' patch logits"}})


def load_config(out: str | Path) -> TrainConfig:
    """The configuration of the run in ``out`` (written when it started)."""
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"--resume: {path} does not exist (nothing to resume)")
    d = json.loads(path.read_text())
    tup = lambda v: tuple(v) if isinstance(v, list) else v  # noqa: E731 - JSON has no tuples
    d["augment"] = AugmentConfig(**{k: tup(v) for k, v in d["augment"].items()})
    d["prejpeg_quality"] = tuple(d["prejpeg_quality"])
    return TrainConfig(**d)


def _device(cfg: TrainConfig):
    import torch

    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def _batch_fn(cfg: TrainConfig, data: dict, rng: np.random.Generator):
    if not cfg.fakes_data:
        return lambda: sample_batch(data["train"], cfg.batch // 2, cfg.patch, rng, cfg.augment, cfg.fake_weights)
    from .recipe import sample_recipe_batch

    cache = data["train"]
    pairs = [k for k in cache if k.startswith("pair:")]
    mix = {"genuine": cfg.mix.get("genuine", 0.0)}
    for group, keys in (("recon", [k for k in pairs if k.endswith("-recon")]),
                        ("sim", [k for k in pairs if not k.endswith("-recon")])):
        for k in keys:
            mix[k] = cfg.mix.get(group, 0.0) / len(keys)
    return lambda: sample_recipe_batch(cache, cfg.batch // 2, cfg.patch, rng, cfg.augment, mix)


STATE_FILE = "train_state.pt"  # the resumable training state inside --out


def optimise(model, opt, sched, batch_fn, cfg: TrainConfig, out: Path, rng: np.random.Generator, dev, *,
             resume: bool = False, progress: Callable[[str], None] = print) -> tuple[int, float]:
    """The optimisation loop, checkpointed every ``cfg.checkpoint_every`` steps and at every stop: model,
    optimiser, scheduler, step, the numpy generator that draws the batches (so the data order continues
    where it stopped) and torch's RNG. ``resume`` continues from ``out/train_state.pt``. Returns (last
    step, training seconds, those of earlier sessions included)."""
    import torch

    loss_fn = torch.nn.BCEWithLogitsLoss()
    state_path = out / STATE_FILE
    first, spent, ema = 1, 0.0, None
    if resume:
        if not state_path.is_file():
            raise ValueError(f"--resume: {state_path} does not exist (nothing to resume)")
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        if st["steps"] != cfg.steps:
            raise ValueError(f"--resume: the checkpoint belongs to a {st['steps']}-step run, not {cfg.steps}")
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        sched.load_state_dict(st["sched"])
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
        first, spent, ema = st["step"] + 1, st["seconds"], st["ema"]
        progress(f"resumed from step {st['step']} of {cfg.steps}")

    def save(step: int) -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step,
                    "steps": cfg.steps, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "seconds": spent + time.time() - t0, "ema": ema}, tmp)
        tmp.replace(state_path)  # an interruption while writing leaves the previous checkpoint

    t0, step = time.time(), first - 1
    model.train()
    for step in range(first, cfg.steps + 1):
        x, y = batch_fn()
        logits = model(torch.from_numpy(x).to(dev))
        loss = loss_fn(logits, torch.from_numpy(y).to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        stop = step == cfg.steps or (cfg.stop_after_step is not None and step >= cfg.stop_after_step)
        over = (time.time() - t0) / 60 > cfg.max_minutes  # per session: a resumed run gets its own budget
        if step % cfg.checkpoint_every == 0 or stop or over:
            save(step)
        if step % 50 == 0 or step == cfg.steps:
            progress(f"step {step}/{cfg.steps} loss {ema:.4f} ({spent + time.time() - t0:.0f}s)")
        if over:
            progress(f"time budget of {cfg.max_minutes} min reached at step {step}")
            break
        if stop:
            break
    return step, spent + time.time() - t0


def train(cfg: TrainConfig, progress: Callable[[str], None] = print, resume: bool = False) -> Path:
    """Train, calibrate, export. Returns the output folder (model.onnx + model.json). ``resume``
    continues an interrupted run of the same configuration from its last checkpoint."""
    import torch

    from .inference import Detector
    from .metrics import binary_metrics
    from .model import DetectorNet, export_onnx

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        save_config(cfg, out)
    t_start = time.time()
    data = prepare_recipe(cfg, progress) if cfg.fakes_data else prepare_regions(cfg, progress)
    dev = _device(cfg)
    model = DetectorNet(cfg.front_end, cfg.backbone).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    progress(f"training {cfg.front_end}/{cfg.backbone} on {dev}: {data['train']['real'].shape[0]} photos, "
             f"{cfg.steps} steps of {cfg.batch}")
    batch_fn = _batch_fn(cfg, data, rng)
    step, train_s = optimise(model, opt, sched, batch_fn, cfg, out, rng, dev, resume=resume, progress=progress)
    if step < cfg.steps and cfg.stop_after_step is not None and step >= cfg.stop_after_step:
        progress(f"stopped after step {step}; continue with --resume")
        return out
    model.eval().cpu()
    # the torch weights stay next to the export (for fine-tuning); the ONNX file is what ships
    torch.save({"state_dict": model.state_dict(), "front_end": cfg.front_end, "backbone": cfg.backbone},
               out / "checkpoint.pt")
    return finalise(model, cfg, data, out, step=step, train_s=train_s, t_start=t_start, dev=dev, progress=progress)


def finalise(model, cfg: TrainConfig, data: dict, out: Path, *, step: int, train_s: float, t_start: float, dev="cpu",
             progress: Callable[[str], None] = print, extra: dict | None = None) -> Path:
    """Export a trained network to ONNX, then calibrate it on the calib split and write the card."""
    from .inference import Detector
    from .metrics import binary_metrics
    from .model import export_onnx

    export_onnx(model, out / "model.onnx", cfg.patch)
    name = cfg.name or f"forensics-{cfg.front_end}-{cfg.backbone.replace('_', '-')}"
    card = {"name": name, "version": cfg.version, "patch": cfg.patch, "max_patches": cfg.max_patches,
            "topk_frac": cfg.topk_frac, "front_end": cfg.front_end, "backbone": cfg.backbone,
            "input": "N×3×patch×patch float32 RGB in [0,1]; output one logit per patch",
            "calibration": {"a": 1.0, "b": 0.0}, "threshold": 0.5, "uncertain_below": 0.5}
    if cfg.fakes_data:
        card["recipe"] = data["_recipe"]
    card.update(extra or {})
    (out / "model.json").write_text(json.dumps(card, indent=2))
    if not cfg.calibrate:
        return out

    # calibration on held-out photos (the calib split), with the ONNX model itself
    det = Detector(out, threads=cfg.threads)
    imgs, labels, sources = calibration_set(data["calib"], np.random.default_rng(cfg.seed + 7))
    z = np.array([det.score(im).logit for im in imgs])
    cal = fit_calibration(z, labels, cfg.target_fpr)
    # Platt scaling from the regions (both classes needed); the threshold from whole calib photos
    det.cal_a, det.cal_b = cal["a"], cal["b"]
    op = threshold_from_reals(det, data["_calib_paths"], cfg.target_fpr, progress=progress,
                              sources=data.get("_calib_sources"))
    cal["threshold"], cal["uncertain_below"] = op["threshold"], op["uncertain_below"]
    vop = video_operating_point(det, data["_calib_paths"], cfg.target_fpr, progress=progress)
    m = binary_metrics(labels, cal["probs"], cal["threshold"])
    per_source = {s: binary_metrics(labels[(np.array(sources) == s) | (labels == 0)],
                                    cal["probs"][(np.array(sources) == s) | (labels == 0)], cal["threshold"])
                  for s in sorted(set(sources)) if s != "real"}
    split_groups = data["_splits"]
    card.update({
        "calibration": {"method": "platt (sklearn LogisticRegression on the top-k mean logit)",
                        "a": cal["a"], "b": cal["b"]},
        "threshold": cal["threshold"], "uncertain_below": cal["uncertain_below"], "target_fpr": cfg.target_fpr,
        "threshold_calibration": {k: v for k, v in op.items() if k not in ("threshold", "uncertain_below")},
        **vop,
        "training": {
            "data": cfg.data, "fakes_data": cfg.fakes_data, "fake_builders": cfg.builders, "fake_weights": cfg.fake_weights, "region": cfg.region, "steps_done": step,
            "batch": cfg.batch, "lr": cfg.lr, "seed": cfg.seed, "device": str(dev),
            "train_seconds": round(train_s, 1), "total_seconds": round(time.time() - t_start, 1),
            "augment": asdict(cfg.augment),
            "compression_history": {"real_downscale_p": cfg.real_downscale_p, "fake_prejpeg_p": cfg.fake_prejpeg_p,
                                    "prejpeg_quality": list(cfg.prejpeg_quality)},
            "split": {"rule": "sha256(f'{seed}:{group}') → fractions", "seed": cfg.seed, "fractions": DEFAULT_FRACTIONS,
                      "counts": {k: len(v) for k, v in split_groups.items()}},
            "heldout_test_groups": sorted(split_groups.get("test", [])),
        },
        "calibration_metrics": {"overall": m, "per_source": per_source,
                                "n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum()),
                                "protocol": "calib-split regions (256²) of real photos and their synthesised fakes, "
                                            "JPEG q ∈ {70,80,90,95,none}"},
    })
    (out / "model.json").write_text(json.dumps(card, indent=2))
    progress(f"calibration split: AUC {m['auc']:.3f}, TPR@1%FPR {m['tpr_at_1pct_fpr']:.3f}; "
             f"threshold {cal['threshold']:.3f}; wrote {out}")
    return out
