"""fsw-v2: round trips through the real-world pipelines (issue #16), no false positives, v1 still read,
the union bound over the hypotheses searched, the attack set as data, and the TAESD loader."""
from __future__ import annotations

import math

import numpy as np
import pytest

from forensics.provenance import watermark as wm
from forensics.provenance.watermark import attacks as A
from forensics.provenance.watermark.ecc import false_positive_probability

PAYLOAD = bytes.fromhex("0123456789ab")


def textured(w: int = 480, h: int = 320, seed: int = 0) -> np.ndarray:
    """A photo-like synthetic image: texture at three scales, a gradient and stripes."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for sigma, amp in ((24, 50), (6, 20), (1.5, 8)):
        n = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 3)).astype(np.float32), (0, 0), sigma)
        img += amp * n / n.std()
    yy, xx = np.mgrid[0:h, 0:w]
    img += (60 * (xx / w) + 30 * np.sin(yy / 17.0))[..., None]
    return np.clip(img + 100, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def host() -> np.ndarray:
    return textured()


@pytest.fixture(scope="module")
def marked(host) -> np.ndarray:
    return wm.embed(host, PAYLOAD, scheme="fsw-v2")


def _found(image, scheme="fsw-v2", **kw):
    d = wm.detect(image, schemes=[scheme], **kw)[0]
    return d.detected and d.payload == PAYLOAD.hex(), d


def test_v2_registered_beside_v1_and_detected_by_default():
    assert {"fsw-v1", "fsw-v2"} <= set(wm.list_schemes(embeddable=True))
    assert {"fsw-v1", "fsw-v2"} <= set(wm.default_detect_schemes())
    s = wm.get_scheme("fsw-v2")
    assert s.payload_bytes == wm.PAYLOAD_BYTES and s.code.n_bits == wm.get_scheme("fsw-v1").code.n_bits


def test_v2_quality_and_clean_roundtrip(host, marked):
    mse = np.mean((marked.astype(float) - host) ** 2)
    assert 10 * math.log10(255 ** 2 / mse) >= 40.0
    ok, d = _found(marked)
    assert ok and d.bits_matched == d.bits_total


@pytest.mark.parametrize("attack", ["rotate-10", "rotate15", "aspect1.25", "perspective2", "print-scan",
                                    "crop70-resize0.6-jpeg60", "resize0.4", "jpeg30"])
def test_v2_survives_pipeline(marked, attack):
    ok, d = _found(A.ATTACKS[attack](marked))
    assert ok, (attack, d)
    assert d.false_positive_probability < 1e-6


def test_v2_aspect_1_2(marked):
    assert _found(A.aspect(1.2)(marked))[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_unmarked_synthetic_and_noise_not_detected(seed):
    rng = np.random.default_rng(seed)
    for img in (textured(seed=seed), rng.integers(0, 256, (300, 420, 3), dtype=np.uint8),
                A.rotate(10.0)(textured(seed=seed + 10))):
        assert not any(d.detected for d in wm.detect(img, schemes=["fsw-v1", "fsw-v2"]))


def test_v1_marks_still_resolve_and_versions_do_not_cross(host):
    v1 = wm.embed(host, PAYLOAD, scheme="fsw-v1")
    found = {d.scheme: d for d in wm.detect(A.ATTACKS["jpeg75"](v1))}
    assert found["fsw-v1"].detected and found["fsw-v1"].payload == PAYLOAD.hex()
    assert not found["fsw-v2"].detected
    v2 = wm.embed(host, PAYLOAD, scheme="fsw-v2")
    found = {d.scheme: d for d in wm.detect(v2)}
    assert found["fsw-v2"].detected and not found["fsw-v1"].detected


def test_more_hypotheses_raise_the_reported_probability(marked):
    s = wm.get_scheme("fsw-v2")
    h, w = marked.shape[:2]
    assert s.hypotheses(w, h, search_geometry=False) < s.hypotheses(w, h, search_geometry=True)
    quick = wm.detect(marked, schemes=["fsw-v2"], search_geometry=False)[0]
    full = wm.detect(marked, schemes=["fsw-v2"], search_geometry=True)[0]
    assert quick.detected and full.detected and quick.bits_matched == full.bits_matched
    assert full.false_positive_probability > quick.false_positive_probability
    n = s.code.n_bits
    # H is the decode budget of the mode, wherever the decode happened (abs=0: these numbers are tiny)
    assert full.false_positive_probability == pytest.approx(false_positive_probability(
        n, 48, n - full.bits_matched, hypotheses=s.hypotheses(w, h, True)), rel=1e-9, abs=0)
    # v1 takes the same switch
    v1 = wm.embed(textured(seed=5), PAYLOAD, scheme="fsw-v1")
    q1, f1 = (wm.detect(v1, schemes=["fsw-v1"], search_geometry=g)[0] for g in (False, True))
    assert q1.detected and f1.detected and f1.false_positive_probability > q1.false_positive_probability


def test_decodes_never_exceed_the_union_bounds_budget(monkeypatch):
    """H counts the decodes the detector may make; the full search (which runs entirely on an unmarked
    image, and through its refinements on a rotated one) must never make more than that."""
    s = wm.get_scheme("fsw-v2")
    calls = []
    real = type(s)._try_decode

    def counting(self, score, aligned, best, hypotheses):
        calls.append(hypotheses)
        return real(self, score, aligned, best, hypotheses)

    monkeypatch.setattr(type(s), "_try_decode", counting)
    for img in (textured(480, 320, seed=11), textured(240, 160, seed=12),
                A.rotate(9.0)(wm.embed(textured(480, 320, seed=13), PAYLOAD, scheme="fsw-v2"))):
        for geo in (True, False):
            calls.clear()
            d = wm.detect(img, schemes=["fsw-v2"], search_geometry=geo)[0]
            h, w = img.shape[:2]
            budget = s.hypotheses(w, h, geo)
            assert 0 < len(calls) <= budget and set(calls) == {budget}
            if d.detected:
                assert d.false_positive_probability == pytest.approx(false_positive_probability(
                    s.code.n_bits, 48, s.code.n_bits - d.bits_matched, hypotheses=budget), rel=1e-9, abs=0)
    assert s.hypotheses(480, 320, False) == 2 * len(s._passes(480, 320))
    assert s.hypotheses(240, 160, True) == 2 * s.hypotheses(480, 320, True)  # two passes below 256 px


def test_osd_reaches_marks_chase_could_not():
    """Resize 0.35 → JPEG 50 of a 640×480 mark: read at distance 24 on the nominal lattice, beyond what
    BCH + Chase found (the old decoder returned nothing); a crop → resize → JPEG chain for v1."""
    v2 = wm.embed(textured(640, 480, seed=0), PAYLOAD, scheme="fsw-v2")
    ok, d = _found(A.chain(A.resize(0.35), A.jpeg(50))(v2))
    assert ok and d.bits_total - d.bits_matched > 16, d
    v1 = wm.embed(textured(640, 480, seed=3), PAYLOAD, scheme="fsw-v1")
    ok, d = _found(A.chain(A.crop(0.5, "centre"), A.resize(0.5), A.jpeg(50))(v1), scheme="fsw-v1")
    assert ok and d.bits_total - d.bits_matched > 16, d


def test_quick_mode_searches_no_geometry(marked):
    rotated = A.ATTACKS["rotate-10"](marked)
    assert not wm.detect(rotated, schemes=["fsw-v2"], search_geometry=False)[0].detected
    assert _found(rotated)[0]
    assert _found(A.ATTACKS["jpeg50"](marked), search_geometry=False)[0]  # whole-image edits still found


def test_pipeline_attacks_are_data():
    assert set(A.PIPELINE) == set(A.PIPELINE_SPECS) and set(A.PIPELINE) <= set(A.ATTACKS)
    assert A.describe(A.PIPELINE_SPECS["print-scan"]) == \
        "perspective(0.03) → blur(1.0) → noise(3.0) → jpeg(85)"
    assert list(A.get_attacks("pipeline"))[0] == "none"
    img = textured(200, 160)
    for name, att in A.PIPELINE.items():
        out = att(img)
        assert out.dtype == np.uint8 and out.ndim == 3, name
    assert A.ATTACKS["screenshot0.8"](img).shape == (128 + 2 * 13, 160 + 2 * 16, 3)  # 0.8×, 10 % borders


def test_regeneration_uses_the_detector_autoencoders(tmp_path):
    """regen builds its TAESD models with datasets.builders (FLUX.2's taef2 included) and keeps the size."""
    torch = pytest.importorskip("torch")
    from forensics.datasets import builders
    from forensics.provenance.watermark import regen

    assert "taef2" in regen.AUTOENCODERS and not hasattr(regen, "_build")
    make_enc, make_dec = builders._taesd_modules()
    for gn in (False, True):
        d = tmp_path / f"gn{int(gn)}"
        d.mkdir()
        torch.save(make_enc(16, gn).state_dict(), d / "taef2_encoder.pth")
        torch.save(make_dec(16, gn).state_dict(), d / "taef2_decoder.pth")
        attacks = regen.regeneration_attacks(d)
        assert list(attacks) == ["regen-taef2"]
        out = attacks["regen-taef2"](textured(61, 43))
        assert out.shape == (43, 61, 3) and out.dtype == np.uint8
    with pytest.raises(wm.WatermarkError):
        regen.regeneration_attacks(tmp_path / "gn0" / "nothing-here")


def test_verify_reads_one_fsw_version_newest_first(tmp_path, host, monkeypatch):
    from PIL import Image

    from forensics.analysers import AnalysisContext, VerifyOptions
    from forensics.media import Media
    from forensics.provenance.watermark.analyser import WatermarkAnalyser
    from forensics.provenance.watermark.fsw2 import FSW2Scheme

    from forensics.provenance.watermark.fsw import FSWScheme

    sweeps, scale_searches = [], []
    real_sweep, real_scale = FSW2Scheme._sweep, FSWScheme._scale_search
    monkeypatch.setattr(FSW2Scheme, "_sweep", lambda self, r, top=4: sweeps.append(1) or real_sweep(self, r, top))
    monkeypatch.setattr(FSWScheme, "_scale_search", lambda self, r, top=3, pmax=None: scale_searches.append(
        (self.name, pmax)) or real_scale(self, r, top, pmax))

    def analyse(img, **kw):
        path = tmp_path / "x.png"
        Image.fromarray(img).save(path)
        ctx = AnalysisContext(options=VerifyOptions(**kw))
        return {d.scheme: d for d in WatermarkAnalyser().analyse(Media.open(path), ctx).detections}

    assert wm.DEFAULT_SCHEME == "fsw-v2" and wm.default_detect_schemes()[:2] == ["fsw-v2", "fsw-v1"]
    v2 = analyse(wm.embed(host, PAYLOAD))
    assert v2["fsw-v2"].payload == PAYLOAD.hex() and "fsw-v1" not in v2  # v2 read: v1 not searched
    v1 = analyse(wm.embed(host, PAYLOAD, scheme="fsw-v1"))  # a mark issued before v2: still read
    assert not v1["fsw-v2"].detected and v1["fsw-v1"].payload == PAYLOAD.hex()
    # a crop is found by the cheap search verify runs; the costly sweep never ran so far
    crop = analyse(A.ATTACKS["crop50-corner"](wm.embed(host, PAYLOAD)))
    assert crop["fsw-v2"].payload == PAYLOAD.hex() and not sweeps
    analyse(A.ATTACKS["rotate15"](wm.embed(host, PAYLOAD)))
    scale_searches.clear()
    assert not analyse(host)["fsw-v2"].detected and not sweeps
    # on an unmarked image verify's cheap searches: v2's scale search up to v1's longest period, v1 nominal
    assert set(scale_searches) == {("fsw-v2", 1.75)}
    assert wm.detect(host, ["fsw-v1"], exhaustive=False)[0].false_positive_probability is None
    v1_crop = A.ATTACKS["crop50-corner"](wm.embed(host, PAYLOAD, scheme="fsw-v1"))
    assert not wm.detect(v1_crop, ["fsw-v1"], exhaustive=False)[0].detected  # nominal only
    assert analyse(v1_crop, watermark_full_search=True)["fsw-v1"].payload == PAYLOAD.hex()
    # asked (verify --watermark-search): on an unmarked image the whole search runs, sweep included
    assert not analyse(host, watermark_full_search=True)["fsw-v2"].detected and sweeps
    # the quick profile searches nothing, even when asked
    sweeps.clear()
    analyse(host, watermark_full_search=True, watermark_geometry_search=False)
    assert not sweeps