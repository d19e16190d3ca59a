"""Rate limiting of the DSS interface: an in-process token bucket per client.

Each client (the token's party and ``sub``) has a bucket of ``burst`` tokens refilled at
``rate_per_s``; a request takes one token, and a request that finds the bucket empty is
refused with 429 and ``Retry-After`` (the whole seconds until a token is back).  The
numbers come from the DSS settings (``settings["dss"]``: ``rate_per_s``, ``burst``),
re-read every ``refresh_s`` seconds; :meth:`RateLimiter.override` fixes them (tests use
a tiny bucket).  In memory is enough: one process serves one store, and several workers
would each limit their share.

>>> t = [0.0]
>>> limiter = RateLimiter(lambda: (1.0, 2), now=lambda: t[0])
>>> [limiter.take("uss1") for _ in range(3)]
[0.0, 0.0, 1.0]
>>> t[0] = 1.0
>>> limiter.take("uss1"), limiter.take("uss2")
(0.0, 0.0)
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "retry_after"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per client key; ``limits()`` gives ``(rate_per_s, burst)``."""

    def __init__(
        self,
        limits: Callable[[], tuple[float, int]],
        *,
        now: Callable[[], float] = time.monotonic,
        refresh_s: float = 5.0,
        max_clients: int = 10_000,
    ) -> None:
        self._source = limits
        self._now = now
        self._refresh_s = refresh_s
        self._max_clients = max_clients
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._fixed: tuple[float, int] | None = None
        self._limits: tuple[float, int] | None = None
        self._read_at = -math.inf

    def override(self, rate_per_s: float | None = None, burst: int | None = None) -> None:
        """Fix the limits (``None``, ``None``: back to the settings); empties every bucket's history."""
        with self._lock:
            if rate_per_s is None and burst is None:
                self._fixed = None
            else:
                if rate_per_s is None or burst is None or not rate_per_s > 0 or burst < 1:
                    raise ValueError("rate_per_s must be > 0 and burst ≥ 1")
                self._fixed = (float(rate_per_s), int(burst))
            self._buckets.clear()
            self._read_at = -math.inf

    def refresh(self) -> None:
        """Read the settings again at the next request."""
        with self._lock:
            self._read_at = -math.inf

    def _current(self, now: float) -> tuple[float, int]:
        if self._fixed is not None:
            return self._fixed
        if self._limits is None or now - self._read_at >= self._refresh_s:
            self._limits = self._source()
            self._read_at = now
        return self._limits

    def take(self, key: str) -> float:
        """Take a token from ``key``'s bucket: ``0.0`` when granted, else the seconds to wait."""
        with self._lock:
            now = self._now()
            rate, burst = self._current(now)
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self._max_clients:
                    self._forget_full(now, rate, burst)
                bucket = self._buckets[key] = _Bucket(float(burst), now)
            else:
                bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.at) * rate)
                bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate

    def _forget_full(self, now: float, rate: float, burst: int) -> None:
        """Drop the buckets that have refilled (they hold no history worth keeping)."""
        for key in [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * rate >= burst]:
            del self._buckets[key]
        if len(self._buckets) >= self._max_clients:  # all busy: forget the stalest
            stalest = min(self._buckets, key=lambda k: self._buckets[k].at)
            del self._buckets[stalest]


def retry_after(wait_s: float) -> str:
    """The ``Retry-After`` value (whole seconds, at least 1) for a wait."""
    return str(max(1, math.ceil(wait_s)))
