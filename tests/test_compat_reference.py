"""The base install's own dwtDct / dwtDctSvd and pHash give exactly what invisible-watermark and imagehash give.

Marks already in the wild were made with invisible-watermark, and manifest repositories already store
imagehash's pHash, so these are equality tests (pixels, bits, hash strings), run against the libraries
themselves (both are in the ``test`` extra).
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from forensics.provenance.watermark import compat, dwtdct

pywt = pytest.importorskip("pywt")  # noqa: F841 (invisible-watermark needs it; it is in the test extra)
imagehash = pytest.importorskip("imagehash")


def _picture(seed: int, h: int, w: int) -> np.ndarray:
    """A photo-like RGB image: smooth gradients, shapes, texture, noise, a flat patch and saturated corners."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + seed) * 90 + 128, np.cos(5 * yy - seed) * 80 + 120,
                     (xx + yy) * 100 + 20], axis=-1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        d.ellipse([x0, y0, x0 + int(rng.integers(4, max(5, w // 3))), y0 + int(rng.integers(4, max(5, h // 3)))],
                  fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2))))
    a = np.asarray(img).astype(np.int16) + rng.normal(0, float(rng.uniform(0, 12)), (h, w, 3)).astype(np.int16)
    a = np.clip(a, 0, 255).astype(np.uint8)
    a[: h // 6, : w // 6] = rng.integers(0, 256, 3)  # flat: ties between coefficients
    a[-8:, -8:] = 255  # saturated: the uint8 write-back truncates/wraps there
    a[-8:, :8] = 0
    return a


def _jpeg(rgb: np.ndarray, q: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


SIZES = [(256, 256), (300, 420), (517, 389), (640, 480), (1024, 768)]
IMAGES = [(seed, *SIZES[seed % len(SIZES)]) for seed in range(8)]


@pytest.fixture(scope="module")
def ref():
    return compat._imwm_module("maxDct"), compat._imwm_module("dwtDctSvd")


def test_haar_matches_pywavelets():
    rng = np.random.default_rng(0)
    for shape in [(8, 8), (64, 48), (130, 254)]:
        x = rng.integers(0, 256, shape).astype(np.uint8)
        ca, (ch, cv, cd) = pywt.dwt2(x, "haar")
        ours = dwtdct.haar_dwt2(x)
        for a, b in zip((ca, ch, cv, cd), (ours[0], *ours[1])):
            assert np.array_equal(a, b)
        assert np.array_equal(dwtdct.haar_ll(x), ca)
        coeffs = (ca + rng.normal(0, 5, ca.shape), (cv, ch, cd))
        assert np.array_equal(pywt.idwt2(coeffs, "haar"), dwtdct.haar_idwt2(*coeffs))


@pytest.mark.parametrize("seed, h, w", IMAGES)
@pytest.mark.parametrize("scheme", ["maxDct", "dwtDctSvd"])
def test_embed_and_decode_equal_invisible_watermark(ref, scheme, seed, h, w):
    rng = np.random.default_rng(100 + seed)
    bits = rng.integers(0, 2, 48 if seed % 2 else 32).astype(np.uint8)
    bgr = np.ascontiguousarray(_picture(seed, h, w)[..., ::-1])
    scale = [36.0, 36.0, 24.0, 48.0][seed % 4]
    if scheme == "maxDct":
        lib = ref[0].EmbedMaxDct(list(bits), wmLen=len(bits), scales=[0, scale, 0])
        encode, scores = dwtdct.max_dct_encode, dwtdct.max_dct_scores
    else:
        lib = ref[1].EmbedDwtDctSvd(list(bits), wmLen=len(bits), scales=[0, scale, 0])
        encode, scores = dwtdct.dct_svd_encode, dwtdct.dct_svd_scores

    def ours_decode(img):
        return dwtdct.to_bits(dwtdct.vote(scores(img, scale), len(bits)))

    lib_marked = lib.encode(bgr.copy())
    our_marked = encode(bgr.copy(), bits, scale)
    assert np.array_equal(lib_marked, our_marked)  # same pixels
    jpeg = np.ascontiguousarray(_jpeg(lib_marked[..., ::-1], 90)[..., ::-1])
    for img in (lib_marked, jpeg, bgr):  # marked, degraded, unmarked: we read what the library reads
        assert np.array_equal(ours_decode(img), np.asarray(lib.decode(img), bool))


def test_known_marks_read_the_library_mark(ref):
    rgb = _picture(3, 512, 512)
    for mark in (compat.sd_mark(), compat.sdxl_mark()):
        lib = ref[0].EmbedMaxDct(list(mark.message_bits), wmLen=mark.message_bits.size, scales=[0, 36, 0])
        marked = np.ascontiguousarray(lib.encode(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1])
        assert np.array_equal(mark.embed_reference(rgb), marked)
        d = mark.detect_rgb(marked)
        lib_bits = np.asarray(lib.decode(np.ascontiguousarray(marked[..., ::-1])), np.uint8)
        assert d.detected and d.bits_matched == int((lib_bits == mark.message_bits).sum())
        assert not mark.detect_rgb(rgb).detected


def test_phash_equals_imagehash():
    from forensics.provenance.phash import phash
    from forensics.provenance.repository import fingerprint

    rng = np.random.default_rng(7)
    checked = 0
    for seed in range(160):
        h, w = (int(v) for v in rng.integers(24, 420, 2))
        rgb = _picture(seed, h, w)
        img = Image.fromarray(rgb)
        for variant in (img, img.convert("L"), img.convert("P"), img.convert("RGBA"), img.rotate(seed)):
            assert phash(variant) == str(imagehash.phash(variant)), (seed, variant.mode)
            checked += 1
        assert fingerprint(rgb) == str(imagehash.phash(img))  # what the repository stores (≤ 512 px: as is)
    assert checked == 800
