"""Routing pod events to the controller that owns the pod.

A pod belongs to a Job, DaemonSet, ReplicaSet or ReplicationController
through its controller ownerReference. The owner counts only while the
cache has an owner of that kind, name and uid, so a pod left behind by a
deleted owner of the same name is not attributed to its successor.
"""

from __future__ import annotations

from typing import Any

from pykube_control.client.indexer import object_key
from pykube_control.client.informer import Informer
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.replicaset_util import Expectations, controller_ref, is_being_deleted, metadata

Object = dict[str, Any]


def owner_key_of(pod: Object, kind: str, owners: Informer) -> str | None:
    """Return the cache key of the pod's controller if it is a cached ``kind`` with the referenced uid."""
    reference = controller_ref(pod)
    if reference is None or reference.get("kind") != kind:
        return None
    key = f"{metadata(pod).get('namespace')}/{reference.get('name')}"
    owner = owners.store.get(key)
    if owner is None or metadata(owner).get("uid") != reference.get("uid"):
        return None
    return key


class OwnedPodHandlers:
    """Pod handlers that record expectations and queue the owner, for controllers that never adopt pods."""

    def __init__(self, kind: str, owners: Informer, expectations: Expectations, queue: WorkQueue[str]) -> None:
        self.kind = kind
        self.owners = owners
        self.expectations = expectations
        self.queue = queue

    def register(self, pods: Informer) -> None:
        pods.add_handlers(on_add=self.added, on_update=self.updated, on_delete=self.deleted)

    async def added(self, pod: Object) -> None:
        key = owner_key_of(pod, self.kind, self.owners)
        if key is None:
            return
        if is_being_deleted(pod):
            self.expectations.deletion_observed(key, object_key(pod))
        else:
            self.expectations.creation_observed(key)
        self.queue.add(key)

    async def updated(self, old: Object, new: Object) -> None:
        key = owner_key_of(new, self.kind, self.owners)
        if key is None:
            return
        if is_being_deleted(new) and not is_being_deleted(old):
            self.expectations.deletion_observed(key, object_key(new))
        self.queue.add(key)

    async def deleted(self, obj: Object, final_state_unknown: bool) -> None:
        key = owner_key_of(obj, self.kind, self.owners)
        if key is None:
            return
        self.expectations.deletion_observed(key, object_key(obj))
        self.queue.add(key)
