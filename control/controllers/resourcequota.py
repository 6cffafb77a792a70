"""The ResourceQuota controller: ``status.hard`` and ``status.used`` of every quota, recounted.

A quota's key is queued when the quota appears or its spec changes, when
an object it may count is added, changed or deleted in its namespace, and
for every quota each ``resync_period`` seconds. A worker counts the
quota's usage from the informer caches (resourcequota_count.py) and writes
the status only when the values differ from the stored ones, so its own
writes do not start another round. Each watched object's usage is cached
by uid and resourceVersion, so a recount parses only the objects that
changed since the last one.

The pods, services, configmaps, secrets, claims, replication controllers
and quotas of a namespace come from shared informers. A
``count/<resource>.<group>`` of any other resource is counted from a list
request at each sync, because informers cannot be added after the
controller starts.

This API server's quota admission already charges every write to the
quotas and recounts a quota from its store whenever the quota is written,
status included. So a status write from this controller also makes the
server recount, and the controller's part is to correct drift that
admission misses, such as an object written while the namespace's first
quota was being counted.

Differences from Kubernetes: an object being deleted (deletionTimestamp
set) counts nothing, as in the admission. Kubernetes keeps counting it
until it leaves the store.

NOTE: the caches may lag an admitted write by a moment, so a count can
briefly miss an object. The object's own watch event queues the quota
again, so the status converges, and until then admission's charge is the
stored value.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable

from pykube_core.pod_resources import ResourceList
from pykube_core.quota_usage import object_usage, usage_source
from pykube_core.resource_sum import QuantityKernel, default_quantity_kernel
from pykube_control.client.api import APIClient
from pykube_control.client.indexer import BY_NAMESPACE, Object, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import (
    CONFIGMAPS,
    PERSISTENT_VOLUME_CLAIMS,
    PODS,
    SECRETS,
    SERVICES,
    Resource,
    resource_for,
)
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.resourcequota_count import count_used, hard_limits, quota_status, status_matches

log = logging.getLogger("pykube.controllers.resourcequota")

RESOURCE_QUOTAS = resource_for("", "v1", "resourcequotas")
REPLICATION_CONTROLLERS = resource_for("", "v1", "replicationcontrollers")

RESYNC_PERIOD = 300.0
"""Seconds between full recounts of every quota, Kubernetes' --resource-quota-sync-period default (5 minutes)."""

WATCHED: dict[str, Resource] = {
    "pods": PODS,
    "services": SERVICES,
    "configmaps": CONFIGMAPS,
    "secrets": SECRETS,
    "persistentvolumeclaims": PERSISTENT_VOLUME_CLAIMS,
    "replicationcontrollers": REPLICATION_CONTROLLERS,
    "resourcequotas": RESOURCE_QUOTAS,
}
"""Resources counted from shared informers, by qualified name."""

LISTED_VERSIONS = ("v1", "v2", "v1beta2", "v1beta1", "v1alpha1")
"""Versions tried, in order, to find the served version of a resource named only by plural and group."""


def resolve_listed(qualified: str) -> Resource | None:
    """Return the served namespaced resource of ``qualified`` ("deployments.apps", "jobs.batch"), or None."""
    plural, _, group = qualified.partition(".")
    for version in LISTED_VERSIONS:
        try:
            resource = resource_for(group, version, plural)
        except KeyError:
            continue
        return resource if resource.namespaced else None
    return None


class ResourceQuotaController:
    """Keeps each ResourceQuota's status equal to its spec.hard and the usage counted in its namespace."""

    name = "resourcequota"

    def __init__(
        self,
        context: ControllerContext,
        *,
        resync_period: float = RESYNC_PERIOD,
        kernel: QuantityKernel | None = None,
    ) -> None:
        if resync_period <= 0:
            raise ValueError(f"resync_period must be > 0 seconds, got {resync_period}")
        self._client: APIClient = context.client
        self._resync_period = resync_period
        self._kernel = kernel if kernel is not None else default_quantity_kernel()
        self._queue: WorkQueue[str] = WorkQueue("resourcequota")
        self._usage_cache: dict[str, tuple[str, ResourceList]] = {}
        """The object_usage of each watched object by uid, with the resourceVersion it was measured at."""
        self._informers: dict[str, Informer] = {name: context.informers.get(r) for name, r in WATCHED.items()}
        self._quotas = self._informers["resourcequotas"]
        self._quotas.add_handlers(on_add=self._on_quota, on_update=self._on_quota_update)
        for qualified, informer in self._informers.items():
            self._watch(qualified, informer)

    async def run(self, workers: int) -> None:
        log.info("resource quota controller started resync_period=%.1f", self._resync_period)
        try:
            await asyncio.gather(self._resync(), run_workers(self._queue, workers, self.sync))
        finally:
            self._queue.shutdown()

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self._resync_period)
            for key in self._quotas.store.keys():
                self._queue.add(key)

    # --- events -----------------------------------------------------------------------------

    async def _on_quota(self, quota: Object) -> None:
        self._queue.add(object_key(quota))

    async def _on_quota_update(self, old: Object, new: Object) -> None:
        # Status-only updates are the charges of admission and this controller's own writes.
        if old.get("spec") != new.get("spec") or (new.get("status") or {}).get("hard") is None:
            self._queue.add(object_key(new))

    def _watch(self, qualified: str, informer: Informer) -> None:
        async def added(obj: Object) -> None:
            self._queue_namespace(obj)

        async def updated(old: Object, new: Object) -> None:
            if object_usage(qualified, old) != object_usage(qualified, new) or old.get("spec") != new.get("spec"):
                self._queue_namespace(new)

        async def deleted(obj: Object, final_state_unknown: bool) -> None:
            self._usage_cache.pop(str((obj.get("metadata") or {}).get("uid") or ""), None)
            self._queue_namespace(obj)

        informer.add_handlers(on_add=added, on_update=updated, on_delete=deleted)

    def _queue_namespace(self, obj: Object) -> None:
        namespace = str((obj.get("metadata") or {}).get("namespace") or "")
        if not namespace:
            return
        for quota in self._quotas.store.by_index(BY_NAMESPACE, namespace):
            self._queue.add(object_key(quota))

    # --- reconcile -----------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Write quota ``key``'s status when its hard limits or counted usage differ from the stored ones."""
        quota = self._quotas.store.get(key)
        if quota is None or (quota.get("metadata") or {}).get("deletionTimestamp"):
            return
        namespace, name = split_key(key)
        assert namespace is not None, f"quota key {key!r} has no namespace"
        hard = hard_limits(quota)
        objects = {source: await self._objects(source, namespace) for source in self._sources(hard)}
        used = count_used(quota, objects, kernel=self._kernel, usage_of=self._cached_usage)
        if status_matches(quota, hard, used):
            return
        updated = copy.deepcopy(quota)
        updated["status"] = quota_status(hard, used)
        await self._client.update_status(RESOURCE_QUOTAS, updated, namespace=namespace)
        log.info("quota status updated namespace=%s quota=%s used=%s", namespace, name, updated["status"]["used"])

    def _cached_usage(self, qualified: str, obj: Object) -> ResourceList:
        """Return ``object_usage``, measured again only when the object's resourceVersion changed."""
        metadata = obj.get("metadata") or {}
        uid = str(metadata.get("uid") or "")
        version = str(metadata.get("resourceVersion") or "")
        if qualified not in WATCHED or not uid or not version:
            return object_usage(qualified, obj)
        cached = self._usage_cache.get(uid)
        if cached is not None and cached[0] == version:
            return cached[1]
        usage = object_usage(qualified, obj)
        self._usage_cache[uid] = (version, usage)
        return usage

    @staticmethod
    def _sources(hard: Iterable[str]) -> set[str]:
        return {source for name in hard if (source := usage_source(name)) is not None}

    async def _objects(self, source: str, namespace: str) -> list[Object]:
        """Return the namespace's objects of qualified resource ``source``: cached, listed, or none if not served."""
        informer = self._informers.get(source)
        if informer is not None:
            return informer.store.by_index(BY_NAMESPACE, namespace)
        resource = resolve_listed(source)
        if resource is None:
            return []
        listed = await self._client.list(resource, namespace=namespace)
        return list(listed.get("items") or [])


def new_resourcequota_controller(context: ControllerContext) -> ResourceQuotaController:
    return ResourceQuotaController(context)
