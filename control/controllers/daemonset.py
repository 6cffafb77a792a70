"""The DaemonSet controller: one pod of a template on every node that should run it.

One sync of a DaemonSet, from the informers' caches:

1. Group the DaemonSet's pods by the node they run on or are pinned to.
   Finished pods are deleted so they can be replaced.
2. Unless expectations from an earlier sync are unmet, create a pod for
   every eligible node without one, and delete pods on nodes that stopped
   being eligible or no longer exist, and surplus pods on one node.
3. When nothing else had to change and the update strategy is
   RollingUpdate, delete old-template pods within maxUnavailable; the next
   sync creates their replacements.
4. Write status through the status subresource when it changed.

Pods are created unscheduled with required node affinity on the node's
name, so the scheduler binds them and accounts for their resources.
Any node change requeues every DaemonSet, which is cheap for the few
DaemonSets a cluster has.

Differences from Kubernetes:

- The template version is a hash label (controller-revision-hash) without
  ControllerRevision objects, so there is no rollback history and no
  pod-template-generation label.
- maxSurge is not supported, so a rolling update always deletes the old
  pod before it creates the new one.
- Orphan pods are not adopted.
- Failed pods are replaced without back-off.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import Selector, selector_from_label_selector

from pykube_control.client.errors import APIError, Conflict, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import BY_NAMESPACE, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import DAEMON_SETS, NODES, PODS
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.daemonset_util import (
    current_hash,
    is_rolling_update,
    max_unavailable,
    pod_for_node,
    pod_hash,
    rolling_update_victims,
    should_run,
    target_node,
)
from pykube_control.controllers.owned_pods import OwnedPodHandlers
from pykube_control.controllers.replicaset_util import (
    Expectations,
    Object,
    controller_ref,
    is_being_deleted,
    is_pod_available,
    is_pod_ready,
    labels_of,
    metadata,
    now_utc,
    parse_time,
)

log = logging.getLogger("pykube.controllers")


def daemonset_selector(daemon_set: Object) -> Selector:
    """Return the DaemonSet's selector; an invalid or missing one matches nothing."""
    try:
        return selector_from_label_selector((daemon_set.get("spec") or {}).get("selector"))
    except (FieldError, ValueError):
        return Selector.nothing()


def _oldest_first(pods: list[Object], new_hash: str) -> list[Object]:
    """Order one node's pods so the one to keep comes first: current template, then oldest."""
    def rank(pod: Object) -> tuple[int, float]:
        created = parse_time(metadata(pod).get("creationTimestamp"))
        return (0 if pod_hash(pod) == new_hash else 1, created.timestamp() if created else 0.0)

    return sorted(pods, key=rank)


class DaemonSetController:
    """Keeps one pod per eligible node for every DaemonSet; see the module docstring."""

    name = "daemonset"

    def __init__(self, context: ControllerContext, *, expectations: Expectations | None = None) -> None:
        self.client = context.client
        self.recorder: EventRecorder = context.recorder("daemonset-controller")
        self.expectations = expectations or Expectations()
        self.queue: WorkQueue[str] = WorkQueue(self.name)
        self.daemon_sets: Informer = context.informers.get(DAEMON_SETS)
        self.pods: Informer = context.informers.get(PODS)
        self.nodes: Informer = context.informers.get(NODES)
        self.daemon_sets.add_handlers(on_add=self._ds_added, on_update=self._ds_updated, on_delete=self._ds_deleted)
        self.pod_events = OwnedPodHandlers("DaemonSet", self.daemon_sets, self.expectations, self.queue)
        self.pod_events.register(self.pods)
        self.nodes.add_handlers(on_add=self._node_changed, on_update=self._node_updated, on_delete=self._node_deleted)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self.queue, workers, self.sync)
        finally:
            self.queue.shutdown()

    # --- event handlers -----------------------------------------------------------------------

    async def _ds_added(self, daemon_set: Object) -> None:
        self.queue.add(object_key(daemon_set))

    async def _ds_updated(self, old: Object, new: Object) -> None:
        self.queue.add(object_key(new))

    async def _ds_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        self.expectations.forget(object_key(obj))

    async def _node_changed(self, node: Object) -> None:
        for daemon_set in self.daemon_sets.store.list():
            self.queue.add(object_key(daemon_set))

    async def _node_updated(self, old: Object, new: Object) -> None:
        if labels_of(old) != labels_of(new) or (old.get("spec") or {}) != (new.get("spec") or {}):
            await self._node_changed(new)

    async def _node_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        await self._node_changed(obj)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Reconcile one DaemonSet from the caches; raise to retry with back-off."""
        daemon_set = self.daemon_sets.store.get(key)
        if daemon_set is None or is_being_deleted(daemon_set):
            self.expectations.forget(key)
            return
        new_hash = current_hash(daemon_set)
        nodes = {str(metadata(node).get("name")): node for node in self.nodes.store.list()}
        eligible = {name for name, node in nodes.items() if should_run(daemon_set, node)}
        by_node, finished = self._pods_by_node(key, daemon_set)

        creates: list[str] = []
        deletes: list[Object] = list(finished)
        for name in eligible:
            pods = _oldest_first(by_node.get(name, []), new_hash)
            if not pods:
                creates.append(name)
            deletes.extend(pods[1:])
        for name, pods in by_node.items():
            if name not in eligible:
                deletes.extend(pods)

        if self.expectations.satisfied(key):
            if creates or deletes:
                await self._apply(key, daemon_set, creates, deletes)
            elif is_rolling_update(daemon_set):
                await self._roll(key, daemon_set, {name: by_node.get(name, []) for name in eligible}, new_hash)
        await self._update_status(daemon_set, by_node, eligible, new_hash)

    def _pods_by_node(self, key: str, daemon_set: Object) -> tuple[dict[str, list[Object]], list[Object]]:
        """Return the DaemonSet's active pods per target node, and its finished pods."""
        namespace, _ = split_key(key)
        uid = metadata(daemon_set).get("uid")
        selector = daemonset_selector(daemon_set)
        by_node: dict[str, list[Object]] = {}
        finished: list[Object] = []
        for pod in self.pods.store.by_index(BY_NAMESPACE, namespace or ""):
            if (controller_ref(pod) or {}).get("uid") != uid or is_being_deleted(pod):
                continue
            if not selector.matches(labels_of(pod)):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                finished.append(pod)
                continue
            node = target_node(pod)
            if node is not None:
                by_node.setdefault(node, []).append(pod)
        return by_node, finished

    async def _roll(self, key: str, daemon_set: Object, node_pods: dict[str, list[Object]], new_hash: str) -> None:
        min_ready = int((daemon_set.get("spec") or {}).get("minReadySeconds") or 0)
        allowed = max_unavailable(daemon_set, len(node_pods))
        victims = rolling_update_victims(node_pods, new_hash, allowed, min_ready, now_utc())
        if victims:
            log.info("rolling update daemonset=%s deleting=%d max_unavailable=%d", key, len(victims), allowed)
            await self._apply(key, daemon_set, [], victims)
        elif min_ready > 0:
            self.queue.add_after(key, min_ready)

    async def _apply(self, key: str, daemon_set: Object, creates: list[str], deletes: list[Object]) -> None:
        self.expectations.expect(key, creations=len(creates), deletions=[object_key(pod) for pod in deletes])
        new_hash = current_hash(daemon_set)
        results = await asyncio.gather(
            *(self._create_pod(key, daemon_set, node, new_hash) for node in creates),
            *(self._delete_pod(key, daemon_set, pod) for pod in deletes),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _create_pod(self, key: str, daemon_set: Object, node: str, new_hash: str) -> None:
        pod = pod_for_node(daemon_set, node, new_hash)
        try:
            created = await self.client.create(PODS, pod, namespace=metadata(daemon_set).get("namespace"))
        except APIError as error:
            self.expectations.creation_observed(key)
            await self.recorder.record(daemon_set, "Warning", "FailedCreate", f"Error creating: {error}")
            raise
        name = metadata(created).get("name")
        log.info("pod created daemonset=%s pod=%s node=%s", key, name, node)
        await self.recorder.record(daemon_set, "Normal", "SuccessfulCreate", f"Created pod: {name}")

    async def _delete_pod(self, key: str, daemon_set: Object, pod: Object) -> None:
        meta = metadata(pod)
        try:
            await self.client.delete(PODS, meta["name"], namespace=meta.get("namespace"), precondition_uid=meta.get("uid"))
        except (NotFound, Conflict):
            self.expectations.deletion_observed(key, object_key(pod))
            return
        except APIError as error:
            self.expectations.deletion_observed(key, object_key(pod))
            await self.recorder.record(daemon_set, "Warning", "FailedDelete", f"Error deleting: {error}")
            raise
        log.info("pod deleted daemonset=%s pod=%s node=%s", key, meta["name"], target_node(pod))
        await self.recorder.record(daemon_set, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    async def _update_status(
        self, daemon_set: Object, by_node: dict[str, list[Object]], eligible: set[str], new_hash: str
    ) -> None:
        min_ready = int((daemon_set.get("spec") or {}).get("minReadySeconds") or 0)
        now = now_utc()
        eligible_pods = {name: by_node.get(name, []) for name in eligible}
        available = sum(1 for pods in eligible_pods.values() if any(is_pod_available(p, min_ready, now) for p in pods))
        status: dict[str, Any] = dict(daemon_set.get("status") or {})
        new_status = {
            **status,
            "desiredNumberScheduled": len(eligible),
            "currentNumberScheduled": sum(1 for pods in eligible_pods.values() if pods),
            "numberMisscheduled": sum(1 for name, pods in by_node.items() if pods and name not in eligible),
            "numberReady": sum(1 for pods in eligible_pods.values() if any(is_pod_ready(p) for p in pods)),
            "updatedNumberScheduled": sum(1 for pods in eligible_pods.values() if any(pod_hash(p) == new_hash for p in pods)),
            "numberAvailable": available,
            "numberUnavailable": len(eligible) - available,
            "observedGeneration": metadata(daemon_set).get("generation", 0),
        }
        if new_status != status:
            updated = copy.deepcopy(daemon_set)
            updated["status"] = new_status
            await self.client.update_status(DAEMON_SETS, updated)
        if min_ready > 0 and new_status["numberReady"] > available:
            self.queue.add_after(object_key(daemon_set), min_ready)


def new_daemonset_controller(context: ControllerContext) -> DaemonSetController:
    return DaemonSetController(context)
