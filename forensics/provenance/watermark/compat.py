"""invisible-watermark's schemes (dwtDct, dwtDctSvd, rivaGan) and the third-party marks built on them.

* ``dwtDct`` / ``dwtDctSvd``: :mod:`.dwtdct`, the library's arithmetic vectorised with numpy and OpenCV (same
  pixels when embedding, same bits when decoding; the tests compare both ways). The base install has no
  invisible-watermark: its package imports torch (through rivaGan) and needs PyWavelets.
* ``rivaGan`` runs the ONNX models shipped inside the invisible-watermark package (the ``compat`` extra) with
  onnxruntime directly (same pre/post-processing as ``imwatermark.rivaGan``, without torch).
* Third-party marks: Stable Diffusion's reference scripts (dwtDct, bytes ``StableDiffusionV1``) and
  SDXL / diffusers (dwtDct, 48-bit message 0xB3EC907BB19E). Their false-positive probability is the
  binomial tail P(X >= k) for k of n bits matching by chance.

None of these schemes has error correction, so a blind read cannot be calibrated: without an expected
payload they report the raw decoded payload with ``detected=False``; with ``expected=`` they report bits
matched and the binomial false-positive probability.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache
from typing import Callable

import numpy as np

from ...errors import WatermarkError
from ...extras import require
from ...report import WatermarkDetection
from . import dwtdct
from .base import RGBScheme, WatermarkScheme
from .ecc import binomial_tail_ge

SD_MESSAGE = b"StableDiffusionV1"
SDXL_MESSAGE = 0xB3EC907BB19E  # diffusers' WATERMARK_MESSAGE (48 bits)


def _imwm_dir() -> str:
    require("compat", "imwatermark", feature="the rivaGan watermark")
    spec = importlib.util.find_spec("imwatermark")  # locates the package without executing it
    return list(spec.submodule_search_locations)[0]


@lru_cache(maxsize=None)
def _imwm_module(name: str):
    """invisible-watermark's own imwatermark/<name>.py, loaded on its own (its package __init__ would import
    torch): the reference the vectorised code is compared with (tests, benchmarks)."""
    path = os.path.join(_imwm_dir(), f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_forensics_imwm_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def _check_imwm_size(rgb: np.ndarray, name: str) -> None:
    h, w = rgb.shape[:2]
    if h * w < 256 * 256:
        raise WatermarkError(f"scheme {name} needs at least 256x256 pixels (image is {w}x{h})")


def _dwtdct_scores(rgb: np.ndarray, scale: float, block: int) -> np.ndarray:
    """Per-block votes of invisible-watermark's dwtDct decoder (U channel, Haar LL, 4x4 blocks)."""
    if block != dwtdct.BLOCK:
        raise WatermarkError(f"dwtDct blocks are {dwtdct.BLOCK}x{dwtdct.BLOCK}")
    return dwtdct.max_dct_scores(np.ascontiguousarray(rgb[..., ::-1]), scale)


_SCORES_CACHE: dict = {}  # within one detect() call the SD and SDXL marks read the same blocks


class shared_reads:
    """Context in which dwtDct block votes are computed once per image (``detect()`` uses it)."""

    def __enter__(self):
        _SCORES_CACHE["on"] = True
        return self

    def __exit__(self, *exc):
        _SCORES_CACHE.clear()
        return False


def dwtdct_bits(rgb: np.ndarray, n_bits: int, scale: float = 36.0, block: int = 4) -> np.ndarray:
    """Per-bit mean vote in [0, 1] of invisible-watermark's dwtDct decoder (vectorised ``EmbedMaxDct.decode``)."""
    import weakref

    key = (id(rgb), rgb.shape, scale, block)
    hit = _SCORES_CACHE.get("entry")
    if hit is not None and hit[0] == key and hit[1]() is rgb:
        score = hit[2]
    else:
        score = _dwtdct_scores(rgb, scale, block)
        if _SCORES_CACHE.get("on"):
            try:
                _SCORES_CACHE["entry"] = (key, weakref.ref(rgb), score)
            except TypeError:  # not weak-referenceable: just do not cache
                pass
    return dwtdct.vote(score, n_bits)


def _verify(name: str, source: str | None, implies_ai: bool, decoded: np.ndarray, expected_bits: np.ndarray,
            fpr: float, payload_hex: str | None) -> WatermarkDetection:
    """Verification of a known message: k of n bits match; P(X >= k), X ~ Bin(n, 1/2). ``payload_hex`` is
    reported only when detected."""
    n = int(expected_bits.size)
    k = int((decoded.astype(np.uint8) == expected_bits).sum())
    p = binomial_tail_ge(n, k)
    return WatermarkDetection(scheme=name, detected=p <= fpr, payload=payload_hex if p <= fpr else None,
                              bits_matched=k, bits_total=n, false_positive_probability=p,
                              source=source, implies_ai=implies_ai)


class _ImwmScheme(RGBScheme):
    """Common behaviour of invisible-watermark schemes carrying our payload (no ECC)."""

    payload_bytes = 6
    min_side = 16
    source = "invisible-watermark"

    def decode_bits(self, rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference_bits(self, payload: bytes) -> np.ndarray:
        return _bits(payload)

    def read_bits(self, rgb: np.ndarray) -> np.ndarray | None:
        if rgb.shape[0] * rgb.shape[1] < 256 * 256:
            return None
        return self.decode_bits(rgb).astype(np.uint8)

    def detect_rgb(self, rgb, fpr=1e-6, expected=None) -> WatermarkDetection:
        return self.detect_with_bits(rgb, fpr, expected)[0]

    def detect_with_bits(self, rgb, fpr=1e-6, expected=None):
        n = self.payload_bytes * 8
        if rgb.shape[0] * rgb.shape[1] < 256 * 256:
            return self.not_detected(bits_total=n), None
        bits = self.decode_bits(rgb).astype(np.uint8)
        raw = np.packbits(bits).tobytes().hex()
        if expected is None:  # nothing to calibrate against: report the raw read, not a detection
            return self.not_detected(payload=raw, bits_total=n), bits
        if len(expected) != self.payload_bytes:
            raise WatermarkError(f"scheme {self.name} carries {self.payload_bytes} bytes; expected payload has {len(expected)}")
        # verified: the payload present is the expected one (a few flipped bits in the read do not change that)
        return _verify(self.name, self.source, self.implies_ai, bits, _bits(expected), fpr, expected.hex()), bits


class DwtDctScheme(_ImwmScheme):
    name = "dwtDct"

    def embed_rgb(self, rgb, payload, strength=None):
        _check_imwm_size(rgb, self.name)
        scale = 36 * (strength if strength is not None else 1.0)
        return np.ascontiguousarray(dwtdct.max_dct_encode(np.ascontiguousarray(rgb[..., ::-1]), _bits(payload),
                                                          scale)[..., ::-1])

    def decode_bits(self, rgb):
        return dwtdct_bits(rgb, self.payload_bytes * 8) * 255 > 127


class DwtDctSvdScheme(_ImwmScheme):
    name = "dwtDctSvd"

    def embed_rgb(self, rgb, payload, strength=None):
        _check_imwm_size(rgb, self.name)
        scale = 36 * (strength if strength is not None else 1.0)
        return np.ascontiguousarray(dwtdct.dct_svd_encode(np.ascontiguousarray(rgb[..., ::-1]), _bits(payload),
                                                          scale)[..., ::-1])

    def decode_bits(self, rgb):
        scores = dwtdct.dct_svd_scores(np.ascontiguousarray(rgb[..., ::-1]), 36.0)
        return dwtdct.to_bits(dwtdct.vote(scores, self.payload_bytes * 8))


class RivaGanScheme(_ImwmScheme):
    """RivaGAN (32 bits) through the ONNX models inside the invisible-watermark package (seconds per image;
    the ``compat`` extra)."""

    name = "rivaGan"
    payload_bytes = 4
    extra = "compat"

    @staticmethod
    @lru_cache(maxsize=None)
    def _sessions():
        import onnxruntime as ort

        d = _imwm_dir()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        return (ort.InferenceSession(os.path.join(d, "rivagan_encoder.onnx"), opts, providers=["CPUExecutionProvider"]),
                ort.InferenceSession(os.path.join(d, "rivagan_decoder.onnx"), opts, providers=["CPUExecutionProvider"]))

    @staticmethod
    def _frame(rgb: np.ndarray) -> np.ndarray:
        bgr = rgb[..., ::-1].astype(np.float32) / 127.5 - 1.0  # imwatermark feeds BGR frames
        return np.ascontiguousarray(bgr.transpose(2, 0, 1)[None, :, None])  # (1, 3, 1, H, W)

    def embed_rgb(self, rgb, payload, strength=None):
        _check_imwm_size(rgb, self.name)
        enc, _ = self._sessions()
        data = _bits(payload).astype(np.float32)[None]
        out = enc.run(None, {"frame": self._frame(rgb), "data": data})[0]
        bgr = (np.clip(out[0, :, 0].transpose(1, 2, 0), -1, 1) + 1.0) * 127.5
        return np.ascontiguousarray(np.clip(np.rint(bgr), 0, 255).astype(np.uint8)[..., ::-1])

    def decode_bits(self, rgb):
        _, dec = self._sessions()
        return dec.run(None, {"frame": self._frame(rgb)})[0][0] > 0.52


class KnownMark(WatermarkScheme):
    """A fixed third-party message in invisible-watermark's dwtDct (detect-only)."""

    embeddable = False
    implies_ai = True
    payload_bytes = 0
    native_max_pixels = 2048 * 2048  # SD/SDXL write ≤ ~2 MP; dwtDct does not survive an upscale

    def __init__(self, name: str, message_bits: np.ndarray, source: str, payload_hex: str):
        self.name, self.message_bits, self.source, self.payload_hex = name, message_bits, source, payload_hex

    def detect_rgb(self, rgb, fpr=1e-6, expected=None) -> WatermarkDetection:
        n = int(self.message_bits.size)
        if rgb.shape[0] * rgb.shape[1] < 256 * 256:  # the generators never mark images this small
            return self.not_detected(bits_total=n)
        bits = dwtdct_bits(rgb, n) * 255 > 127
        return _verify(self.name, self.source, True, bits, self.message_bits, fpr, self.payload_hex)

    def embed_reference(self, rgb: np.ndarray) -> np.ndarray:
        """Apply the mark exactly as the generator does (uint8, invisible-watermark's dwtDct) — for tests/bench."""
        bgr = dwtdct.max_dct_encode(np.ascontiguousarray(rgb[..., ::-1]), self.message_bits, 36.0)
        return np.ascontiguousarray(bgr[..., ::-1])


def sd_mark() -> KnownMark:
    return KnownMark("sd-dwtDct", _bits(SD_MESSAGE), "Stable Diffusion reference scripts", SD_MESSAGE.hex())


def sdxl_mark() -> KnownMark:
    bits = np.array([int(b) for b in bin(SDXL_MESSAGE)[2:]], dtype=np.uint8)
    return KnownMark("sdxl-dwtDct", bits, "SDXL / diffusers", f"{SDXL_MESSAGE:012x}")


def register_all(register: Callable[..., None]) -> None:
    register("dwtDct", DwtDctScheme)
    register("dwtDctSvd", DwtDctSvdScheme)
    register("rivaGan", RivaGanScheme)
    register("sd-dwtDct", sd_mark, default_detect=True)
    register("sdxl-dwtDct", sdxl_mark, default_detect=True)
