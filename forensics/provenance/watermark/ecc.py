"""Error correction for watermark payloads: a thin wrapper over ``bchlib`` (binary BCH codes).

A BCH code with ``t`` correctable errors also gives the watermark its false-positive statistics: a
random bit string (what an unmarked image yields) decodes to *some* codeword with ``e`` corrections with
probability ``sum_{i<=e} C(n, i) / 2^(n - k)`` (the fraction of the space covered by the Hamming balls of
radius ``e`` around the ``2^k`` codewords). :func:`false_positive_probability` computes that tail.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@lru_cache(maxsize=None)
def _bch(t: int, m: int):
    import bchlib

    return bchlib.BCH(t, m=m)


_LOCAL = threading.local()  # per-thread decode buffers (see BCHCode._buffers)


@dataclass(frozen=True)
class BCHCode:
    """A shortened binary BCH code over GF(2^m) with ``data_bytes`` of data and ``t`` correctable errors."""

    data_bytes: int
    t: int
    m: int = 8

    @property
    def ecc_bits(self) -> int:
        return _bch(self.t, self.m).ecc_bits

    @property
    def ecc_bytes(self) -> int:
        return _bch(self.t, self.m).ecc_bytes

    @property
    def n_bits(self) -> int:
        """Bits transmitted: data bits + ecc bits (the ecc's padding bits in its last byte are not sent)."""
        return self.data_bytes * 8 + self.ecc_bits

    def encode(self, data: bytes) -> np.ndarray:
        """``data`` → codeword as a uint8 array of 0/1 bits (length :attr:`n_bits`)."""
        if len(data) != self.data_bytes:
            raise ValueError(f"expected {self.data_bytes} data bytes, got {len(data)}")
        ecc = _bch(self.t, self.m).encode(bytes(data))
        bits = np.unpackbits(np.frombuffer(bytes(data) + bytes(ecc), dtype=np.uint8))
        return bits[: self.n_bits].copy()

    def _buffers(self) -> tuple[bytearray, bytearray]:
        """Per-thread argument buffers, reused on every decode: bchlib 2.1.3's ``BCH.decode`` keeps a
        reference to each argument it is given, so fresh buffers per call leak (~1.7 KB per 10 calls,
        measured); reusing the same two objects leaks nothing."""
        bufs = getattr(_LOCAL, "bufs", None)
        if bufs is None:
            bufs = _LOCAL.bufs = {}
        key = (self.data_bytes, self.ecc_bytes)
        if key not in bufs:
            bufs[key] = (bytearray(self.data_bytes), bytearray(self.ecc_bytes))
        return bufs[key]

    def decode(self, bits: np.ndarray) -> tuple[bytes, int] | None:
        """Hard bits → (data, number of corrected errors), or None when the word is not within ``t`` of a codeword."""
        bits = np.asarray(bits, dtype=np.uint8)[: self.n_bits]
        pad = self.data_bytes * 8 + self.ecc_bytes * 8 - self.n_bits
        packed = np.packbits(np.concatenate([bits, np.zeros(pad, np.uint8)])).tobytes()
        data, ecc = self._buffers()
        data[:] = packed[: self.data_bytes]
        ecc[:] = packed[self.data_bytes:]
        bch = _bch(self.t, self.m)
        nerr = bch.decode(data, ecc)
        if nerr < 0:
            return None
        bch.correct(data, ecc)
        # bchlib may "correct" a bit in the unsent padding of the last ecc byte: that is not a valid word.
        # (errloc counts bits LSB-first within each byte; our bit order is MSB-first.)
        if any((loc // 8) * 8 + 7 - loc % 8 >= self.n_bits for loc in bch.errloc[:nerr]):
            return None
        return bytes(data), int(nerr)


def log_binom_tail_le(n: int, e: int) -> float:
    """log(sum_{i<=e} C(n, i))."""
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(e + 1)]
    mx = max(terms)
    return mx + math.log(sum(math.exp(x - mx) for x in terms))


def false_positive_probability(n: int, free_bits: int, corrected: int, hypotheses: int = 1) -> float:
    """P(a random n-bit word decodes with <= ``corrected`` errors) for a code with ``free_bits`` unconstrained bits.

    ``n - free_bits`` bits are fixed by the code (parity) or by the format (version / reserved bits).
    ``hypotheses`` (alignment / flip candidates tried) multiplies the probability (union bound).
    """
    log_p = log_binom_tail_le(n, corrected) - (n - free_bits) * math.log(2) + math.log(max(hypotheses, 1))
    return float(min(1.0, math.exp(log_p)))


def binomial_tail_ge(n: int, k: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): chance that a random bit string matches at least k of n known bits."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
             + i * math.log(p) + (n - i) * math.log(1 - p) for i in range(k, n + 1)]
    mx = max(terms)
    return float(min(1.0, math.exp(mx + math.log(sum(math.exp(x - mx) for x in terms)))))
