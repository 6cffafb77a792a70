"""State shared by every request handler: the store, the watch caches and the write pipeline."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pykube_control.apiserver import storage
from pykube_control.apiserver.resources import RESOURCES, ResourceType
from pykube_control.apiserver.status import APIError, not_found
from pykube_control.apiserver.watchcache import WatchCache
from pykube_control.store.errors import KeyNotFoundError
from pykube_control.store.interface import Store

if TYPE_CHECKING:
    from pykube_control.apiserver.admission.chain import Plugin

Object = dict[str, Any]


@dataclasses.dataclass
class APIContext:
    store: Store
    caches: dict[str, WatchCache]
    """Watch cache of each resource, by qualified name."""
    namespace_locks: dict[str, asyncio.Lock] = dataclasses.field(default_factory=dict)
    admission_plugins: list[Plugin] = dataclasses.field(default_factory=list)
    kubelet_client_ssl: ssl.SSLContext | None = None
    """TLS context with the client certificate for node agents (pods/log); None without a CA."""

    @classmethod
    def create(cls, store: Store) -> APIContext:
        return cls(store, {r.qualified: WatchCache(store, r) for r in RESOURCES})

    async def start(self) -> None:
        await asyncio.gather(*(cache.start() for cache in self.caches.values()))

    async def stop(self) -> None:
        await asyncio.gather(*(cache.stop() for cache in self.caches.values()))

    def cache(self, resource: ResourceType) -> WatchCache:
        return self.caches[resource.qualified]

    def namespace_lock(self, namespace: str) -> asyncio.Lock:
        """Return the lock that serializes quota-checked writes in ``namespace``."""
        lock = self.namespace_locks.get(namespace)
        if lock is None:
            lock = self.namespace_locks[namespace] = asyncio.Lock()
        return lock

    @contextlib.asynccontextmanager
    async def write_lock(self, resource: ResourceType, namespace: str | None) -> AsyncIterator[None]:
        """Hold the namespace's lock around admission and write when a quota may count the write.

        Without a ResourceQuota in the namespace no lock is taken, so writes
        in different (or quota-free) namespaces proceed concurrently.
        """
        quotas = self.caches.get("resourcequotas")
        if namespace is None or quotas is None or not any(
            key.startswith(f"/registry/resourcequotas/{namespace}/") for key in quotas.objects
        ):
            yield
            return
        async with self.namespace_lock(namespace):
            yield

    async def read(self, resource: ResourceType, namespace: str | None, name: str) -> tuple[Object, int]:
        """Read one object from the store; raise APIError 404 if it does not exist."""
        try:
            kv = await self.store.get(storage.object_key(resource, namespace, name))
        except KeyNotFoundError:
            raise not_found(resource, name) from None
        return storage.decode_kv(kv), kv.mod_revision

    def cached_objects(self, resource: ResourceType, namespace: str | None = None) -> list[Object]:
        """Return the cached objects of ``resource`` (in ``namespace``), possibly a little stale."""
        cache = self.cache(resource)
        prefix = storage.list_prefix(resource, namespace)
        return [obj for key, (obj, _) in cache.objects.items() if key.startswith(prefix)]


def ensure_found(obj: Object | None, resource: ResourceType, name: str) -> Object:
    if obj is None:
        raise not_found(resource, name)
    return obj


__all__ = ["APIContext", "APIError", "ensure_found"]
