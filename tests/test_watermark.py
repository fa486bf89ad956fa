"""Watermark API, default scheme robustness, calibration, pixel formats, compat schemes and third-party marks."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTO_FIXTURES, PHOTOS, photo as photo_fixture, require, textured_rgb

from forensics.errors import WatermarkError
from forensics.provenance import watermark as wm
from forensics.provenance.watermark import attacks as A
from forensics.provenance.watermark.ecc import BCHCode, binomial_tail_ge, false_positive_probability

PAYLOAD = bytes.fromhex("0123456789ab")


def _photo(name: str) -> np.ndarray:
    """A vendored real photo (tests/fixtures/photos), 481x321 like the BSDS500 images of the benchmark."""
    return np.asarray(Image.open(photo_fixture(name)).convert("RGB"))


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return _photo("nature_2-481x321.jpg")


@pytest.fixture(scope="module")
def marked(photo) -> np.ndarray:
    return wm.embed(photo, PAYLOAD)


def _found(image, payload=PAYLOAD):
    d = wm.detect(image, schemes=[wm.DEFAULT_SCHEME])[0]
    return d.detected and d.payload == payload.hex(), d


# --- public API ------------------------------------------------------------------------------

def test_public_api_shape():
    assert wm.DEFAULT_SCHEME == "fsw-v2" and wm.SOFT_BINDING_SCHEMES == ("fsw-v2", "fsw-v1")
    assert wm.PAYLOAD_BYTES >= 6
    assert wm.DEFAULT_SCHEME in wm.list_schemes()
    assert {"dwtDct", "dwtDctSvd", "rivaGan", "sd-dwtDct", "sdxl-dwtDct"} <= set(wm.list_schemes())
    assert "rivaGan" not in wm.default_detect_schemes()  # seconds per image: only when named


def test_roundtrip_numpy_same_type_and_quality(photo, marked):
    assert marked.shape == photo.shape and marked.dtype == np.uint8
    mse = np.mean((marked.astype(float) - photo) ** 2)
    assert 10 * math.log10(255 ** 2 / mse) >= 40.0
    ok, d = _found(marked)
    assert ok
    assert d.bits_total == d.bits_matched and d.false_positive_probability < 1e-20
    assert d.implies_ai is False and d.manifest_id is None


def test_hex_payload_and_errors(photo):
    out = wm.embed(photo, PAYLOAD.hex())
    assert _found(out)[0]
    with pytest.raises(WatermarkError, match="6 payload bytes"):
        wm.embed(photo, b"\x01\x02")
    with pytest.raises(WatermarkError, match="hex"):
        wm.embed(photo, "not hex!")
    with pytest.raises(WatermarkError, match="unknown watermark scheme"):
        wm.embed(photo, PAYLOAD, scheme="nope")
    with pytest.raises(WatermarkError, match="detect-only"):
        wm.embed(photo, PAYLOAD, scheme="sdxl-dwtDct")
    with pytest.raises(WatermarkError):
        wm.embed("a path is not an image", PAYLOAD)
    with pytest.raises(WatermarkError, match="uint8"):
        wm.embed(photo.astype(np.float32), PAYLOAD)


def test_unmarked_not_detected(photo):
    d = wm.detect(photo)
    assert [x.scheme for x in d] == wm.default_detect_schemes()
    assert not any(x.detected for x in d)
    assert d[0].payload is None


def test_other_payload_is_not_reported(photo):
    out = wm.embed(photo, bytes.fromhex("fedcba987654"))
    ok, d = _found(out)
    assert not ok and d.detected and d.payload == "fedcba987654"


# --- robustness (the default scheme) --------------------------------------------------------

@pytest.mark.parametrize("attack", ["jpeg50", "webp80", "crop50-corner", "hflip", "rotate2", "blur1",
                                    "bright-20", "jpeg75-resize0.7-crop80"])
def test_survives_attacks(marked, attack):
    ok, d = _found(A.ATTACKS[attack](marked))
    assert ok, f"lost after {attack}: {d}"


def test_survives_resize_of_large_image():
    img = textured_rgb(1024, 1024, seed=3)
    out = wm.embed(img, PAYLOAD)
    assert _found(A.ATTACKS["resize0.5"](out))[0]
    assert _found(A.ATTACKS["crop75-centre"](out))[0]


# --- pixel formats ----------------------------------------------------------------------------

def test_pil_modes_roundtrip(photo):
    rgb = Image.fromarray(photo)
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    out = wm.embed(rgba, PAYLOAD)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out)[..., 3], np.asarray(rgba)[..., 3])  # alpha kept
    assert _found(out)[0]

    gray = rgb.convert("L")
    out = wm.embed(gray, PAYLOAD)
    assert out.mode == "L" and _found(out)[0]
    out_np = wm.embed(np.asarray(gray), PAYLOAD)
    assert out_np.ndim == 2 and _found(out_np)[0]

    g16 = Image.fromarray((np.asarray(gray).astype(np.uint16) * 257))
    assert g16.mode in ("I;16", "I")
    out = wm.embed(g16, PAYLOAD)
    assert out.mode == g16.mode
    arr = np.asarray(out).astype(np.int64)
    assert arr.max() > 255  # still 16-bit
    assert _found(out)[0]

    cmyk = rgb.convert("CMYK")
    out = wm.embed(cmyk, PAYLOAD)
    assert out.mode == "CMYK" and _found(out)[0]


def test_unsupported_modes_say_why(photo):
    with pytest.raises(WatermarkError, match="palette"):
        wm.embed(Image.fromarray(photo).convert("P"), PAYLOAD)
    with pytest.raises(WatermarkError, match="grayscale"):
        wm.embed(np.asarray(Image.fromarray(photo).convert("L")), bytes(6), scheme="dwtDct")
    with pytest.raises(WatermarkError, match="at least"):
        wm.embed(np.zeros((40, 300, 3), np.uint8), PAYLOAD)


def test_small_image(photo):
    small = np.ascontiguousarray(photo[:128, :200])
    out = wm.embed(small, PAYLOAD)
    assert _found(out)[0]
    assert not wm.detect(np.zeros((20, 20, 3), np.uint8))[0].detected  # too small: no crash, no detection


# --- calibration ----------------------------------------------------------------------------

def test_bch_roundtrip_and_fp_formula():
    code = BCHCode(data_bytes=7, t=16)
    rng = np.random.default_rng(0)
    data = bytes(rng.integers(0, 256, 7).tolist())
    bits = code.encode(data)
    assert bits.size == code.n_bits
    flip = rng.choice(code.n_bits, 16, replace=False)
    bad = bits.copy()
    bad[flip] ^= 1
    assert code.decode(bad) == (data, 16)
    # random words essentially never decode (the probability behind the false-positive figure)
    assert sum(code.decode(rng.integers(0, 2, code.n_bits).astype(np.uint8)) is not None for _ in range(300)) == 0
    p0 = false_positive_probability(code.n_bits, 48, 0)
    assert p0 == pytest.approx(2.0 ** -(code.n_bits - 48))
    assert false_positive_probability(code.n_bits, 48, 16, hypotheses=8) < 1e-12
    assert binomial_tail_ge(48, 48) == pytest.approx(2.0 ** -48)
    assert binomial_tail_ge(48, 24) > 0.5


def test_osd_decodes_beyond_bch_and_chase():
    """26 errors (BCH corrects 16; Chase's 8 weakest bits here are all correct): ordered-statistics
    decoding still finds the codeword, and reports the true distance."""
    from forensics.provenance.watermark.ecc import osd_decode

    code = BCHCode(data_bytes=7, t=16)
    rng = np.random.default_rng(4)
    data = bytes([0x20]) + bytes(rng.integers(0, 256, 6).tolist())
    bits = code.encode(data)
    soft = np.where(bits > 0, 1.0, -1.0) * rng.uniform(0.8, 1.5, code.n_bits)
    pos = rng.permutation(code.n_bits)
    wrong, weak = pos[:26], pos[26:34]
    soft[wrong] *= -rng.uniform(0.2, 0.5, 26)
    soft[weak] *= 0.05
    hard = (soft > 0).astype(np.uint8)
    assert code.decode(hard) is None
    assert osd_decode(code, 0x20, soft) == (data, 26)
    assert osd_decode(code, 0x10, soft)[0][0] == 0x10  # the header is fixed, whatever is read
    # random soft bits: the nearest codeword is far (a random word's nearest one is ~50 bits away)
    far = [osd_decode(code, 0x10, rng.normal(size=code.n_bits))[1] for _ in range(20)]
    assert min(far) > 35


def test_fpr_threshold_is_applied(marked):
    d = wm.detect(marked, schemes=[wm.DEFAULT_SCHEME], fpr=1e-60)[0]
    assert not d.detected and d.false_positive_probability > 1e-60
    with pytest.raises(WatermarkError):
        wm.detect(marked, fpr=0)


def test_no_false_positives_on_vendored_photos_and_textures():
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(PHOTO_FIXTURES.glob("*.*"))]
    images += [textured_rgb(321, 481, seed=s) for s in range(6)]
    for i, rgb in enumerate(images):
        hits = [d.scheme for d in wm.detect(rgb) if d.detected]
        assert not hits, f"false positive {hits} on image {i}"


@pytest.mark.slow
@pytest.mark.shared_data  # the benchmark-sized check over ../shared photos (run with --shared-data)
def test_no_false_positives_on_unmarked_photos():
    files = sorted(p for p in require(PHOTOS).rglob("*") if p.suffix.lower() in (".jpg", ".png"))[::12]
    assert len(files) >= 40
    for p in files:
        rgb = np.asarray(Image.open(p).convert("RGB"))
        hits = [d.scheme for d in wm.detect(rgb) if d.detected]
        assert not hits, f"false positive {hits} on {p}"


# --- compat schemes and third-party marks ---------------------------------------------------

def test_vectorised_dwtdct_matches_invisible_watermark():
    from forensics.provenance.watermark import compat

    photo = textured_rgb(321, 481, seed=1)

    bits = np.unpackbits(np.frombuffer(PAYLOAD, np.uint8))
    enc = compat._imwm_module("maxDct").EmbedMaxDct(list(bits), wmLen=48, scales=[0, 36, 0])
    bgr = enc.encode(np.ascontiguousarray(photo[..., ::-1]))
    ref = np.asarray(enc.decode(bgr), dtype=bool)  # the library's own (slow) decoder
    ours = compat.dwtdct_bits(np.ascontiguousarray(bgr[..., ::-1]), 48) * 255 > 127
    assert np.array_equal(ref, ours)


def test_dwtdctsvd_verification_mode():
    img = _photo("people_1-481x321.jpg")
    out = wm.embed(img, PAYLOAD, scheme="dwtDctSvd")
    blind = wm.detect(out, schemes=["dwtDctSvd"])[0]
    assert not blind.detected and blind.payload == PAYLOAD.hex()  # raw read, not calibrated
    d = wm.detect(out, schemes=["dwtDctSvd"], expected=PAYLOAD)[0]
    assert d.detected and d.bits_matched == 48 and d.false_positive_probability == pytest.approx(2.0 ** -48)
    other = wm.detect(img, schemes=["dwtDctSvd"], expected=PAYLOAD)[0]
    assert not other.detected


@pytest.mark.parametrize("mark, source", [("sdxl-dwtDct", "SDXL / diffusers"),
                                          ("sd-dwtDct", "Stable Diffusion reference scripts")])
def test_third_party_marks(mark, source):
    img = _photo("people_1-481x321.jpg")
    s = wm.get_scheme(mark)
    out = s.embed_reference(img)  # exactly what the generator's watermarker does (uint8)
    d = {x.scheme: x for x in wm.detect(out)}[mark]
    assert d.detected and d.implies_ai and d.source == source
    assert d.false_positive_probability < 1e-6
    assert not {x.scheme: x for x in wm.detect(img)}[mark].detected


def test_detect_path_does_not_import_torch(tmp_path):
    import subprocess

    code = ("import sys, numpy as np\n"
            "from forensics.provenance import watermark as wm\n"
            "img = (np.random.default_rng(0).random((300, 300, 3)) * 255).astype(np.uint8)\n"
            "wm.detect(wm.embed(img, bytes(6)))\n"
            "wm.detect(img)\n"  # unmarked: the full search (lattice + scale search) runs
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            # scipy costs ~0.35 s to import: too much for a cold verify (the search uses numpy's FFT)
            "assert 'scipy' not in sys.modules, 'scipy imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


def test_batched_sync_score_equals_per_fold_alignment():
    # the scale search ranks ~45 folds with one batched FFT; it must score exactly like _align does
    fsw = wm.get_scheme("fsw-v1")
    rng = np.random.default_rng(3)
    folds = rng.standard_normal((6, 64, 64)).astype(np.float32) * 3 + 0.5
    folds[2] += 4 * fsw.layout["sync_px"]  # one fold that carries the sync pattern (shifted below)
    folds[4] += 4 * np.roll(np.rot90(fsw.layout["sync_px"]), (7, 19), axis=(0, 1))
    batched = fsw._sync_z(folds)
    single = np.array([fsw._align(f.astype(np.float64), top=1)[0][0] for f in folds])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-4)
    assert batched[2] > 10 and batched[4] > 10 and np.delete(batched, [2, 4]).max() < 6
