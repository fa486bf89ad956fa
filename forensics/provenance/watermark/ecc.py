"""Error correction for watermark payloads: a thin wrapper over ``bchlib`` (binary BCH codes).

A BCH code with ``t`` correctable errors also gives the watermark its false-positive statistics: a
random bit string (what an unmarked image yields) decodes to *some* codeword with ``e`` corrections with
probability ``sum_{i<=e} C(n, i) / 2^(n - k)`` (the fraction of the space covered by the Hamming balls of
radius ``e`` around the ``2^k`` codewords). :func:`false_positive_probability` computes that tail.
:func:`osd_decode` (ordered-statistics decoding) finds codewords past the BCH radius from soft bits; the
tail bounds it too, since it counts every codeword within the distance found.
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


def _combos(k: int, order: int) -> np.ndarray:
    """All error patterns of weight ``<= order`` on ``k`` positions, as a (patterns, order) index matrix;
    index ``k`` stands for "no flip" (a zero row appended to the generator)."""
    from itertools import combinations

    rows = [()] + [c for w in range(1, order + 1) for c in combinations(range(k), w)]
    out = np.full((len(rows), max(order, 1)), k, np.int64)
    for i, c in enumerate(rows):
        out[i, : len(c)] = c
    return out


@lru_cache(maxsize=None)
def _osd_tables(data_bytes: int, t: int, m: int, header: int, order: int):
    code = BCHCode(data_bytes=data_bytes, t=t, m=m)
    k = 8 * (data_bytes - 1)  # payload bits; the first data byte is the fixed header
    base = code.encode(bytes([header]) + bytes(data_bytes - 1))
    gen = np.zeros((k, code.n_bits), np.uint8)
    for i in range(k):
        data = bytearray(data_bytes)
        data[1 + i // 8] = 0x80 >> (i % 8)
        gen[i] = code.encode(bytes(data))  # BCH encoding is linear: codeword(x ^ y) = codeword(x) ^ codeword(y)
    return base, gen.astype(bool), _combos(k, order)


def osd_decode(code: BCHCode, header: int, soft: np.ndarray, order: int = 2) -> tuple[bytes, int] | None:
    """Ordered-statistics decoding of soft bits (positive = 1) over the codewords whose first byte is ``header``.

    The header fixes a coset of the payload's linear subcode; its generator is reduced to systematic form on
    the most reliable independent positions, every pattern of ``<= order`` flips of those positions is
    re-encoded, and the codeword nearest to the hard bits (Hamming; soft metric on ties) is returned with
    that distance: (header + payload bytes, distance). The false-positive bound counts every codeword
    within that distance, so it holds whatever this search picks.
    """
    base, gen, pats = _osd_tables(code.data_bytes, code.t, code.m, header, order)
    soft = np.asarray(soft, np.float64)[: code.n_bits]
    hard = soft > 0
    rel = np.abs(soft)
    y = hard ^ base.astype(bool)  # the word to decode in the linear subcode
    perm = np.argsort(-rel, kind="stable")
    g = gen[:, perm].copy()
    k, n = g.shape
    pivots = []
    row = 0
    for col in range(n):  # Gaussian elimination over GF(2), columns in decreasing reliability
        if row == k:
            break
        nz = np.flatnonzero(g[row:, col])
        if nz.size == 0:
            continue
        p = row + int(nz[0])
        if p != row:
            g[[row, p]] = g[[p, row]]
        hit = g[:, col].copy()
        hit[row] = False
        g[hit] ^= g[row]
        pivots.append(col)
        row += 1
    if row < k:
        return None
    yp = y[perm]
    piv = np.array(pivots)
    rest = np.setdiff1d(np.arange(n), piv)
    gr = np.vstack([g[:, rest], np.zeros((1, n - k), bool)])  # parity part of the systematic generator
    # On the pivots a candidate is u0 XOR e, so it differs from the read bits exactly at e's flips; only
    # the n - k parity positions are re-encoded: yp's own parity XOR the rows the flips select.
    c0 = np.bitwise_xor.reduce(gr[:k][yp[piv]], axis=0) if yp[piv].any() else np.zeros(n - k, bool)
    words = c0[None] ^ np.bitwise_xor.reduce(gr[pats], axis=1)
    mism = words != yp[rest][None]
    relp = rel[perm]
    npat = (pats < k).sum(axis=1)
    dist = mism.sum(axis=1) + npat
    soft_cost = mism @ relp[rest] + np.append(relp[piv], 0.0)[pats].sum(axis=1)
    best = int(np.argmin(dist * (float(relp.sum()) + 1.0) + soft_cost))  # Hamming first, soft metric on ties
    cwp = yp.copy()
    flip = pats[best][pats[best] < k]
    cwp[piv[flip]] ^= True
    cwp[rest] = words[best]
    cw = np.empty(n, bool)
    cw[perm] = cwp
    full = cw ^ base.astype(bool)
    data = np.packbits(full[: 8 * code.data_bytes].astype(np.uint8)).tobytes()
    return data, int(dist[best])
