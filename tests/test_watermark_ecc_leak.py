"""bchlib 2.1.3's BCH.decode keeps a reference to every argument buffer: decoding must reuse buffers so a
long-lived verifier (audit worker, service) does not grow with every image."""
from __future__ import annotations

import tracemalloc

import numpy as np

from forensics.provenance.watermark.ecc import BCHCode


def test_decode_does_not_leak_buffers():
    code = BCHCode(data_bytes=7, t=16)
    rng = np.random.default_rng(0)
    words = [rng.integers(0, 2, code.n_bits).astype(np.uint8) for _ in range(50)]
    for w in words:  # warm-up: per-thread buffers, caches
        code.decode(w)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(100):
        for w in words:
            code.decode(w)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes retained over 5000 decodes"


def test_decode_still_corrects_errors():
    code = BCHCode(data_bytes=7, t=16)
    word = code.encode(b"payload")
    noisy = word.copy()
    noisy[[0, 5, 17, 40, 99]] ^= 1
    assert code.decode(noisy) == (b"payload", 5)
