"""Manners toward the server: a concurrency cap that backs off under 429s (AIMD), and rate buckets."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class AdaptiveConcurrency:
    """At most ``limit`` holders at once; the limit halves on throttling and creeps back up on success.

    Additive increase: +1 after ``limit`` successes in a row (about one round trip's worth).
    Multiplicative decrease: halve on a 429, at most once per ``cooldown`` seconds, so a burst of
    429s from requests already in flight counts as one signal.
    """

    def __init__(self, max_limit: int, *, min_limit: int = 1, cooldown: float = 1.0) -> None:
        if max_limit < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.max_limit = max_limit
        self.min_limit = min(min_limit, max_limit)
        self.limit = float(max_limit)
        self.lowest = float(max_limit)  # the lowest the limit went (for stats and tests)
        self.cooldown = cooldown
        self.in_flight = 0
        self.peak = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_decrease = -1e9

    async def acquire(self) -> None:
        if self.in_flight < int(self.limit) and not self._waiters:
            self._take()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed to us just before the cancel: give it back
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _take(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            fut = self._waiters.popleft()
            if not fut.done():
                self._take()
                fut.set_result(None)

    def on_success(self) -> None:
        if self.limit < self.max_limit:
            self.limit = min(self.max_limit, self.limit + 1.0 / self.limit)
            self._wake()

    def on_throttle(self) -> None:
        now = time.monotonic()
        if now - self._last_decrease >= self.cooldown:
            self._last_decrease = now
            self.limit = max(self.min_limit, self.limit / 2)
            self.lowest = min(self.lowest, self.limit)


class TokenBucket:
    """``rate`` units per second with bursts up to ``capacity``; callers queue FIFO.

    A take larger than the capacity waits for a full bucket and then drives it negative, so
    one oversized request is slowed but never blocked forever.
    """

    def __init__(self, rate: float, capacity: float) -> None:
        if rate <= 0:
            raise ValueError("rate limits must be > 0")
        self.rate = rate
        self.capacity = max(1.0, capacity)
        self.tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def take(self, amount: float) -> None:
        async with self._lock:
            need = min(amount, self.capacity)
            self._refill()
            while self.tokens < need:
                await asyncio.sleep((need - self.tokens) / self.rate)
                self._refill()
            self.tokens -= amount

    def adjust(self, amount: float) -> None:
        """Correct a reservation once the real cost is known: positive returns an over-estimate
        (tokens reserved for max_tokens but not generated), negative charges an under-estimate."""
        self._refill()
        self.tokens = min(self.capacity, self.tokens + amount)


def per_minute(limit: float | None) -> TokenBucket | None:
    """A bucket for a per-minute limit, allowing about one second's worth of burst."""
    if limit is None:
        return None
    rate = limit / 60.0
    return TokenBucket(rate, capacity=rate)


__all__ = ["AdaptiveConcurrency", "TokenBucket", "per_minute"]
