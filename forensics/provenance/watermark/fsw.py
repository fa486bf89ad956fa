"""``fsw-v1``: the default scheme — a self-synchronising tiled spread-spectrum luminance watermark.

Embedding (details and the false-positive derivation: docs/watermark.md):

* The luminance is viewed at a *working resolution* (long side ``WORK`` px; upscaling capped).
* A key-derived ``T``×``T`` tile (``G``×``G`` cells of ``CELL``² working pixels) carries a sync pattern on
  some cells and the BCH codeword on the others (each bit on ``R`` cells with pseudo-random signs). It is
  repeated over the image, resampled to full resolution, shaped by a perceptual mask and added to R, G
  and B alike in uint8.
* Informed embedding: per-bit gains measured with the detector's own read cancel host interference.

Detection:

* High-pass + local normalisation of the luminance at working resolution (resizes leave the period alone).
* Lattice hypotheses: nominal; autocorrelation peaks (scale, rotation, aspect); else a sync-scored scale
  search. The best are refined by hill-climbing the sync score over scale and angle.
* The image is resampled onto a hypothesis and *folded* (tiles summed): a crop becomes a cyclic shift,
  found by FFT correlation with the sync pattern for each of the 8 flips / 90° rotations.
* Soft bits → BCH with Chase-2 soft decoding, then (when the sync shows a mark and Chase finds nothing)
  ordered-statistics decoding, kept when the codeword it finds is near enough for a detection. The
  false-positive probability is a union bound over the decodes the detector may make, from the Hamming
  distance to the codeword found (whichever decoder found it).
"""
from __future__ import annotations

import hashlib
from functools import cached_property, lru_cache

import numpy as np

from ...report import WatermarkDetection
from .base import LumaScheme
from .ecc import BCHCode, false_positive_probability, osd_decode

WORK = 512  # working resolution (long side), px
T = 64  # tile side at working resolution, px
MAX_UPSCALE = 1.5  # the embedder's working resolution is at most this many times the image's
CELL = 2  # cell side, px
G = T // CELL  # cells per tile side
R = 4  # cells per code bit
HEADER = 0x10  # version 1, 4 reserved bits (all fixed: they add to the code's false-positive margin)
TARGET_RMS = 2.35  # default residual RMS on a 0..255 scale (≈ 40.6 dB PSNR)
MASK_LO, MASK_HI = 0.6, 1.8  # perceptual mask range (relative to the median local contrast)
SYNC_GAIN = 1.0  # sync cell amplitude relative to a message cell
ISS = True  # informed embedding (per-bit gains against host interference)
GAIN_MIN, GAIN_MAX = 0.25, 3.0
PMIN, PMAX = 0.42, 1.75  # tile periods searched at detection, in units of T
MAX_ROT = 7.0  # degrees
WHITEN = 9
PAIRS = 2  # anisotropic lattice pairs tried besides the isotropic ones
MAX_ATTEMPTS = 8  # BCH decodes per detection pass (the union bound's H: this times the passes)
CHASE = 8  # soft decoding: least reliable bits flipped (2^CHASE BCH decodes per hypothesis)
OSD_ORDER = 2  # ordered-statistics decoding when Chase fails: flips of up to this many most reliable bits
ACCEPT_FPR = 1e-6  # an OSD codeword is kept only if its false-positive probability is at most this
REFINE, REFINE_MIN_SYNC = 2, 5.5  # hypotheses refined, and the sync z-score they need
NOMINAL = np.eye(2) * T


def _undihedral(a: np.ndarray, k: int) -> np.ndarray:
    a = np.rot90(a, -(k % 4))
    return a.T if k >= 4 else a


def _flip_patterns(k: int) -> list[np.ndarray]:
    """All 2^k subsets of k positions as boolean masks, fewest flips first."""
    pats = [np.array([(i >> b) & 1 for b in range(k)], dtype=bool) for i in range(2 ** k)]
    return sorted(pats, key=lambda p: int(p.sum()))


def _stream(key: bytes, n: int) -> np.ndarray:
    """n pseudo-random bytes from SHAKE-256 (stable across numpy versions, unlike numpy's generators)."""
    return np.frombuffer(hashlib.shake_256(key).digest(n), dtype=np.uint8)


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """The 8 flips / 90° rotations of a square array."""
    if k >= 4:
        a = a.T
    return np.rot90(a, k % 4)


_FLIP_PATTERNS = _flip_patterns(CHASE)


@lru_cache(maxsize=64)
def _max_errors(n: int, free_bits: int, hypotheses: float) -> int:
    """Largest distance whose false-positive probability at this H stays within ACCEPT_FPR."""
    d = 0
    while d < n and false_positive_probability(n, free_bits, d + 1, hypotheses) <= ACCEPT_FPR:
        d += 1
    return d


class FSWScheme(LumaScheme):
    name = "fsw-v1"
    payload_bytes = 6
    source = "forensics-suite soft binding"
    implies_ai = False
    geometry_search = True  # detect_rgb takes search_geometry=
    exhaustive_search = True  # and exhaustive= (False: the nominal lattice only; see decode)
    min_side = 64
    detect_max_side = 1024  # works at a 512-px working resolution: a 1024-px copy reads the same
    # Per-version parameters (a later version subclasses and overrides them; see fsw2.py).
    WORK, MAX_UPSCALE, HEADER = WORK, MAX_UPSCALE, HEADER
    PMIN, PMAX, MAX_ROT, MAX_ATTEMPTS = PMIN, PMAX, MAX_ROT, MAX_ATTEMPTS

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
            # the fold correlates with D_k^-1(sync) exactly when D_k(fold) correlates with sync
            "sync_fft8": np.stack([np.conj(np.fft.rfft2(_undihedral(sync_px, k))) for k in range(8)]),
        }

    @cached_property
    def _sync_fft8_c64(self) -> np.ndarray:
        return self.layout["sync_fft8"].astype(np.complex64)

    def tile(self, payload: bytes) -> np.ndarray:
        """The T×T tile for a payload (unit gains)."""
        bits = self.code.encode(bytes([self.HEADER]) + payload)
        return np.kron(self._cells(bits), np.ones((CELL, CELL), np.float32))

    # -- embedding ------------------------------------------------------------------------------
    @classmethod
    def working_size(cls, w: int, h: int, cap: float | None = None) -> tuple[int, int]:
        """Embedding and detection both resample to long side WORK (up or down): a resized copy then has
        the same tile period as the original, whatever its size. Upscaling stops at MAX_UPSCALE, or the
        cells of a tiny image would shrink below a pixel and average away (images under WORK/MAX_UPSCALE
        px lose that resize invariance; they keep working, with fewer tiles)."""
        s = min(cls.WORK / max(w, h), cap if cap is not None else cls.MAX_UPSCALE)
        return max(1, round(w * s)), max(1, round(h * s))

    def _cells(self, bits: np.ndarray, gains: np.ndarray | None = None) -> np.ndarray:
        lay = self.layout
        cell = lay["chips"] * SYNC_GAIN
        msg = lay["msg_cells"]
        b = bits[lay["bit_of_cell"][msg]].astype(np.float32) * 2 - 1
        g = gains[lay["bit_of_cell"][msg]] if gains is not None else 1.0
        cell[msg] = lay["chips"][msg] * b * g
        return cell.reshape(G, G)

    def _pattern(self, cells: np.ndarray, w: int, h: int) -> np.ndarray:
        import cv2

        ww, wh = self.working_size(w, h)
        tile = np.kron(cells, np.ones((CELL, CELL), np.float32)).astype(np.float32)
        pat = np.tile(tile, (-(-wh // T), -(-ww // T)))[:wh, :ww]
        if (ww, wh) != (w, h):
            interp = cv2.INTER_AREA if ww > w else cv2.INTER_LINEAR
            pat = cv2.resize(pat, (w, h), interpolation=interp)
        return pat

    def _mask(self, y: np.ndarray) -> np.ndarray:
        """Perceptual mask: local contrast (smooth, so it does not whiten the pattern), low near black/white.

        Computed at working resolution (it is smooth at that scale anyway) and upsampled: 4x cheaper on
        a 1024² image than at full resolution.
        """
        import cv2

        h, w = y.shape
        ww, wh = self.working_size(w, h)
        yw = cv2.resize(y, (ww, wh), interpolation=cv2.INTER_AREA) if ww < w else y
        hp = yw - cv2.GaussianBlur(yw, (0, 0), 1.5)
        act = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), 4.0))
        mask = np.clip(act / (np.median(act) + 1e-3), MASK_LO, MASK_HI)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.0)
        if ww < w:
            mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
        mask *= np.clip(np.minimum(y, 255 - y) * (1 / 8.0), 0.15, 1.0)
        return mask

    def residual(self, y: np.ndarray, payload: bytes, strength: float | None = None) -> np.ndarray:
        payload = self.check_payload(payload)
        y = y.astype(np.float32)
        h, w = y.shape
        bits = self.code.encode(bytes([self.HEADER]) + payload)
        sign = bits.astype(np.float64) * 2 - 1
        mask = self._mask(y)
        rms_target = TARGET_RMS * (strength if strength is not None else 1.0)

        def build(gains):
            r = mask * self._pattern(self._cells(bits, gains), w, h)
            return r * (rms_target / (float(np.sqrt(np.mean(r * r))) + 1e-9))

        r = build(None)
        if not ISS:
            return r
        # Informed embedding (improved spread spectrum): measure what the detector would read — the host's
        # own projection h_i on each bit and the mark's response per unit gain u_i — and set per-bit gains so
        # every bit reaches the same margin within the same energy. Host interference, the main noise for
        # a mark this faint, is cancelled instead of corrected by the BCH code.
        host = sign * self._soft_bits(self._fold(self._prepare_luma(y), NOMINAL))
        resp = sign * self._soft_bits(self._fold(self._prepare_luma(np.clip(y + r, 0, 255)), NOMINAL)) - host
        unit = np.maximum(resp, 0.05 * max(float(np.median(resp)), 1e-6))
        lo, hi = 0.0, 10.0 * float(np.median(unit)) + float(np.abs(host).max())
        for _ in range(30):  # the margin whose gains use the same energy (mean g^2 = 1)
            t0 = 0.5 * (lo + hi)
            g = np.clip((t0 - host) / unit, GAIN_MIN, GAIN_MAX)
            lo, hi = (t0, hi) if np.mean(g * g) < 1.0 else (lo, t0)
        return build(g.astype(np.float32))

    # -- detection ------------------------------------------------------------------------------
    def _prepare_luma(self, y: np.ndarray, cap: float | None = None) -> np.ndarray:
        """Normalised high-pass luminance at working resolution (``cap``: the most it may upscale)."""
        import cv2

        h, w = y.shape
        ww, wh = self.working_size(w, h, cap)
        if (ww, wh) != (w, h):
            # area-average down; bicubic up (keeps more of a pattern that a downscale already softened)
            y = cv2.resize(y, (ww, wh), interpolation=cv2.INTER_AREA if ww < w else cv2.INTER_CUBIC)
        # host prediction by a 5x5 median: removes edges and smooth content, keeps the cell pattern
        r = y - cv2.medianBlur(y, 5)
        sd = np.sqrt(cv2.GaussianBlur(r * r, (0, 0), 4.0)) + 1.0
        r /= sd
        np.clip(r, -3, 3, out=r)
        r -= r.mean()
        return r

    def _prepare(self, rgb: np.ndarray, cap: float | None = None) -> np.ndarray:
        return self._prepare_luma(self._luma(rgb), cap)

    @staticmethod
    def _luma(rgb: np.ndarray) -> np.ndarray:
        import cv2

        if rgb.ndim == 3:
            return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)
        return rgb.astype(np.float32)

    @classmethod
    def _passes(cls, w: int, h: int) -> list[float]:
        """Upscale caps to detect with: the embedder's, and — when that cap binds (small images) — none,
        so that a downscaled copy of a larger marked image is still seen at the tile period it was made at."""
        return [cls.MAX_UPSCALE] if cls.WORK / max(w, h) <= cls.MAX_UPSCALE else [float("inf"), cls.MAX_UPSCALE]

    @classmethod
    def _lattice(cls, r: np.ndarray, top: int = 2) -> list[np.ndarray]:
        """Candidate lattice bases (2x2, columns = tile vectors) from the residual's autocorrelation.

        A vector's score sums the autocorrelation at all its multiples that fit in the image: the tile
        lattice repeats, host texture does not, and the fundamental period beats its multiples.
        """
        import cv2

        h, w = r.shape
        f = np.fft.rfft2(r)
        pw = (f * np.conj(f)).real.astype(np.float32)
        if WHITEN:  # keep only spectral lines (the tile's harmonics) above the local spectral level
            pw = np.maximum(pw / (cv2.blur(pw, (WHITEN, WHITEN)) + 1e-6) - 1.0, 0.0)
        acf = np.fft.irfft2(pw, s=r.shape)
        acf = np.fft.fftshift(acf) / (acf[0, 0] + 1e-9)
        acf = acf - cv2.blur(acf, (7, 7))
        cy, cx = h // 2, w // 2
        pmin = int(cls.PMIN * T)
        tan = np.tan(np.deg2rad(cls.MAX_ROT))
        axes = []
        for axis in (0, 1):
            along, across = (cx, cy) if axis == 0 else (cy, cx)
            pmax = min(int(cls.PMAX * T), along - 2)
            if pmax <= pmin:
                return []
            ps, qs = [], []
            for p in range(pmin, pmax + 1):
                qm = min(int(np.ceil(p * tan)), across - 2)
                q = np.arange(-qm, qm + 1)
                ps.append(np.full(q.size, p))
                qs.append(q)
            p = np.concatenate(ps)
            q = np.concatenate(qs)
            score = np.zeros(p.size)
            count = np.zeros(p.size)
            for m in range(1, 8):
                ok = (m * p < along - 1) & (np.abs(m * q) < across - 1)
                if not ok.any():
                    break
                dx, dy = (m * p, m * q) if axis == 0 else (m * q, m * p)
                score[ok] += acf[cy + dy[ok], cx + dx[ok]]
                count[ok] += 1
            # z-like statistic: a sub-multiple of the period hits the peaks only every other step
            score /= np.sqrt(np.maximum(count, 1))
            cands = []
            for i in np.argsort(-score):
                if len(cands) >= top:
                    break
                if any(abs(p[i] - pp) <= 3 and abs(q[i] - qq) <= 3 for pp, qq, _ in cands):
                    continue
                cands.append((int(p[i]), int(q[i]), float(score[i])))
            refined = []
            for pp, qq, sc in cands:
                # refine on the farthest multiple that fits: sub-pixel error shrinks by that factor
                mm = 1
                while (mm + 1) * pp < along - 3 and abs((mm + 1) * qq) < across - 3 and mm < 7:
                    mm += 1
                dx, dy = (mm * pp, mm * qq) if axis == 0 else (mm * qq, mm * pp)
                yy, xx = cy + dy, cx + dx
                win = acf[yy - 2:yy + 3, xx - 2:xx + 3]
                j = int(np.argmax(win))
                oy, ox = divmod(j, 5)
                yy, xx = yy + oy - 2, xx + ox - 2
                fx = fy = 0.0
                if 1 <= yy < h - 1 and 1 <= xx < w - 1:
                    c, l, rr, u, d = acf[yy, xx], acf[yy, xx - 1], acf[yy, xx + 1], acf[yy - 1, xx], acf[yy + 1, xx]
                    den_x, den_y = l - 2 * c + rr, u - 2 * c + d
                    fx = float(np.clip(0.5 * (l - rr) / den_x, -0.5, 0.5)) if den_x < 0 else 0.0
                    fy = float(np.clip(0.5 * (u - d) / den_y, -0.5, 0.5)) if den_y < 0 else 0.0
                refined.append((np.array([xx - cx + fx, yy - cy + fy]) / mm, sc))
            axes.append(refined)
        combos = sorted(((sx + sy, np.stack([vx, vy], axis=1)) for vx, sx in axes[0] for vy, sy in axes[1]),
                        key=lambda t: -t[0])
        out = []
        # isotropic completions (uniform scale + rotation is the common case), then the best pairs
        for (vx, _), (vy, _) in zip(axes[0], axes[1]):
            out.append(np.stack([vx, np.array([-vx[1], vx[0]])], axis=1))
            out.append(np.stack([np.array([vy[1], -vy[0]]), vy], axis=1))
        out.extend(b for _, b in combos[:PAIRS])
        uniq: list[np.ndarray] = []
        for b in out:
            if not any(np.abs(b - u).max() < 0.4 for u in uniq):
                uniq.append(b)
        return uniq

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
        # plain sum: a uniform scale does not change signs or z-scores downstream
        return warped.reshape(nv, T, nu, T).sum(axis=(0, 2))

    def _align(self, fold: np.ndarray, top: int = 2) -> list[tuple[float, np.ndarray]]:
        """Best (sync z-score, aligned tile) over the 8 flips / 90° rotations and every cyclic shift.

        One FFT of the fold, correlated at once with the 8 transformed sync patterns.
        """
        corr = np.fft.irfft2(np.fft.rfft2(fold)[None] * self.layout["sync_fft8"], s=fold.shape, axes=(1, 2))
        flat = corr.reshape(8, -1)
        idx = flat.argmax(axis=1)
        z = (flat[np.arange(8), idx] - flat.mean(axis=1)) / (flat.std(axis=1) + 1e-9)
        out = []
        for k in np.argsort(-z)[:top]:
            sy, sx = divmod(int(idx[k]), T)
            out.append((float(z[k]), _dihedral(np.roll(fold, (-sy, -sx), axis=(0, 1)), int(k))))
        return out

    def _sync_z(self, folds: np.ndarray) -> np.ndarray:
        """:meth:`_align`'s sync z-score (best of the 8 flips / 90° rotations and all cyclic shifts) for a
        stack of folds at once: one batched float32 FFT instead of a Python loop (the scale search scores
        ~45 folds per unmarked image, most of its cost)."""
        # numpy's FFT, not scipy's: importing scipy.fft costs ~0.35 s, too much for a cold `verify`
        f = np.fft.rfft2(np.asarray(folds, dtype=np.float32))
        prod = f[:, None] * self._sync_fft8_c64[None]  # (folds, 8 dihedral, T, T//2+1)
        n = folds.shape[1] * folds.shape[2]
        # mean and variance over all shifts straight from the spectrum (DC term; Parseval, with the
        # half-spectrum columns that stand for two full-spectrum columns counted twice)
        mean = prod[..., 0, 0].real / n
        w = np.full(f.shape[-1], 2.0, np.float32)
        w[0] = 1.0
        if folds.shape[2] % 2 == 0:
            w[-1] = 1.0
        sync_power = np.abs(self._sync_fft8_c64) ** 2  # |F S|^2 = |F|^2 |S|^2: one small matmul
        power = ((np.abs(f) ** 2) * w).reshape(len(f), -1) @ sync_power.reshape(8, -1).T / (n * n)
        std = np.sqrt(np.maximum(power - mean * mean, 0.0))
        peak = np.fft.irfft2(prod, s=folds.shape[1:], axes=(2, 3)).max(axis=(2, 3))
        return ((peak - mean) / (std + 1e-9)).max(axis=1)

    def _soft_bits(self, aligned: np.ndarray) -> np.ndarray:
        lay = self.layout
        cellsum = aligned.reshape(G, CELL, G, CELL).sum(axis=(1, 3)).ravel()
        msg = lay["msg_cells"]
        return np.bincount(lay["bit_of_cell"][msg], weights=(cellsum * lay["chips"])[msg],
                           minlength=self.code.n_bits)

    def _scale_search(self, r: np.ndarray, top: int = 3, pmax: float | None = None) -> list:
        """Fallback when the autocorrelation finds no lattice (host texture can hide it): isotropic scales
        on a 1.5% grid, each scored by the sync correlation of a central fold of at most 4x4 tiles (cheap,
        and tolerant to the grid step); the best few are refined on the full fold."""
        import cv2

        h, w = r.shape
        scales, folds = [], []
        # Only periods >= 0.9 T: detection resamples to WORK, so resizing leaves the period alone and
        # cropping lengthens it; shorter periods (padding, expanded canvases) come from the autocorrelation.
        for sc in np.exp(np.arange(np.log(0.9), np.log(pmax or self.PMAX), np.log(1.015))):
            p = sc * T
            n = int(min(4, (min(h, w) - 2) // p))
            if n < 2:
                continue
            o = np.array([w / 2, h / 2]) - sc * n * T / 2
            m = np.array([[sc, 0, o[0]], [0, sc, o[1]]])
            warped = cv2.warpAffine(r, m, (n * T, n * T), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
            folds.append(warped.reshape(n, T, n, T).sum(axis=(0, 2)))
            scales.append(float(sc))
        if not folds:
            return []
        found = sorted(zip(self._sync_z(np.stack(folds)).tolist(), scales), key=lambda t: -t[0])
        out = []
        for z, sc in found[:top]:
            basis = sc * NOMINAL
            fold = self._fold(r, basis)
            if fold is None:
                continue
            full, al = self._align(fold, top=1)[0]
            if z >= REFINE_MIN_SYNC:  # the grid step smears a full fold: refine before judging
                full, al, basis = self._refine(r, basis, full, al, steps=((0.006, 0.0), (0.003, 0.3), (0.0015, 0.15)))
            out.append((full, al, basis))
        return out

    def _refine(self, r: np.ndarray, basis: np.ndarray, score: float, aligned: np.ndarray,
                steps=((0.004, 0.3), (0.002, 0.15), (0.001, 0.07))):
        """Hill-climb the sync score over small scale / rotation changes of a lattice hypothesis.

        The autocorrelation peak is only accurate to ~0.2 px; over a fold of several tiles that is enough
        to smear the cells, so the sync correlation (a matched filter, far more sensitive) finishes it.
        """
        best = (score, aligned, basis)
        for step_s, step_a in steps:
            improved = True
            while improved:
                improved = False
                base = best[2]
                moves = ((step_s, 0), (-step_s, 0)) + (((0, step_a), (0, -step_a)) if step_a else ())
                for ds, da in moves:
                    c, sn = np.cos(np.deg2rad(da)), np.sin(np.deg2rad(da))
                    cand = (1 + ds) * np.array([[c, -sn], [sn, c]]) @ base
                    fold = self._fold(r, cand)
                    if fold is None:
                        continue
                    sc, al = self._align(fold, top=1)[0]
                    if sc > best[0]:
                        best, improved = (sc, al, cand), True
        return best

    def decode(self, rgb: np.ndarray, search_geometry: bool = True, exhaustive: bool = True) -> dict:
        """Low-level decode: {'payload', 'errors', 'attempts', 'sync', 'bits'} (payload None if nothing decodes).

        Per working resolution (see :meth:`_passes`): the nominal lattice (any resize, compression or
        filtering of the whole image) is tried first; then autocorrelation candidates (or, failing them,
        the scale search) are folded and ranked by their sync score, and the best hypotheses decoded —
        at most MAX_ATTEMPTS decodes per pass. ``attempts`` is that budget over all passes (the union
        bound's H), fixed by the image size alone. ``search_geometry=False``: the nominal lattice only
        (two alignments per pass, so H = 2 per pass). ``exhaustive=False``: the nominal lattice only, how
        verify reads v1 marks now that v2 is issued (its cheap search is v2's; ``watermark detect`` and
        ``verify --watermark-search`` search v1 fully).
        """
        search_geometry = search_geometry and exhaustive
        h0, w0 = rgb.shape[:2]
        passes = self._passes(w0, h0)
        budget = (self.MAX_ATTEMPTS if search_geometry else 2) * len(passes)
        y = self._luma(rgb)
        best = {"sync": None, "bits": None}
        for cap in passes:
            out = self._decode_pass(self._prepare_luma(y, cap), best, search_geometry, budget)
            if out is not None:
                return out
        return {"payload": None, "errors": None, "attempts": budget, "sync": best["sync"], "bits": best["bits"]}

    def _max_errors(self, hypotheses: float) -> int:
        return _max_errors(self.code.n_bits, 8 * self.payload_bytes, hypotheses)

    def _try_decode(self, score: float, aligned: np.ndarray, best: dict, hypotheses: float) -> dict | None:
        """Decode one aligned hypothesis; keeps the best-synchronised hard bits in ``best``.

        ``hypotheses``: the union bound's H for this hypothesis (1 / its weight), returned as ``attempts``.
        """
        soft = self._soft_bits(aligned)
        hard = (soft > 0).astype(np.uint8)
        if best["sync"] is None or score > best["sync"]:
            best["sync"], best["bits"] = score, hard
        # Chase-2 soft decoding: also try flipping every subset of the CHASE least reliable bits
        # (only for hypotheses whose sync says a mark is there: saves time on unmarked images).
        weakest = np.argsort(np.abs(soft))[:CHASE]
        for flips in _FLIP_PATTERNS if score >= REFINE_MIN_SYNC else _FLIP_PATTERNS[:1]:
            word = hard.copy()
            word[weakest[flips]] ^= 1
            res = self.code.decode(word)
            if res is not None and res[0][0] == self.HEADER:
                # distance from what was read to the codeword found (not just the BCH corrections):
                # the false-positive bound holds for any codeword at that distance, however found
                errors = int((self.code.encode(res[0]) != hard).sum())
                return {"payload": res[0][1:], "errors": errors, "sync": score, "bits": hard,
                        "attempts": hypotheses}
        if score < REFINE_MIN_SYNC:
            return None
        # Beyond BCH + Chase (at most 16 + CHASE errors, and only when the extra ones are among the weakest
        # bits): the nearest codeword found by ordered-statistics decoding, kept when its distance still
        # gives a detection. The bound counts every codeword within that distance, so it still holds.
        res = osd_decode(self.code, self.HEADER, soft, OSD_ORDER)
        if res is not None and res[1] <= self._max_errors(hypotheses):
            return {"payload": res[0][1:], "errors": res[1], "sync": score, "bits": hard, "attempts": hypotheses}
        return None

    def _decode_pass(self, r: np.ndarray, best: dict, search_geometry: bool, budget: int,
                     pmax: float | None = None) -> dict | None:
        attempts = 0

        def try_decode(score, aligned):
            nonlocal attempts
            attempts += 1
            return self._try_decode(score, aligned, best, budget)  # equal weights: every decode counts 1/H

        fold = self._fold(r, NOMINAL)
        if fold is not None:
            for score, aligned in self._align(fold, top=2):
                if (out := try_decode(score, aligned)) is not None:
                    return out
        if not search_geometry:
            return None
        h, w = r.shape
        hyps = []
        if min(h, w) >= 2 * int(self.PMIN * T) + 4:
            for basis in self._lattice(r):
                if np.abs(basis - NOMINAL).max() < 0.4:
                    continue
                fold = self._fold(r, basis)
                if fold is not None:
                    score, aligned = self._align(fold, top=1)[0]
                    hyps.append((score, aligned, basis))
        if not hyps or max(hyps, key=lambda t: t[0])[0] < REFINE_MIN_SYNC:
            hyps.extend(self._scale_search(r, pmax=pmax))
        hyps.sort(key=lambda t: -t[0])
        for i, (score, aligned, basis) in enumerate(hyps[:self.MAX_ATTEMPTS - attempts]):
            if i < REFINE and score >= REFINE_MIN_SYNC:
                score, aligned, basis = self._refine(r, basis, score, aligned)
            if (out := try_decode(score, aligned)) is not None:
                return out
        return None

    def reference_bits(self, payload: bytes) -> np.ndarray:
        return self.code.encode(bytes([self.HEADER]) + payload)

    def read_bits(self, rgb: np.ndarray) -> np.ndarray | None:
        """Hard code bits of the decoded (or best-synchronised) hypothesis, for bit-accuracy figures."""
        return self.decode(rgb)["bits"]

    def detect_rgb(self, rgb: np.ndarray, fpr: float = 1e-6, expected: bytes | None = None,
                   search_geometry: bool = True, exhaustive: bool = True) -> WatermarkDetection:
        return self.detect_with_bits(rgb, fpr, expected, search_geometry=search_geometry, exhaustive=exhaustive)[0]

    def detect_with_bits(self, rgb: np.ndarray, fpr: float = 1e-6, expected: bytes | None = None,
                         search_geometry: bool = True, exhaustive: bool = True):
        n = self.code.n_bits
        h, w = rgb.shape[:2]
        if min(h, w) < 32:
            return self.not_detected(bits_total=n), None
        res = self.decode(rgb, search_geometry=search_geometry, exhaustive=exhaustive)
        if res["payload"] is None:
            return self.not_detected(bits_total=n), res["bits"]
        # Union bound over every decode the detector *could* have made (MAX_ATTEMPTS hypotheses), so the
        # figure does not depend on where the search happened to stop (derivation: docs/watermark.md).
        p = false_positive_probability(n, free_bits=8 * self.payload_bytes, corrected=res["errors"],
                                       hypotheses=res["attempts"])
        detected = p <= fpr
        return WatermarkDetection(scheme=self.name, detected=detected,
                                  payload=res["payload"].hex() if detected else None,
                                  bits_matched=n - res["errors"], bits_total=n,
                                  false_positive_probability=p, source=self.source, implies_ai=False), res["bits"]
