"""invisible-watermark's ``dwtDct`` (``EmbedMaxDct``) and ``dwtDctSvd`` (``EmbedDwtDctSvd``), vectorised over
blocks, with numpy and OpenCV only.

The arithmetic is the library's, operation for operation, so embedding gives the same pixels and decoding the
same bits (tests compare both ways against invisible-watermark): OpenCV's BGR↔YUV conversion, PyWavelets'
Haar ``dwt2``/``idwt2`` written out (each output is ``x0*c + x1*c`` or ``x0*c + x1*(-c)`` in float64, as
pywt's convolution computes it), OpenCV's DCT applied per 4x4 block, numpy's SVD. The library loops over
blocks in Python (~1 s per 1024² image) and imports torch through its package; this module does neither.

Two of the library's quirks are kept because the marks in the wild were made with them: ``encode`` passes
the horizontal and vertical detail bands to ``idwt2`` swapped, and writes the float result back into the uint8
YUV image (numpy's truncating cast).
"""
from __future__ import annotations

import numpy as np

_C = np.float64(0.7071067811865476)  # pywt.Wavelet("haar").dec_lo[0]
BLOCK = 4


def haar_dwt2(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``pywt.dwt2(x, "haar")`` for even-sized 2-D input: ``cA, (cH, cV, cD)``."""
    x = np.asarray(x, dtype=np.float64)
    lo = x[0::2] * _C + x[1::2] * _C  # axis 0 first, as pywt.dwtn does
    hi = x[0::2] * _C + x[1::2] * -_C

    def split(a):
        return a[:, 0::2] * _C + a[:, 1::2] * _C, a[:, 0::2] * _C + a[:, 1::2] * -_C

    ca, cv = split(lo)
    ch, cd = split(hi)
    return ca, (ch, cv, cd)


def haar_ll(x: np.ndarray) -> np.ndarray:
    """``pywt.dwt2(x, "haar")[0]`` alone (what decoding reads), without the detail bands."""
    x = np.asarray(x, dtype=np.float64)
    lo = x[0::2] * _C + x[1::2] * _C
    return lo[:, 0::2] * _C + lo[:, 1::2] * _C


def haar_idwt2(ca: np.ndarray, details: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """``pywt.idwt2((cA, (cH, cV, cD)), "haar")`` (the last axis is rebuilt first, as pywt.idwtn does)."""
    ch, cv, cd = details

    def merge1(a, d):
        out = np.empty((a.shape[0], a.shape[1] * 2))
        out[:, 0::2] = a * _C + d * _C
        out[:, 1::2] = a * _C + d * -_C
        return out

    lo, hi = merge1(ca, cv), merge1(ch, cd)
    out = np.empty((lo.shape[0] * 2, lo.shape[1]))
    out[0::2] = lo * _C + hi * _C
    out[1::2] = lo * _C + hi * -_C
    return out


def _blocks(frame: np.ndarray) -> np.ndarray:
    """The whole 4x4 blocks of ``frame`` in the library's order (row by row), as an (N, 4, 4) copy."""
    nr, nc = frame.shape[0] // BLOCK, frame.shape[1] // BLOCK
    f = frame[: nr * BLOCK, : nc * BLOCK]
    return np.ascontiguousarray(f.reshape(nr, BLOCK, nc, BLOCK).transpose(0, 2, 1, 3)).reshape(-1, BLOCK, BLOCK)


def _unblocks(frame: np.ndarray, blocks: np.ndarray) -> None:
    nr, nc = frame.shape[0] // BLOCK, frame.shape[1] // BLOCK
    frame[: nr * BLOCK, : nc * BLOCK] = blocks.reshape(nr, nc, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(
        nr * BLOCK, nc * BLOCK)


def _dct_blocks(blocks: np.ndarray, inverse: bool = False) -> np.ndarray:
    """``cv2.dct``/``cv2.idct`` of each 4x4 block: OpenCV's row transform on the rows, then on the columns."""
    import cv2

    flags = cv2.DCT_ROWS | (cv2.DCT_INVERSE if inverse else 0)
    n = blocks.shape[0]
    if n == 0:
        return blocks.copy()
    rows = cv2.dct(np.ascontiguousarray(blocks.reshape(n * BLOCK, BLOCK)), flags=flags).reshape(n, BLOCK, BLOCK)
    cols = np.ascontiguousarray(rows.transpose(0, 2, 1)).reshape(n * BLOCK, BLOCK)
    return cv2.dct(cols, flags=flags).reshape(n, BLOCK, BLOCK).transpose(0, 2, 1)


def _u_band(bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    import cv2

    yuv = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2YUV)
    h, w = yuv.shape[0] // 4 * 4, yuv.shape[1] // 4 * 4
    return yuv, yuv[:h, :w, 1], (h, w)


def _encode(bgr: np.ndarray, bits: np.ndarray, scale: float, diffuse) -> np.ndarray:
    import cv2

    yuv, u, (h, w) = _u_band(bgr)
    ca, (ch, cv, cd) = haar_dwt2(u)
    blocks = _blocks(ca)
    wm = np.asarray(bits, dtype=np.float64)[np.arange(len(blocks)) % len(bits)]
    _unblocks(ca, diffuse(blocks, wm, scale))
    yuv[:h, :w, 1] = haar_idwt2(ca, (cv, ch, cd))  # bands swapped and uint8-truncated, as the library does
    return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)


def _scores(bgr: np.ndarray, scale: float, infer) -> np.ndarray:
    _, u, _ = _u_band(bgr)
    return infer(_blocks(haar_ll(u)), scale)


def vote(scores: np.ndarray, n_bits: int) -> np.ndarray:
    """Mean vote per bit (block i votes for bit i mod n_bits); 0.5 where no block voted."""
    if scores.size == 0:
        return np.full(n_bits, 0.5)
    idx = np.arange(len(scores)) % n_bits
    return np.bincount(idx, weights=scores, minlength=n_bits) / np.maximum(np.bincount(idx, minlength=n_bits), 1)


def to_bits(votes: np.ndarray) -> np.ndarray:
    """The library's decision on mean votes (``avg * 255 > 127``)."""
    return votes * 255 > 127


# -- dwtDct: the largest AC coefficient of each Haar-LL block -------------------------------------------------

def _max_position(flat: np.ndarray) -> np.ndarray:
    return np.argmax(np.abs(flat[:, 1:]), axis=1) + 1  # first maximum, DC excluded


def _diffuse_max(blocks: np.ndarray, wm: np.ndarray, scale: float) -> np.ndarray:
    flat = blocks.reshape(len(blocks), -1)
    pos = _max_position(flat)
    rows = np.arange(len(flat))
    val = flat[rows, pos]
    mag = np.abs(val)
    new = (mag // scale + 0.25 + 0.5 * wm) * scale
    flat[rows, pos] = np.where(val >= 0.0, new, -1.0 * new)
    return blocks


def _infer_max(blocks: np.ndarray, scale: float) -> np.ndarray:
    flat = blocks.reshape(len(blocks), -1)
    val = np.abs(flat[np.arange(len(flat)), _max_position(flat)])
    return (np.mod(val, scale) > 0.5 * scale).astype(np.float64)


def max_dct_encode(bgr: np.ndarray, bits: np.ndarray, scale: float = 36.0) -> np.ndarray:
    """``EmbedMaxDct(bits, wmLen=len(bits), scales=[0, scale, 0]).encode(bgr)``."""
    return _encode(bgr, bits, scale, _diffuse_max)


def max_dct_scores(bgr: np.ndarray, scale: float = 36.0) -> np.ndarray:
    """Per-block votes of ``EmbedMaxDct.decode`` (0 or 1, in block order)."""
    return _scores(bgr, scale, _infer_max)


# -- dwtDctSvd: the largest singular value of each block's DCT ------------------------------------------------

def _diffuse_svd(blocks: np.ndarray, wm: np.ndarray, scale: float) -> np.ndarray:
    u, s, v = np.linalg.svd(_dct_blocks(blocks))
    s[:, 0] = (s[:, 0] // scale + 0.25 + 0.5 * wm) * scale
    return _dct_blocks(u @ (s[:, :, None] * v), inverse=True)


def _infer_svd(blocks: np.ndarray, scale: float) -> np.ndarray:
    s = np.linalg.svd(_dct_blocks(blocks))[1]  # with U and V, as the library computes it
    return (np.mod(s[:, 0], scale) > scale * 0.5).astype(np.float64)


def dct_svd_encode(bgr: np.ndarray, bits: np.ndarray, scale: float = 36.0) -> np.ndarray:
    """``EmbedDwtDctSvd(bits, wmLen=len(bits), scales=[0, scale, 0]).encode(bgr)``."""
    return _encode(bgr, bits, scale, _diffuse_svd)


def dct_svd_scores(bgr: np.ndarray, scale: float = 36.0) -> np.ndarray:
    """Per-block votes of ``EmbedDwtDctSvd.decode``."""
    return _scores(bgr, scale, _infer_svd)
