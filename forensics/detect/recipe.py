"""The genuine-output recipe: real photos against genuine generator outputs and aligned autoencoder
reconstructions, with the format equalised, plus the group-aware folds the selection protocol uses.

Format equalisation (the issue's trap: PNG fakes against camera-JPEG reals). Every image, whatever its
class, goes through one pipeline drawn from the same distribution:

1. **history**: a lossless file (PNG/TIFF; most genuine outputs, every reconstruction) is JPEG-compressed
   once at q ∈ [70, 98] on its own 8×8 grid with probability ``lossless_prejpeg_p`` — the share of camera
   JPEGs among the reals — so an aligned earlier JPEG grid is as common in both classes;
2. **resampling**: with probability ``resample_p`` the image is rescaled by s ∈ [max(0.5, region/short), 0.95]
   (both classes; it breaks that grid as often in both);
3. **crop**: one ``region``² crop, its offset a multiple of 8 with probability ``aligned_crop_p``.

At training time both classes then share the same random patch crop, resize, blur and JPEG
(:class:`forensics.datasets.augment.AugmentConfig`). :func:`format_cue_features` is the control: only
container/size/grid cues of the samples as the network sees them; a classifier on them must stay near
chance (docs/detector.md reports its AUC).

Reconstructions (B-Free, Rajan et al.): a real region through each TAESD-family tiny autoencoder (SD 1.x/2.x,
SDXL, SD3, FLUX.1, FLUX.2), aligned pixel for pixel with its real, are cached beside it so a batch can pair
them at the same position.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets.augment import jpeg, resize

log = logging.getLogger(__name__)

LOSSLESS_SUFFIXES = {".png", ".tif", ".tiff", ".bmp", ".webp"}
AUTOENCODERS = ("taesd", "taesdxl", "taesd3", "taef1", "taef2")  # SD 1.x/2.x, SDXL, SD3, FLUX.1, FLUX.2

# Selection folds, fixed before any run (docs/detector.md, "Selection protocol"): ai-train by source
# repository, reals by photo source folder; each fold is held out once.
FOLDS = {
    "older": {"fakes": ["dcsan-imagen"], "reals": ["ml72-real", "dreambooth", "mcmaster", "urban100", "aeroblade-real"]},
    "sdnext": {"fakes": ["sdnext"], "reals": ["camera"]},
    "community": {"fakes": ["comfyui-examples", "hunyuandit", "kolors", "pixart-alpha", "sd-cheatsheet", "x-flux"],
                  "reals": ["bsds500"]},
}


def fold_of(sample) -> str | None:
    """The fold a sample belongs to: its top folder (ai-train source repository, photo source folder)."""
    top = str(sample.group).split("/")[1] if str(sample.group).count("/") >= 1 else ""
    for name, f in FOLDS.items():
        if top in f["fakes"] or top in f["reals"]:
            return name
    return None


def prompt_group(sample):
    """Outputs of one prompt (``<prompt>__<model>-<n>`` files) share a group, so a split never separates them."""
    from dataclasses import replace

    head, _, stem = sample.group.rpartition("/")
    return replace(sample, group=f"{head}/{stem.split('__')[0]}") if "__" in stem else sample


@dataclass
class HistoryConfig:
    lossless_prejpeg_p: float = 0.9
    prejpeg_quality: tuple[int, int] = (70, 98)
    resample_p: float = 0.5
    aligned_crop_p: float = 0.5


def is_lossless(path) -> bool:
    return Path(path).suffix.lower() in LOSSLESS_SUFFIXES


def equalised_region(rgb: np.ndarray, lossless: bool, region: int, rng: np.random.Generator,
                     h: HistoryConfig) -> tuple[np.ndarray, dict]:
    """One region of an image after the shared history / resampling / crop draw. Returns (region, what was done)."""
    done = {"prejpeg": 0, "scale": 1.0, "aligned": False, "lossless": bool(lossless)}
    if lossless and rng.random() < h.lossless_prejpeg_p:
        q = int(rng.integers(h.prejpeg_quality[0], h.prejpeg_quality[1] + 1))
        rgb, done["prejpeg"] = jpeg(rgb, q), q
    short = min(rgb.shape[:2])
    lo = max(0.5, region / short)
    if rng.random() < h.resample_p and lo < 0.95:
        s = float(rng.uniform(lo, 0.95))
        rgb, done["scale"] = resize(rgb, s), s
    if min(rgb.shape[:2]) < region:
        rgb = resize(rgb, region / min(rgb.shape[:2]) + 1e-6)
        done["scale"] *= region / short
    hh, ww = rgb.shape[:2]
    if rng.random() < h.aligned_crop_p:
        y = 8 * int(rng.integers(0, (hh - region) // 8 + 1))
        x = 8 * int(rng.integers(0, (ww - region) // 8 + 1))
        done["aligned"] = True
    else:
        y, x = int(rng.integers(0, hh - region + 1)), int(rng.integers(0, ww - region + 1))
    return np.ascontiguousarray(rgb[y:y + region, x:x + region]), done


# --- tiny autoencoders from the taesd-family safetensors ---------------------------------------------

def load_autoencoder(folder: str | Path, name: str):
    """A TAESD-family encoder/decoder pair from ``{name}_encoder|decoder.safetensors`` (or ``.pth``) in ``folder``."""
    from ..datasets.builders import AutoencoderReconstruction

    folder = Path(folder)
    for ext in (".safetensors", ".pth"):
        enc, dec = folder / f"{name}_encoder{ext}", folder / f"{name}_decoder{ext}"
        if enc.is_file() and dec.is_file():
            return AutoencoderReconstruction(enc, dec, source=f"{name}-recon")
    raise FileNotFoundError(f"{folder} has no {name}_encoder/_decoder (.safetensors or .pth)")


def reconstruct(ae, region: np.ndarray, rng: np.random.Generator, h: HistoryConfig) -> np.ndarray:
    """Aligned reconstruction of a real region; lossless output, so it gets the same history draw."""
    out = ae(region)
    if out.shape != region.shape:
        out = np.pad(out, ((0, region.shape[0] - out.shape[0]), (0, region.shape[1] - out.shape[1]), (0, 0)), mode="reflect")
    if rng.random() < h.lossless_prejpeg_p:
        out = jpeg(out, int(rng.integers(h.prejpeg_quality[0], h.prejpeg_quality[1] + 1)))
    return out


def stable_seed(*parts) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def build_recipe_cache(reals, fakes, *, region: int = 160, seed: int = 0, h: HistoryConfig | None = None,
                       ae_dir: str | Path | None = None, autoencoders=AUTOENCODERS, simulators=("bilinear", "deconv"),
                       progress=None) -> dict[str, np.ndarray]:
    """Regions of every real (with its aligned reconstructions and simulator fakes) and of every genuine fake.

    Each image draws from its own seeded generator (sha256 of seed and group), so a cache is the same
    whatever order or subset it is built in."""
    from ..datasets.builders import UpsampleSimulator, read_rgb

    h = h or HistoryConfig()
    aes = [load_autoencoder(ae_dir, n) for n in autoencoders] if autoencoders else []
    sims = [UpsampleSimulator(m) for m in simulators]
    out: dict[str, list] = {"real": [], "real_group": [], "real_fold": [], "fake": [], "fake_group": [],
                            "fake_fold": [], "fake_generator": []}
    for a in aes:
        out[f"pair:{a.source}"] = []
    for s in sims:
        out[f"pair:{s.source}"] = []
    items = [(s, 0) for s in reals] + [(s, 1) for s in fakes]
    for i, (s, label) in enumerate(items):
        rng = np.random.default_rng(stable_seed(seed, s.group))
        try:
            rgb = read_rgb(s.path)
        except Exception as exc:  # unreadable training file: skip it, say so
            log.warning("skipping %s: %s", s.path, exc)
            continue
        reg, _ = equalised_region(rgb, is_lossless(s.path), region, rng, h)
        if label == 0:
            out["real"].append(reg)
            out["real_group"].append(s.group)
            out["real_fold"].append(fold_of(s) or "")
            for a in aes:
                out[f"pair:{a.source}"].append(reconstruct(a, reg, rng, h))
            for sim in sims:
                out[f"pair:{sim.source}"].append(reconstruct(lambda x: sim(x, rng), reg, rng, h))
        else:
            out["fake"].append(reg)
            out["fake_group"].append(s.group)
            out["fake_fold"].append(fold_of(s) or "")
            out["fake_generator"].append(s.source)
        if progress:
            progress(i + 1, len(items))
    return {k: (np.stack(v) if v and isinstance(v[0], np.ndarray) else np.array(v)) for k, v in out.items()}


def subset(cache: dict, real_keep: np.ndarray, fake_keep: np.ndarray) -> dict:
    out = {}
    for k, v in cache.items():
        if k.startswith("real") or k.startswith("pair:"):
            out[k] = v[real_keep]
        elif k.startswith("fake"):
            out[k] = v[fake_keep]
    return out


def _photometric(p: np.ndarray, rng: np.random.Generator, a) -> tuple[np.ndarray, int | None]:
    """Blur, then JPEG, as ``forensics.detect.train._photometric`` (same draws); also returns the JPEG quality."""
    from ..datasets.augment import blur

    q = None
    if rng.random() < a.blur_p:
        p = blur(p, float(rng.uniform(*a.blur_sigma)))
    if rng.random() < a.jpeg_p:
        q = int(rng.integers(a.jpeg_quality[0], a.jpeg_quality[1] + 1))
        p = jpeg(p, q)
    return p, q


def sample_recipe_batch(cache: dict, n_pairs: int, patch: int, rng: np.random.Generator, a,
                        mix: dict[str, float], meta: list | None = None):
    """n_pairs real patches and n_pairs fake patches, every patch through the same random crop / resize /
    blur / JPEG distribution. ``mix`` weights the fake kinds: ``genuine`` (a generator output) and
    ``pair:<source>`` (the aligned reconstruction / simulator fake of the same real, at the same position).
    ``meta``, if given, gets one dict per patch (kind, fold, last JPEG quality) for the format control."""
    import cv2

    kinds = [k for k, w in mix.items() if w > 0 and (k == "genuine" and len(cache["fake"]) or k in cache)]
    w = np.array([mix[k] for k in kinds], float)
    w /= w.sum()
    reals, r = cache["real"], cache["real"].shape[1]
    xs, ys = [], []

    def crop(img, y0, x0, size, kind, fold):
        p = img[y0:y0 + size, x0:x0 + size]
        if size != patch:
            p = cv2.resize(p, (patch, patch), interpolation=cv2.INTER_AREA if size > patch else cv2.INTER_CUBIC)
        p, q = _photometric(np.ascontiguousarray(p), rng, a)
        if meta is not None:
            meta.append({"kind": kind, "fold": str(fold), "jpeg_q": q})
        return p

    def geometry():
        size = patch
        if rng.random() < a.resize_p:
            size = int(np.clip(round(patch / rng.uniform(*a.resize_scale)), 16, r))
        if rng.random() < 0.5:  # JPEG-grid-aligned patch offset as often in both classes
            y0, x0 = 8 * int(rng.integers(0, (r - size) // 8 + 1)), 8 * int(rng.integers(0, (r - size) // 8 + 1))
        else:
            y0, x0 = int(rng.integers(0, r - size + 1)), int(rng.integers(0, r - size + 1))
        return y0, x0, size

    for _ in range(n_pairs):
        j = int(rng.integers(len(reals)))
        kind = kinds[int(rng.choice(len(kinds), p=w))]
        y0, x0, size = geometry()
        rfold = cache["real_fold"][j] if "real_fold" in cache else ""
        xs.append(crop(reals[j], y0, x0, size, "real", rfold))
        ys.append(0.0)
        if kind == "genuine":
            i = int(rng.integers(len(cache["fake"])))
            f, ffold = cache["fake"][i], (cache["fake_fold"][i] if "fake_fold" in cache else "")
            y0, x0, size = geometry()
        else:
            f, ffold = cache[kind][j], rfold
        xs.append(crop(f, y0, x0, size, kind, ffold))
        ys.append(1.0)
    x = np.stack(xs).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return x, np.array(ys, np.float32)


# --- the control: format cues only ----------------------------------------------------------------------

def _blockiness(gray: np.ndarray) -> tuple[float, float]:
    """Energy of horizontal+vertical pixel steps on the 8-px grid at phase 0 against the mean over phases,
    and the best phase's share (a JPEG grid shows as a peak at one phase)."""
    dx = np.abs(np.diff(gray, axis=1)).mean(axis=0)
    dy = np.abs(np.diff(gray, axis=0)).mean(axis=1)
    ph = np.array([dx[p::8].mean() + dy[p::8].mean() for p in range(8)])
    return float(ph[7] / (ph.mean() + 1e-6)), float(ph.max() / (ph.mean() + 1e-6))


def format_cue_features(tile: np.ndarray, stored_as: str = "png", quality: int | None = None) -> np.ndarray:
    """Container/size/grid cues of one sample as the network sees it, written to the file it would be:
    PNG-vs-JPEG, the JPEG luma quantisation table (mean, max), file bits per pixel, image size, grid
    energy at the aligned phase and at the strongest phase, and the share of zero aligned DCT AC
    coefficients (the trace of a quantisation table)."""
    import cv2
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(tile)
    if stored_as == "jpeg":
        img.save(buf, "JPEG", quality=int(quality or 90))
    else:
        img.save(buf, "PNG")
    data = buf.getvalue()
    qmean = qmax = 0.0
    if stored_as == "jpeg":
        with Image.open(io.BytesIO(data)) as j:
            q0 = np.array(j.quantization[0], float)
        qmean, qmax = float(q0.mean()), float(q0.max())
    gray = cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY).astype(np.float32)
    b0, bmax = _blockiness(gray)
    hh, ww = (gray.shape[0] // 8) * 8, (gray.shape[1] // 8) * 8
    blocks = gray[:hh, :ww].reshape(hh // 8, 8, ww // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8) - 128
    dct = np.stack([cv2.dct(b) for b in blocks[:256]])
    ac = dct.reshape(len(dct), -1)[:, 1:]
    zero = float((np.abs(ac) < 0.5).mean())
    return np.array([stored_as == "jpeg", qmean, qmax, 8 * len(data) / tile[..., 0].size, tile.shape[0], tile.shape[1],
                     b0, bmax, zero], float)


FORMAT_CUE_NAMES = ["is_jpeg", "qtable_luma_mean", "qtable_luma_max", "bits_per_pixel", "height", "width",
                    "grid_energy_phase0", "grid_energy_max_phase", "dct_ac_zero_share"]
