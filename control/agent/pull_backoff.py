"""Back-off between failed image pulls of one pod (ImagePullBackOff).

After a pull of an image fails, the pod's next try of that image waits 10 s,
and each further failure doubles the wait up to 300 s, as the kubelet's
image back-off does. While it waits, the container shows the waiting reason
ImagePullBackOff, and a successful pull clears the image's back-off. Keys are
(pod uid, image), so another pod, or the same pod with a corrected image,
starts with no delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable

INITIAL_DELAY = 10.0
"""Seconds before the second try of an image whose pull failed."""
MAX_DELAY = 300.0
"""Seconds; the cap of the doubling."""

Key = tuple[str, str]


class PullBackoff:
    """Per (pod uid, image) delays; times come from ``clock`` (monotonic seconds)."""

    def __init__(self, *, initial: float = INITIAL_DELAY, maximum: float = MAX_DELAY,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if not 0 < initial <= maximum:
            raise ValueError(f"back-off must satisfy 0 < initial <= maximum, got initial={initial} maximum={maximum}")
        self.initial = initial
        self.maximum = maximum
        self.clock = clock
        self._entries: dict[Key, tuple[float, float]] = {}
        """Key -> (current delay, clock time when the next try is allowed)."""

    def remaining(self, key: Key) -> float:
        """Return the seconds before ``key`` may be pulled again; 0 when it may be now."""
        entry = self._entries.get(key)
        return 0.0 if entry is None else max(0.0, entry[1] - self.clock())

    def failed(self, key: Key) -> float:
        """Record a failed pull of ``key``; return the seconds until the next try."""
        entry = self._entries.get(key)
        delay = self.initial if entry is None else min(entry[0] * 2, self.maximum)
        self._entries[key] = (delay, self.clock() + delay)
        return delay

    def succeeded(self, key: Key) -> None:
        self._entries.pop(key, None)

    def forget(self, uid: str) -> None:
        """Drop every key of pod ``uid``."""
        for key in [key for key in self._entries if key[0] == uid]:
            del self._entries[key]
