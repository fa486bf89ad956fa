"""The scheme interface and the pixel-format adapter every scheme shares.

A scheme works on one canonical form: luminance residuals (``LumaScheme``: the default scheme — so RGB,
grayscale, 16-bit and CMYK behave the same) or 8-bit RGB (``RGBScheme``: invisible-watermark's schemes,
which mark chroma). :func:`embed_image` converts whatever the caller passed (PIL image in any supported
mode, or a numpy array) to that form and back, keeping alpha and bit depth.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...errors import WatermarkError
from ...report import WatermarkDetection

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

# ITU-R BT.601 luma weights (what JPEG uses): a residual added equally to R, G, B changes Y by exactly itself.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_16BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class WatermarkScheme:
    """Base class. Subclasses set ``name`` and implement embedding and :meth:`detect_rgb`."""

    name: ClassVar[str]
    payload_bytes: ClassVar[int]
    source: ClassVar[str | None] = None  # human label of who applies this mark
    implies_ai: ClassVar[bool] = False  # only generators apply this mark
    embeddable: ClassVar[bool] = True  # False for marks we only detect (SD / SDXL)
    geometry_search: ClassVar[bool] = False  # detect_rgb accepts search_geometry= (rotation / perspective search)
    # detect_rgb accepts exhaustive=: False runs a cheaper search, what verify and the audit do on every
    # file unless asked for the full one (VerifyOptions.watermark_full_search)
    exhaustive_search: ClassVar[bool] = False
    min_side: ClassVar[int] = 64
    extra: ClassVar[str | None] = None  # the optional extra (pyproject) the scheme needs, None in the base install
    # Detection on large images. ``detect_max_side``: the scheme reads the same from a copy downscaled to
    # this long side (it works at a fixed working resolution), so callers may decode smaller and faster.
    # ``native_max_pixels``: marks that live in native-resolution pixels (no resize survives them) are not
    # searched above this size — no generator that applies them writes such large files.
    detect_max_side: ClassVar[int | None] = None
    native_max_pixels: ClassVar[int | None] = None

    def check_payload(self, payload: bytes | str) -> bytes:
        if isinstance(payload, str):
            try:
                payload = bytes.fromhex(payload.strip().removeprefix("0x"))
            except ValueError:
                raise WatermarkError(f"payload {payload!r} is not a hex string") from None
        if not isinstance(payload, (bytes, bytearray)):
            raise WatermarkError(f"payload must be bytes or a hex string, not {type(payload).__name__}")
        if len(payload) != self.payload_bytes:
            raise WatermarkError(f"scheme {self.name} carries exactly {self.payload_bytes} payload bytes "
                                 f"({self.payload_bytes * 2} hex digits); got {len(payload)}")
        return bytes(payload)

    def detect_rgb(self, rgb: np.ndarray, fpr: float = 1e-6, expected: bytes | None = None) -> WatermarkDetection:
        raise NotImplementedError

    def reference_bits(self, payload: bytes) -> np.ndarray:
        """The bits a perfect read of ``payload`` gives (for bit-accuracy figures)."""
        raise NotImplementedError

    def read_bits(self, rgb: np.ndarray) -> np.ndarray | None:
        """What the detector reads, as bits comparable with :meth:`reference_bits` (None: nothing read)."""
        raise NotImplementedError

    def detect_with_bits(self, rgb: np.ndarray, fpr: float = 1e-6, expected: bytes | None = None):
        """(detection, bits read) in one pass where the scheme can (the benchmark needs both)."""
        return self.detect_rgb(rgb, fpr=fpr, expected=expected), self.read_bits(rgb)

    def not_detected(self, **kw: Any) -> WatermarkDetection:
        return WatermarkDetection(scheme=self.name, detected=False, source=self.source,
                                  implies_ai=self.implies_ai, **kw)


class LumaScheme(WatermarkScheme):
    """Embeds an additive luminance residual: ``residual(y) -> r`` with y, r float32 HxW on a 0..255 scale."""

    def residual(self, y: np.ndarray, payload: bytes, strength: float | None = None) -> np.ndarray:
        raise NotImplementedError


class RGBScheme(WatermarkScheme):
    """Embeds on 8-bit RGB directly (chroma-domain schemes)."""

    def embed_rgb(self, rgb: np.ndarray, payload: bytes, strength: float | None = None) -> np.ndarray:
        raise NotImplementedError


# --- pixel-format adapter --------------------------------------------------------------------

def _luma(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) if rgb.dtype == np.float32 else \
        (rgb.astype(np.float32) @ LUMA)


def _add_uint8(channels: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Add one residual to every channel, rounding once and clipping (never accumulate in float: see issue #3)."""
    out = channels.astype(np.float32)
    out += r[..., None] if out.ndim == 3 else r
    np.rint(out, out=out)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def _check_size(scheme: WatermarkScheme, w: int, h: int) -> None:
    if min(w, h) < scheme.min_side:
        raise WatermarkError(f"image is {w}x{h}; scheme {scheme.name} needs at least "
                             f"{scheme.min_side}x{scheme.min_side} pixels")


def _embed_array(arr: np.ndarray, scheme: WatermarkScheme, payload: bytes, strength: float | None) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise WatermarkError(f"numpy images must be uint8 (got {arr.dtype}); pass a PIL image for 16-bit input")
    if arr.ndim == 2:
        gray, alpha, colour = arr, None, None
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        colour, alpha = arr[..., :3], (arr[..., 3] if arr.shape[2] == 4 else None)
        gray = None
    else:
        raise WatermarkError(f"expected an HxW or HxWx3/HxWx4 uint8 array, got shape {arr.shape}")
    h, w = arr.shape[:2]
    _check_size(scheme, w, h)
    if isinstance(scheme, LumaScheme):
        if gray is not None:
            return _add_uint8(gray, scheme.residual(gray.astype(np.float32), payload, strength))
        out = _add_uint8(colour, scheme.residual(_luma(colour), payload, strength))
    else:
        if gray is not None:
            raise WatermarkError(f"scheme {scheme.name} marks the colour (chroma) channels; a grayscale image "
                                 "cannot carry it (use the default scheme)")
        out = scheme.embed_rgb(np.ascontiguousarray(colour), payload, strength)
    if alpha is not None:
        out = np.dstack([out, alpha])
    return out


def _embed_pil(img: "Image.Image", scheme: WatermarkScheme, payload: bytes, strength: float | None) -> "Image.Image":
    from PIL import Image

    mode = img.mode
    w, h = img.size
    if mode in ("RGB", "RGBA", "L", "LA"):
        arr = np.asarray(img)
        if mode == "LA":  # gray + alpha: mark the gray plane, keep alpha
            out = _embed_array(arr[..., 0], scheme, payload, strength)
            return Image.fromarray(np.dstack([out, arr[..., 1]]), "LA")
        out = Image.fromarray(_embed_array(arr, scheme, payload, strength), mode)
        if "icc_profile" in img.info:
            out.info["icc_profile"] = img.info["icc_profile"]
        return out
    _check_size(scheme, w, h)
    if mode in _16BIT_MODES:
        if not isinstance(scheme, LumaScheme):
            raise WatermarkError(f"scheme {scheme.name} works on 8-bit RGB only; this image is 16-bit grayscale")
        arr = np.asarray(img).astype(np.float64)
        peak = 65535.0 if (mode != "I" or arr.max(initial=0) > 255) else 255.0
        y8 = (arr * (255.0 / peak)).astype(np.float32)
        r = scheme.residual(y8, payload, strength).astype(np.float64) * (peak / 255.0)
        out = np.clip(np.rint(arr + r), 0, peak)
        if mode == "I":
            return Image.fromarray(out.astype(np.int32))  # mode "I"
        return Image.fromarray(out.astype(np.uint16))  # mode "I;16"
    if mode == "CMYK":
        if not isinstance(scheme, LumaScheme):
            rgb = scheme.embed_rgb(np.asarray(img.convert("RGB")), payload, strength)
            return Image.fromarray(rgb, "RGB").convert("CMYK")
        # PIL renders CMYK as R = (255-C)(255-K)/255 (same for G/M, B/Y): move C, M, Y so the rendered
        # luminance changes by the residual; K (and so the separation) is kept.
        cmyk = np.asarray(img).astype(np.float32)
        rgb = np.asarray(img.convert("RGB"))
        r = scheme.residual(_luma(rgb), payload, strength)
        gain = 255.0 / np.maximum(255.0 - cmyk[..., 3], 16.0)
        cmy = np.clip(np.rint(cmyk[..., :3] - (r * gain)[..., None]), 0, 255)
        return Image.fromarray(np.dstack([cmy, cmyk[..., 3]]).astype(np.uint8), "CMYK")
    raise WatermarkError(f"cannot watermark a {mode!r} image: convert it to RGB, RGBA, L, 16-bit or CMYK first"
                         + (" (palette images would be re-quantised and lose the mark)" if mode in ("P", "1") else ""))


def embed_image(image: Any, scheme: WatermarkScheme, payload: bytes, strength: float | None = None) -> Any:
    """Embed into a PIL image or numpy array; returns the same type (and mode / shape)."""
    if isinstance(image, np.ndarray):
        return _embed_array(image, scheme, payload, strength)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _embed_pil(image, scheme, payload, strength)
    raise WatermarkError(f"expected a PIL image or a numpy array, got {type(image).__name__}")


def to_rgb(image: Any) -> np.ndarray:
    """Anything detect() accepts → HxWx3 uint8 RGB."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            if image.dtype == np.uint16:
                image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
            else:
                raise WatermarkError(f"numpy images must be uint8 or uint16, got {image.dtype}")
        if image.ndim == 2:
            return np.repeat(image[..., None], 3, axis=2)
        if image.ndim == 3 and image.shape[2] in (3, 4):
            return np.ascontiguousarray(image[..., :3])
        raise WatermarkError(f"expected an HxW or HxWx3/HxWx4 array, got shape {image.shape}")
    from PIL import Image

    if isinstance(image, Image.Image):
        from ...imaging import to_rgb_uint8

        return to_rgb_uint8(image)
    raise WatermarkError(f"expected a PIL image or a numpy array, got {type(image).__name__}")
