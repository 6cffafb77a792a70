"""Restart back-off of crashing containers (CrashLoopBackOff).

A container that exited and must restart is restarted at once the first
time. After that, each restart waits, counted from the moment the
container finished, for a delay that starts at ``initial`` seconds and
doubles per restart up to ``maximum``: 10 s, 20 s, 40 s, ... 300 s, as the
kubelet does. A container that ran for ``reset_after`` seconds or longer
before exiting starts again from no delay, because it was healthy for a
while.

Keys are (pod uid, container name), so a new pod with the same name starts
with a clean slate. ``forget`` drops a pod's keys when the pod goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

INITIAL_DELAY = 10.0
"""Seconds before the second restart; the kubelet's initial back-off."""
MAX_DELAY = 300.0
"""Seconds; the cap of the doubling, the kubelet's 5 minutes."""
RESET_AFTER = 600.0
"""Seconds a container must run before its back-off is forgotten, twice the cap as in the kubelet."""

Key = tuple[str, str]


class CrashBackoff:
    """Per-container restart delays; see the module docstring. Times come from ``clock`` (monotonic seconds)."""

    def __init__(
        self,
        *,
        initial: float = INITIAL_DELAY,
        maximum: float = MAX_DELAY,
        reset_after: float = RESET_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"back-off must satisfy 0 < initial <= maximum, got initial={initial} maximum={maximum}")
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self.clock = clock
        self._delays: dict[Key, float] = {}

    def remaining(self, key: Key, finished_at: float, ran_for: float) -> float:
        """Return the seconds left before the container may restart; 0 means restart now.

        ``finished_at`` is when the container exited, on ``clock``'s scale,
        and ``ran_for`` how many seconds it ran before.
        """
        if ran_for >= self.reset_after:
            self._delays.pop(key, None)
        delay = self._delays.get(key)
        if delay is None:
            return 0.0
        return max(0.0, finished_at + delay - self.clock())

    def record_restart(self, key: Key) -> float:
        """Note that the container restarts now; return the delay its next restart will wait."""
        delay = self._delays.get(key)
        delay = self.initial if delay is None else min(self.maximum, delay * 2)
        self._delays[key] = delay
        return delay

    def current(self, key: Key) -> float:
        """Return the delay the container's next restart waits, 0 when it has none."""
        return self._delays.get(key, 0.0)

    def forget(self, pod_uid: str) -> None:
        """Drop every key of the pod."""
        for key in [key for key in self._delays if key[0] == pod_uid]:
            del self._delays[key]
