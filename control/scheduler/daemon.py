"""The scheduler daemon: informers in, one scheduling cycle at a time, bindings out.

One cycle pops the next pod from the SchedulingQueue, together with the
pods right behind it that have the same scheduling signature (replicas of
one ReplicaSet, see batching.py), and places them with one kernel call over
the cache's NodeTable. Each placed pod is assumed at once, so the next pod
already counts its requests. A
task binds it through pods/binding while the next cycle runs, with at most
MAX_BINDS_IN_FLIGHT bind requests sent at once. A failed
bind forgets the assumption and retries the pod after its back-off. When no
node fits, the pod is parked as unschedulable and a separate task writes
its PodScheduled condition and FailedScheduling event.

The informer handlers keep the cache and the queue current: pending pods
of this scheduler enter the queue, bound pods are accounted in the table,
and node changes and pod deletions, which can free room, move the
unschedulable pods on. Pods that already have spec.nodeName are never
written to.

When no node fits, PostFilter (postfilter.py) tries preemption first and
its outcome ends the FailedScheduling message.

Differences from kube-scheduler: one profile; no
PreBind/Permit stages, and no expiry of assumed pods (a bind that neither
succeeds nor fails holds its assumption until the request times out).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler import Profile, Scheduler, SchedulerKernel
from pykube_core.scheduler.framework import FilterResult, Selectors
from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, APIError, Conflict, NotFound
from pykube_control.client.events import EventRecorder, EventType
from pykube_control.client.informer import Informer
from pykube_control.client.leader import LeaderElector
from pykube_control.client.resource import NODES, PODS
from pykube_control.scheduler.cache import SchedulerCache, is_terminal, node_of
from pykube_control.scheduler.config import SchedulerSettings
from pykube_control.scheduler.failure import report_unschedulable
from pykube_control.scheduler.postfilter import PostFilter
from pykube_control.scheduler.batching import MAX_BATCH_SIZE, same_scheduling_inputs
from pykube_control.scheduler.queue import QueuedPod, SchedulingQueue, pod_key
from pykube_control.scheduler.selectors import WorkloadSelectors
from pykube_control.scheduler.volume_state import VolumeState

log = logging.getLogger("pykube.scheduler")

SCHEDULED = "Scheduled"
"""Reason of the Normal event kube-scheduler records for every bound pod."""

DEFAULT_SCHEDULER_NAME = "default-scheduler"
SYNC_TIMEOUT = 60.0
"""Seconds to wait for the first pod and node lists before giving up."""
MAX_BINDS_IN_FLIGHT = 64
"""Bind requests sent at once; later binds wait for a slot in their own tasks, never in the scheduling cycle.
The bound keeps the client's connections reused instead of opening one per queued bind."""

Object = dict[str, Any]


def node_scheduling_fields(node: Object) -> tuple[Any, ...]:
    """Return the node fields that filters and scores read; other changes (heartbeats) move no pods."""
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    return (
        metadata.get("labels"), spec.get("taints"), spec.get("unschedulable"),
        status.get("allocatable"), status.get("images"),
    )  # fmt: skip


class SchedulerDaemon:
    """Places the pending pods of one scheduler name; see the module docstring."""

    def __init__(
        self,
        client: APIClient,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        queue: SchedulingQueue | None = None,
        profile: Profile | None = None,
        kernel: SchedulerKernel | None = None,
        seed: int = 0,
        max_batch_size: int = MAX_BATCH_SIZE,
        max_binds_in_flight: int = MAX_BINDS_IN_FLIGHT,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size: {max_batch_size} is not a positive pod count; use 1 to disable batching")
        if max_binds_in_flight < 1:
            raise ValueError(f"max_binds_in_flight: {max_binds_in_flight} is not a positive request count")
        self.client = client
        self.max_batch_size = max_batch_size
        self.scheduler_name = scheduler_name
        self.queue = queue if queue is not None else SchedulingQueue()
        self.cache = SchedulerCache()
        self.scheduler = Scheduler(self.cache.table, profile=profile, kernel=kernel, seed=seed)
        self.recorder = EventRecorder(client, scheduler_name)
        self.post_filter = PostFilter(client, self.cache, self.scheduler, self.recorder, scheduler_name)
        self.pods = Informer(client, PODS)
        self.nodes = Informer(client, NODES)
        self.selectors = WorkloadSelectors(client)
        self.volumes = VolumeState(client)
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        """Kernel calls per batch size, for tests and benchmarks."""
        self.attempts: collections.Counter[str] = collections.Counter()
        """Scheduling cycles run per pod key, for tests and debugging."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._bind_slots = asyncio.Semaphore(max_binds_in_flight)
        self.nodes.add_handlers(self._on_node_add, self._on_node_update, self._on_node_delete)
        self.pods.add_handlers(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        for informer in self.volumes.informers:
            informer.add_handlers(self._on_volume_change, self._on_volume_update)

    async def run(self) -> None:
        """Start the informers, wait for their first lists, and schedule until cancelled."""
        extra = (*self.selectors.informers, *self.volumes.informers)
        for informer in extra:
            informer.start()
        self.post_filter.start()
        self.nodes.start()
        self.pods.start()
        try:
            if not await self.post_filter.budgets.wait_for_sync(SYNC_TIMEOUT):
                raise TimeoutError(f"PodDisruptionBudget informer did not sync within {SYNC_TIMEOUT:.0f} s")
            synced = await asyncio.gather(
                self.nodes.wait_for_sync(SYNC_TIMEOUT),
                self.pods.wait_for_sync(SYNC_TIMEOUT),
                *(informer.wait_for_sync(SYNC_TIMEOUT) for informer in extra),
            )
            if not all(synced):
                raise TimeoutError(f"informers did not sync within {SYNC_TIMEOUT:.0f} s; is the API server reachable?")
            log.info("scheduler started scheduler_name=%s nodes=%d", self.scheduler_name, len(self.cache.table))
            while True:
                entry = await self.queue.pop()
                first = entry.pod
                same = self.queue.pop_matching(
                    lambda queued: same_scheduling_inputs(queued.pod, first), self.max_batch_size - 1
                )
                self.schedule_batch([entry, *same])
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.gather(self.pods.stop(), self.nodes.stop(), *(informer.stop() for informer in extra))
            await self.post_filter.stop()
            log.info("scheduler stopped scheduler_name=%s", self.scheduler_name)

    # --- the scheduling cycle ----------------------------------------------------------------

    def schedule_one(self, entry: QueuedPod) -> None:
        """Run one cycle for a popped pod; the bind or the failure report runs in its own task."""
        self.schedule_batch([entry])

    def schedule_batch(self, entries: list[QueuedPod]) -> None:
        """Place popped pods with equal scheduling signatures in one kernel call; bind or report each."""
        pending = []
        for entry in entries:
            if self._is_pending(entry.pod):
                pending.append(entry)
                self.attempts[entry.key] += 1
            else:
                self.queue.delete(entry.key)
        if not pending:
            return
        first = pending[0].pod
        reserved = self.post_filter.reserve(first)
        try:
            volumes = self.volumes.check(self.cache.table, first)
            if volumes.rejection is not None:
                message = f"0/{len(self.cache.table)} nodes are available: {volumes.rejection}."
                for entry in pending:
                    self._unschedulable(entry, message)
                return
            result = self.scheduler.schedule_batch(
                [entry.pod for entry in pending],
                spread_selectors=self.selectors.selectors_for(first),
                volume_conflicts=volumes.conflicts,
                assume=self.cache.assume,
            )
            failure_message = ""
            if result.failure is not None:
                failed = pending[sum(1 for node in result.nodes if node is not None)]
                failure_message = self._with_preemption(
                    failed.pod,
                    result.failure.filter,
                    spread_selectors=self.selectors.selectors_for(first),
                    volume_conflicts=volumes.conflicts,
                )
        except ValueError as error:
            log.warning("pod cannot be scheduled pod=%s batch=%d error=%s", pending[0].key, len(pending), error)
            for entry in pending:
                self.queue.requeue_backoff(entry)
            return
        finally:
            self.post_filter.release(reserved)
        self.batch_sizes[len(pending)] += 1
        for entry, node in zip(pending, result.nodes):
            if node is not None:
                self.post_filter.forget(entry.key)
                self._spawn(self._bind(entry, node), f"bind-{entry.key}")
            elif result.failure is not None:
                self._unschedulable(entry, failure_message or result.failure.message())
                failure_message = ""

    def _with_preemption(
        self,
        pod: Object,
        filtered: FilterResult,
        *,
        spread_selectors: Selectors = None,
        volume_conflicts: NDArray[np.int8] | None = None,
    ) -> str:
        """Run preemption for the first pod of a batch that no node fits; return its FailedScheduling message.

        Only that pod preempts in this cycle. The others of the batch are
        retried once the victims are gone, and preempt then if still needed.
        """
        suffix = self.post_filter.run(
            pod, filtered, spread_selectors=spread_selectors, volume_conflicts=volume_conflicts
        )
        return f"{filtered.message()} {suffix}" if suffix else filtered.message()

    def _unschedulable(self, entry: QueuedPod, message: str) -> None:
        log.info("pod unschedulable pod=%s attempts=%d message=%r", entry.key, entry.attempts + 1, message)
        self.queue.requeue_unschedulable(entry)
        self._spawn(report_unschedulable(self.client, self.recorder, entry.pod, message), f"report-{entry.key}")

    async def _bind(self, entry: QueuedPod, node_name: str) -> None:
        pod = entry.pod
        metadata = pod.get("metadata") or {}
        try:
            async with self._bind_slots:
                await self.client.bind(
                    metadata["name"], node_name, namespace=metadata.get("namespace"), pod_uid=metadata.get("uid")
                )
        except (Conflict, NotFound) as error:
            # Bound by someone else, or deleted: the informer brings the truth.
            log.info("pod bind rejected pod=%s node=%s error=%s", entry.key, node_name, error)
            self.cache.forget(pod)
            self.queue.delete(entry.key)
            return
        except (APIError, APIConnectionError) as error:
            log.warning("pod bind failed, retrying after back-off pod=%s node=%s error=%s", entry.key, node_name, error)
            self.cache.forget(pod)
            self.queue.requeue_backoff(entry)
            return
        log.info("pod bound pod=%s node=%s", entry.key, node_name)
        self.queue.done(entry.key)
        message = f"Successfully assigned {metadata.get('namespace')}/{metadata['name']} to {node_name}"
        self._spawn(self._record(pod, "Normal", SCHEDULED, message), f"event-{entry.key}")

    async def _record(self, pod: Object, event_type: EventType, reason: str, message: str) -> None:
        await self.recorder.record(pod, event_type, reason, message)

    def _spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _is_pending(self, pod: Object) -> bool:
        """Return True for a pod of this scheduler that has no node and is not being deleted."""
        spec = pod.get("spec") or {}
        metadata = pod.get("metadata") or {}
        return (
            not spec.get("nodeName")
            and (spec.get("schedulerName") or DEFAULT_SCHEDULER_NAME) == self.scheduler_name
            and not metadata.get("deletionTimestamp")
            and not is_terminal(pod)
        )

    # --- informer handlers -------------------------------------------------------------------

    async def _on_node_add(self, node: Object) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active("NodeAdd")

    async def _on_node_update(self, old: Object, new: Object) -> None:
        self.cache.add_node(new)
        if node_scheduling_fields(old) != node_scheduling_fields(new):
            self.queue.move_all_to_active("NodeUpdate")

    async def _on_node_delete(self, obj: Object, final_state_unknown: bool) -> None:
        self.cache.remove_node(obj["metadata"]["name"])

    async def _on_pod_add(self, pod: Object) -> None:
        self._sync_pod(pod)

    async def _on_pod_update(self, old: Object, new: Object) -> None:
        self._sync_pod(new)
        if node_of(new) and is_terminal(new) and not is_terminal(old):
            self.queue.move_all_to_active("PodFinished")

    async def _on_pod_delete(self, obj: Object, final_state_unknown: bool) -> None:
        key = pod_key(obj)
        self.queue.delete(key)
        self.post_filter.forget(key)
        if node_of(obj) or self.cache.is_assumed(key):
            self.cache.remove_pod(obj)
            self.queue.move_all_to_active("PodDelete")

    async def _on_volume_change(self, obj: Object) -> None:
        self.queue.move_all_to_active("VolumeAdd")

    async def _on_volume_update(self, old: Object, new: Object) -> None:
        if old.get("spec") != new.get("spec"):
            self.queue.move_all_to_active("VolumeUpdate")

    def _sync_pod(self, pod: Object) -> None:
        key = pod_key(pod)
        if node_of(pod):
            self.queue.delete(key)
            self.post_filter.forget(key)
            self.cache.update_pod(pod)
        elif self._is_pending(pod):
            self.queue.add(pod)
            self.post_filter.update(pod)
        else:
            self.queue.delete(key)
            self.post_filter.forget(key)


LEASE_NAME = "kube-scheduler"
LEASE_NAMESPACE = "kube-system"


async def run_scheduler(
    client: APIClient, *, leader_elect: bool = True, identity: str = "", settings: SchedulerSettings | None = None
) -> None:
    """Run a SchedulerDaemon until cancelled, or, with leader election, while holding the kube-scheduler Lease.

    With leader election this returns when the Lease is lost, so the
    process exits and its supervisor restarts it as a fresh candidate,
    whose informers start from a new list. ``settings`` come from
    ``pykube scheduler --config``.
    """
    settings = settings or SchedulerSettings()

    def daemon() -> SchedulerDaemon:
        queue = SchedulingQueue(initial_backoff=settings.initial_backoff, max_backoff=settings.max_backoff)
        return SchedulerDaemon(client, scheduler_name=settings.scheduler_name, queue=queue, profile=settings.profile)

    if not leader_elect:
        await daemon().run()
        return

    async def lead() -> None:
        await daemon().run()

    elector = LeaderElector(client, name=LEASE_NAME, identity=identity, namespace=LEASE_NAMESPACE, on_started=lead)
    await elector.run()
