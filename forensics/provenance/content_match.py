"""Is this image a copy of the image a manifest was issued for? A compact content descriptor and its check.

A watermark payload is only an ID, and the fsw keys are public: anyone can embed any manifest's ID into any
photo. So when a watermark leads to a stored manifest, the image in hand is compared with a descriptor of
the image the manifest was issued for, stored with it at registration.

The descriptor is a set of ORB keypoints (position + 256-bit binary descriptor, OpenCV) of a grey copy with a
long side of :data:`WORK_SIDE` px, spread over the frame (at most :data:`MAX_KEYPOINTS`, ~7 KB). The check
matches the image's own ORB features against it (Hamming nearest neighbours with a ratio test) and asks
RANSAC for one affine transform that many matches agree on: local features survive re-encoding, resizing,
cropping, rotation, aspect changes, colour edits and stickers, while an unrelated image yields only a
handful of accidental agreements. A mirrored copy is tried when the direct match fails.

Torch-free and scipy-free (the verify path imports it).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

MAGIC = b"CM1"
WORK_SIDE = 512  # px, long side of the grey copy both sides are described at
MAX_KEYPOINTS = 200  # stored per record: 36 bytes each (2 x uint16 position + 32-byte ORB descriptor)
QUERY_KEYPOINTS = 1000
GRID = 4  # stored keypoints are spread over GRID x GRID cells, so a crop keeps some of them
RATIO = 0.8  # Lowe's ratio test on Hamming distances
MAX_HAMMING = 80  # of 256 bits; a weaker nearest neighbour is noise
RANSAC_PX = 5.0  # reprojection threshold, px at WORK_SIDE
MIN_INLIERS = 12  # geometric agreements needed to call it a copy (unrelated photos: typically 3-6)
MIN_STORED = 16  # fewer keypoints than this: too little structure for the keypoint check
_COORD_SCALE = 32  # positions stored as uint16 of x * 32 (WORK_SIDE * 32 < 65536)


@dataclass
class ContentMatch:
    """The outcome of :func:`compare`: ``match`` None when the descriptor cannot decide (too little structure)."""

    match: bool | None
    inliers: int = 0
    matches: int = 0
    mirrored: bool = False


def _grey(rgb: "np.ndarray") -> "np.ndarray":
    import cv2
    import numpy as np

    a = np.asarray(rgb)
    g = a if a.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(a[..., :3]), cv2.COLOR_RGB2GRAY)
    h, w = g.shape[:2]
    if max(h, w) != WORK_SIDE:
        s = WORK_SIDE / max(h, w)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        g = cv2.resize(g, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)
    return np.ascontiguousarray(g)


def _orb(grey: "np.ndarray", n: int):
    import cv2

    orb = cv2.ORB_create(nfeatures=n, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=31, fastThreshold=10)
    kps, desc = orb.detectAndCompute(grey, None)
    return kps or (), desc


def _spread(kps, desc, shape, n: int):
    """Up to ``n`` keypoints, strongest first within each grid cell, taken round-robin over the cells."""
    h, w = shape[:2]
    cells: dict[tuple[int, int], list[int]] = {}
    for i, k in enumerate(kps):
        x, y = k.pt
        cells.setdefault((min(GRID - 1, int(y * GRID / h)), min(GRID - 1, int(x * GRID / w))), []).append(i)
    for v in cells.values():
        v.sort(key=lambda i: -kps[i].response)
    order: list[int] = []
    depth = 0
    while len(order) < n and any(depth < len(v) for v in cells.values()):
        order.extend(v[depth] for v in cells.values() if depth < len(v))
        depth += 1
    return order[:n]


def describe(rgb: "np.ndarray") -> bytes:
    """The descriptor of an HxWx3 (or HxW) uint8 image, at most 9 + 36 x MAX_KEYPOINTS bytes (~7 KB)."""
    import numpy as np

    g = _grey(rgb)
    kps, desc = _orb(g, MAX_KEYPOINTS * 5)
    idx = _spread(kps, desc, g.shape, MAX_KEYPOINTS) if desc is not None else []
    pts = np.array([kps[i].pt for i in idx], dtype=np.float64).reshape(-1, 2)
    coords = np.clip(np.rint(pts * _COORD_SCALE), 0, 65535).astype("<u2")
    d = desc[idx] if idx else np.zeros((0, 32), np.uint8)
    return MAGIC + struct.pack("<HHH", g.shape[1], g.shape[0], len(idx)) + coords.tobytes() + d.tobytes()


def _parse(blob: bytes):
    import numpy as np

    if not blob or blob[:3] != MAGIC or len(blob) < 9:
        raise ValueError("not a content descriptor")
    _w, _h, n = struct.unpack("<HHH", blob[3:9])
    if len(blob) != 9 + 36 * n:
        raise ValueError("truncated content descriptor")
    coords = np.frombuffer(blob, "<u2", count=2 * n, offset=9).reshape(n, 2).astype(np.float32) / _COORD_SCALE
    desc = np.frombuffer(blob, np.uint8, count=32 * n, offset=9 + 4 * n).reshape(n, 32)
    return coords, desc


def _inliers(pts_s, desc_s, kps_q, desc_q) -> tuple[int, int]:
    import cv2
    import numpy as np

    if desc_q is None or len(kps_q) < 3:
        return 0, 0
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(desc_s, desc_q, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance <= MAX_HAMMING
            and p[0].distance < RATIO * p[1].distance]
    if len(good) < 4:
        return 0, len(good)
    src = np.float32([pts_s[m.queryIdx] for m in good])
    dst = np.float32([kps_q[m.trainIdx].pt for m in good])
    model, mask = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX,
                                       maxIters=2000, confidence=0.995)
    if model is None or mask is None:
        return 0, len(good)
    # a copy is a resize / crop / small rotation / aspect change of the original: a degenerate or wildly
    # scaled map is an accidental agreement
    sx, sy = np.hypot(model[0, 0], model[1, 0]), np.hypot(model[0, 1], model[1, 1])
    det = model[0, 0] * model[1, 1] - model[0, 1] * model[1, 0]
    if not (0.2 <= sx <= 5 and 0.2 <= sy <= 5 and det > 0 and 0.5 <= sx / sy <= 2):
        return 0, len(good)
    return int(mask.sum()), len(good)


def is_copy(descriptor: bytes | None, rgb: "np.ndarray") -> bool | None:
    """``watermarks[i].content_match``: True / False, or None without a (readable) stored descriptor."""
    if not descriptor:
        return None
    try:
        return compare(descriptor, rgb).match
    except ValueError:  # a damaged stored descriptor proves nothing either way
        import logging

        logging.getLogger(__name__).warning("unreadable content descriptor (%d bytes)", len(descriptor))
        return None


def compare(descriptor: bytes, rgb: "np.ndarray") -> ContentMatch:
    """Does ``rgb`` show (a derived copy of) the image ``descriptor`` was made from?"""
    pts_s, desc_s = _parse(descriptor)
    if len(desc_s) < MIN_STORED:
        return ContentMatch(None)
    g = _grey(rgb)
    kps, desc = _orb(g, QUERY_KEYPOINTS)
    inl, n = _inliers(pts_s, desc_s, kps, desc)
    if inl >= MIN_INLIERS:
        return ContentMatch(True, inl, n)
    kps_m, desc_m = _orb(g[:, ::-1].copy(), QUERY_KEYPOINTS)
    inl_m, n_m = _inliers(pts_s, desc_s, kps_m, desc_m)
    if inl_m >= MIN_INLIERS:
        return ContentMatch(True, inl_m, n_m, mirrored=True)
    return ContentMatch(False, max(inl, inl_m), max(n, n_m))
