"""The ReplicaSet and ReplicationController controllers: keep N pods of a template running.

Both kinds share one implementation (``ReplicaController``) that differs
only in the resource and in how the selector is written: a LabelSelector
on ReplicaSets, a plain label map on ReplicationControllers.

One sync of an owner, from the informers' caches:

1. Claim pods: adopt active orphans that match the selector, release owned
   pods that stopped matching, ignore pods owned by another controller.
2. Unless expectations from an earlier sync are unmet, create or delete
   pods so the active ones number ``spec.replicas``. Creates run in slow
   start batches (1, 2, 4, ...) that stop at the first failure, and at
   most ``burst_replicas`` pods change per sync. Surplus pods go in
   ``deletion_order``.
3. Write status (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas, observedGeneration) through the status subresource
   when it changed, and sync again when a ready pod will become available
   after minReadySeconds.

Differences from Kubernetes: no ReplicaFailure condition is written, and
adoption writes the whole pod (update with its resourceVersion) instead of
a strategic merge patch, so a concurrent change makes it retry.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import logging
from collections.abc import Callable
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import Operator, Requirement, Selector, selector_from_label_selector

from pykube_control.client.errors import APIError, Conflict, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import BY_NAMESPACE, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import PODS, REPLICA_SETS, Resource, ResourceLike, resource_for
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.owned_pods import owner_key_of
from pykube_control.controllers.replicaset_util import (
    Expectations,
    Object,
    controller_ref,
    deletion_order,
    format_time,
    is_being_deleted,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    labels_of,
    metadata,
    now_utc,
    owner_reference,
)

log = logging.getLogger("pykube.controllers")

BURST_REPLICAS = 500
"""Pods created or deleted per sync at most, as kube-controller-manager's burstReplicas,
so one huge scale-up does not flood the API server in one go."""

REPLICATION_CONTROLLERS: Resource = resource_for("", "v1", "replicationcontrollers")

SelectorOf = Callable[[Object], Selector]


def replicaset_selector(owner: Object) -> Selector:
    """Return the ReplicaSet's selector; an invalid or missing one matches nothing."""
    try:
        return selector_from_label_selector((owner.get("spec") or {}).get("selector"))
    except (FieldError, ValueError):
        return Selector.nothing()


def replication_controller_selector(owner: Object) -> Selector:
    """Return the ReplicationController's map selector (its template labels when empty)."""
    spec = owner.get("spec") or {}
    labels = spec.get("selector") or ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not labels:
        return Selector.nothing()
    return Selector.from_requirements(Requirement(key, Operator.EQUALS, (str(value),)) for key, value in labels.items())


class ReplicaController:
    """Keeps ``spec.replicas`` active pods for every owner of ``resource``; see the module docstring."""

    def __init__(
        self,
        context: ControllerContext,
        *,
        name: str,
        resource: ResourceLike,
        selector_of: SelectorOf,
        component: str,
        burst_replicas: int = BURST_REPLICAS,
        expectations: Expectations | None = None,
    ) -> None:
        self.name = name
        self.client = context.client
        self.resource = resource
        self.selector_of = selector_of
        self.recorder: EventRecorder = context.recorder(component)
        self.burst_replicas = burst_replicas
        self.expectations = expectations or Expectations()
        self.queue: WorkQueue[str] = WorkQueue(name)
        self.owners: Informer = context.informers.get(resource)
        self.pods: Informer = context.informers.get(PODS)
        self.owners.add_handlers(on_add=self._owner_added, on_update=self._owner_updated, on_delete=self._owner_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self.queue, workers, self.sync)
        finally:
            self.queue.shutdown()

    # --- event handlers -----------------------------------------------------------------------

    async def _owner_added(self, owner: Object) -> None:
        self.queue.add(object_key(owner))

    async def _owner_updated(self, old: Object, new: Object) -> None:
        self.queue.add(object_key(new))

    async def _owner_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        key = object_key(obj)
        self.expectations.forget(key)
        self.queue.add(key)

    def _owner_key_of(self, pod: Object) -> str | None:
        """Return the cache key of the pod's controller when it is an owner of this controller's kind."""
        return owner_key_of(pod, self.resource.kind, self.owners)

    def _enqueue_matching_owners(self, pod: Object) -> None:
        namespace = str(metadata(pod).get("namespace") or "")
        for owner in self.owners.store.by_index(BY_NAMESPACE, namespace):
            if self.selector_of(owner).matches(labels_of(pod)):
                self.queue.add(object_key(owner))

    async def _pod_added(self, pod: Object) -> None:
        if is_being_deleted(pod):
            await self._pod_deleted(pod, False)
            return
        owner_key = self._owner_key_of(pod)
        if owner_key is not None:
            self.expectations.creation_observed(owner_key)
            self.queue.add(owner_key)
        elif controller_ref(pod) is None:
            self._enqueue_matching_owners(pod)

    async def _pod_updated(self, old: Object, new: Object) -> None:
        if metadata(old).get("resourceVersion") == metadata(new).get("resourceVersion"):
            return
        if is_being_deleted(new):
            await self._pod_deleted(new, False)
            return
        old_owner = self._owner_key_of(old)
        new_owner = self._owner_key_of(new)
        if old_owner is not None and old_owner != new_owner:
            self.queue.add(old_owner)
        if new_owner is not None:
            self.queue.add(new_owner)
            self._requeue_for_availability(new_owner, old, new)
        elif controller_ref(new) is None and (labels_of(old) != labels_of(new) or controller_ref(old) is not None):
            self._enqueue_matching_owners(new)

    def _requeue_for_availability(self, owner_key: str, old: Object, new: Object) -> None:
        # A pod that just became ready turns available minReadySeconds later without another event.
        owner = self.owners.store.get(owner_key)
        min_ready = int(((owner or {}).get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready > 0 and not is_pod_ready(old) and is_pod_ready(new):
            self.queue.add_after(owner_key, min_ready + 1)

    async def _pod_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        owner_key = self._owner_key_of(obj)
        if owner_key is None:
            return
        self.expectations.deletion_observed(owner_key, object_key(obj))
        self.queue.add(owner_key)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Reconcile one owner from the caches; raise to retry with back-off."""
        owner = self.owners.store.get(key)
        if owner is None:
            self.expectations.forget(key)
            return
        namespace, _ = split_key(key)
        selector = self.selector_of(owner)
        candidates = [pod for pod in self.pods.store.by_index(BY_NAMESPACE, namespace or "") if is_pod_active(pod)]
        pods = await self._claim_pods(owner, selector, candidates)

        failure: tuple[str, APIError] | None = None
        if self.expectations.satisfied(key) and not is_being_deleted(owner):
            try:
                await self._manage_replicas(key, owner, pods)
            except APIError as error:
                # As in Kubernetes, the status still reports the pods that exist
                # and the failure, and the sync is retried with back-off.
                desired = int((owner.get("spec") or {}).get("replicas", 1))
                failure = ("FailedCreate" if len(pods) < desired else "FailedDelete", error)
        await self._update_status(key, owner, pods, failure)
        if failure is not None:
            raise failure[1]

    async def _claim_pods(self, owner: Object, selector: Selector, candidates: list[Object]) -> list[Object]:
        """Return the active pods this owner controls after adopting and releasing as needed."""
        uid = metadata(owner).get("uid")
        owner_deleting = is_being_deleted(owner)
        claimed: list[Object] = []
        owner_checked = False
        for pod in candidates:
            reference = controller_ref(pod)
            matches = selector.matches(labels_of(pod))
            if reference is not None and reference.get("uid") == uid:
                if matches or owner_deleting:
                    claimed.append(pod)
                else:
                    await self._release(owner, pod)
            elif reference is None and matches and not owner_deleting:
                if not owner_checked:
                    if not await self._owner_still_current(owner):
                        return claimed
                    owner_checked = True
                adopted = await self._adopt(owner, pod)
                if adopted is not None:
                    claimed.append(adopted)
        return claimed

    async def _owner_still_current(self, owner: Object) -> bool:
        # Adoption must not race with the owner's deletion, so read it live as Kubernetes does.
        meta = metadata(owner)
        try:
            live = await self.client.get(self.resource, meta["name"], namespace=meta.get("namespace"))
        except NotFound:
            return False
        return metadata(live).get("uid") == meta.get("uid") and not is_being_deleted(live)

    async def _adopt(self, owner: Object, pod: Object) -> Object | None:
        updated = copy.deepcopy(pod)
        references = metadata(updated).setdefault("ownerReferences", [])
        references.append(owner_reference(owner))
        try:
            result = await self.client.update(PODS, updated)
        except NotFound:
            return None
        log.info("pod adopted owner=%s pod=%s", object_key(owner), object_key(pod))
        return result

    async def _release(self, owner: Object, pod: Object) -> None:
        updated = copy.deepcopy(pod)
        uid = metadata(owner).get("uid")
        meta = metadata(updated)
        meta["ownerReferences"] = [ref for ref in meta.get("ownerReferences") or [] if ref.get("uid") != uid]
        try:
            await self.client.update(PODS, updated)
        except NotFound:
            return
        log.info("pod released owner=%s pod=%s", object_key(owner), object_key(pod))

    async def _manage_replicas(self, key: str, owner: Object, pods: list[Object]) -> None:
        wanted = int((owner.get("spec") or {}).get("replicas", 1))
        diff = len(pods) - wanted
        if diff < 0:
            await self._create_pods(key, owner, min(-diff, self.burst_replicas))
        elif diff > 0:
            await self._delete_pods(key, owner, pods, min(diff, self.burst_replicas))

    async def _create_pods(self, key: str, owner: Object, count: int) -> None:
        self.expectations.expect(key, creations=count)
        created = 0
        batch = 1
        error: APIError | None = None
        while created < count and error is None:
            size = min(batch, count - created)
            results = await asyncio.gather(
                *(self._create_pod(owner) for _ in range(size)), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    if not isinstance(result, APIError):
                        raise result
                    error = result
                else:
                    created += 1
            batch *= 2
        # Creates that failed or never started will produce no watch event.
        for _ in range(count - created):
            self.expectations.creation_observed(key)
        if error is not None:
            raise error

    async def _create_pod(self, owner: Object) -> None:
        pod = pod_from_template(owner)
        try:
            created = await self.client.create(PODS, pod, namespace=metadata(owner).get("namespace"))
        except APIError as error:
            await self.recorder.record(owner, "Warning", "FailedCreate", f"Error creating: {error.message or error}")
            raise
        name = metadata(created).get("name")
        log.info("pod created owner=%s pod=%s", object_key(owner), name)
        await self.recorder.record(owner, "Normal", "SuccessfulCreate", f"Created pod: {name}")

    async def _delete_pods(self, key: str, owner: Object, pods: list[Object], count: int) -> None:
        victims = deletion_order(pods, pods)[:count]
        self.expectations.expect(key, deletions=[object_key(pod) for pod in victims])
        results = await asyncio.gather(*(self._delete_pod(key, owner, pod) for pod in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _delete_pod(self, key: str, owner: Object, pod: Object) -> None:
        meta = metadata(pod)
        try:
            await self.client.delete(PODS, meta["name"], namespace=meta.get("namespace"), precondition_uid=meta.get("uid"))
        except (NotFound, Conflict):
            # Already gone, or replaced by a pod of the same name: either way no deletion event will come.
            self.expectations.deletion_observed(key, object_key(pod))
            return
        except APIError as error:
            self.expectations.deletion_observed(key, object_key(pod))
            await self.recorder.record(owner, "Warning", "FailedDelete", f"Error deleting: {error.message or error}")
            raise
        log.info("pod deleted owner=%s pod=%s", object_key(owner), meta["name"])
        await self.recorder.record(owner, "Normal", "SuccessfulDelete", f"Deleted pod: {meta['name']}")

    async def _update_status(
        self, key: str, owner: Object, pods: list[Object], failure: tuple[str, APIError] | None = None
    ) -> None:
        spec = owner.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = now_utc()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        status = dict(owner.get("status") or {})
        new_status = {
            **status,
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(
                1 for pod in pods if all(labels_of(pod).get(k) == v for k, v in template_labels.items())
            ),
            "readyReplicas": sum(1 for pod in pods if is_pod_ready(pod)),
            "availableReplicas": sum(1 for pod in pods if is_pod_available(pod, min_ready, now)),
            "observedGeneration": metadata(owner).get("generation", 0),
        }
        conditions = replica_failure_conditions(status.get("conditions") or [], failure, now)
        if conditions:
            new_status["conditions"] = conditions
        else:
            new_status.pop("conditions", None)
        if new_status != status:
            updated = copy.deepcopy(owner)
            updated["status"] = new_status
            await self.client.update_status(self.resource, updated)
        if min_ready > 0 and new_status["readyReplicas"] > new_status["availableReplicas"]:
            self.queue.add_after(key, min_ready)


def replica_failure_conditions(
    conditions: list[Object], failure: tuple[str, APIError] | None, now: datetime.datetime
) -> list[Object]:
    """Return ``conditions`` with ReplicaFailure set while creating or deleting pods fails, and without it once that works.

    ``failure`` is (reason, error), the reason FailedCreate or FailedDelete.
    """
    others = [condition for condition in conditions if condition.get("type") != "ReplicaFailure"]
    if failure is None:
        return others
    reason, error = failure
    message = error.message or str(error)
    previous = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if previous is not None and (previous.get("reason"), previous.get("message")) == (reason, message):
        return conditions
    condition = {"type": "ReplicaFailure", "status": "True", "lastTransitionTime": format_time(now),
                 "reason": reason, "message": message}  # fmt: skip
    return [*others, condition]


def pod_from_template(owner: Object) -> Object:
    """Build a new pod of the owner's template, controlled by the owner and named "<owner>-<random>"."""
    template: dict[str, Any] = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template_meta = template.get("metadata") or {}
    pod_meta: dict[str, Any] = {
        "generateName": f"{metadata(owner)['name']}-",
        "namespace": metadata(owner).get("namespace"),
        "labels": template_meta.get("labels") or {},
        "ownerReferences": [owner_reference(owner)],
    }
    if template_meta.get("annotations"):
        pod_meta["annotations"] = template_meta["annotations"]
    if template_meta.get("finalizers"):
        pod_meta["finalizers"] = template_meta["finalizers"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}


def new_replicaset_controller(context: ControllerContext) -> ReplicaController:
    return ReplicaController(
        context, name="replicaset", resource=REPLICA_SETS,
        selector_of=replicaset_selector, component="replicaset-controller",
    )  # fmt: skip


def new_replication_controller(context: ControllerContext) -> ReplicaController:
    return ReplicaController(
        context, name="replicationcontroller", resource=REPLICATION_CONTROLLERS,
        selector_of=replication_controller_selector, component="replication-controller",
    )  # fmt: skip
