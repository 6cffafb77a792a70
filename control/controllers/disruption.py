"""The disruption controller: keep every PodDisruptionBudget's status current.

The eviction API and the scheduler's preemption decide from a budget's
status alone (disruptionsAllowed, currentHealthy, desiredHealthy), so the
status must follow the pods. The controller queues a budget when it
changes, and when a pod it selects (before or after the change) is added,
updated or deleted. A sync recounts the budget from the shared informers'
caches (see disruption_status for the arithmetic) and writes the status
only when it differs. A budget with pending disruptedPods entries is synced
again when the first of them expires.

ReplicaSet, Deployment and ReplicationController informers give the
controllers' scale that maxUnavailable and percentage budgets need; a
change of spec.replicas queues the budgets of the namespace.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

from pykube_core.disruption import budget_selects

from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.indexer import BY_NAMESPACE, Object, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import DEPLOYMENTS, POD_DISRUPTION_BUDGETS, PODS, REPLICA_SETS, resource_for
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.disruption_status import (
    SyncError,
    budget_status,
    count_budget,
    failed_status,
)

log = logging.getLogger("pykube.controllers.disruption")

REPLICATION_CONTROLLERS = resource_for("", "v1", "replicationcontrollers")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def _stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_times(status: Object) -> Object:
    """Return the status without condition transition times, to compare two statuses by content."""
    conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []]
    return {**status, "conditions": conditions}


class DisruptionController:
    """Writes the status of every PodDisruptionBudget; see the module docstring."""

    name = "disruption"

    def __init__(self, context: ControllerContext) -> None:
        self._client: APIClient = context.client
        self._budgets: Informer = context.informers.get(POD_DISRUPTION_BUDGETS)
        self._pods: Informer = context.informers.get(PODS)
        self._replica_sets: Informer = context.informers.get(REPLICA_SETS)
        self._deployments: Informer = context.informers.get(DEPLOYMENTS)
        self._replication_controllers: Informer = context.informers.get(REPLICATION_CONTROLLERS)
        self._queue: WorkQueue[str] = WorkQueue("disruption")
        self._budgets.add_handlers(on_add=self._on_budget, on_update=self._on_budget_update)
        self._pods.add_handlers(on_add=self._on_pod, on_update=self._on_pod_update, on_delete=self._on_pod_delete)
        for workloads in (self._replica_sets, self._deployments, self._replication_controllers):
            workloads.add_handlers(on_update=self._on_workload_update)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()

    # --- informer handlers -------------------------------------------------------------------

    async def _on_budget(self, budget: Object) -> None:
        self._queue.add(object_key(budget))

    async def _on_budget_update(self, old: Object, new: Object) -> None:
        self._queue.add(object_key(new))

    async def _on_pod(self, pod: Object) -> None:
        self._queue_budgets_of(pod)

    async def _on_pod_update(self, old: Object, new: Object) -> None:
        self._queue_budgets_of(old)
        self._queue_budgets_of(new)

    async def _on_pod_delete(self, obj: Object, final_state_unknown: bool) -> None:
        self._queue_budgets_of(obj)

    async def _on_workload_update(self, old: Object, new: Object) -> None:
        if (old.get("spec") or {}).get("replicas") == (new.get("spec") or {}).get("replicas"):
            return
        namespace = (new.get("metadata") or {}).get("namespace") or ""
        for budget in self._budgets.store.by_index(BY_NAMESPACE, namespace):
            self._queue.add(object_key(budget))

    def _queue_budgets_of(self, pod: Object) -> None:
        namespace = (pod.get("metadata") or {}).get("namespace") or ""
        for budget in self._budgets.store.by_index(BY_NAMESPACE, namespace):
            if budget_selects(budget, pod):
                self._queue.add(object_key(budget))

    # --- reconcile ---------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Recount one budget and write its status when it changed."""
        budget = self._budgets.store.get(key)
        if budget is None:
            return
        namespace, name = split_key(key)
        pods = [pod for pod in self._pods.store.by_index(BY_NAMESPACE, namespace or "") if budget_selects(budget, pod)]
        now = _now()
        try:
            counts = count_budget(budget, pods, self._scale_of, now)
        except SyncError as error:
            log.warning("budget sync failed budget=%s error=%s", key, error)
            status = failed_status(error, budget, _stamp(now))
        else:
            status = budget_status(counts, budget, _stamp(now))
            if counts.next_expiry is not None:
                self._queue.add_after(key, max(0.0, (counts.next_expiry - now).total_seconds()))
        if _without_times(status) == _without_times(budget.get("status") or {}):
            return
        updated: dict[str, Any] = {**budget, "status": status}
        try:
            await self._client.update_status(POD_DISRUPTION_BUDGETS, updated, namespace=namespace)
        except NotFound:
            return
        except Conflict:
            # The informer shows the newer budget soon and queues it again.
            log.info("budget status conflict, will retry budget=%s", key)
            return
        log.info(
            "budget status updated budget=%s disruptions_allowed=%s current_healthy=%s desired_healthy=%s",
            key, status.get("disruptionsAllowed"), status.get("currentHealthy"), status.get("desiredHealthy"),
        )  # fmt: skip

    def _scale_of(self, namespace: str, reference: Mapping[str, Any]) -> tuple[str, int] | None:
        kind = reference.get("kind")
        name = str(reference.get("name") or "")
        if kind == "ReplicationController":
            return _replicas(self._replication_controllers.store.get_by_name(name, namespace), reference)
        if kind != "ReplicaSet":
            # NOTE: StatefulSets and other kinds with a scale subresource are not looked up yet.
            return None
        replica_set = self._replica_sets.store.get_by_name(name, namespace)
        if replica_set is None:
            return None
        for owner in (replica_set.get("metadata") or {}).get("ownerReferences") or []:
            if owner.get("controller") and owner.get("kind") == "Deployment":
                deployment = self._deployments.store.get_by_name(str(owner.get("name") or ""), namespace)
                return _replicas(deployment, owner)
        return _replicas(replica_set, reference)


def _replicas(workload: Object | None, reference: Mapping[str, Any]) -> tuple[str, int] | None:
    """Return (uid, spec.replicas) of the workload when it is the one the reference names."""
    if workload is None or (workload.get("metadata") or {}).get("uid") != reference.get("uid"):
        return None
    replicas = (workload.get("spec") or {}).get("replicas")
    return str(reference.get("uid")), int(1 if replicas is None else replicas)


def new_disruption_controller(context: ControllerContext) -> DisruptionController:
    return DisruptionController(context)
