"""Augmentations and format equalisation (numpy + OpenCV only, so evaluation can reuse them).

Format bias is the classic trap: if reals are JPEG and fakes PNG, a detector learns compression. Every
training and evaluation image, whatever its class, goes through the same crop and the same encoding.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode + decode as JPEG at ``quality`` (4:2:0, libjpeg via OpenCV)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return rgb
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(sigma))


def resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Centre crop to ``size`` (or to the short side when the image is smaller)."""
    h, w = rgb.shape[:2]
    s = min(size, h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return rgb[y:y + s, x:x + s]


def random_crop(rgb: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = resize(rgb, size / min(h, w) + 1e-6)
        h, w = rgb.shape[:2]
    y = int(rng.integers(0, h - size + 1))
    x = int(rng.integers(0, w - size + 1))
    return rgb[y:y + size, x:x + size]


@dataclass
class AugmentConfig:
    """Training-time perturbations, applied with the same distribution to both classes."""
    jpeg_p: float = 0.9
    jpeg_quality: tuple[int, int] = (65, 100)  # the brief's equalisation range
    blur_p: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 1.2)
    resize_p: float = 0.15
    resize_scale: tuple[float, float] = (0.5, 1.5)


def parse_range(text: str, cast=float) -> tuple:
    """``'30-100'`` → (30, 100); a single number gives (n, n). ValueError if malformed or LO > HI."""
    lo, _, hi = text.strip().partition("-")
    rng = (cast(lo), cast(hi or lo))
    if rng[0] > rng[1]:
        raise ValueError(f"range {text!r}: LO > HI")
    return rng


def parse_augment(spec: str, base: AugmentConfig | None = None) -> AugmentConfig:
    """``'jpeg_quality=30-100,blur_p=0.2'`` → an :class:`AugmentConfig` (ranges as LO-HI). ValueError on an
    unknown key or a bad value."""
    from dataclasses import fields, replace

    base = base or AugmentConfig()
    kinds = {f.name: f.type for f in fields(AugmentConfig)}
    changes = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        key, _, val = (t.strip() for t in item.partition("="))
        if key not in kinds:
            raise ValueError(f"--augment: unknown key {key!r}; choose from {', '.join(kinds)}")
        try:
            if "tuple" in str(kinds[key]):
                changes[key] = parse_range(val, int if "int" in str(kinds[key]) else float)
            else:
                v = float(val)
                if not 0.0 <= v <= 1.0:
                    raise ValueError
                changes[key] = v
        except ValueError:
            raise ValueError(f"--augment: bad value for {key}: {val!r}") from None
    return replace(base, **changes)


def augment(rgb: np.ndarray, patch: int, rng: np.random.Generator, cfg: AugmentConfig | None = None) -> np.ndarray:
    """Random resize → crop to ``patch`` → blur → JPEG. Crop happens before JPEG so the 8×8 grid is
    aligned the same way for real and fake patches (both start at the same grid phase after encoding)."""
    cfg = cfg or AugmentConfig()
    if rng.random() < cfg.resize_p:
        rgb = resize(rgb, float(rng.uniform(*cfg.resize_scale)))
    rgb = random_crop(rgb, patch, rng)
    if rng.random() < cfg.blur_p:
        rgb = blur(rgb, float(rng.uniform(*cfg.blur_sigma)))
    if rng.random() < cfg.jpeg_p:
        rgb = jpeg(rgb, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return np.ascontiguousarray(rgb)


def equalise(rgb: np.ndarray, size: int = 512, quality: int | None = 90) -> np.ndarray:
    """The evaluation protocol: centre crop ``size`` then JPEG ``quality`` (None: no re-encoding)."""
    out = center_crop(rgb, size)
    return jpeg(out, quality) if quality else np.ascontiguousarray(out)


# Robustness conditions for `forensics detect eval --robustness`: name -> transform of the equalised crop.
def robustness_conditions() -> dict[str, callable]:
    return {
        "jpeg90": lambda x: jpeg(x, 90),
        "jpeg75": lambda x: jpeg(x, 75),
        "jpeg50": lambda x: jpeg(x, 50),
        "resize0.5+jpeg90": lambda x: jpeg(resize(x, 0.5), 90),
        "blur1+jpeg90": lambda x: jpeg(blur(x, 1.0), 90),
    }
