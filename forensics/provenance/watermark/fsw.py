"""``fsw-v1``: the default scheme — a self-synchronising tiled spread-spectrum luminance watermark.

Embedding (see docs/watermark.md for the derivation):

* The image's luminance is viewed at a *working resolution* (long side ``WORK`` px, never upscaled).
* A key-derived ``T``×``T`` tile (``G``×``G`` cells of ``CELL``² working pixels) carries a sync pattern on
  some cells and the BCH codeword on the others (each bit spread over ``R`` cells with pseudo-random
  signs). The tile is repeated over the whole image, upsampled to full resolution, shaped by a
  perceptual mask (stronger in texture, weaker in flat areas) and added to R, G and B alike in uint8.

Detection:

* High-pass + local normalisation of the luminance at working resolution.
* The repetition makes the residual's autocorrelation peak on the tile lattice: the peaks give the scale,
  rotation and aspect change (resize, small rotations, crops of large images) — no search over scales.
* The image is resampled onto the nominal lattice and *folded* (all tiles summed): host content averages
  out, the watermark adds up. Any crop becomes a cyclic shift of the folded tile, found by FFT
  correlation with the sync pattern, for each of the 8 flips/90° rotations.
* The aligned tile gives soft bits → BCH decode. The false-positive probability follows from the code
  (``ecc.false_positive_probability``) with a union bound over every decode attempt.
"""
from __future__ import annotations

import hashlib
from functools import cached_property

import numpy as np

from ...report import WatermarkDetection
from .base import LumaScheme
from .ecc import BCHCode, false_positive_probability

WORK = 512  # working resolution (long side), px
T = 64  # tile side at working resolution, px
CELL = 2  # cell side, px
G = T // CELL  # cells per tile side
R = 4  # cells per code bit
HEADER = 0x10  # version 1, 4 reserved bits (all fixed: they add to the code's false-positive margin)
TARGET_RMS = 2.0  # default residual RMS on a 0..255 scale (≈ 42 dB PSNR before clipping)


def _stream(key: bytes, n: int) -> np.ndarray:
    """n pseudo-random bytes from SHAKE-256 (stable across numpy versions, unlike numpy's generators)."""
    return np.frombuffer(hashlib.shake_256(key).digest(n), dtype=np.uint8)


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """The 8 flips / 90° rotations of a square array."""
    if k >= 4:
        a = a.T
    return np.rot90(a, k % 4)


class FSWScheme(LumaScheme):
    name = "fsw-v1"
    payload_bytes = 6
    source = "forensics-suite soft binding"
    implies_ai = False
    min_side = 64

    def __init__(self, key: bytes = b"forensics-suite/fsw-v1", t: int = 16):
        self.key = key
        self.code = BCHCode(data_bytes=1 + self.payload_bytes, t=t)

    # -- the key-derived layout -----------------------------------------------------------------
    @cached_property
    def layout(self) -> dict:
        n = self.code.n_bits
        cells = G * G
        if n * R > cells - 64:
            raise ValueError("code too long for the tile")
        order = np.argsort(_stream(self.key + b"/perm", 4 * cells).view(">u4"), kind="stable")
        chips = (_stream(self.key + b"/chips", cells) & 1).astype(np.float32) * 2 - 1
        bit_of_cell = np.full(cells, -1, dtype=np.int64)
        for i in range(n):
            bit_of_cell[order[i * R:(i + 1) * R]] = i
        sync_cells = bit_of_cell < 0
        sync = np.where(sync_cells, chips, 0).reshape(G, G)
        sync_px = np.kron(sync, np.ones((CELL, CELL), np.float32))
        return {
            "chips": chips, "bit_of_cell": bit_of_cell, "msg_cells": ~sync_cells,
            "sync_px": sync_px,
            "sync_fft": np.conj(np.fft.rfft2(sync_px)),
        }

    def tile(self, payload: bytes) -> np.ndarray:
        """The T×T ±1 tile for a payload."""
        lay = self.layout
        bits = self.code.encode(bytes([HEADER]) + payload).astype(np.float32) * 2 - 1
        cell = lay["chips"].copy()
        msg = lay["msg_cells"]
        cell[msg] *= bits[lay["bit_of_cell"][msg]]
        return np.kron(cell.reshape(G, G), np.ones((CELL, CELL), np.float32))

    # -- embedding ------------------------------------------------------------------------------
    @staticmethod
    def working_size(w: int, h: int) -> tuple[int, int]:
        s = min(1.0, WORK / max(w, h))
        return max(1, round(w * s)), max(1, round(h * s))

    def residual(self, y: np.ndarray, payload: bytes, strength: float | None = None) -> np.ndarray:
        import cv2

        payload = self.check_payload(payload)
        h, w = y.shape
        ww, wh = self.working_size(w, h)
        tile = self.tile(payload)
        pattern = np.tile(tile, (-(-wh // T), -(-ww // T)))[:wh, :ww]
        if (ww, wh) != (w, h):
            pattern = cv2.resize(pattern, (w, h), interpolation=cv2.INTER_LINEAR)
        # Perceptual mask: local contrast of the image (blurred so it does not whiten the pattern).
        y32 = y.astype(np.float32)
        hp = y32 - cv2.GaussianBlur(y32, (0, 0), 1.5)
        act = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 4.0))
        mask = np.clip(act / (np.median(act) + 1e-3), 0.4, 2.5)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.0)
        # Do not spend energy where it will be clipped away (near black / white).
        mask *= np.clip(np.minimum(y32, 255 - y32) / 8.0, 0.15, 1.0)
        r = mask * pattern
        rms = float(np.sqrt(np.mean(r * r))) + 1e-9
        return r * (TARGET_RMS * (strength if strength is not None else 1.0) / rms)

    # -- detection ------------------------------------------------------------------------------
    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Normalised high-pass luminance at working resolution."""
        import cv2

        y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) if rgb.ndim == 3 else rgb.astype(np.float32)
        h, w = y.shape
        ww, wh = self.working_size(w, h)
        if (ww, wh) != (w, h):
            y = cv2.resize(y, (ww, wh), interpolation=cv2.INTER_AREA)
        # host prediction by a 5x5 median: removes edges and smooth content, keeps the ±1 cell pattern
        r = y - cv2.medianBlur(np.clip(y + 0.5, 0, 255).astype(np.uint8), 5).astype(np.float32)
        sd = np.sqrt(cv2.GaussianBlur(r * r, (0, 0), 4.0)) + 1.0
        r /= sd
        np.clip(r, -3, 3, out=r)
        r -= r.mean()
        return r

    @staticmethod
    def _lattice(r: np.ndarray) -> list[np.ndarray]:
        """Candidate lattice bases (2x2, columns = tile vectors) from the residual's autocorrelation peaks."""
        import cv2

        h, w = r.shape
        f = np.fft.rfft2(r)
        acf = np.fft.irfft2((f * np.conj(f)).real, s=r.shape)
        acf = np.fft.fftshift(acf) / (acf[0, 0] + 1e-9)
        acf = acf - cv2.blur(acf, (9, 9))
        cy, cx = h // 2, w // 2
        pmin = int(0.42 * T)
        tan = np.tan(np.deg2rad(7.0))
        found = []
        for axis in (0, 1):  # 0: along x, 1: along y
            side = w if axis == 0 else h
            pmax = min(int(1.75 * T), side // 2 - 2)
            if pmax <= pmin:
                return []
            best, best_v = -np.inf, None
            ps = np.arange(pmin, pmax + 1)
            for p in ps:
                off = int(np.ceil(p * tan))
                if axis == 0:
                    col = acf[cy - off:cy + off + 1, cx + p]
                    j = int(np.argmax(col))
                    if col[j] > best:
                        best, best_v = col[j], (p, j - off)
                else:
                    row = acf[cy + p, cx - off:cx + off + 1]
                    j = int(np.argmax(row))
                    if row[j] > best:
                        best, best_v = row[j], (j - off, p)
            vx, vy = best_v
            # prefer the fundamental period over a multiple of it
            hx, hy = round(vx / 2), round(vy / 2)
            if max(abs(hx), abs(hy)) >= pmin and acf[cy + hy, cx + hx] > 0.5 * best:
                vx, vy = hx, hy
            # sub-pixel refinement (parabola through the 3x3 neighbourhood)
            yy, xx = cy + vy, cx + vx
            if 1 <= yy < h - 1 and 1 <= xx < w - 1:
                c, l, rr, u, d = acf[yy, xx], acf[yy, xx - 1], acf[yy, xx + 1], acf[yy - 1, xx], acf[yy + 1, xx]
                den_x, den_y = l - 2 * c + rr, u - 2 * c + d
                dx = 0.5 * (l - rr) / den_x if den_x < 0 else 0.0
                dy = 0.5 * (u - d) / den_y if den_y < 0 else 0.0
                vx, vy = vx + float(np.clip(dx, -0.5, 0.5)), vy + float(np.clip(dy, -0.5, 0.5))
            found.append(np.array([vx, vy], dtype=np.float64))
        return [np.stack(found, axis=1)]

    @staticmethod
    def _fold(r: np.ndarray, basis: np.ndarray) -> np.ndarray | None:
        """Resample r onto the lattice ``basis`` (columns = tile vectors, working px) and sum all tiles."""
        import cv2

        h, w = r.shape
        a = basis / T  # maps tile-pixel coords (u, v) to image offsets
        try:
            inv = np.linalg.inv(a)
        except np.linalg.LinAlgError:
            return None
        corners = np.array([[0, w, 0, w], [0, 0, h, h]], dtype=np.float64)
        uv = inv @ corners
        u0, v0 = np.floor(uv.min(axis=1))
        u1, v1 = np.ceil(uv.max(axis=1))
        nu, nv = int(np.ceil((u1 - u0) / T)), int(np.ceil((v1 - v0) / T))
        if nu * nv > 400 or nu < 1 or nv < 1:
            return None
        origin = a @ np.array([u0, v0])
        m = np.array([[a[0, 0], a[0, 1], origin[0]], [a[1, 0], a[1, 1], origin[1]]], dtype=np.float64)
        size = (nu * T, nv * T)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        warped = cv2.warpAffine(r, m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        ones = cv2.warpAffine(np.ones_like(r), m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        fold = warped.reshape(nv, T, nu, T).sum(axis=(0, 2))
        cnt = ones.reshape(nv, T, nu, T).sum(axis=(0, 2))
        if cnt.max() <= 0:
            return None
        return fold / np.maximum(cnt, 1e-3) * np.sqrt(np.maximum(cnt, 0))  # SNR-weighted average

    def _align(self, fold: np.ndarray, top: int = 2) -> list[tuple[float, np.ndarray]]:
        """Best (sync score, aligned tile) over the 8 flips and every cyclic shift."""
        lay = self.layout
        out = []
        for k in range(8):
            d = np.ascontiguousarray(_dihedral(fold, k))
            corr = np.fft.irfft2(np.fft.rfft2(d) * lay["sync_fft"], s=d.shape)
            sd = corr.std() + 1e-9
            idx = int(np.argmax(corr))
            sy, sx = divmod(idx, T)
            out.append(((corr.flat[idx] - corr.mean()) / sd, np.roll(d, (-sy, -sx), axis=(0, 1))))
        out.sort(key=lambda t: -t[0])
        return out[:top]

    def _soft_bits(self, aligned: np.ndarray) -> np.ndarray:
        lay = self.layout
        cellsum = aligned.reshape(G, CELL, G, CELL).sum(axis=(1, 3)).ravel()
        msg = lay["msg_cells"]
        return np.bincount(lay["bit_of_cell"][msg], weights=(cellsum * lay["chips"])[msg],
                           minlength=self.code.n_bits)

    def decode(self, rgb: np.ndarray, max_attempts: int = 6) -> dict:
        """Low-level decode: {'payload', 'errors', 'attempts', 'sync'} (payload None when nothing decodes)."""
        r = self._prepare(rgb)
        h, w = r.shape
        bases = self._lattice(r) if min(h, w) >= 2 * int(0.42 * T) + 4 else []
        nominal = np.eye(2) * T
        if not any(np.allclose(b, nominal, atol=0.75) for b in bases):
            bases.append(nominal)
        attempts, best_sync = 0, None
        for basis in bases:
            fold = self._fold(r, basis)
            if fold is None:
                continue
            for score, aligned in self._align(fold):
                if attempts >= max_attempts:
                    break
                attempts += 1
                best_sync = score if best_sync is None else max(best_sync, score)
                bits = (self._soft_bits(aligned) > 0).astype(np.uint8)
                res = self.code.decode(bits)
                if res is not None and res[0][0] == HEADER:
                    return {"payload": res[0][1:], "errors": res[1], "attempts": max_attempts, "sync": score}
        return {"payload": None, "errors": None, "attempts": max_attempts, "sync": best_sync}

    def detect_rgb(self, rgb: np.ndarray, fpr: float = 1e-6, expected: bytes | None = None) -> WatermarkDetection:
        h, w = rgb.shape[:2]
        if min(h, w) < 32:
            return self.not_detected(bits_total=self.code.n_bits)
        res = self.decode(rgb)
        n = self.code.n_bits
        if res["payload"] is None:
            return self.not_detected(bits_total=n)
        # Union bound over every decode attempt the detector *could* have made (max_attempts), so the figure
        # does not depend on where the search happened to stop.
        p = false_positive_probability(n, free_bits=8 * self.payload_bytes, corrected=res["errors"],
                                       hypotheses=res["attempts"])
        detected = p <= fpr
        return WatermarkDetection(scheme=self.name, detected=detected,
                                  payload=res["payload"].hex() if detected else None,
                                  bits_matched=n - res["errors"], bits_total=n,
                                  false_positive_probability=p, source=self.source, implies_ai=False)
