"""Pre-computed training regions: one region per real photo plus one fake per builder, cached as .npz.

Each real photo gives a ``region``×``region`` crop (taken, with probability ``downscale_p``, from a copy
downscaled by 0.5–0.9 so that not every real carries its camera JPEG grid) and, for each builder, a fake made *from that
same crop*. Real and fake regions share the photo's group, so splits stay leak-free and every training
batch can pair a real patch with its own fakes at the same position. A share ``fake_prejpeg_p`` of the fakes
is JPEG-compressed once before caching so that "compressed twice" is not a shortcut for "real" (most
training reals are camera JPEGs).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..datasets.augment import jpeg, random_crop, resize
from ..datasets.builders import read_rgb

log = logging.getLogger(__name__)


def build_region_cache(samples, builders, region: int = 256, seed: int = 0, *, downscale_p: float = 0.5,
                       fake_prejpeg_p: float = 0.3, prejpeg_quality: tuple[int, int] = (85, 98),
                       progress=None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    reals, groups, fakes = [], [], {b.source: [] for b in builders}
    for i, s in enumerate(samples):
        try:
            rgb = read_rgb(s.path)
        except Exception as exc:  # unreadable training file: skip it, say so
            log.warning("skipping %s: %s", s.path, exc)
            continue
        # small photos (BSDS500: 321 px) too: a 0.8x resample is enough to break the camera JPEG grid
        if rng.random() < downscale_p and min(rgb.shape[:2]) * 0.9 >= region:
            rgb = resize(rgb, float(rng.uniform(max(0.5, region / min(rgb.shape[:2])), 0.9)))
        crop = random_crop(rgb, region, rng)
        reals.append(crop)
        groups.append(s.group)
        for b in builders:
            f = b(crop, rng)
            if f.shape != crop.shape:  # builders may trim to a multiple of 8; pad back by reflection
                f = np.pad(f, ((0, region - f.shape[0]), (0, region - f.shape[1]), (0, 0)), mode="reflect")
            if rng.random() < fake_prejpeg_p:
                f = jpeg(f, int(rng.integers(prejpeg_quality[0], prejpeg_quality[1] + 1)))
            fakes[b.source].append(f)
        if progress:
            progress(i + 1, len(samples))
    out = {"real": np.stack(reals), "groups": np.array(groups)}
    for k, v in fakes.items():
        out[f"fake:{k}"] = np.stack(v)
    return out


def save_cache(cache: dict[str, np.ndarray], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **cache)


def load_cache(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
