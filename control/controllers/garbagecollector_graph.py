"""The ownership graph of the garbage collector, read from the shared informers' caches.

Every monitored resource has a shared informer, and each informer's cache
already indexes objects by the uids in their ownerReferences
(``BY_OWNER_UID``). The graph adds the other direction, uid to object, so
the collector can find an object from a work-queue key or an owner
reference, and maps an owner reference's apiVersion and kind to the
monitored resource that serves it. Nothing is copied: lookups read the
informers' current objects, which the collector must not mutate.
"""

from __future__ import annotations

from collections.abc import Iterable

from pykube_control.client.indexer import BY_OWNER_UID, Object, object_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import Resource


class OwnerGraph:
    """Objects of the monitored resources by uid, and the dependents of each owner uid."""

    def __init__(self, informers: Iterable[tuple[Resource, Informer]]) -> None:
        self._informers = list(informers)
        self._by_kind = {(resource.group, resource.kind): resource for resource, _ in self._informers}
        self._informer_of = {(resource.group, resource.plural): informer for resource, informer in self._informers}
        self._locations: dict[str, tuple[Resource, str]] = {}

    def record(self, resource: Resource, obj: Object) -> None:
        """Remember where the object with ``obj``'s uid lives; call it on every add and update."""
        uid = uid_of(obj)
        if uid:
            self._locations[uid] = (resource, object_key(obj))

    def forget(self, obj: Object) -> None:
        self._locations.pop(uid_of(obj), None)

    def lookup(self, uid: str) -> tuple[Resource, Object] | None:
        """Return the resource and cached object with ``uid``, or None when no informer has it."""
        location = self._locations.get(uid)
        if location is None:
            return None
        resource, key = location
        obj = self._informer_of[(resource.group, resource.plural)].store.get(key)
        if obj is None or uid_of(obj) != uid:
            return None
        return resource, obj

    def dependents(self, owner_uid: str) -> list[tuple[Resource, Object]]:
        """Return every cached object with an ownerReference to ``owner_uid``."""
        found: list[tuple[Resource, Object]] = []
        for resource, informer in self._informers:
            found.extend((resource, obj) for obj in informer.store.by_index(BY_OWNER_UID, owner_uid))
        return found

    def resource_of(self, reference: Object) -> Resource | None:
        """Return the monitored resource of an ownerReference's apiVersion and kind, or None."""
        api_version = str(reference.get("apiVersion") or "")
        group = api_version.rpartition("/")[0]
        return self._by_kind.get((group, str(reference.get("kind") or "")))


def uid_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def owner_references(obj: Object) -> list[Object]:
    """Return the well-formed ownerReferences of ``obj``: objects with a uid."""
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [ref for ref in references if isinstance(ref, dict) and ref.get("uid")]
