"""Per-key token buckets (in memory; the daily quota is persisted by the store)."""
from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    def __init__(self, rate_per_s: float, capacity: float, clock=time.monotonic):
        self.rate = rate_per_s
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def take(self) -> float:
        """0.0 if a token was taken, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else math.inf


class RateLimiter:
    """One bucket per key id; buckets are created on first use with that key's rate."""

    def __init__(self, default_per_minute: float, burst: int, clock=time.monotonic):
        self.default = default_per_minute
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, key: str, per_minute: float | None = None) -> float:
        """0.0 when allowed, else Retry-After seconds."""
        rate = self.default if per_minute is None else per_minute
        if rate <= 0:
            return 0.0  # 0 disables the limit
        with self._lock:
            b = self._buckets.get(key)
            if b is None or b.rate != rate / 60.0:
                b = self._buckets[key] = TokenBucket(rate / 60.0, self.burst, self.clock)
            return b.take()
