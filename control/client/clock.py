"""Clocks for the client machinery: the event loop's, and a fake one tests advance by hand.

The work queue, the leader elector and controllers built on them read time
and schedule callbacks only through ``Clock``. A test can therefore replace
the event loop's clock with ``FakeClock`` and check back-off delays exactly,
without sleeping and without timing asserts.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    """A scheduled callback that has not run yet."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds, timers and sleeping."""

    def now(self) -> float:
        """Return monotonic seconds; only differences between two values mean anything."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now (at once when ``delay`` <= 0)."""
        ...

    async def sleep(self, delay: float) -> None: ...


class LoopClock:
    """The running event loop's monotonic clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    async def sleep(self, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))


class _FakeTimer:
    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock whose time changes only when ``advance`` moves it.

    Timers due at or before the new time run inside ``advance``, in deadline
    order (ties in the order they were scheduled). ``sleep`` waits on such a
    timer, so a coroutine sleeping on a fake clock resumes only after an
    ``advance`` and one pass of the event loop.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _FakeTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.deadline, next(self._sequence), timer))
        return timer

    async def sleep(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        self.call_later(delay, wake)
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and run every timer that became due."""
        if seconds < 0:
            raise ValueError(f"FakeClock.advance: seconds must be >= 0, got {seconds}")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            deadline, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, deadline)
            if not timer.cancelled:
                timer.callback()
        self._now = target

    @property
    def pending_timers(self) -> int:
        """Number of timers scheduled and neither run nor cancelled."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)
