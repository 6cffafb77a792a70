"""The garbage collector: deletes objects whose owners are gone, and runs foreground and orphan deletion.

Objects name their owners in ``metadata.ownerReferences`` (by uid). The
collector watches every monitored resource through the shared informers,
so their caches form the ownership graph (``garbagecollector_graph``). One
work queue contains object uids, and processing a uid does one of three things:

- Orphan: the object is being deleted and carries the "orphan" finalizer.
  The collector removes the references to it from all its dependents,
  then removes the finalizer, and the server deletes the object.
- Foreground: the object is being deleted and carries the
  "foregroundDeletion" finalizer. Its dependents are queued, and each one
  sees this owner waiting and is deleted. Once no dependent with
  ``blockOwnerDeletion: true`` remains, the collector removes the
  finalizer.
- Background: the object has ownerReferences. When no owner is present
  (``garbagecollector_owners`` checks the cache, then the server), the
  object is deleted with a uid precondition. Its own policy follows its
  finalizers, and an object whose owner waits in the foreground and that
  has dependents itself is deleted in the foreground, so the wait
  cascades. When some owner is present, references to owners that are
  gone (dangling) or waiting are removed instead.

Handlers queue the objects a change can affect: the object itself, the
dependents of a deleted or deleting owner, and the owners of a changed or
deleted dependent.

Differences from Kubernetes: only the resources in ``MONITORED`` are
collected (Events are skipped), and an owner of another kind is assumed
present; owners are not tracked as "virtual" nodes before they appear in
a cache; ``blockOwnerDeletion`` deadlocks between two foreground deletions
are not broken.
"""

from __future__ import annotations

import logging

from pykube_control.client.api import APIClient, PropagationPolicy
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.resource import Resource, resource_for
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.garbagecollector_graph import OwnerGraph, owner_references, uid_of
from pykube_control.controllers.garbagecollector_owners import (
    FOREGROUND_FINALIZER,
    ORPHAN_FINALIZER,
    OwnerResolver,
    is_deleting_with,
)

log = logging.getLogger("pykube.controllers.garbagecollector")

COMPONENT = "garbage-collector-controller"
"""The Event source component, as kube-controller-manager names it."""

MONITORED: tuple[Resource, ...] = tuple(
    resource_for(group, version, plural)
    for group, version, plural in (
        ("", "v1", "pods"),
        ("", "v1", "replicationcontrollers"),
        ("", "v1", "configmaps"),
        ("", "v1", "secrets"),
        ("", "v1", "services"),
        ("", "v1", "endpoints"),
        ("", "v1", "serviceaccounts"),
        ("", "v1", "persistentvolumeclaims"),
        ("", "v1", "persistentvolumes"),
        ("", "v1", "nodes"),
        ("apps", "v1", "deployments"),
        ("apps", "v1", "replicasets"),
        ("apps", "v1", "daemonsets"),
        ("batch", "v1", "jobs"),
        ("discovery.k8s.io", "v1", "endpointslices"),
        ("networking.k8s.io", "v1", "ingresses"),
        ("coordination.k8s.io", "v1", "leases"),
    )
)
"""Resources whose objects can be owners or dependents; Events are left to expire instead."""


class GarbageCollector:
    """Collects dependents of deleted owners; see the module docstring."""

    name = "garbagecollector"

    def __init__(self, context: ControllerContext, *, resources: tuple[Resource, ...] = MONITORED) -> None:
        self._client: APIClient = context.client
        informers = [(resource, context.informers.get(resource)) for resource in resources]
        self._graph = OwnerGraph(informers)
        self._owners = OwnerResolver(context.client, self._graph, context.recorder(COMPONENT))
        self._queue: WorkQueue[str] = WorkQueue("garbagecollector")
        for resource, informer in informers:
            self._watch(resource, informer)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()

    # --- handlers --------------------------------------------------------------------------

    def _watch(self, resource: Resource, informer: Informer) -> None:
        graph, queue = self._graph, self._queue

        async def on_add(obj: Object) -> None:
            graph.record(resource, obj)
            self._queue_affected(obj)

        async def on_update(old: Object, new: Object) -> None:
            graph.record(resource, new)
            self._queue_affected(new)
            # An owner dropped from the references may be waiting for this dependent to go.
            for reference in owner_references(old):
                queue.add(str(reference["uid"]))

        async def on_delete(obj: Object, final_state_unknown: bool) -> None:
            graph.forget(obj)
            for _, dependent in graph.dependents(uid_of(obj)):
                queue.add(uid_of(dependent))
            for reference in owner_references(obj):
                queue.add(str(reference["uid"]))

        informer.add_handlers(on_add=on_add, on_update=on_update, on_delete=on_delete)

    def _queue_affected(self, obj: Object) -> None:
        uid = uid_of(obj)
        if not uid:
            return
        metadata = obj.get("metadata") or {}
        if metadata.get("ownerReferences"):
            self._queue.add(uid)
        if metadata.get("deletionTimestamp") and {ORPHAN_FINALIZER, FOREGROUND_FINALIZER} & set(
            metadata.get("finalizers") or []
        ):
            self._queue.add(uid)

    # --- processing ------------------------------------------------------------------------

    async def sync(self, uid: str) -> None:
        """Process the object with ``uid``; raise on API errors so the worker retries it."""
        found = self._graph.lookup(uid)
        if found is None:
            return
        resource, obj = found
        if is_deleting_with(obj, ORPHAN_FINALIZER):
            await self._orphan_dependents(resource, obj)
        elif is_deleting_with(obj, FOREGROUND_FINALIZER):
            await self._delete_in_foreground(resource, obj)
        elif owner_references(obj) and not (obj.get("metadata") or {}).get("deletionTimestamp"):
            await self._collect(resource, obj)

    async def _collect(self, resource: Resource, obj: Object) -> None:
        """Delete ``obj`` when none of its owners is present, else drop its dangling and waiting references."""
        references = owner_references(obj)
        owners = await self._owners.classify(obj, references)
        if owners.present:
            stale = {str(ref["uid"]) for ref in owners.absent + owners.waiting}
            if stale:
                await self._remove_references(resource, obj, stale)
            return
        policy = self._policy_for(obj, bool(owners.waiting))
        await self._delete(resource, obj, policy)

    def _policy_for(self, obj: Object, owner_waiting: bool) -> PropagationPolicy:
        finalizers = (obj.get("metadata") or {}).get("finalizers") or []
        if ORPHAN_FINALIZER in finalizers:
            return "Orphan"
        if FOREGROUND_FINALIZER in finalizers:
            return "Foreground"
        if owner_waiting and self._graph.dependents(uid_of(obj)):
            return "Foreground"
        return "Background"

    async def _delete(self, resource: Resource, obj: Object, policy: PropagationPolicy) -> None:
        metadata = obj["metadata"]
        namespace, name, uid = metadata.get("namespace"), str(metadata["name"]), uid_of(obj)
        log.info("deleting dependent resource=%s namespace=%s name=%s uid=%s propagation=%s",
                 resource.plural, namespace or "", name, uid, policy)  # fmt: skip
        try:
            await self._client.delete(
                resource, name, namespace=namespace, propagation_policy=policy, precondition_uid=uid
            )
        except NotFound:
            return
        except Conflict:
            # The uid precondition failed: a new object took the name, and it is not ours to delete.
            log.info("dependent replaced before deletion resource=%s namespace=%s name=%s uid=%s",
                     resource.plural, namespace or "", name, uid)  # fmt: skip

    async def _orphan_dependents(self, resource: Resource, owner: Object) -> None:
        uid = uid_of(owner)
        # NOTE: a dependent created just before the owner's deletion but not yet cached keeps its
        # reference, and is later collected as dangling instead of orphaned.
        for dependent_resource, dependent in self._graph.dependents(uid):
            await self._remove_references(dependent_resource, dependent, {uid})
        await self._remove_finalizer(resource, owner, ORPHAN_FINALIZER)

    async def _delete_in_foreground(self, resource: Resource, owner: Object) -> None:
        uid = uid_of(owner)
        blocking = 0
        for _, dependent in self._graph.dependents(uid):
            self._queue.add(uid_of(dependent))
            if any(ref["uid"] == uid and ref.get("blockOwnerDeletion") for ref in owner_references(dependent)):
                blocking += 1
        if blocking:
            log.info("owner waiting for dependents resource=%s name=%s uid=%s blocking=%d",
                     resource.plural, owner["metadata"]["name"], uid, blocking)  # fmt: skip
            return
        await self._remove_finalizer(resource, owner, FOREGROUND_FINALIZER)

    async def _remove_references(self, resource: Resource, obj: Object, owner_uids: set[str]) -> None:
        """Drop the ownerReferences to ``owner_uids`` from ``obj``; Conflict (a newer copy exists) propagates."""
        metadata = obj["metadata"]
        kept = [ref for ref in metadata.get("ownerReferences") or [] if str(ref.get("uid")) not in owner_uids]
        patch = {"metadata": {"ownerReferences": kept or None, "resourceVersion": metadata.get("resourceVersion")}}
        log.info("removing owner references resource=%s namespace=%s name=%s owner_uids=%s",
                 resource.plural, metadata.get("namespace", ""), metadata["name"], ",".join(sorted(owner_uids)))  # fmt: skip
        try:
            await self._client.patch(resource, str(metadata["name"]), patch, namespace=metadata.get("namespace"))
        except NotFound:
            return

    async def _remove_finalizer(self, resource: Resource, obj: Object, finalizer: str) -> None:
        metadata = obj["metadata"]
        kept = [f for f in metadata.get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": kept or None, "resourceVersion": metadata.get("resourceVersion")}}
        log.info("removing finalizer resource=%s namespace=%s name=%s finalizer=%s",
                 resource.plural, metadata.get("namespace", ""), metadata["name"], finalizer)  # fmt: skip
        try:
            await self._client.patch(resource, str(metadata["name"]), patch, namespace=metadata.get("namespace"))
        except NotFound:
            return


def new_garbage_collector(context: ControllerContext) -> GarbageCollector:
    return GarbageCollector(context)
