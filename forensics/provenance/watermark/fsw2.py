"""``fsw-v2``: fsw-v1's tiled spread-spectrum mark, re-tuned for real-world pipelines (issue #16).

Same payload format as v1 (48 data bits + an 8-bit header with version 2, BCH t = 16, 180 coded bits), so a
manifest's soft-binding ID is carried unchanged. What differs:

* The tile lives at a working resolution of long side 384 px (v1: 512): the cells are 4/3 as large
  relative to the image, so they stay above the sampling limit after 0.4× resizes and crop → resize
  chains of the ~500-px photos newsrooms pass around.
* A geometry search before decoding: the nominal lattice, then v1's autocorrelation lattice candidates
  (rotation, scale, aspect, shear) widened to ±16°, then — when none shows the sync pattern — a bounded
  sweep of full folds: rotations every 0.5° up to ±16° at native scale (±2 %), rotations up to ±2° with
  zooms of 0.96–1.08 in 0.6 % steps and up to ±1.5° with x / y stretches of 0.98–1.07 (a photographed
  print's best affine fit), aspect stretches of
  1.12 and 1.25 either way, and isotropic scales 0.9–2.3 (crops, canvas changes). The sync peak of a full
  fold is only ~0.3° and ~0.5 % wide, and incoherent statistics (autocorrelation, power spectrum) do not
  show a mark this faint on textured photos, hence the coherent sweep. The six best get a short affine
  climb (over thousands of hypotheses the noise maxima reach the true lattice's raw sync score, but
  only the true one climbs far); the best two are then refined fully: the four affine parameters, the
  local shifts of the image quadrants (an exact homography from four correspondences), the image
  corners' offsets (perspective up to a few per cent).
* ``search_geometry=False`` decodes the nominal lattice only (resizes, compression, filters, colour edits,
  crops — no rotation or perspective): the audit's quick profile.

Decoding is v1's: BCH + Chase-2, then ordered-statistics decoding (order 2) on hypotheses whose sync shows
a mark. The false-positive probability is v1's union bound over H = the decodes the detector may make
(MAX_ATTEMPTS per pass, fixed by the image size and the mode, not by where the search stopped): the
search ranks lattices by the sync cells alone, which are disjoint from the payload cells, so the payload
bits of whichever lattice it picks are still fair coins under "no mark" (docs/watermark.md).
"""
from __future__ import annotations

import numpy as np

from .fsw import NOMINAL, REFINE_MIN_SYNC, T, FSWScheme, _dihedral

DECODES = 11  # BCH decodes per pass besides the nominal lattice's two alignments (the loop below makes at most 11)
SWEEP_TOP = 6  # lattices the fallback sweep proposes
REFINED = 2  # best hypotheses refined (affine, local shifts, homography)
KNOWN_K_SYNC = 6.5  # sync z from which a refinement keeps the flip / rotation it started with
PROBE, PROBE_EVALS = 6, 16  # hypotheses given a short affine climb before ranking, and its evaluations
SWEEP_ROT_STEP, SWEEP_ROT_SCALES = 0.5, (0.98, 1.0, 1.02)  # the fallback rotation sweep (degrees; scales)
ASPECTS = (1 / 1.25, 1 / 1.12, 1.12, 1.25)  # width / height stretches in the fallback sweep
# A photographed or scanned print: a perspective warp of a few per cent is best fitted by a small rotation
# with a zoom of a few per cent, often a different one along x and y (aspect up to ~4 %), where the sync
# peak (~0.3° and ~0.5 % wide) falls between the rotation grid's scales. Isotropic zooms on a fine grid,
# and x / y stretch pairs on a coarser one at fewer angles.
NEAR_ROT_MAX, NEAR_ROT_STEP = 2.0, 0.5  # degrees
NEAR_SCALES = tuple(float(x) for x in np.exp(np.arange(np.log(0.96), np.log(1.085), np.log(1.006))))
NEAR_ANISO_ROT_MAX, NEAR_ANISO_ROT_STEP = 1.5, 0.75  # degrees
_STRETCH = np.exp(np.arange(np.log(0.98), np.log(1.075), np.log(1.012)))
NEAR_ANISO = tuple((float(a), float(b)) for a in _STRETCH for b in _STRETCH if abs(a / b - 1) > 0.004)
ISO_STEP = 1.0075  # the isotropic scales of the sweep (crops, canvas changes): half the sync peak's width
CHEAP_PMAX = 1.75  # the cheap search's longest period (v1's): crops down to a third of the area
REFINE_EVALS = 48  # evaluations of a full affine refinement
LOCAL_EVALS = 2  # _refine_local's rounds (each scores one new lattice)
HOMOGRAPHY_EVALS = 64  # evaluations of the corner-offset refinement
HOMOGRAPHY_STEPS = (2.0, 1.0, 0.5)  # corner offsets tried when refining perspective, working px


class FSW2Scheme(FSWScheme):
    name = "fsw-v2"
    # works at a 384-px working resolution; reading the 1024-px copy fsw-v1 reads spares a second resize
    detect_max_side = 1024
    WORK = 384
    HEADER = 0x20  # version 2, 4 reserved bits
    PMIN, PMAX, MAX_ROT = 0.42, 2.3, 16.0
    MAX_ATTEMPTS = DECODES + 2

    def __init__(self, key: bytes = b"forensics-suite/fsw-v2", t: int = 16):
        super().__init__(key=key, t=t)

    # -- the union bound's H ----------------------------------------------------------------------
    def hypotheses(self, w: int, h: int, search_geometry: bool = True) -> int:
        """The decodes detection may make on a w×h image (the union bound's H): MAX_ATTEMPTS per pass with
        the geometry search, the nominal lattice's 2 alignments per pass without. Fixed by the size and
        the mode alone."""
        return (self.MAX_ATTEMPTS if search_geometry else 2) * len(self._passes(w, h))

    # -- folding on a general projective lattice --------------------------------------------------
    @staticmethod
    def _fold_h(r: np.ndarray, hm: np.ndarray) -> np.ndarray | None:
        """Fold ``r`` on the lattice given by ``hm`` (3x3: tile-pixel coords (u, v, 1) → image px)."""
        import cv2

        h, w = r.shape
        try:
            inv = np.linalg.inv(hm)
        except np.linalg.LinAlgError:
            return None
        corners = np.array([[0, w, 0, w], [0, 0, h, h], [1, 1, 1, 1]], dtype=np.float64)
        uvw = inv @ corners
        if np.any(uvw[2] <= 1e-6):
            return None
        uv = uvw[:2] / uvw[2]
        u0, v0 = np.floor(uv.min(axis=1) / T) * T
        u1, v1 = np.ceil(uv.max(axis=1) / T) * T
        nu, nv = int(round((u1 - u0) / T)), int(round((v1 - v0) / T))
        if nu * nv > 400 or nu < 1 or nv < 1:
            return None
        shift = np.array([[1, 0, u0], [0, 1, v0], [0, 0, 1]], dtype=np.float64)
        m = hm @ shift
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        size = (nu * T, nv * T)
        if abs(m[2, 0]) < 1e-12 and abs(m[2, 1]) < 1e-12:  # affine: the cheaper warp
            warped = cv2.warpAffine(r, m[:2] / m[2, 2], size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=0)
        else:
            warped = cv2.warpPerspective(r, m, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return warped.reshape(nv, T, nu, T).sum(axis=(0, 2))

    @staticmethod
    def _hm(basis: np.ndarray, origin=(0.0, 0.0)) -> np.ndarray:
        a = basis / T
        return np.array([[a[0, 0], a[0, 1], origin[0]], [a[1, 0], a[1, 1], origin[1]], [0, 0, 1]], np.float64)

    def _score_k(self, r: np.ndarray, hm: np.ndarray, k: int | None):
        """:meth:`_score_h` for one known flip / 90° rotation ``k`` (a refinement keeps it): 8× less FFT work."""
        if k is None:
            return self._score_h(r, hm)
        fold = self._fold_h(r, hm)
        if fold is None:
            return -np.inf, None
        corr = np.fft.irfft2(np.fft.rfft2(fold) * self.layout["sync_fft8"][k], s=fold.shape)
        i = int(np.argmax(corr))
        z = float((corr.flat[i] - corr.mean()) / (corr.std() + 1e-9))
        sy, sx = divmod(i, T)
        return z, _dihedral(np.roll(fold, (-sy, -sx), axis=(0, 1)), k)

    def _k_of(self, r: np.ndarray, hm: np.ndarray) -> int | None:
        """The flip / 90° rotation of a lattice whose sync is already clear (None: keep trying all 8)."""
        fold = self._fold_h(r, hm)
        if fold is None:
            return None
        z, k, _ = self._locate(fold)
        return k if z >= KNOWN_K_SYNC else None

    def _score_h(self, r: np.ndarray, hm: np.ndarray):
        fold = self._fold_h(r, hm)
        if fold is None:
            return -np.inf, None
        return self._align(fold, top=1)[0]

    # -- geometry search --------------------------------------------------------------------------
    def _sweep_bases(self) -> list[np.ndarray]:
        """The bounded fallback grid: rotations at native scale (±2 %), small rotations with the zooms and
        x / y stretches of a photographed print, aspect stretches, and isotropic scales for crops / canvas
        changes. Its size costs time only: the union bound counts decodes, not the lattices scored. The
        sync peak of a full fold is only ~0.3° and ~0.5 % wide (an incoherent statistic — autocorrelation,
        power spectrum — does not see a mark this faint on textured photos), so the grid is fine where
        edits are common and absent elsewhere."""
        def turns(max_deg: float, step: float):
            for ang in np.arange(-max_deg, max_deg + 1e-6, step):
                c, sn = np.cos(np.deg2rad(ang)), np.sin(np.deg2rad(ang))
                yield T * np.array([[c, -sn], [sn, c]])

        out = []
        for rot in turns(self.MAX_ROT, SWEEP_ROT_STEP):
            out.extend(sc * rot for sc in SWEEP_ROT_SCALES)
        for rot in turns(NEAR_ROT_MAX, NEAR_ROT_STEP):
            # zooms not already in the rotation grid
            out.extend(sc * rot for sc in NEAR_SCALES if min(abs(sc - x) for x in SWEEP_ROT_SCALES) > 0.002)
        for rot in turns(NEAR_ANISO_ROT_MAX, NEAR_ANISO_ROT_STEP):
            out.extend(rot @ np.diag([sx, sy]) for sx, sy in NEAR_ANISO)
        for a in ASPECTS:
            for sc in SWEEP_ROT_SCALES:
                out.append(sc * T * np.diag([a, 1.0]))
                out.append(sc * T * np.diag([1.0, a]))
        for sc in np.exp(np.arange(np.log(self.PMIN), np.log(self.PMAX), np.log(ISO_STEP))):
            out.append(sc * NOMINAL)
        return out

    def _sweep(self, r: np.ndarray, top: int = 4) -> list:
        """Score every basis of :meth:`_sweep_bases` by the sync z of its full fold (batched FFT)."""
        keys, folds = [], []
        for b in self._sweep_bases():
            fold = self._fold_h(r, self._hm(b))
            if fold is not None:
                keys.append(b)
                folds.append(fold)
        if not folds:
            return []
        z = self._sync_z(np.stack(folds))
        return [keys[i] for i in np.argsort(-z)[:top]]

    def _refine_affine(self, r, hm, score, aligned, evals=None):
        """Hill-climb the sync score over the 4 linear parameters (scale, rotation, aspect, shear)."""
        evals = REFINE_EVALS if evals is None else evals
        best = (score, aligned, hm)
        k = self._k_of(r, hm)
        used = 0
        for step in (0.006, 0.003, 0.0015):
            improved = True
            while improved and used < evals:
                improved = False
                for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
                    for sgn in (1, -1):
                        d = np.eye(3)
                        d[i, j] += sgn * step
                        cand = best[2].copy()
                        cand[:2, :2] = best[2][:2, :2] @ d[:2, :2]
                        used += 1
                        sc, al = self._score_k(r, cand, k)
                        if sc > best[0]:
                            best, improved = (sc, al, cand), True
        return best

    def _refine_homography(self, r, hm, score, aligned, evals=None):
        """Hill-climb the sync score over the image corners' offsets (the perspective component)."""
        import cv2

        evals = HOMOGRAPHY_EVALS if evals is None else evals
        h, w = r.shape
        img = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        inv = np.linalg.inv(hm)
        src = cv2.perspectiveTransform(img[None], inv)[0]  # tile coords of the image corners
        best = (score, aligned, np.zeros((4, 2), np.float32))
        k = self._k_of(r, hm)
        used = 0
        for step in HOMOGRAPHY_STEPS:
            improved = True
            while improved and used < evals:
                improved = False
                for k in range(8):
                    for sgn in (1, -1):
                        off = best[2].copy()
                        off[k // 2, k % 2] += sgn * step
                        cand = cv2.getPerspectiveTransform(src, img + off).astype(np.float64)
                        used += 1
                        sc, al = self._score_k(r, cand, k)
                        if sc > best[0]:
                            best, improved = (sc, al, off), True
        if best[2].any():
            return best[0], best[1], cv2.getPerspectiveTransform(src, img + best[2]).astype(np.float64)
        return score, aligned, hm

    def _locate(self, fold: np.ndarray, k: int | None = None, near=None, radius: int = 6):
        """(z, dihedral k, sub-pixel cyclic shift (sy, sx)) of the sync pattern in a fold; ``near``
        restricts the shift to within ``radius`` px of a known one."""
        ks = range(8) if k is None else [k]
        f = np.fft.rfft2(fold)
        best = None
        for kk in ks:
            corr = np.fft.irfft2(f * self.layout["sync_fft8"][kk], s=fold.shape)
            z = (corr - corr.mean()) / (corr.std() + 1e-9)
            if near is not None:
                dy = (np.arange(T)[:, None] - near[0] + T / 2) % T - T / 2
                dx = (np.arange(T)[None, :] - near[1] + T / 2) % T - T / 2
                z = np.where((np.abs(dy) <= radius) & (np.abs(dx) <= radius), z, -np.inf)
            iy, ix = divmod(int(np.argmax(z)), T)
            if best is None or z[iy, ix] > best[0]:
                def sub(c, lo, hi):
                    den = lo - 2 * c + hi
                    return float(np.clip(0.5 * (lo - hi) / den, -0.5, 0.5)) if den < 0 else 0.0
                zz = np.where(np.isfinite(z), z, 0.0)
                fy = sub(zz[iy, ix], zz[(iy - 1) % T, ix], zz[(iy + 1) % T, ix])
                fx = sub(zz[iy, ix], zz[iy, (ix - 1) % T], zz[iy, (ix + 1) % T])
                best = (float(z[iy, ix]), kk, (iy + fy, ix + fx))
        return best

    def _refine_local(self, r, hm, score, aligned, rounds: int = 2):
        """Perspective from local shifts: fold each image quadrant on the current lattice; where the sync
        pattern sits in each (relative to the whole fold) is the local lattice offset, so the four
        quadrant centres give four correspondences and an exact homography. Kept only if it raises the
        sync score."""
        import cv2

        h, w = r.shape
        best = (score, aligned, hm)
        for _ in range(rounds):
            cur = best[2]
            whole = self._fold_h(r, cur)
            if whole is None:
                break
            z0, k0, s0 = self._locate(whole)
            src, dst = [], []
            for qy in (0, 1):
                for qx in (0, 1):
                    part = np.zeros_like(r)
                    ys, xs = slice(qy * h // 2, (qy + 1) * h // 2), slice(qx * w // 2, (qx + 1) * w // 2)
                    part[ys, xs] = r[ys, xs]
                    fq = self._fold_h(part, cur)
                    if fq is None:
                        break
                    _, _, sq = self._locate(fq, k=k0, near=s0)
                    d = (np.array(sq) - np.array(s0) + T / 2) % T - T / 2  # (dy, dx), fold coords
                    x = np.array([(qx + 0.5) * w / 2, (qy + 0.5) * h / 2, 1.0])
                    u = np.linalg.inv(cur) @ x
                    u = u[:2] / u[2]
                    src.append([u[0] - d[1], u[1] - d[0]])
                    dst.append(x[:2])
            if len(src) < 4:
                break
            cand = cv2.getPerspectiveTransform(np.float32(src), np.float32(dst)).astype(np.float64)
            sc, al = self._score_h(r, cand)
            if not sc > best[0]:
                break
            best = (sc, al, cand)
        return best

    # -- decoding ---------------------------------------------------------------------------------
    def decode(self, rgb: np.ndarray, search_geometry: bool = True, exhaustive: bool = True) -> dict:
        """``exhaustive=False``: v1's search (autocorrelation lattice candidates, then the scale search for
        crops down to a third of the area, each refined over scale and rotation) instead of the sweep and
        its refinements — what verify and the audit read by default. The decode budget, so H, is the same."""
        h0, w0 = rgb.shape[:2]
        passes = self._passes(w0, h0)
        budget = self.hypotheses(w0, h0, search_geometry)
        y = self._luma(rgb)
        best = {"sync": None, "bits": None}
        for cap in passes:
            out = self._decode_pass2(self._prepare_luma(y, cap), best, search_geometry, budget, exhaustive)
            if out is not None:
                return out
        return {"payload": None, "errors": None, "attempts": budget, "sync": best["sync"], "bits": best["bits"]}

    def _decode_pass2(self, r: np.ndarray, best: dict, search_geometry: bool, budget: int,
                      exhaustive: bool = True) -> dict | None:
        """One working resolution: at most MAX_ATTEMPTS decodes (2 without the search), each reported
        against the whole budget ``budget`` (equal weights: every decode counts 1 / H)."""
        if search_geometry and not exhaustive:  # v1's search on this mark: same decode budget
            return self._decode_pass(r, best, search_geometry, budget, pmax=CHEAP_PMAX)
        attempts = 0
        cap = self.MAX_ATTEMPTS if search_geometry else 2

        def try_decode(score, aligned):
            nonlocal attempts
            if attempts >= cap:
                return None
            attempts += 1
            return self._try_decode(score, aligned, best, budget)

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
            for basis in self._lattice(r, top=3)[:12]:
                if np.abs(basis - NOMINAL).max() < 0.4:
                    continue
                hm = self._hm(basis)
                score, aligned = self._score_h(r, hm)
                if aligned is not None:
                    hyps.append((score, aligned, hm))
        if not hyps or max(hyps, key=lambda t: t[0])[0] < REFINE_MIN_SYNC + 1.0:
            for basis in self._sweep(r, top=SWEEP_TOP):
                hm = self._hm(basis)
                score, aligned = self._score_h(r, hm)
                if aligned is not None:
                    hyps.append((score, aligned, hm))
        hyps.sort(key=lambda t: -t[0])
        # Probe: a short affine climb on each of the best few. Over thousands of hypotheses the noise
        # maxima reach the true lattice's raw score, but only the true one climbs far.
        probed = [self._refine_affine(r, hm, score, aligned, evals=PROBE_EVALS)
                  for score, aligned, hm in hyps[:PROBE]]
        hyps = sorted(probed, key=lambda t: -t[0]) + hyps[PROBE:]
        for i, (score, aligned, hm) in enumerate(hyps[:DECODES // 2]):
            if (out := try_decode(score, aligned)) is not None:
                return out
            if i < REFINED and score >= REFINE_MIN_SYNC - 0.5:
                score, aligned, hm = self._refine_affine(r, hm, score, aligned)
                if (out := try_decode(score, aligned)) is not None:
                    return out
                if score < REFINE_MIN_SYNC:
                    continue
                score, aligned, hm = self._refine_local(r, hm, score, aligned)
                if (out := try_decode(score, aligned)) is not None:
                    return out
                score, aligned, hm = self._refine_homography(r, hm, score, aligned)
                if (out := try_decode(score, aligned)) is not None:
                    return out
        return None
