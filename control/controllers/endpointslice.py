"""The EndpointSlice controller: one set of EndpointSlices per Service with a selector.

For each such Service it lists the backing pods (see endpoint_pods),
terminating ones included, and turns each into an endpoint. An endpoint
has the pod's IP, the pod as targetRef, its nodeName, the zone label of
its node, and three conditions:

- ready: the pod is Ready and not terminating, or the Service publishes
  not-ready addresses;
- serving: the pod is Ready;
- terminating: the pod has a deletionTimestamp.

endpointslice_plan spreads the endpoints over slices of at most
``max_endpoints`` (100 by default, kube-controller-manager's
--max-endpoints-per-slice). Every slice is labelled
``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by`` and is owned by the Service.
The garbage collector therefore removes the slices of a deleted Service,
and this controller deletes them as well. It also removes its slices when
a Service loses its selector.

The slices informer may lag behind this controller's own writes, and
acting on a stale cache would create duplicate slices. So each write is
remembered with its resourceVersion, and a Service whose slices the cache
has not caught up with is checked again a moment later, as client-go's
endpointSliceTracker does.

Differences from Kubernetes: a change of a node's zone label reaches the
slices only at the Service's next sync; endpoints of a dual-stack Service
are only those of the pods' primary IP (status.podIP).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.errors import AlreadyExists, Conflict, NotFound
from pykube_control.client.indexer import BY_NAMESPACE, object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import ENDPOINT_SLICES, NODES, PODS, SERVICES
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.endpoint_pods import (
    address_type,
    backing_pods,
    is_ready,
    is_terminating,
    node_zone,
    pod_hostname,
    pod_ip,
    resolve_ports,
    service_selector,
    services_selecting,
    target_ref,
)
from pykube_control.controllers.endpointslice_plan import DesiredEndpoint, GroupKey, plan_slices

log = logging.getLogger("pykube.controllers.endpointslice")

Object = dict[str, Any]

MAX_ENDPOINTS_PER_SLICE = 100
"""Endpoints in one slice at most; kube-controller-manager's --max-endpoints-per-slice default."""
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
CACHE_RECHECK = 0.05
"""Seconds before checking again a Service whose slices the informer has not caught up with."""
CACHE_WAIT_MAX = 10.0
"""Seconds after which a write the informer never showed (the slice was deleted at once) is forgotten."""


class EndpointSliceController:
    """Keeps the EndpointSlices of every Service with a selector; see the module docstring."""

    name = "endpointslice"

    def __init__(self, context: ControllerContext, *, max_endpoints: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        if max_endpoints < 1:
            raise ValueError(f"max_endpoints must be >= 1, got {max_endpoints}")
        self.client: APIClient = context.client
        self.max_endpoints = max_endpoints
        self.queue: WorkQueue[str] = WorkQueue("endpointslice")
        self.services: Informer = context.informers.get(SERVICES)
        self.pods: Informer = context.informers.get(PODS)
        self.slices: Informer = context.informers.get(ENDPOINT_SLICES)
        self.nodes: Informer = context.informers.get(NODES)
        self._written: dict[str, dict[str, tuple[int | None, float]]] = {}
        """Per Service key: slice name -> (resourceVersion written, or None for a delete; time of the write)."""
        self.services.add_handlers(on_add=self._service_changed, on_update=self._service_updated, on_delete=self._service_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.slices.add_handlers(on_add=self._slice_changed, on_update=self._slice_updated, on_delete=self._slice_deleted)

    async def run(self, workers: int) -> None:
        try:
            await run_workers(self.queue, workers, self.sync)
        finally:
            self.queue.shutdown()

    # --- event handlers -----------------------------------------------------------------

    async def _service_changed(self, service: Object) -> None:
        self.queue.add(object_key(service))

    async def _service_updated(self, old: Object, new: Object) -> None:
        self.queue.add(object_key(new))

    async def _service_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        self.queue.add(object_key(obj))

    async def _pod_added(self, pod: Object) -> None:
        for key in services_selecting(self.services.store, [pod]):
            self.queue.add(key)

    async def _pod_updated(self, old: Object, new: Object) -> None:
        for key in services_selecting(self.services.store, [old, new]):
            self.queue.add(key)

    async def _pod_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        await self._pod_added(obj)

    async def _slice_changed(self, slice_obj: Object) -> None:
        labels = (slice_obj.get("metadata") or {}).get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL):
            self.queue.add(f"{slice_obj['metadata']['namespace']}/{labels[SERVICE_NAME_LABEL]}")

    async def _slice_updated(self, old: Object, new: Object) -> None:
        await self._slice_changed(new)

    async def _slice_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        await self._slice_changed(obj)

    # --- reconciling ----------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the slices of Service ``key`` ("namespace/name") in line with its pods."""
        if not self._cache_caught_up(key):
            self.queue.add_after(key, CACHE_RECHECK)
            return
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        existing = self._managed_slices(str(namespace), name)
        selector = service_selector(service) if service is not None else None
        try:
            if service is None or selector is None:
                for slice_obj in existing:
                    await self._delete(key, slice_obj)
                return
            pods = backing_pods(self.pods.store, service, selector, include_terminating=True)
            desired = [endpoint for pod in pods if (endpoint := self._endpoint(service, pod)) is not None]
            plan = plan_slices(existing, desired, max_endpoints=self.max_endpoints, placeholder_type=_primary_family(service))
            by_name = {str(item["metadata"]["name"]): item for item in existing}
            for group, endpoints in plan.creates:
                await self._create(key, service, group, endpoints)
            for slice_name, (group, endpoints) in plan.updates.items():
                await self._update(key, service, by_name[slice_name], group, endpoints)
            for slice_name in plan.deletes:
                await self._delete(key, by_name[slice_name])
        except (Conflict, AlreadyExists) as error:
            log.info("endpointslice write raced another writer service=%s error=%s", key, error)
            self.queue.add_after(key, CACHE_RECHECK)

    def _managed_slices(self, namespace: str, service_name: str) -> list[Object]:
        found = []
        for slice_obj in self.slices.store.by_index(BY_NAMESPACE, namespace):
            labels = (slice_obj.get("metadata") or {}).get("labels") or {}
            if labels.get(SERVICE_NAME_LABEL) == service_name and labels.get(MANAGED_BY_LABEL) == MANAGED_BY:
                found.append(slice_obj)
        return found

    def _endpoint(self, service: Object, pod: Object) -> DesiredEndpoint | None:
        address = pod_ip(pod)
        if address is None:
            return None
        family = address_type(address)
        families = (service.get("spec") or {}).get("ipFamilies") or [family]
        if family not in families:
            return None
        terminating = is_terminating(pod)
        serving = is_ready(pod)
        publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
        node_name = (pod.get("spec") or {}).get("nodeName")
        body: Object = {
            "addresses": [address],
            "conditions": {"ready": publish or (serving and not terminating), "serving": serving, "terminating": terminating},
            "targetRef": target_ref(pod),
        }
        if node_name:
            body["nodeName"] = node_name
        zone = node_zone(self.nodes.store, node_name)
        if zone:
            body["zone"] = zone
        hostname = pod_hostname(service, pod)
        if hostname:
            body["hostname"] = hostname
        identity = str(pod["metadata"].get("uid") or address)
        return DesiredEndpoint(identity, (family, resolve_ports(service, pod)), body)

    # --- writes -----------------------------------------------------------------------------

    def _slice_body(self, service: Object, group: GroupKey, endpoints: list[Object]) -> Object:
        metadata = service["metadata"]
        labels = {
            key: value
            for key, value in ((metadata.get("labels") or {}).items())
            if key not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)
        }
        labels[SERVICE_NAME_LABEL] = metadata["name"]
        labels[MANAGED_BY_LABEL] = MANAGED_BY
        if (service.get("spec") or {}).get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        owner = {
            "apiVersion": "v1",
            "kind": "Service",
            "name": metadata["name"],
            "uid": metadata.get("uid"),
            "controller": True,
            "blockOwnerDeletion": True,
        }
        address_type_name, ports = group
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"namespace": metadata["namespace"], "labels": labels, "ownerReferences": [owner]},
            "addressType": address_type_name,
            "endpoints": endpoints,
            "ports": [port.as_dict() for port in ports],
        }

    async def _create(self, key: str, service: Object, group: GroupKey, endpoints: list[Object]) -> None:
        body = self._slice_body(service, group, endpoints)
        body["metadata"]["generateName"] = f"{str(service['metadata']['name'])[:57]}-"
        created = await self.client.create(ENDPOINT_SLICES, body)
        self._remember(key, created)
        log.info("endpointslice created service=%s slice=%s endpoints=%d", key, created["metadata"]["name"], len(endpoints))

    async def _update(self, key: str, service: Object, current: Object, group: GroupKey, endpoints: list[Object]) -> None:
        body = self._slice_body(service, group, endpoints)
        current_metadata = current.get("metadata") or {}
        unchanged = (
            (current.get("endpoints") or []) == endpoints
            and (current.get("ports") or []) == body["ports"]
            and (current_metadata.get("labels") or {}) == body["metadata"]["labels"]
            and (current_metadata.get("ownerReferences") or []) == body["metadata"]["ownerReferences"]
        )
        if unchanged:
            return
        updated = dict(current)
        updated["metadata"] = {**current_metadata, "labels": body["metadata"]["labels"], "ownerReferences": body["metadata"]["ownerReferences"]}
        updated["endpoints"] = endpoints
        updated["ports"] = body["ports"]
        written = await self.client.update(ENDPOINT_SLICES, updated)
        self._remember(key, written)
        log.info("endpointslice updated service=%s slice=%s endpoints=%d", key, current_metadata.get("name"), len(endpoints))

    async def _delete(self, key: str, slice_obj: Object) -> None:
        name = str(slice_obj["metadata"]["name"])
        try:
            await self.client.delete(ENDPOINT_SLICES, name, namespace=slice_obj["metadata"]["namespace"])
        except NotFound:
            pass
        self._written.setdefault(key, {})[name] = (None, time.monotonic())
        log.info("endpointslice deleted service=%s slice=%s", key, name)

    # --- the informer catching up with this controller's writes ------------------------------

    def _remember(self, key: str, written: Object) -> None:
        metadata = written["metadata"]
        self._written.setdefault(key, {})[str(metadata["name"])] = (int(metadata["resourceVersion"]), time.monotonic())

    def _cache_caught_up(self, key: str) -> bool:
        """Tell whether the slices informer shows every write made for Service ``key``; forget those it shows."""
        writes = self._written.get(key)
        if not writes:
            return True
        namespace, _ = split_key(key)
        now = time.monotonic()
        for name, (version, written_at) in list(writes.items()):
            cached = self.slices.store.get(f"{namespace}/{name}")
            if version is None:
                seen = cached is None
            else:
                seen = cached is not None and int(cached["metadata"].get("resourceVersion") or 0) >= version
            if seen or now - written_at > CACHE_WAIT_MAX:
                del writes[name]
        if not writes:
            del self._written[key]
            return True
        return False


def _primary_family(service: Object) -> str:
    families = (service.get("spec") or {}).get("ipFamilies") or ["IPv4"]
    return str(families[0])


def new_endpointslice_controller(context: ControllerContext) -> EndpointSliceController:
    return EndpointSliceController(context)
