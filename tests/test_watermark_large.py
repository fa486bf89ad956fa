"""Large images in verify: the default scheme reads a reduced JPEG decode; native-resolution marks are skipped."""
from __future__ import annotations

import numpy as np
from PIL import Image

from forensics.analysers import AnalysisContext, VerifyOptions
from forensics.media import Media
from forensics.provenance import watermark as wm
from forensics.provenance.watermark.analyser import WatermarkAnalyser


def _photo_like(w: int, h: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(3)
    small = rng.normal(128, 45, (h // 16, w // 16, 3)).clip(0, 255).astype(np.uint8)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(big + rng.normal(0, 3, big.shape), 0, 255).astype(np.uint8)


def test_large_jpeg_is_read_from_a_reduced_decode(tmp_path):
    rgb = _photo_like(3200, 2400)  # 7.7 MP, above the dwtDct marks' native limit
    marked = wm.embed(rgb, bytes.fromhex("a1b2c3d4e5f6"))
    path = tmp_path / "big.jpg"
    Image.fromarray(marked).save(path, quality=85)

    media = Media.open(path)
    reduced = media.rgb(max_side=1024)
    assert 768 <= max(reduced.shape[:2]) <= 1024
    assert media._image is None  # the full-resolution decode never happened

    finding = WatermarkAnalyser().analyse(media, AnalysisContext(options=VerifyOptions()))
    by_scheme = {d.scheme: d for d in finding.detections}
    assert by_scheme[wm.DEFAULT_SCHEME].detected
    assert by_scheme[wm.DEFAULT_SCHEME].payload == "a1b2c3d4e5f6"
    # SD / SDXL dwtDct marks only exist at native resolution in generator-sized files: not searched here
    for name, d in by_scheme.items():
        assert wm.get_scheme(name).native_max_pixels is None


def test_reduced_decode_matches_full_decode_closely(tmp_path):
    rgb = _photo_like(2400, 1800)
    path = tmp_path / "p.jpg"
    Image.fromarray(rgb).save(path, quality=90)
    fast = Media.open(path).rgb(max_side=600).astype(np.float32)
    m = Media.open(path)
    m.image()  # force the full decode first: rgb(max_side) then resizes the full image
    slow = m.rgb(max_side=600).astype(np.float32)
    assert fast.shape == slow.shape
    assert np.abs(fast - slow).mean() < 3.0
