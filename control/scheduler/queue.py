"""The scheduling queue: which pending pod the scheduler tries next, and when.

As in kube-scheduler, a pod is in exactly one of three places:

- the active queue, a heap ordered by spec.priority (higher first) and then
  by arrival, from which ``pop`` takes the next pod;
- the back-off queue, for pods that failed recently. A pod waits until 1 s
  after its first failed attempt, doubling per attempt up to 10 s, and then
  moves to the active queue by a timer;
- the unschedulable pool, for pods that no node fits. They stay there until
  a cluster event could make them fit (a node added or changed, a pod
  deleted), or for at most 5 minutes, so a pod that no event helps is
  retried without a busy loop.

Nothing polls: ``pop`` waits on an asyncio.Event, and pods move between the
queues through loop timers and event calls.

A pod taken by ``pop`` is in flight until the cycle requeues it or calls
``done``. A cluster event seen while a pod is in flight sends that pod to
the back-off queue instead of the unschedulable pool, because the cycle may
have filtered against nodes that have changed since.

Differences from kube-scheduler: every cluster event moves every
unschedulable pod (there are no per-plugin queueing hints), and there is no
separate nominated-pods or gated-pods pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pykube.scheduler")

INITIAL_BACKOFF = 1.0
"""Seconds a pod waits after its first failed attempt; kube-scheduler's podInitialBackoffSeconds."""
MAX_BACKOFF = 10.0
"""Seconds; the cap of the doubling back-off, kube-scheduler's podMaxBackoffSeconds."""
UNSCHEDULABLE_TIMEOUT = 300.0
"""Seconds a pod stays in the unschedulable pool without a helpful event before it is retried."""

Pod = dict[str, Any]


def pod_key(pod: Pod) -> str:
    """Return "namespace/name" of a pod."""
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace') or 'default'}/{metadata.get('name', '')}"


def _scheduling_fields(pod: Pod) -> tuple[Any, ...]:
    metadata = pod.get("metadata") or {}
    return pod.get("spec"), metadata.get("labels"), metadata.get("annotations")


def pod_priority(pod: Pod) -> int:
    priority = (pod.get("spec") or {}).get("priority")
    return priority if isinstance(priority, int) else 0


@dataclasses.dataclass
class QueuedPod:
    """A pending pod and its scheduling history."""

    key: str
    pod: Pod
    attempts: int = 0
    """Failed scheduling or binding attempts so far; sets the back-off."""
    cycle: int = 0
    """The queue's move counter when the pod was popped."""
    failed_at: float = 0.0
    """Loop time of the last failed attempt; the back-off counts from it."""


class SchedulingQueue:
    """Active heap, back-off timers and unschedulable pool; see the module docstring."""

    def __init__(
        self,
        *,
        initial_backoff: float = INITIAL_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        unschedulable_timeout: float = UNSCHEDULABLE_TIMEOUT,
    ) -> None:
        if not 0 < initial_backoff <= max_backoff:
            raise ValueError(
                f"back-off: initial_backoff ({initial_backoff} s) must be > 0 and <= max_backoff ({max_backoff} s)"
            )
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self._entries: dict[str, QueuedPod] = {}
        self._active: list[tuple[int, int, str]] = []
        self._active_keys: set[str] = set()
        self._sequence = itertools.count()
        self._backoff: dict[str, asyncio.TimerHandle] = {}
        self._unschedulable: dict[str, asyncio.TimerHandle] = {}
        self._in_flight: set[str] = set()
        self._moves = 0
        self._ready = asyncio.Event()

    # --- reading ---------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def location(self, key: str) -> str | None:
        """Return "active", "backoff", "unschedulable", "in-flight", or None for an unknown pod."""
        if key in self._active_keys:
            return "active"
        if key in self._backoff:
            return "backoff"
        if key in self._unschedulable:
            return "unschedulable"
        if key in self._in_flight:
            return "in-flight"
        return None

    def backoff_seconds(self, attempts: int) -> float:
        """Return the wait after ``attempts`` failed attempts: initial_backoff doubled per attempt, capped."""
        if attempts <= 0:
            return 0.0
        return min(self.max_backoff, self.initial_backoff * 2.0 ** (attempts - 1))

    # --- informer events -------------------------------------------------------------------

    def add(self, pod: Pod) -> None:
        """Queue a new pending pod, or replace the object of a queued one.

        An update of a pod in the unschedulable pool moves it on when its
        spec, labels or annotations changed, since it may fit now. Status
        updates do not move it, because the scheduler's own PodScheduled
        patch would otherwise retry every unschedulable pod once more.
        """
        key = pod_key(pod)
        entry = self._entries.get(key)
        if entry is None:
            self._entries[key] = QueuedPod(key, pod)
            self._push_active(key)
            return
        changed = _scheduling_fields(entry.pod) != _scheduling_fields(pod)
        entry.pod = pod
        if changed and key in self._unschedulable:
            self._unschedulable.pop(key).cancel()
            self._requeue_after_backoff(entry)

    def delete(self, key: str) -> None:
        """Forget a pod that was bound, deleted or handed to another scheduler."""
        self._entries.pop(key, None)
        self._active_keys.discard(key)
        self._in_flight.discard(key)
        for timers in (self._backoff, self._unschedulable):
            handle = timers.pop(key, None)
            if handle is not None:
                handle.cancel()

    def move_all_to_active(self, event: str) -> None:
        """Move every unschedulable pod on after a cluster event that could make it fit.

        Pods whose back-off has not expired go to the back-off queue first.
        """
        self._moves += 1
        if not self._unschedulable:
            return
        log.debug("moving unschedulable pods event=%s pods=%d", event, len(self._unschedulable))
        for key, handle in list(self._unschedulable.items()):
            handle.cancel()
            del self._unschedulable[key]
            self._requeue_after_backoff(self._entries[key])

    # --- the scheduling cycle --------------------------------------------------------------

    async def pop(self) -> QueuedPod:
        """Wait for and return the highest-priority active pod; it is in flight until requeued or done."""
        while True:
            while self._active:
                _, _, key = heapq.heappop(self._active)
                if key not in self._active_keys:
                    continue
                self._active_keys.discard(key)
                self._in_flight.add(key)
                entry = self._entries[key]
                entry.cycle = self._moves
                return entry
            self._ready.clear()
            await self._ready.wait()

    def pop_matching(self, matches: Callable[[QueuedPod], bool], limit: int) -> list[QueuedPod]:
        """Pop, without waiting, the active pods at the head of the queue while ``matches`` accepts them.

        Takes at most ``limit`` pods, in the order ``pop`` would return
        them; each is in flight, as after ``pop``.
        """
        taken: list[QueuedPod] = []
        while self._active and len(taken) < limit:
            _, _, key = self._active[0]
            if key not in self._active_keys:
                heapq.heappop(self._active)
                continue
            entry = self._entries[key]
            if not matches(entry):
                break
            heapq.heappop(self._active)
            self._active_keys.discard(key)
            self._in_flight.add(key)
            entry.cycle = self._moves
            taken.append(entry)
        return taken

    def done(self, key: str) -> None:
        """Forget a pod whose binding succeeded."""
        self.delete(key)

    def requeue_unschedulable(self, entry: QueuedPod) -> None:
        """Park a pod that no node fits until a helpful event or the unschedulable timeout."""
        if not self._take_in_flight(entry):
            return
        self._record_failure(entry)
        if self._moves != entry.cycle:
            # The cluster changed while this pod was being scheduled.
            self._requeue_after_backoff(entry)
            return
        loop = asyncio.get_running_loop()
        self._unschedulable[entry.key] = loop.call_later(
            self.unschedulable_timeout, self._flush_unschedulable, entry.key
        )

    def requeue_backoff(self, entry: QueuedPod) -> None:
        """Retry a pod after its back-off, for failures such as a failed bind."""
        if not self._take_in_flight(entry):
            return
        self._record_failure(entry)
        self._requeue_after_backoff(entry)

    # --- internals -------------------------------------------------------------------------

    def _take_in_flight(self, entry: QueuedPod) -> bool:
        """Return False when the pod was deleted or bound while in flight, so it must not come back."""
        if entry.key not in self._in_flight or self._entries.get(entry.key) is not entry:
            return False
        self._in_flight.discard(entry.key)
        return True

    def _record_failure(self, entry: QueuedPod) -> None:
        entry.attempts += 1
        entry.failed_at = asyncio.get_running_loop().time()

    def _push_active(self, key: str) -> None:
        entry = self._entries[key]
        heapq.heappush(self._active, (-pod_priority(entry.pod), next(self._sequence), key))
        self._active_keys.add(key)
        self._ready.set()

    def _requeue_after_backoff(self, entry: QueuedPod) -> None:
        loop = asyncio.get_running_loop()
        delay = entry.failed_at + self.backoff_seconds(entry.attempts) - loop.time()
        if delay <= 0:
            self._push_active(entry.key)
            return
        self._backoff[entry.key] = loop.call_later(delay, self._backoff_expired, entry.key)

    def _backoff_expired(self, key: str) -> None:
        if self._backoff.pop(key, None) is not None:
            self._push_active(key)

    def _flush_unschedulable(self, key: str) -> None:
        if self._unschedulable.pop(key, None) is not None:
            log.debug("unschedulable timeout expired pod=%s", key)
            self._push_active(key)
