"""Pixel-format conversions shared by the watermark, the detector and the generator."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps


def to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Any PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F, YCbCr…) → HxWx3 uint8 RGB, EXIF orientation NOT applied.

    16-bit and float images are scaled to 8 bits; alpha is dropped (composited over nothing: the colour
    channels are kept as they are, which is what a watermark detector must see).
    """
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        hi = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        arr = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def exif_transposed(img: Image.Image) -> Image.Image:
    return ImageOps.exif_transpose(img)
