"""The daemon's PostFilter step: preemption, with the state it needs between cycles.

kube-scheduler runs PostFilter plugins when no node fits a pod; its only
default one is DefaultPreemption. ``PostFilter`` gives the daemon that step
as a few calls around a scheduling cycle:

- ``reserve`` before filtering and ``release`` after, so nominated pods
  keep their room (see nominator);
- ``run`` when no node fits: it searches victims (see preemption),
  nominates the pod, starts the API writes in a task (see
  preemption_actions) and returns the text for the FailedScheduling
  message;
- ``forget`` and ``update`` from the pod informer handlers.

It owns the PodDisruptionBudget informer, because budgets matter to the
scheduler only here. Until that informer has synced, no pod preempts,
since victims chosen without the budgets could violate them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pykube_core.scheduler import Scheduler
from pykube_core.scheduler.framework import FilterResult, Selectors
from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.informer import Informer
from pykube_control.client.resource import POD_DISRUPTION_BUDGETS
from pykube_control.scheduler.cache import SchedulerCache
from pykube_control.scheduler.nominator import Nominator
from pykube_control.scheduler.preemption import Candidate, Preemptor
from pykube_control.scheduler.preemption_actions import carry_out
from pykube_control.scheduler.queue import pod_key

log = logging.getLogger("pykube.scheduler")

Pod = dict[str, Any]

BUDGETS_NOT_SYNCED = "preemption: not eligible until the PodDisruptionBudget informer has synced."


class PostFilter:
    """Preemption for one SchedulerDaemon; see the module docstring."""

    def __init__(
        self,
        client: APIClient,
        cache: SchedulerCache,
        scheduler: Scheduler,
        recorder: EventRecorder,
        scheduler_name: str,
    ) -> None:
        self.client = client
        self.cache = cache
        self.recorder = recorder
        self.scheduler_name = scheduler_name
        self.budgets = Informer(client, POD_DISRUPTION_BUDGETS)
        self.nominator = Nominator()
        self.preemptor = Preemptor(scheduler, cache.pods_on)
        self.preemptions = 0
        """Preemptions carried out, for tests and debugging."""
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.budgets.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.budgets.stop()

    # --- around a scheduling cycle -----------------------------------------------------------

    def reserve(self, pod: Mapping[str, Any]) -> list[Pod]:
        return self.nominator.reserve(self.cache.table, pod)

    def release(self, reserved: list[Pod]) -> None:
        self.nominator.release(self.cache.table, reserved)

    def run(
        self,
        pod: Pod,
        filtered: FilterResult,
        *,
        spread_selectors: Selectors = None,
        volume_conflicts: NDArray[np.int8] | None = None,
    ) -> str:
        """Preempt for a pod that no node fits; return the "preemption: ..." text, "" when a node was nominated.

        spread_selectors and volume_conflicts are those the failed cycle
        filtered with, so the simulation applies the same constraints.
        """
        if not self.budgets.has_synced:
            return BUDGETS_NOT_SYNCED
        key = pod_key(pod)
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        budgets = [budget for budget in self.budgets.store.list() if budget["metadata"].get("namespace") == namespace]
        compiled = self.preemptor.scheduler.compile(
            pod, spread_selectors=spread_selectors, volume_conflicts=volume_conflicts
        )
        outcome = self.preemptor.preempt(
            pod, filtered, budgets,
            compiled=compiled, victims_pending=self.nominator.victims_pending(key, self.cache.table),
        )  # fmt: skip
        candidate = outcome.candidate
        if candidate is None:
            return outcome.message
        displaced = self.nominator.nominate(pod, candidate.node, candidate.victims)
        self.preemptions += 1
        task = asyncio.ensure_future(self._carry_out(pod, candidate, displaced))
        task.set_name(f"preempt-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return ""

    async def _carry_out(self, pod: Pod, candidate: Candidate, displaced: list[Pod]) -> None:
        if not await carry_out(self.client, self.recorder, self.scheduler_name, pod, candidate, displaced):
            # The victims that remain would keep the pod waiting for them forever.
            log.warning("preemption incomplete, dropping the nomination pod=%s node=%s", pod_key(pod), candidate.node)
            self.nominator.remove(pod_key(pod))

    # --- informer events ---------------------------------------------------------------------

    def forget(self, key: str) -> None:
        """Drop the nomination of a pod that was placed, deleted or is no longer pending."""
        self.nominator.remove(key)

    def update(self, pod: Pod) -> None:
        self.nominator.update(pod)
