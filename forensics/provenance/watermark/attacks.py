"""The benchmark's attacks: what happens to images in the wild (issue #3 list), as data.

Every attack maps an HxWx3 uint8 RGB array to another (sizes may change). ``ATTACKS`` keeps the issue's
order; ``get_attacks("jpeg50,flip")`` selects some.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np

Attack = Callable[[np.ndarray], np.ndarray]


def _pil_roundtrip(rgb: np.ndarray, fmt: str, **kw) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)  # PIL's JPEG default is 4:2:0 chroma subsampling
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def jpeg(q: int) -> Attack:
    return lambda a: _pil_roundtrip(a, "JPEG", quality=q)


def webp(q: int) -> Attack:
    return lambda a: _pil_roundtrip(a, "WEBP", quality=q)


def resize(s: float) -> Attack:
    def f(a):
        import cv2

        h, w = a.shape[:2]
        return cv2.resize(a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return f


def crop(area: float, where: str = "corner") -> Attack:
    """Keep ``area`` of the pixels (same aspect), from the top-left corner or the centre."""
    def f(a):
        h, w = a.shape[:2]
        s = area ** 0.5
        ch, cw = max(1, round(h * s)), max(1, round(w * s))
        y0, x0 = ((h - ch) // 2, (w - cw) // 2) if where == "centre" else (0, 0)
        return np.ascontiguousarray(a[y0:y0 + ch, x0:x0 + cw])
    return f


def shift(px: int = 1) -> Attack:
    return lambda a: np.ascontiguousarray(a[px:, px:])


def rotate(deg: float) -> Attack:
    """Rotate about the centre, same canvas, black corners (what most editors do without auto-crop)."""
    def f(a):
        import cv2

        h, w = a.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        return cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return f


def hflip(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a[:, ::-1])


def blur(sigma: float) -> Attack:
    def f(a):
        import cv2

        return cv2.GaussianBlur(a, (0, 0), sigma)
    return f


def noise(sigma: float, seed: int = 0) -> Attack:
    def f(a):
        rng = np.random.default_rng(seed + a.shape[0] * 7919 + a.shape[1])
        return np.clip(np.rint(a + rng.normal(0, sigma, a.shape)), 0, 255).astype(np.uint8)
    return f


def brightness(factor: float) -> Attack:
    return lambda a: np.clip(np.rint(a.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def contrast(factor: float) -> Attack:
    def f(a):
        m = a.astype(np.float32).mean()
        return np.clip(np.rint((a.astype(np.float32) - m) * factor + m), 0, 255).astype(np.uint8)
    return f


def chain(*attacks: Attack) -> Attack:
    def f(a):
        for att in attacks:
            a = att(a)
        return a
    return f


ATTACKS: dict[str, Attack] = {
    "none": lambda a: a,
    "jpeg90": jpeg(90),
    "jpeg75": jpeg(75),
    "jpeg50": jpeg(50),
    "webp80": webp(80),
    "resize0.5": resize(0.5),
    "resize0.75": resize(0.75),
    "crop90-corner": crop(0.90, "corner"),
    "crop90-centre": crop(0.90, "centre"),
    "crop75-corner": crop(0.75, "corner"),
    "crop75-centre": crop(0.75, "centre"),
    "crop50-corner": crop(0.50, "corner"),
    "crop50-centre": crop(0.50, "centre"),
    "shift1": shift(1),
    "rotate2": rotate(2.0),
    "hflip": hflip,
    "blur1": blur(1.0),
    "noise5": noise(5.0),
    "bright+20": brightness(1.2),
    "bright-20": brightness(0.8),
    "contrast0.8": contrast(0.8),
    "jpeg75-resize0.7-crop80": chain(jpeg(75), resize(0.7), crop(0.80, "centre")),
}

# Geometric attacks the issue holds to a lower target (TPR >= 0.90 instead of 0.95).
LOWER_TARGET = {"rotate2", "hflip"}


def get_attacks(names: str | list[str] | None = None) -> dict[str, Attack]:
    if names is None:
        return dict(ATTACKS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        from ...errors import WatermarkError

        raise WatermarkError(f"unknown attack(s) {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
    return {n: ATTACKS[n] for n in names}
