"""The benchmark's attacks: what happens to images in the wild (issue #3 list), as data.

Every attack maps an HxWx3 uint8 RGB array to another (sizes may change). ``ATTACKS`` keeps the issue's
order; ``get_attacks("jpeg50,flip")`` selects some.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np

Attack = Callable[[np.ndarray], np.ndarray]


def _pil_roundtrip(rgb: np.ndarray, fmt: str, **kw) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt, **kw)  # PIL's JPEG default is 4:2:0 chroma subsampling
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def jpeg(q: int) -> Attack:
    return lambda a: _pil_roundtrip(a, "JPEG", quality=q)


def webp(q: int) -> Attack:
    return lambda a: _pil_roundtrip(a, "WEBP", quality=q)


def resize(s: float) -> Attack:
    def f(a):
        import cv2

        h, w = a.shape[:2]
        return cv2.resize(a, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return f


def crop(area: float, where: str = "corner") -> Attack:
    """Keep ``area`` of the pixels (same aspect), from the top-left corner or the centre."""
    def f(a):
        h, w = a.shape[:2]
        s = area ** 0.5
        ch, cw = max(1, round(h * s)), max(1, round(w * s))
        y0, x0 = ((h - ch) // 2, (w - cw) // 2) if where == "centre" else (0, 0)
        return np.ascontiguousarray(a[y0:y0 + ch, x0:x0 + cw])
    return f


def shift(px: int = 1) -> Attack:
    return lambda a: np.ascontiguousarray(a[px:, px:])


def rotate(deg: float) -> Attack:
    """Rotate about the centre, same canvas, black corners (what most editors do without auto-crop)."""
    def f(a):
        import cv2

        h, w = a.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
        return cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return f


def hflip(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a[:, ::-1])


def blur(sigma: float) -> Attack:
    def f(a):
        import cv2

        return cv2.GaussianBlur(a, (0, 0), sigma)
    return f


def noise(sigma: float, seed: int = 0) -> Attack:
    def f(a):
        rng = np.random.default_rng(seed + a.shape[0] * 7919 + a.shape[1])
        return np.clip(np.rint(a + rng.normal(0, sigma, a.shape)), 0, 255).astype(np.uint8)
    return f


def brightness(factor: float) -> Attack:
    return lambda a: np.clip(np.rint(a.astype(np.float32) * factor), 0, 255).astype(np.uint8)


def contrast(factor: float) -> Attack:
    def f(a):
        m = a.astype(np.float32).mean()
        return np.clip(np.rint((a.astype(np.float32) - m) * factor + m), 0, 255).astype(np.uint8)
    return f


def unsharp(sigma: float = 1.0, amount: float = 0.5) -> Attack:
    def f(a):
        import cv2

        b = cv2.GaussianBlur(a.astype(np.float32), (0, 0), sigma)
        return np.clip(np.rint(a + amount * (a - b)), 0, 255).astype(np.uint8)
    return f


def fit_long_side(px: int) -> Attack:
    """Downscale so the long side is at most ``px`` (what social platforms do on upload)."""
    def f(a):
        h, w = a.shape[:2]
        s = px / max(h, w)
        return resize(s)(a) if s < 1 else a
    return f


def grayscale(a: np.ndarray) -> np.ndarray:
    import cv2

    return np.repeat(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)


def hue_saturation(hue_deg: float = 20.0, sat: float = 1.3) -> Attack:
    def f(a):
        import cv2

        hsv = cv2.cvtColor(a, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + hue_deg * 256 / 360) % 256
        hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
        return cv2.cvtColor(np.rint(hsv).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    return f


def median(k: int = 3) -> Attack:
    def f(a):
        import cv2

        return cv2.medianBlur(np.ascontiguousarray(a), k)
    return f


def sticker(area: float = 0.2, seed: int = 0) -> Attack:
    """Cover ``area`` of the image with an opaque flat-colour rectangle (a sticker, an emoji, a caption box)."""
    def f(a):
        h, w = a.shape[:2]
        rng = np.random.default_rng(seed + h * 7919 + w)
        s = area ** 0.5
        sh, sw = max(1, round(h * s)), max(1, round(w * s))
        y0, x0 = int(rng.integers(0, h - sh + 1)), int(rng.integers(0, w - sw + 1))
        out = a.copy()
        out[y0:y0 + sh, x0:x0 + sw] = rng.integers(0, 256, 3, dtype=np.uint8)
        return out
    return f


def screenshot(scale: float = 0.8, border: float = 0.1) -> Attack:
    """The image shown at ``scale`` on a larger flat canvas (``border`` of the scaled size on every side)."""
    def f(a):
        b = resize(scale)(a)
        h, w = b.shape[:2]
        by, bx = max(1, round(h * border)), max(1, round(w * border))
        out = np.full((h + 2 * by, w + 2 * bx, 3), 240, np.uint8)
        out[by:by + h, bx:bx + w] = b
        return out
    return f


def aspect(factor: float) -> Attack:
    """Stretch the width by ``factor`` (height unchanged)."""
    def f(a):
        import cv2

        h, w = a.shape[:2]
        return cv2.resize(a, (max(1, round(w * factor)), h), interpolation=cv2.INTER_LINEAR)
    return f


def perspective(amount: float, seed: int = 0) -> Attack:
    """A perspective warp: the four corners of the source quadrilateral move by up to ``amount`` of the
    image size (seeded per image size), mapped back onto the full frame (a photographed or scanned print)."""
    def f(a):
        import cv2

        h, w = a.shape[:2]
        rng = np.random.default_rng(seed + h * 7919 + w)
        dst = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        inward = np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
        src = dst + inward * rng.uniform(0, amount, (4, 2)).astype(np.float32) * np.float32([w, h])
        m = cv2.getPerspectiveTransform(src, dst)
        return cv2.warpPerspective(a, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return f


def chain(*attacks: Attack) -> Attack:
    def f(a):
        for att in attacks:
            a = att(a)
        return a
    return f


ATTACKS: dict[str, Attack] = {
    "none": lambda a: a,
    "jpeg90": jpeg(90),
    "jpeg75": jpeg(75),
    "jpeg50": jpeg(50),
    "webp80": webp(80),
    "resize0.5": resize(0.5),
    "resize0.75": resize(0.75),
    "crop90-corner": crop(0.90, "corner"),
    "crop90-centre": crop(0.90, "centre"),
    "crop75-corner": crop(0.75, "corner"),
    "crop75-centre": crop(0.75, "centre"),
    "crop50-corner": crop(0.50, "corner"),
    "crop50-centre": crop(0.50, "centre"),
    "shift1": shift(1),
    "rotate2": rotate(2.0),
    "hflip": hflip,
    "blur1": blur(1.0),
    "noise5": noise(5.0),
    "bright+20": brightness(1.2),
    "bright-20": brightness(0.8),
    "contrast0.8": contrast(0.8),
    "jpeg75-resize0.7-crop80": chain(jpeg(75), resize(0.7), crop(0.80, "centre")),
}

# The real-world pipeline set (issue #16): harsher single edits, geometry and chains. Parameters as data:
# each entry is (attack factory, its arguments) so docs and the bench print exactly what ran.
PIPELINE_SPECS: dict[str, tuple[str, tuple]] = {
    "jpeg30": ("jpeg", (30,)),
    "webp50": ("webp", (50,)),
    "social": ("chain", (("fit_long_side", (640,)), ("unsharp", (1.0, 0.5)), ("jpeg", (70,)))),
    "grayscale": ("grayscale", ()),
    "hue20-sat1.3": ("hue_saturation", (20.0, 1.3)),
    "median3": ("median", (3,)),
    "sticker20": ("sticker", (0.20,)),
    "resize0.4": ("resize", (0.4,)),
    "screenshot0.8": ("screenshot", (0.8, 0.1)),
    "crop25-centre": ("crop", (0.25, "centre")),
    "rotate5": ("rotate", (5.0,)),
    "rotate-10": ("rotate", (-10.0,)),
    "rotate15": ("rotate", (15.0,)),
    "aspect1.1": ("aspect", (1.1,)),
    "aspect1.25": ("aspect", (1.25,)),
    "perspective2": ("perspective", (0.02,)),
    "perspective3": ("perspective", (0.03,)),
    "print-scan": ("chain", (("perspective", (0.03,)), ("blur", (1.0,)), ("noise", (3.0,)), ("jpeg", (85,)))),
    "crop70-resize0.6-jpeg60": ("chain", (("crop", (0.70, "centre")), ("resize", (0.6,)), ("jpeg", (60,)))),
}


def build(spec: tuple[str, tuple]) -> Attack:
    """An attack from its (factory name, arguments) spec; ``chain`` takes specs as arguments."""
    name, args = spec
    if name == "chain":
        return chain(*(build(s) for s in args))
    if name in ("grayscale", "hflip"):
        return globals()[name]
    return globals()[name](*args)


def describe(spec: tuple[str, tuple]) -> str:
    name, args = spec
    if name == "chain":
        return " → ".join(describe(s) for s in args)
    return f"{name}({', '.join(repr(a) for a in args)})" if args else name


PIPELINE: dict[str, Attack] = {k: build(v) for k, v in PIPELINE_SPECS.items()}
ATTACKS.update(PIPELINE)
# Named sets for ``--attacks``: the basic list (issue #3) and the real-world pipelines (issue #16).
ATTACK_SETS = {"basic": [k for k in ATTACKS if k not in PIPELINE], "pipeline": ["none", *PIPELINE]}

# Geometric attacks the issue holds to a lower target (TPR >= 0.90 instead of 0.95).
LOWER_TARGET = {"rotate2", "hflip"}


def get_attacks(names: str | list[str] | None = None) -> dict[str, Attack]:
    if names is None:
        return dict(ATTACKS)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = [m for n in names for m in ATTACK_SETS.get(n, [n])]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        from ...errors import WatermarkError

        raise WatermarkError(f"unknown attack(s) {', '.join(unknown)}; known: {', '.join(ATTACKS)}")
    return {n: ATTACKS[n] for n in names}
