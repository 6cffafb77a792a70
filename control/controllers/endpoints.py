"""The Endpoints controller: the core/v1 Endpoints of every Service with a selector.

Older clients and tools read Endpoints rather than EndpointSlices, so
Kubernetes keeps both. For each Service with a selector this controller
writes the Endpoints object of the same name. It lists the backing pods
(see endpoint_pods) except terminating ones: ready pods go under
``addresses`` and the others under ``notReadyAddresses``. When the
Service publishes not-ready addresses, every pod goes under ``addresses``
and terminating pods stay listed. Pods that serve the same resolved
ports share one subset, as Kubernetes' RepackSubsets arranges them. The
Service's labels are copied, with ``service.kubernetes.io/headless`` added
for a headless Service.

The Endpoints of a deleted Service are deleted. A Service without a
selector keeps whatever Endpoints its creator wrote.

Differences from Kubernetes: past ``MAX_ADDRESSES`` addresses the object
keeps the ready ones first and is annotated
``endpoints.kubernetes.io/over-capacity: truncated``. Kubernetes may keep
a different choice of addresses. The last-change-trigger-time annotation
is not written.
"""

from __future__ import annotations

import logging
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.errors import AlreadyExists, Conflict, NotFound
from pykube_control.client.indexer import object_key, split_key
from pykube_control.client.informer import Informer
from pykube_control.client.resource import PODS, SERVICES, Resource, resource_for
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.endpoint_pods import (
    EndpointPort,
    backing_pods,
    is_ready,
    pod_hostname,
    pod_ip,
    resolve_ports,
    service_selector,
    services_selecting,
    target_ref,
)

log = logging.getLogger("pykube.controllers.endpoints")

Object = dict[str, Any]

ENDPOINTS: Resource = resource_for("", "v1", "endpoints")
MAX_ADDRESSES = 1000
"""Addresses in one Endpoints object at most, Kubernetes' maxCapacity; readers should use EndpointSlices beyond it."""
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"
HEADLESS_LABEL = "service.kubernetes.io/headless"
RACE_RECHECK = 0.05
"""Seconds before syncing again after a write lost a race with another writer or with the informer."""


class EndpointsController:
    """Keeps the Endpoints of every Service with a selector; see the module docstring."""

    name = "endpoints"

    def __init__(self, context: ControllerContext, *, max_addresses: int = MAX_ADDRESSES) -> None:
        self.client: APIClient = context.client
        self.max_addresses = max_addresses
        self.queue: WorkQueue[str] = WorkQueue("endpoints")
        self.services: Informer = context.informers.get(SERVICES)
        self.pods: Informer = context.informers.get(PODS)
        self.endpoints: Informer = context.informers.get(ENDPOINTS)
        self.services.add_handlers(on_add=self._service_changed, on_update=self._service_updated, on_delete=self._service_deleted)
        self.pods.add_handlers(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.endpoints.add_handlers(on_delete=self._endpoints_deleted)

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

    async def _endpoints_deleted(self, obj: Object, final_state_unknown: bool) -> None:
        # Someone deleted Endpoints this controller manages: write them again.
        self.queue.add(object_key(obj))

    # --- reconciling ----------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        """Bring the Endpoints of Service ``key`` ("namespace/name") in line with its pods."""
        namespace, name = split_key(key)
        service = self.services.store.get(key)
        current = self.endpoints.store.get(key)
        try:
            if service is None:
                if current is not None:
                    await self._delete(str(namespace), name)
                return
            selector = service_selector(service)
            if selector is None:
                return
            desired = self._desired(service)
            if current is None:
                await self.client.create(ENDPOINTS, desired)
                log.info("endpoints created service=%s", key)
            elif _differs(current, desired):
                updated = dict(current)
                updated["metadata"] = {**current["metadata"], "labels": desired["metadata"]["labels"]}
                annotations = _annotations(current, desired)
                if annotations:
                    updated["metadata"]["annotations"] = annotations
                else:
                    updated["metadata"].pop("annotations", None)
                updated["subsets"] = desired["subsets"]
                await self.client.update(ENDPOINTS, updated)
                log.info("endpoints updated service=%s", key)
        except (Conflict, AlreadyExists) as error:
            log.info("endpoints write raced another writer service=%s error=%s", key, error)
            self.queue.add_after(key, RACE_RECHECK)

    async def _delete(self, namespace: str, name: str) -> None:
        try:
            await self.client.delete(ENDPOINTS, name, namespace=namespace)
        except NotFound:
            return
        log.info("endpoints deleted service=%s/%s", namespace, name)

    def _desired(self, service: Object) -> Object:
        metadata = service["metadata"]
        spec = service.get("spec") or {}
        publish = bool(spec.get("publishNotReadyAddresses"))
        selector = service_selector(service)
        assert selector is not None
        pods = backing_pods(self.pods.store, service, selector, include_terminating=publish)
        has_ports = bool(spec.get("ports"))
        groups: dict[tuple[EndpointPort, ...], tuple[list[Object], list[Object]]] = {}
        for pod in pods:
            ports = resolve_ports(service, pod)
            if has_ports and not ports:
                continue
            ready, not_ready = groups.setdefault(tuple(sorted(ports)), ([], []))
            (ready if publish or is_ready(pod) else not_ready).append(self._address(service, pod))
        subsets, truncated = self._subsets(groups)

        labels = {key: value for key, value in (metadata.get("labels") or {}).items() if key != HEADLESS_LABEL}
        if spec.get("clusterIP") == "None":
            labels[HEADLESS_LABEL] = ""
        body: Object = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"], "labels": labels},
            "subsets": subsets,
        }
        if truncated:
            body["metadata"]["annotations"] = {OVER_CAPACITY_ANNOTATION: "truncated"}
        return body

    def _address(self, service: Object, pod: Object) -> Object:
        address: Object = {"ip": pod_ip(pod), "targetRef": target_ref(pod)}
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name:
            address["nodeName"] = node_name
        hostname = pod_hostname(service, pod)
        if hostname:
            address["hostname"] = hostname
        return address

    def _subsets(self, groups: dict[tuple[EndpointPort, ...], tuple[list[Object], list[Object]]]) -> tuple[list[Object], bool]:
        """Return the subsets in port order, and whether addresses past ``max_addresses`` were dropped."""
        budget = self.max_addresses
        truncated = False
        kept: dict[tuple[EndpointPort, ...], tuple[list[Object], list[Object]]] = {}
        # Ready addresses take the room first, because clients route only to those.
        for index in (0, 1):
            for ports, lists in sorted(groups.items()):
                entries = sorted(lists[index], key=lambda address: str(address["ip"]))
                taken = entries[:budget]
                truncated = truncated or len(taken) < len(entries)
                budget -= len(taken)
                kept.setdefault(ports, ([], []))[index].extend(taken)
        subsets: list[Object] = []
        for ports, (ready, not_ready) in sorted(kept.items()):
            if not ready and not not_ready:
                continue
            subset: Object = {}
            if ready:
                subset["addresses"] = ready
            if not_ready:
                subset["notReadyAddresses"] = not_ready
            if ports:
                subset["ports"] = [port.as_dict() for port in ports]
            subsets.append(subset)
        return subsets, truncated


def _annotations(current: Object, desired: Object) -> dict[str, str]:
    annotations = dict((current.get("metadata") or {}).get("annotations") or {})
    annotations.pop(OVER_CAPACITY_ANNOTATION, None)
    annotations.update((desired["metadata"].get("annotations") or {}))
    return annotations


def _differs(current: Object, desired: Object) -> bool:
    current_metadata = current.get("metadata") or {}
    if (current.get("subsets") or []) != desired["subsets"]:
        return True
    if (current_metadata.get("labels") or {}) != desired["metadata"]["labels"]:
        return True
    return (current_metadata.get("annotations") or {}) != _annotations(current, desired)


def new_endpoints_controller(context: ControllerContext) -> EndpointsController:
    return EndpointsController(context)
