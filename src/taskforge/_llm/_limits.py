"""Manners toward the servers: per-endpoint adaptive in-flight limits (AIMD) and rate buckets."""

from __future__ import annotations

import asyncio
import time
from collections import deque


class Endpoint:
    """One base URL and its adaptive in-flight limit (AIMD, like TCP congestion control).

    Slow start: the limit starts at ``initial`` and doubles per round trip (+1 per success while
    saturated) until the first sign of overload; then additive increase (+1 per ``limit``
    successes while saturated). Multiplicative decrease: halve on a 429, 5xx, timeout or
    connection error, and cut by a fifth when the service time (latency per output token) runs
    at more than twice its recent low, i.e. requests queue in the server. One decrease per
    round trip (the smoothed latency of successes), so a burst of errors from requests already in flight
    counts once. ``limit`` only grows while the endpoint is saturated: no evidence, no growth.
    """

    LATENCY_TOLERANCE = 2.0
    QUEUE_DELAY = 0.1  # seconds
    WINDOW = 30.0  # seconds of history behind the latency low-water mark

    def __init__(
        self, url: str, max_limit: int, *, initial: int | None = None, adaptive: bool = True
    ) -> None:
        if max_limit < 1:
            raise ValueError("max_in_flight must be >= 1")
        self.url = url
        self.max_limit = max_limit
        self.adaptive = adaptive
        self.limit = float(max_limit if not adaptive or initial is None else min(max_limit, initial))
        self.slow_start = adaptive and self.limit < max_limit
        self.lowest = self.limit
        self.in_flight = 0
        self.peak = 0
        self.successes = 0
        self.failures = 0
        self.decreases = 0
        self.schema_ok: bool | None = None  # None: untried; False: the server rejected a JSON schema
        self._ewma: float | None = None
        self._rtt: float | None = None  # smoothed latency of successful requests (the cooldown)
        self._buckets: deque[list[float]] = deque()  # [start, lowest service time], 5 s each
        self._last_decrease = -1e9

    def __repr__(self) -> str:
        return f"Endpoint({self.url!r}, limit={self.limit:.1f}, in_flight={self.in_flight})"

    @property
    def free(self) -> int:
        return int(self.limit) - self.in_flight

    def service_time(self) -> float | None:
        return self._ewma

    def _baseline(self, now: float) -> float | None:
        """The lowest service time of the last 30 s (at least 20 round trips): the no-queue time."""
        window = max(self.WINDOW, 20 * (self._rtt or 0.0))
        while self._buckets and self._buckets[0][0] < now - window:
            self._buckets.popleft()
        return min((b[1] for b in self._buckets), default=None)

    def on_success(self, latency: float, output_tokens: int, saturated: bool) -> None:
        """A response arrived; ``saturated``: the endpoint was at its limit when it was sent."""
        self.successes += 1
        if not self.adaptive:
            return
        now = time.monotonic()
        service = latency / (output_tokens + 8)  # per token: long answers are not congestion
        if not self._buckets or now - self._buckets[-1][0] >= self.WINDOW / 6:
            self._buckets.append([now, service])
        self._buckets[-1][1] = min(self._buckets[-1][1], service)
        self._ewma = service if self._ewma is None else 0.8 * self._ewma + 0.2 * service
        self._rtt = latency if self._rtt is None else 0.8 * self._rtt + 0.2 * latency
        base = self._baseline(now)
        # latency / no-queue latency estimates in-flight / server slots (Little's law): above 2,
        # and at least QUEUE_DELAY seconds of queueing (so client jitter on fast servers is no signal)
        queued = base is not None and self._ewma > self.LATENCY_TOLERANCE * base
        if (
            queued
            and saturated
            and self.limit > 1
            and self._rtt - base * (output_tokens + 8) > self.QUEUE_DELAY
        ):
            self._decrease(0.8, latency)
        elif saturated and self.limit < self.max_limit:
            step = 1.0 if self.slow_start else 1.0 / self.limit
            self.limit = min(float(self.max_limit), self.limit + step)

    def on_overload(self, latency: float, *, throttled: bool = False) -> None:
        """A 5xx, timeout or dropped connection: halve; a 429: cut by 30% (the server said exactly
        "too many", a milder signal; CUBIC's factor). Once per round trip."""
        self.failures += 1
        if self.adaptive:
            self._decrease(0.7 if throttled else 0.5, latency)

    def _decrease(self, factor: float, latency: float) -> None:
        now = time.monotonic()
        cooldown = max(0.005, self._rtt if self._rtt is not None else latency)  # one round trip
        if now - self._last_decrease < cooldown:
            return
        self._last_decrease = now
        self.slow_start = False
        self.limit = max(1.0, self.limit * factor)
        self.lowest = min(self.lowest, self.limit)
        self.decreases += 1


class EndpointPool:
    """Hands out a slot on one of several endpoints: the one with the most free slots.

    Each endpoint's limit settles at what it can take, so requests spread by measured capacity;
    waiters queue FIFO and are woken whenever a slot frees or a limit grows.
    """

    def __init__(self, endpoints: list[Endpoint]) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.endpoints = endpoints
        self._waiters: deque[asyncio.Future[Endpoint]] = deque()

    @property
    def in_flight(self) -> int:
        return sum(e.in_flight for e in self.endpoints)

    def _best(self) -> Endpoint | None:
        best = max(self.endpoints, key=lambda e: (e.free, e.limit))
        return best if best.free > 0 else None

    def _take(self, ep: Endpoint) -> Endpoint:
        ep.in_flight += 1
        ep.peak = max(ep.peak, ep.in_flight)
        return ep

    async def acquire(self) -> Endpoint:
        if not self._waiters:
            ep = self._best()
            if ep is not None:
                return self._take(ep)
        fut: asyncio.Future[Endpoint] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(fut.result())  # handed a slot just before the cancel: give it back
            else:
                self._waiters.remove(fut)
            raise

    def release(self, ep: Endpoint) -> None:
        ep.in_flight -= 1
        self.wake()

    def wake(self) -> None:
        while self._waiters:
            ep = self._best()
            if ep is None:
                return
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(self._take(ep))

    def summary(self) -> list[dict[str, object]]:
        return [
            {
                "url": e.url,
                "limit": round(e.limit, 1),
                "lowest": round(e.lowest, 1),
                "peak": e.peak,
                "successes": e.successes,
                "overloads": e.failures,
                "decreases": e.decreases,
            }
            for e in self.endpoints
        ]


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


__all__ = ["Endpoint", "EndpointPool", "TokenBucket", "per_minute"]
