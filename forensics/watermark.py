"""Invisible watermarks from Python: embed an ID that survives metadata stripping, and detect it.

    import forensics
    marked = forensics.watermark.embed("photo.png")          # a random 6-byte payload
    marked.image.save("marked.png"); marked.payload           # '9f2c…' (hex)
    [d.payload for d in forensics.watermark.detect("marked.png") if d.detected]

``image`` is a path, ``bytes``, a binary file object, a PIL image or a numpy array (HxW or HxWxC, uint8 or
uint16). Files are opened like ``forensics verify`` opens them (content sniffing, size and pixel limits).
The scheme registry and the lower-level functions are in :mod:`forensics.provenance.watermark`.
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from .provenance.watermark import (DEFAULT_SCHEME, PAYLOAD_BYTES, WatermarkDetection, WatermarkError,
                                   default_detect_schemes, get_scheme, list_schemes)

__all__ = ["DEFAULT_SCHEME", "PAYLOAD_BYTES", "Embedded", "WatermarkDetection", "WatermarkError", "detect",
           "embed", "default_detect_schemes", "list_schemes"]


@dataclass
class Embedded:
    """The marked image and the payload it carries."""

    image: Any  # same kind as given (PIL image / numpy array); a PIL image for a path, bytes or file
    scheme: str
    payload: str  # hex


def _is_pixels(image: Any) -> bool:
    from PIL import Image

    return isinstance(image, Image.Image) or type(image).__module__ == "numpy"


@contextmanager
def _opened(image: Any) -> Iterator[Any]:
    """A :class:`~forensics.media.Media` for a path, bytes or binary file, valid inside the block."""
    from .api import _check_source, materialised
    from .media import Media

    _check_source(image)
    with materialised(image) as path:
        yield Media.open(path)


def check_inputs(image: Any, scheme: Any, payload: Any = None) -> None:
    if not _is_pixels(image) and not isinstance(image, (str, bytes, bytearray, memoryview)) \
            and not hasattr(image, "__fspath__") and not callable(getattr(image, "read", None)):
        raise TypeError(f"image must be a path, bytes, a binary file, a PIL image or a numpy array, "
                        f"not {type(image).__name__}")
    names = [scheme] if isinstance(scheme, str) or scheme is None else scheme
    for name in names:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"scheme must be a scheme name, not {type(name).__name__}")
    if payload is not None and not isinstance(payload, (bytes, bytearray, str)):
        raise TypeError(f"payload must be bytes or a hex string, not {type(payload).__name__}")


def embed(image: Any, payload: bytes | str | None = None, scheme: str = DEFAULT_SCHEME, *,
          strength: float | None = None) -> Embedded:
    """Embed ``payload`` (bytes or hex; None: random) with ``scheme``; returns the marked image and payload.

    A palette image is converted to RGB(A) first (re-quantising would lose the mark). Bad scheme or payload
    raise :class:`WatermarkError`; an unreadable file raises the :class:`~forensics.errors.MediaError` of it.
    """
    from .provenance import watermark as wm

    check_inputs(image, scheme, payload)
    s = get_scheme(scheme)
    if not s.embeddable:
        raise WatermarkError(f"scheme {s.name} is detect-only (a third-party mark)")
    data = s.check_payload(payload) if payload is not None else secrets.token_bytes(s.payload_bytes)
    if not _is_pixels(image):
        with _opened(image) as media:
            if not media.is_image:
                raise WatermarkError(f"only still images can be marked (got {media.media_type})")
            image = media.image()
        if image.mode in ("P", "PA", "1"):
            image = image.convert("RGBA" if "transparency" in image.info or image.mode == "PA" else "RGB")
    return Embedded(wm.embed(image, data, scheme=s.name, strength=strength), s.name, data.hex())


def detect(image: Any, scheme: str | list[str] | None = None, *, fpr: float = 1e-6,
           expected: bytes | str | None = None) -> list[WatermarkDetection]:
    """One :class:`WatermarkDetection` per scheme tried; ``scheme=None``: the default detection schemes
    (fsw-v2, fsw-v1 and the Stable Diffusion / SDXL marks). ``expected``: a payload to verify instead of reading
    blindly (the only calibrated way for dwtDct, dwtDctSvd and rivaGan). Videos are sampled as in verify."""
    from .provenance import watermark as wm

    check_inputs(image, scheme)
    schemes = [scheme] if isinstance(scheme, str) else (list(scheme) if scheme is not None else None)
    for name in schemes or []:
        get_scheme(name)
    if _is_pixels(image):
        return wm.detect(image, schemes=schemes, fpr=fpr, expected=expected)
    with _opened(image) as media:
        if media.is_video:
            from .analysers import AnalysisContext, VerifyOptions
            from .provenance.watermark.analyser import WatermarkAnalyser

            ctx = AnalysisContext(options=VerifyOptions(watermark_schemes=schemes, watermark_full_search=True))
            return WatermarkAnalyser().analyse(media, ctx).detections
        return wm.detect(media.rgb(), schemes=schemes, fpr=fpr, expected=expected)
