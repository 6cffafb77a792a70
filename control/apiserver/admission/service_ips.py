"""Service IP admission: allocate cluster IPs and NodePorts, release them when dropped.

Kubernetes' Service REST storage does this at create and update time. Here
an admission plugin does it, so that the chain's rollbacks undo every claim
when a later plugin or the store write fails. What a Service gets:

- a cluster IP from the service CIDR, unless it is ExternalName or
  headless (clusterIP "None"). A requested address is claimed if it is
  free and inside the range, and otherwise rejected with Kubernetes'
  ``spec.clusterIPs: Invalid value: [...]: failed to allocate IP ...``.
- a NodePort for each port that has none, when it is NodePort, or
  LoadBalancer with allocateLoadBalancerNodePorts. Requested NodePorts are
  claimed the same way (``spec.ports[i].nodePort: Invalid value: N:
  provided port is already allocated``).

An update claims the values the new Service sets that the old did not and
releases the ones it dropped (a change of type, a removed port). A delete
releases everything, and so does the update that removes a Service's last
finalizer. ``repair_allocations`` runs when the API server starts, before
it serves requests: it frees allocations whose Service is gone (a crash
between a delete and its release) and claims values that Services use
without an allocation.

Differences from Kubernetes:

- Single stack only: every cluster IP comes from one CIDR, and a Service
  without a requested address gets that CIDR's family in ipFamilies.
- A dry run checks requested values and shows a value that is free now,
  without claiming anything, so a later real request may get another one.

NOTE: a DELETE with propagationPolicy Orphan or Foreground of a Service
without finalizers releases its values at the request, although the
Service stays until the garbage collector removes the finalizer the policy
adds. Admission does not see the delete options, so it cannot tell this
case from a plain delete.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import orjson

from pykube_control.apiserver import storage
from pykube_control.apiserver.admission.chain import AdmissionRequest
from pykube_control.apiserver.admission.service_allocator import (
    AllocationError,
    ClusterIPPool,
    NodePortPool,
    Owner,
    Pool,
    load_cluster_ip_pool,
)
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.status import APIError, invalid
from pykube_control.apiserver.validation.fielderrors import invalid as invalid_field
from pykube_control.store.interface import Store

log = logging.getLogger("pykube.apiserver.admission")

Object = dict[str, Any]

HEADLESS = "None"


@dataclasses.dataclass(frozen=True)
class ServiceAllocations:
    """The cluster IPs and NodePorts set in a Service's spec."""

    cluster_ips: tuple[str, ...]
    node_ports: tuple[int, ...]


def allocations_of(service: Object | None) -> ServiceAllocations:
    """Return the cluster IPs and NodePorts set in ``service`` (none for ExternalName or headless)."""
    if service is None:
        return ServiceAllocations((), ())
    spec = service.get("spec") or {}
    if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
        return ServiceAllocations((), ())
    ips = [ip for ip in _requested_ips(spec) if ip != HEADLESS]
    ports: list[int] = []
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        for port in spec.get("ports") or []:
            number = port.get("nodePort") if isinstance(port, dict) else None
            if isinstance(number, int) and number and number not in ports:
                ports.append(number)
    return ServiceAllocations(tuple(ips), tuple(ports))


def _requested_ips(spec: Object) -> list[str]:
    ips = [str(ip) for ip in spec.get("clusterIPs") or [] if ip]
    if not ips and spec.get("clusterIP"):
        ips = [str(spec["clusterIP"])]
    return ips


async def admit_service_ips(ctx: APIContext, request: AdmissionRequest) -> None:
    if request.resource.qualified != "services" or request.subresource is not None:
        return
    allocation = _Allocation(ctx.store, request, await load_cluster_ip_pool(ctx.store), NodePortPool(ctx.store))
    if request.operation == "CREATE":
        await allocation.allocate_new(ServiceAllocations((), ()))
    elif request.operation == "UPDATE":
        if _finalized(request.obj):
            # The handler deletes this object and runs the rollbacks even on
            # success, so this release registers none.
            await allocation.release_dropped(allocations_of(request.old), ServiceAllocations((), ()), undo=False)
            return
        old = allocations_of(request.old)
        await allocation.allocate_new(old)
        await allocation.release_dropped(old, allocations_of(request.obj), undo=True)
    elif request.operation == "DELETE":
        old_metadata = (request.old or {}).get("metadata") or {}
        if not old_metadata.get("finalizers"):
            await allocation.release_dropped(allocations_of(request.old), ServiceAllocations((), ()), undo=True)


def _finalized(obj: Object | None) -> bool:
    metadata = (obj or {}).get("metadata") or {}
    return bool(metadata.get("deletionTimestamp")) and not metadata.get("finalizers")


class _Allocation:
    """The claims and releases of one admitted write, each registered for rollback."""

    def __init__(self, store: Store, request: AdmissionRequest, ips: ClusterIPPool, ports: NodePortPool) -> None:
        self.store = store
        self.request = request
        self.ips = ips
        self.ports = ports
        self.service: Object = request.obj if request.obj is not None else (request.old or {})
        self.owner = Owner.of(self.service)

    # --- claiming -------------------------------------------------------------------

    async def allocate_new(self, old: ServiceAllocations) -> None:
        """Claim what the Service requests beyond ``old``, and allocate what it lacks."""
        spec = self.service.get("spec")
        if not isinstance(spec, dict) or spec.get("type") == "ExternalName":
            return
        await self._allocate_cluster_ips(spec, old)
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            await self._allocate_node_ports(spec, old)

    async def _allocate_cluster_ips(self, spec: Object, old: ServiceAllocations) -> None:
        requested = _requested_ips(spec)
        if requested and requested[0] == HEADLESS:
            return
        if not requested:
            address = await self._allocate_random(self.ips, "serviceIP")
            spec["clusterIP"] = address
            spec["clusterIPs"] = [address]
            spec["ipFamilies"] = [self.ips.family]
            return
        for address in requested:
            if address in old.cluster_ips:
                continue
            try:
                value = self.ips.check_requested(address)
            except AllocationError as exc:
                raise self._invalid("spec.clusterIPs", requested, str(exc)) from None
            if not await self._claim(self.ips, value):
                detail = f"failed to allocate IP {address}: provided IP is already allocated"
                raise self._invalid("spec.clusterIPs", requested, detail)

    async def _allocate_node_ports(self, spec: Object, old: ServiceAllocations) -> None:
        allocate_missing = spec.get("type") == "NodePort" or spec.get("allocateLoadBalancerNodePorts") is not False
        claimed: set[int] = set(old.node_ports)
        for index, port in enumerate(spec.get("ports") or []):
            if not isinstance(port, dict):
                continue
            number = port.get("nodePort")
            if isinstance(number, int) and number:
                if number in claimed:
                    continue
                if not await self._claim(self.ports, number):
                    raise self._invalid(f"spec.ports[{index}].nodePort", number, "provided port is already allocated")
                claimed.add(number)
            elif allocate_missing:
                value = int(await self._allocate_random(self.ports, "nodePort"))
                port["nodePort"] = value
                claimed.add(value)

    async def _claim(self, pool: Pool, value: int) -> bool:
        if self.request.dry_run:
            owner_uid = await pool.owner_uid(value)
            return owner_uid is None or owner_uid == self.owner.uid
        if not await pool.claim(value, self.owner):
            return False
        self.request.rollbacks.append(lambda: pool.release(value, self.owner.uid))
        return True

    async def _allocate_random(self, pool: Pool, what: str) -> str:
        if self.request.dry_run:
            value = await pool.pick_free()
        else:
            value = await pool.allocate(self.owner)
        if value is None:
            log.warning("allocation range full what=%s service=%s/%s", what, self.owner.namespace, self.owner.name)
            raise APIError(500, "InternalError", f"Internal error occurred: failed to allocate a {what}: range is full")
        if not self.request.dry_run:
            claimed = value
            self.request.rollbacks.append(lambda: pool.release(claimed, self.owner.uid))
        return pool.render(value)

    # --- releasing ------------------------------------------------------------------

    async def release_dropped(self, old: ServiceAllocations, new: ServiceAllocations, *, undo: bool) -> None:
        """Release what ``old`` sets and ``new`` does not. With ``undo``, a rollback claims it again."""
        if self.request.dry_run:
            return
        for address in old.cluster_ips:
            if address not in new.cluster_ips:
                await self._release(self.ips, _ip_value(self.ips, address), undo=undo)
        for number in old.node_ports:
            if number not in new.node_ports:
                await self._release(self.ports, number, undo=undo)

    async def _release(self, pool: Pool, value: int | None, *, undo: bool) -> None:
        if value is None:
            return
        await pool.release(value, self.owner.uid)
        if undo:
            self.request.rollbacks.append(lambda: self._reclaim(pool, value))

    async def _reclaim(self, pool: Pool, value: int) -> None:
        if not await pool.claim(value, self.owner):
            log.error(
                "rollback could not reclaim a released value value=%s service=%s/%s",
                pool.render(value), self.owner.namespace, self.owner.name,
            )  # fmt: skip

    def _invalid(self, field: str, value: object, detail: str) -> APIError:
        return invalid(self.request.resource, self.request.name, [invalid_field(field, value, detail)])


def _ip_value(pool: ClusterIPPool, address: str) -> int | None:
    try:
        return pool.parse(address)
    except ValueError:
        return None


async def repair_allocations(store: Store, services: ResourceType) -> None:
    """Free allocations that no stored Service uses, and claim the values Services use without an allocation.

    Run before the API server serves requests: a claim of a create still in
    flight would look like a leak.
    """
    ips = await load_cluster_ip_pool(store)
    ports = NodePortPool(store)
    listed = await store.list(storage.list_prefix(services, None))
    owners: dict[tuple[str, str], str] = {}
    for kv in listed.items:
        service = orjson.loads(kv.value)
        held = allocations_of(service)
        owner = Owner.of(service)
        for address in held.cluster_ips:
            value = _ip_value(ips, address)
            if value is not None:
                owners[("ip", ips.render(value))] = owner.uid
                await ips.claim(value, owner)
        for number in held.node_ports:
            owners[("port", str(number))] = owner.uid
            await ports.claim(number, owner)
    for kind, pool in (("ip", ips), ("port", ports)):
        for value, uid in (await pool.allocated()).items():
            if owners.get((kind, pool.render(value))) != uid:
                log.info("released leaked allocation value=%s owner_uid=%s", pool.render(value), uid)
                await pool.release(value, uid)


__all__ = ["admit_service_ips", "allocations_of", "repair_allocations"]
