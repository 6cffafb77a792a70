"""Planning the EndpointSlices of one Service: which to create, update and delete.

A pure function of the desired endpoints and the slices that exist, so it
is tested without a server. Endpoints are grouped by address type and by
their resolved ports, because one slice has one address type and one port
list. Within a group the plan keeps each endpoint in the slice that
already lists it and fills free room in existing slices with new
endpoints. It opens new slices only for what is left. A pod that comes or
goes therefore rewrites one slice instead of reshuffling all of them. Slices left empty
are deleted, except that a Service without any endpoint keeps one empty
placeholder slice, as Kubernetes does.

Difference from Kubernetes: slices that end up sparse (after many pods
left) are not merged back together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pykube_control.controllers.endpoint_pods import EndpointPort

Object = dict[str, Any]

GroupKey = tuple[str, tuple[EndpointPort, ...]]
"""(addressType, ports) shared by every endpoint of a slice."""


@dataclasses.dataclass(frozen=True)
class DesiredEndpoint:
    """One endpoint as it should appear in a slice, with the group it belongs to."""

    identity: str
    """The pod uid, or the address for an endpoint without a pod."""
    group: GroupKey
    body: Object


@dataclasses.dataclass
class SlicePlan:
    """Slice contents to write: ``updates`` maps an existing slice's name to its new contents."""

    creates: list[tuple[GroupKey, list[Object]]] = dataclasses.field(default_factory=list)
    updates: dict[str, tuple[GroupKey, list[Object]]] = dataclasses.field(default_factory=dict)
    deletes: list[str] = dataclasses.field(default_factory=list)


def endpoint_identity(endpoint: Object) -> str:
    reference = endpoint.get("targetRef") or {}
    if reference.get("uid"):
        return str(reference["uid"])
    return ",".join(str(address) for address in endpoint.get("addresses") or [])


def slice_group(slice_obj: Object) -> GroupKey:
    """Return the group key of an existing slice from its addressType and ports."""
    ports = tuple(
        EndpointPort(
            str(port.get("name") or ""),
            int(port.get("port") or 0),
            str(port.get("protocol") or "TCP"),
            str(port["appProtocol"]) if port.get("appProtocol") else None,
        )
        for port in slice_obj.get("ports") or []
        if isinstance(port, dict)
    )
    return (str(slice_obj.get("addressType") or "IPv4"), ports)


def plan_slices(
    existing: Sequence[Object], desired: Sequence[DesiredEndpoint], *, max_endpoints: int, placeholder_type: str
) -> SlicePlan:
    """Plan the writes that turn ``existing`` slices into slices listing ``desired``.

    ``existing`` slices are visited in name order. Endpoints keep the order
    of ``desired`` within a slice.
    """
    plan = SlicePlan()
    ordered = sorted(existing, key=lambda item: str(item["metadata"]["name"]))
    if not desired:
        _plan_placeholder(plan, ordered, placeholder_type)
        return plan

    by_group: dict[GroupKey, list[DesiredEndpoint]] = {}
    for endpoint in desired:
        by_group.setdefault(endpoint.group, []).append(endpoint)
    for slice_obj in ordered:
        if slice_group(slice_obj) not in by_group:
            plan.deletes.append(str(slice_obj["metadata"]["name"]))
    for group, endpoints in by_group.items():
        slices = [slice_obj for slice_obj in ordered if slice_group(slice_obj) == group]
        _plan_group(plan, group, endpoints, slices, max_endpoints)
    return plan


def _plan_group(
    plan: SlicePlan, group: GroupKey, endpoints: list[DesiredEndpoint], slices: list[Object], max_endpoints: int
) -> None:
    wanted = {endpoint.identity: endpoint for endpoint in endpoints}
    placed: set[str] = set()
    contents: list[tuple[Object, list[DesiredEndpoint]]] = []
    for slice_obj in slices:
        kept: list[DesiredEndpoint] = []
        for current in slice_obj.get("endpoints") or []:
            identity = endpoint_identity(current)
            if identity in wanted and identity not in placed and len(kept) < max_endpoints:
                kept.append(wanted[identity])
                placed.add(identity)
        contents.append((slice_obj, kept))

    remaining = [endpoint for endpoint in endpoints if endpoint.identity not in placed]
    for _, kept in contents:
        room = max_endpoints - len(kept)
        if kept and room > 0 and remaining:
            kept.extend(remaining[:room])
            remaining = remaining[room:]
    # Empty slices of this group take new endpoints before any new slice opens.
    for _, kept in contents:
        if not kept and remaining:
            kept.extend(remaining[:max_endpoints])
            remaining = remaining[max_endpoints:]

    for slice_obj, kept in contents:
        name = str(slice_obj["metadata"]["name"])
        if not kept:
            plan.deletes.append(name)
            continue
        order = {endpoint.identity: index for index, endpoint in enumerate(endpoints)}
        kept.sort(key=lambda endpoint: order[endpoint.identity])
        plan.updates[name] = (group, [endpoint.body for endpoint in kept])
    for start in range(0, len(remaining), max_endpoints):
        plan.creates.append((group, [endpoint.body for endpoint in remaining[start : start + max_endpoints]]))


def _plan_placeholder(plan: SlicePlan, ordered: list[Object], placeholder_type: str) -> None:
    group: GroupKey = (placeholder_type, ())
    keep = next((item for item in ordered if slice_group(item) == group), None)
    if keep is None:
        plan.creates.append((group, []))
    else:
        plan.updates[str(keep["metadata"]["name"])] = (group, [])
    plan.deletes.extend(str(item["metadata"]["name"]) for item in ordered if item is not keep)
