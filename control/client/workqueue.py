"""The controllers' work queue: de-duplicated keys, exclusive processing, delayed and rate-limited adds.

It follows client-go's workqueue contract:

- A key added while it is already queued is queued once.
- A key handed out by ``get`` belongs to that worker until ``done``. Adding
  it meanwhile marks it dirty, and ``done`` queues it again, so a change
  that arrives during processing is processed afterwards, and never by two
  workers at once.
- ``add_after`` queues a key after a delay (the earliest of several
  pending delays wins). ``add_rate_limited`` takes the delay from the rate
  limiter, and ``forget`` resets the key's back-off once it succeeds.
- After ``shutdown`` adds are ignored, ``get`` still hands out the keys
  already queued and then raises ``QueueShutDown``.

Time comes from an injected ``Clock``, so tests check delays with
``FakeClock``. Metrics use client-go's names with a ``name`` label:
workqueue_depth, workqueue_adds_total, workqueue_retries_total,
workqueue_queue_duration_seconds and workqueue_work_duration_seconds.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Hashable
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram

from pykube_control.client.clock import Clock, LoopClock, TimerHandle
from pykube_control.client.ratelimit import RateLimiter, default_rate_limiter

K = TypeVar("K", bound=Hashable)

_DURATION_BUCKETS = (1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1000.0)

DEPTH = Gauge("workqueue_depth", "Keys waiting in the work queue.", ["name"])
ADDS = Counter("workqueue_adds_total", "Keys added to the work queue.", ["name"])
RETRIES = Counter("workqueue_retries_total", "Rate-limited re-adds of keys to the work queue.", ["name"])
QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds", "Seconds a key waits in the queue before a worker takes it.",
    ["name"], buckets=_DURATION_BUCKETS,
)  # fmt: skip
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds", "Seconds a worker holds a key, from get to done.",
    ["name"], buckets=_DURATION_BUCKETS,
)  # fmt: skip


class QueueShutDown(Exception):
    """``get`` on a queue that is shut down and empty."""


class WorkQueue(Generic[K]):
    """A rate-limited work queue of keys; see the module docstring for the contract."""

    def __init__(
        self, name: str = "", *, rate_limiter: RateLimiter[K] | None = None, clock: Clock | None = None
    ) -> None:
        self.name = name
        self._clock: Clock = clock or LoopClock()
        self._rate_limiter: RateLimiter[K] = rate_limiter or default_rate_limiter(self._clock)
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        self._waiting: dict[K, tuple[float, TimerHandle]] = {}
        self._getters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._added_at: dict[K, float] = {}
        self._started_at: dict[K, float] = {}
        self._idle: asyncio.Event | None = None
        self._shutting_down = False
        self._depth = DEPTH.labels(name)
        self._adds = ADDS.labels(name)
        self._retries = RETRIES.labels(name)
        self._queue_duration = QUEUE_DURATION.labels(name)
        self._work_duration = WORK_DURATION.labels(name)

    def __len__(self) -> int:
        """Keys queued and ready, not counting those being processed or waiting for a delay."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> frozenset[K]:
        """Keys handed out by ``get`` and not yet ``done``."""
        return frozenset(self._processing)

    @property
    def waiting(self) -> int:
        """Keys scheduled by ``add_after`` or ``add_rate_limited`` whose delay has not passed."""
        return len(self._waiting)

    # --- adding ---------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` unless it is queued already; a key being processed is queued again at ``done``."""
        if self._shutting_down or key in self._dirty:
            return
        self._adds.inc()
        self._dirty.add(key)
        if key in self._processing:
            return
        self._enqueue(key)

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds; an earlier pending add of the same key wins."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self._clock.now() + delay
        pending = self._waiting.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return
            pending[1].cancel()
        handle = self._clock.call_later(delay, lambda: self._ready(key))
        self._waiting[key] = (ready_at, handle)

    def add_rate_limited(self, key: K) -> None:
        """Add ``key`` after the rate limiter's delay, which grows with each call until ``forget``."""
        if self._shutting_down:
            return
        self._retries.inc()
        self.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset the back-off of ``key``; call it when processing succeeded or was given up."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._rate_limiter.num_requeues(key)

    def _ready(self, key: K) -> None:
        self._waiting.pop(key, None)
        self.add(key)

    def _enqueue(self, key: K) -> None:
        self._queue.append(key)
        self._added_at.setdefault(key, self._clock.now())
        self._depth.set(len(self._queue))
        self._wake_one()

    # --- taking ---------------------------------------------------------------------------

    async def get(self) -> K:
        """Wait for a key and hand it out; raise QueueShutDown once shut down and empty."""
        while not self._queue:
            if self._shutting_down:
                raise QueueShutDown(f"work queue {self.name!r} is shut down")
            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                # A wake-up this getter will not use goes to the next one.
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()
                raise
        key = self._queue.popleft()
        self._depth.set(len(self._queue))
        now = self._clock.now()
        self._queue_duration.observe(now - self._added_at.pop(key, now))
        self._started_at[key] = now
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: K) -> None:
        """Release ``key`` taken by ``get``; queue it again when it was added during processing."""
        if key not in self._processing:
            raise ValueError(f"done({key!r}) on work queue {self.name!r}: the key is not being processed")
        self._processing.discard(key)
        started = self._started_at.pop(key, None)
        if started is not None:
            self._work_duration.observe(self._clock.now() - started)
        if key in self._dirty:
            self._enqueue(key)
        elif not self._processing and self._idle is not None:
            self._idle.set()

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # --- stopping -------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Ignore further adds, cancel pending delayed adds, and wake every waiting ``get``."""
        self._shutting_down = True
        for _, handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def shutdown_with_drain(self) -> None:
        """Shut down, then wait until every key handed out has been marked ``done``."""
        self.shutdown()
        if not self._processing:
            return
        self._idle = asyncio.Event()
        await self._idle.wait()
