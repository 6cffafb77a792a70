"""Rate limiters for work queue retries: per-key exponential back-off and an overall token bucket.

A limiter returns how long to wait before a key may be processed again.
The default combines two, as client-go's DefaultControllerRateLimiter does,
and takes the longer delay. Each key backs off on its own, 5 ms doubling
per failure up to 1000 s. All retries together stay under 10 per second
with bursts of 100, so a mass failure cannot flood the API server.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from pykube_control.client.clock import Clock

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

EXPONENTIAL_BASE = 0.005
"""Seconds of the first retry delay of a key."""
EXPONENTIAL_CAP = 1000.0
"""Seconds; a key that keeps failing is retried at least this often."""
BUCKET_RATE = 10.0
"""Retries per second allowed across all keys."""
BUCKET_BURST = 100
"""Retries allowed at once before ``BUCKET_RATE`` applies."""


class RateLimiter(Protocol[K_contra]):
    def when(self, key: K_contra) -> float:
        """Record a failure of ``key`` and return the seconds to wait before it is processed again."""
        ...

    def forget(self, key: K_contra) -> None:
        """Forget the failures of ``key``, after it succeeded or was given up."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """Return the failures of ``key`` since it was last forgotten."""
        ...


class ItemExponentialRateLimiter(Generic[K]):
    """Delay ``base * 2**failures`` seconds, capped at ``cap``, counted per key."""

    def __init__(self, base: float = EXPONENTIAL_BASE, cap: float = EXPONENTIAL_CAP) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"exponential back-off needs 0 < base <= cap, got base={base} cap={cap}")
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        if failures >= 64:
            # 2.0**failures would overflow long before; the cap applies anyway.
            return self.cap
        return min(self.cap, self.base * 2.0**failures)

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)


class BucketRateLimiter(Generic[K]):
    """A token bucket shared by all keys: ``rate`` tokens per second, holding up to ``burst``.

    Every call takes a token, going into debt when the bucket is empty, and
    the delay is the time until that debt is repaid, so calls queue up in
    order instead of all retrying at the same instant.
    """

    def __init__(self, clock: Clock, rate: float = BUCKET_RATE, burst: int = BUCKET_BURST) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated: float | None = None

    def when(self, key: K) -> float:
        now = self._clock.now()
        if self._updated is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def forget(self, key: K) -> None:
        pass

    def num_requeues(self, key: K) -> int:
        return 0


class MaxOfRateLimiter(Generic[K]):
    """The maximum delay of several limiters; ``num_requeues`` is the maximum count among them."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        if not limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")
        self.limiters = limiters

    def when(self, key: K) -> float:
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: K) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


def default_rate_limiter(clock: Clock) -> MaxOfRateLimiter[K]:
    """Per-key exponential back-off (5 ms to 1000 s) combined with a 10/s, burst 100 token bucket."""
    exponential: ItemExponentialRateLimiter[K] = ItemExponentialRateLimiter()
    bucket: BucketRateLimiter[K] = BucketRateLimiter(clock)
    return MaxOfRateLimiter(exponential, bucket)
