"""Classifying the owners of a dependent: present, gone, or waiting for their dependents.

The garbage collector deletes a dependent only when none of its owners is
present. The informers' caches may lag behind the store, so an owner that
the cache does not have is looked up with a live GET by name before it
counts as gone. A live object with a different uid counts as gone too,
because the owner was deleted and another object took its name.

An owner reference is invalid when it points across namespaces: a
namespaced owner can only own dependents in its own namespace, and a
cluster-scoped dependent cannot have a namespaced owner. Such a reference
counts as gone, and the collector records an OwnerRefInvalidNamespace
Warning on the dependent, as Kubernetes does.
"""

from __future__ import annotations

import dataclasses
import enum
import logging

from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import Object
from pykube_control.controllers.garbagecollector_graph import OwnerGraph, uid_of

log = logging.getLogger("pykube.controllers.garbagecollector")

FOREGROUND_FINALIZER = "foregroundDeletion"
ORPHAN_FINALIZER = "orphan"


class OwnerState(enum.Enum):
    PRESENT = "present"
    ABSENT = "absent"
    """Not found, found with another uid, or referenced across namespaces."""
    WAITING = "waiting"
    """Being deleted in the foreground, so its dependents must go first."""
    UNRESOLVABLE = "unresolvable"
    """Of a kind the collector does not monitor; treated as present so nothing is deleted by mistake."""


@dataclasses.dataclass
class Owners:
    """The ownerReferences of one dependent, grouped by their owner's state."""

    present: list[Object] = dataclasses.field(default_factory=list)
    absent: list[Object] = dataclasses.field(default_factory=list)
    waiting: list[Object] = dataclasses.field(default_factory=list)


def is_deleting_with(obj: Object, finalizer: str) -> bool:
    """Return whether ``obj`` has a deletionTimestamp and still carries ``finalizer``."""
    metadata = obj.get("metadata") or {}
    return bool(metadata.get("deletionTimestamp")) and finalizer in (metadata.get("finalizers") or [])


def _state_of(owner: Object) -> OwnerState:
    return OwnerState.WAITING if is_deleting_with(owner, FOREGROUND_FINALIZER) else OwnerState.PRESENT


class OwnerResolver:
    """Finds the state of each owner of a dependent, from the cache first and the API server second."""

    def __init__(self, client: APIClient, graph: OwnerGraph, recorder: EventRecorder) -> None:
        self._client = client
        self._graph = graph
        self._recorder = recorder

    async def classify(self, dependent: Object, references: list[Object]) -> Owners:
        owners = Owners()
        for reference in references:
            state = await self.state_of(dependent, reference)
            if state is OwnerState.ABSENT:
                owners.absent.append(reference)
            elif state is OwnerState.WAITING:
                owners.waiting.append(reference)
            else:
                owners.present.append(reference)
        return owners

    async def state_of(self, dependent: Object, reference: Object) -> OwnerState:
        """Return the state of the owner ``reference`` names; raise APIError when the live GET fails."""
        resource = self._graph.resource_of(reference)
        metadata = dependent.get("metadata") or {}
        if resource is None:
            log.warning(
                "owner kind not monitored, keeping dependent dependent=%s/%s owner_kind=%s owner_api_version=%s",
                metadata.get("namespace", ""), metadata.get("name"), reference.get("kind"), reference.get("apiVersion"),
            )  # fmt: skip
            return OwnerState.UNRESOLVABLE
        namespace = metadata.get("namespace")
        if resource.namespaced and not namespace:
            await self._invalid_reference(dependent, reference, None)
            return OwnerState.ABSENT

        uid = str(reference["uid"])
        cached = self._graph.lookup(uid)
        if cached is not None:
            owner_namespace = (cached[1].get("metadata") or {}).get("namespace")
            if not resource.namespaced or owner_namespace == namespace:
                return _state_of(cached[1])
            await self._invalid_reference(dependent, reference, namespace)
            return OwnerState.ABSENT

        try:
            live = await self._client.get(resource, str(reference.get("name") or ""), namespace=namespace)
        except NotFound:
            return OwnerState.ABSENT
        if uid_of(live) != uid:
            return OwnerState.ABSENT
        return _state_of(live)

    async def _invalid_reference(self, dependent: Object, reference: Object, namespace: str | None) -> None:
        where = f'namespace "{namespace}"' if namespace else "the cluster scope"
        message = (
            f"ownerRef [{reference.get('apiVersion')}/{reference.get('kind')}, namespace: {namespace or ''}, "
            f"name: {reference.get('name')}, uid: {reference.get('uid')}] does not exist in {where}"
        )
        await self._recorder.record(dependent, "Warning", "OwnerRefInvalidNamespace", message)
