"""ONNX inference for the detector: patch tiling over the whole image, top-k aggregation, calibration.

Imports only numpy, onnxruntime and OpenCV — never torch — so ``forensics verify`` stays light.
A model is a folder with ``model.onnx`` and ``model.json`` (the card: patch size, aggregation, Platt
calibration, threshold, training data, measured numbers).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_MODEL_DIR = Path(__file__).parent / "models" / "default"
MODEL_ENV = "FORENSICS_DETECTOR_MODEL"  # a model folder that replaces the shipped default


@dataclass
class DetectorScore:
    probability_synthetic: float
    logit: float  # aggregated raw logit, before calibration
    label: str  # synthetic | real | uncertain
    patches: int
    patch_logits: np.ndarray | None = None


class DetectorModelError(RuntimeError):
    pass


def model_dir(name_or_path: str | Path | None = None) -> Path:
    """The model folder verify uses: the argument, else ``$FORENSICS_DETECTOR_MODEL``, else the shipped default."""
    return Path(name_or_path or os.environ.get(MODEL_ENV) or DEFAULT_MODEL_DIR)


def model_sha256(folder: str | Path) -> str:
    """Content hash of a model: sha256 over the ONNX graph and the card (calibration, threshold), each
    length-prefixed. A retrained or recalibrated model gets a new hash even under the same name@version."""
    return _files_sha256({name: (Path(folder) / name).read_bytes() for name in ("model.onnx", "model.json")})


def _files_sha256(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in ("model.onnx", "model.json"):
        data = files[name]
        h.update(f"{name}:{len(data)}:".encode())
        h.update(data)
    return h.hexdigest()


def model_identity(name_or_path: str | Path | None = None) -> dict:
    """``{"model": "name@version", "model_sha256": …}`` of a model folder, reading files only (no
    onnxruntime): what the audit's reuse key needs. A missing model gives ``{"model": None, …}``."""
    folder = model_dir(name_or_path)
    try:
        card = json.loads((folder / "model.json").read_text())
        return {"model": f'{card.get("name", "detector")}@{card.get("version", "0")}', "model_sha256": model_sha256(folder)}
    except (OSError, ValueError):
        return {"model": None, "model_sha256": None, "path": str(folder)}


def tile(rgb: np.ndarray, patch: int, max_patches: int) -> np.ndarray:
    """Non-overlapping ``patch``² tiles on a grid anchored at the top-left (aligned with the JPEG 8×8 grid),
    evenly subsampled to at most ``max_patches``. Returns N×3×patch×patch float32 in [0, 1]."""
    h, w = rgb.shape[:2]
    if h < patch or w < patch:  # tiny images: reflect-pad up to one patch
        rgb = np.pad(rgb, ((0, max(0, patch - h)), (0, max(0, patch - w)), (0, 0)), mode="reflect")
        h, w = rgb.shape[:2]
    ny, nx = h // patch, w // patch
    idx = np.arange(ny * nx)
    if len(idx) > max_patches:
        idx = idx[np.linspace(0, len(idx) - 1, max_patches).round().astype(int)]
    tiles = np.stack([rgb[(i // nx) * patch:(i // nx + 1) * patch, (i % nx) * patch:(i % nx + 1) * patch] for i in idx])
    return np.ascontiguousarray(tiles.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


def aggregate(logits: np.ndarray, topk_frac: float) -> float:
    """Mean of the top ``topk_frac`` patch logits: a synthetic region need not cover the whole frame."""
    k = max(1, math.ceil(len(logits) * topk_frac))
    return float(np.sort(logits)[-k:].mean())


SESSION_CACHE = "onnx-optimized"  # $FORENSICS_HOME/cache/<this>: ONNX Runtime's optimised graphs


def _runtime_key(model_sha: str) -> str:
    """What an optimised graph depends on: the model, the ONNX Runtime build and the CPU it was laid out
    for (at the full optimisation level ORT may pick CPU-specific kernels and layouts)."""
    import platform

    import onnxruntime as ort

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo", "rb") as fh:  # the first CPU's feature flags
            cpu += next((ln for ln in fh if ln.startswith((b"flags", b"Features"))), b"").decode(errors="replace")
    except OSError:
        pass
    ident = f"{model_sha}|onnxruntime {ort.__version__}|{platform.machine()}|{cpu}|ORT_ENABLE_ALL"
    return hashlib.sha256(ident.encode()).hexdigest()


def _session(onnx_path: Path, model_sha: str, threads: int):
    """An ONNX Runtime session for the model, at ORT's default (full) optimisation level.

    Optimising the graph is most of a session's start-up, so the optimised graph ORT writes out is kept
    (``$FORENSICS_HOME/cache/onnx-optimized``, keyed by :func:`_runtime_key`, with its own sha256 beside it)
    and later sessions load it with optimisation off: the same graph, the same kernels, identical outputs.
    An entry that is missing, damaged or does not load is ignored and rebuilt.
    """
    import onnxruntime as ort

    from .. import diskcache

    def options(level) -> "ort.SessionOptions":
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.graph_optimization_level = level
        return so

    providers = ["CPUExecutionProvider"]
    full, off = ort.GraphOptimizationLevel.ORT_ENABLE_ALL, ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    key = _runtime_key(model_sha)
    entry = diskcache.entry_path(SESSION_CACHE, key, ".onnx")
    optimised = _cached_graph(entry, diskcache.read_json(SESSION_CACHE, key))
    if optimised is not None:
        try:
            return ort.InferenceSession(optimised, sess_options=options(off), providers=providers)
        except Exception:  # noqa: BLE001 - an entry this build cannot load: rebuilt below
            pass
    so, tmp = options(full), entry.with_name(f".tmp-{os.getpid()}-{entry.name}")
    so.optimized_model_filepath = str(tmp)
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        session = ort.InferenceSession(str(onnx_path), sess_options=so, providers=providers)
    except Exception:  # noqa: BLE001 - the graph could not be written (read-only home…); a bad model raises below
        _unlink(tmp)
        return ort.InferenceSession(str(onnx_path), sess_options=options(full), providers=providers)
    try:
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
        os.replace(tmp, entry)
        diskcache.write_json(SESSION_CACHE, key, {"sha256": digest, "model_sha256": model_sha})
    except OSError:
        _unlink(tmp)
    _prune(entry.parent, keep=SESSION_CACHE_KEEP)
    return session


SESSION_CACHE_KEEP = 4  # graphs kept (≈ 15 MB each): evaluating many checkpoints must not fill the disk


def _prune(folder: Path, keep: int) -> None:
    """Drop all but the ``keep`` most recently written graphs (and their records)."""
    try:
        graphs = sorted(folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    except OSError:
        return
    for graph in graphs[keep:]:
        _unlink(graph)
        _unlink(graph.with_suffix(".json"))


def _cached_graph(entry: Path, meta) -> bytes | None:
    """The cached optimised graph when it is there and its sha256 is the one recorded beside it."""
    if not (isinstance(meta, dict) and isinstance(meta.get("sha256"), str)):
        return None
    try:
        data = entry.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == meta["sha256"] else None


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


class Detector:
    """A loaded detector. Create once, score many images (the ONNX session is kept)."""

    def __init__(self, model_dir: str | Path, threads: int | None = None):
        self.model_dir = Path(model_dir)
        card_path, onnx_path = self.model_dir / "model.json", self.model_dir / "model.onnx"
        if not card_path.is_file() or not onnx_path.is_file():
            raise DetectorModelError(f"{self.model_dir} has no model.json + model.onnx (train one with "
                                     "`forensics detect train`)")
        card_bytes, onnx_bytes = card_path.read_bytes(), onnx_path.read_bytes()
        self.card = json.loads(card_bytes.decode())
        self.sha256 = _files_sha256({"model.onnx": onnx_bytes, "model.json": card_bytes})
        self.session = _session(onnx_path, self.sha256,
                                threads or int(os.environ.get("FORENSICS_DETECTOR_THREADS", "2")))
        self.input_name = self.session.get_inputs()[0].name
        self.patch = int(self.card["patch"])
        self.max_patches = int(self.card.get("max_patches", 64))
        self.topk_frac = float(self.card.get("topk_frac", 0.5))
        cal = self.card.get("calibration") or {"a": 1.0, "b": 0.0}
        self.cal_a, self.cal_b = float(cal["a"]), float(cal["b"])
        self.threshold = float(self.card.get("threshold", 0.5))
        self.uncertain_below = float(self.card.get("uncertain_below", self.threshold))
        # frames of a lossy video have their own operating point (read on real photos through a codec)
        self.video_threshold = float(self.card.get("video_threshold", self.threshold))
        self.video_uncertain_below = float(self.card.get("video_uncertain_below", self.uncertain_below))
        self.name = f'{self.card.get("name", "detector")}@{self.card.get("version", "0")}'

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path | None = None, **kw) -> "Detector":
        """A model folder, or None for ``$FORENSICS_DETECTOR_MODEL`` or the shipped default."""
        return cls(model_dir(name_or_path), **kw)

    def calibrate(self, logit: float) -> float:
        z = self.cal_a * logit + self.cal_b
        return float(1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))))

    def label_for(self, p: float, video: bool = False) -> str:
        thr, low = (self.video_threshold, self.video_uncertain_below) if video else (self.threshold, self.uncertain_below)
        if p >= thr:
            return "synthetic"
        return "uncertain" if p >= low else "real"

    def patch_logits(self, rgb: np.ndarray) -> np.ndarray:
        tiles = tile(rgb, self.patch, self.max_patches)
        return self.session.run(None, {self.input_name: tiles})[0].reshape(-1)

    def score(self, rgb: np.ndarray, keep_patches: bool = False) -> DetectorScore:
        """Score one HxWx3 uint8 RGB image at its native resolution."""
        logits = self.patch_logits(rgb)
        z = aggregate(logits, self.topk_frac)
        p = self.calibrate(z)
        return DetectorScore(p, z, self.label_for(p), len(logits), logits if keep_patches else None)
