"""Services and EndpointSlices, as JSON dicts, into compiler rows.

ServiceModel caches the Services and EndpointSlices the proxy watches,
tracks which Services changed since the last sync, and turns a Service into
one ServicePortSpec per entry of spec.ports. It owns the Kubernetes rules
that need strings: named targetPorts, endpoint conditions, the traffic
policies, and the validation that keeps one bad object from failing a sync
for everyone else. Named targetPorts resolve per EndpointSlice, so two pods
may serve one Service on different ports.

Known differences from kube-proxy (Kubernetes 1.35):

- IPv4 only. Services whose cluster IP is IPv6 and IPv6 EndpointSlices are
  skipped with a reason.
- External traffic from this node to an externalTrafficPolicy Local
  Service's external address uses the Local endpoints only, where
  kube-proxy treats it as cluster traffic.
- No cluster CIDR option: ClusterIP traffic is masqueraded only for
  hairpin flows, not when it comes from outside the pod network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pykube_core.proxy.arrays import (
    AFFINITY_CLIENT_IP,
    ENDPOINT_LOCAL,
    ENDPOINT_READY,
    ENDPOINT_SERVING,
    ENDPOINT_TERMINATING,
    EXTERNAL_IP,
    EXTERNAL_POLICY_LOCAL,
    INTERNAL_POLICY_LOCAL,
    LOAD_BALANCER_IP,
    PROTOCOL_NUMBERS,
)
from pykube_core.proxy.rows import EndpointSpec, ServicePortSpec

Object = Mapping[str, Any]
ServiceKey = tuple[str, str]
PortKey = tuple[str, str, str, str]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
DEFAULT_AFFINITY_TIMEOUT = 10800
"""Seconds; Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds (3 hours)."""
MAX_AFFINITY_TIMEOUT = 86400
"""Seconds; the API's upper bound for sessionAffinityConfig.clientIP.timeoutSeconds."""


class InvalidService(ValueError):
    """A Service or EndpointSlice the proxy skips; the message is the reason."""


@dataclass(frozen=True)
class Problem:
    """An object skipped, in whole or in part, and why."""

    kind: str
    namespace: str
    name: str
    reason: str


def parse_ipv4(value: object, field: str) -> int:
    """Return an IPv4 address as a host-order integer, or raise InvalidService naming the field."""
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        raise InvalidService(f"{field}: invalid IP address {value!r}") from None
    if address.version != 4:
        raise InvalidService(f"{field}: IPv6 address {value!r} is not supported; the proxy serves IPv4 only")
    return int(address)


def parse_cidr(value: object, field: str) -> tuple[int, int]:
    """Return (network address, prefix length) of an IPv4 CIDR, or raise InvalidService."""
    try:
        network = ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise InvalidService(f"{field}: invalid CIDR {value!r}") from None
    if network.version != 4:
        raise InvalidService(f"{field}: IPv6 CIDR {value!r} is not supported; the proxy serves IPv4 only")
    return int(network.network_address), network.prefixlen


def check_port(value: object, field: str) -> int:
    """Return a port number in 1-65535, or raise InvalidService naming the field."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise InvalidService(f"{field}: port {value!r} out of range; expected 1-65535")
    return value


def endpoint_state(endpoint: Object, node_name: str) -> int:
    """Return the ENDPOINT_* bits of an EndpointSlice endpoint.

    A missing ready condition counts as ready, and a missing serving
    condition copies ready, as the EndpointSlice API documents.
    """
    conditions = endpoint.get("conditions") or {}
    ready = conditions.get("ready") is not False
    serving = conditions.get("serving")
    state = 0
    if ready:
        state |= ENDPOINT_READY
    if serving if serving is not None else ready:
        state |= ENDPOINT_SERVING
    if conditions.get("terminating") is True:
        state |= ENDPOINT_TERMINATING
    if node_name and endpoint.get("nodeName") == node_name:
        state |= ENDPOINT_LOCAL
    return state


def slice_endpoints(endpoint_slice: Object, node_name: str) -> list[tuple[int, int]]:
    """Return (address, state) of each endpoint of an IPv4 slice, or raise InvalidService.

    Only the first address of an endpoint is used, as kube-proxy does.
    """
    result: list[tuple[int, int]] = []
    for index, endpoint in enumerate(endpoint_slice.get("endpoints") or []):
        addresses = endpoint.get("addresses") or []
        if not addresses:
            continue
        address = parse_ipv4(addresses[0], f"endpoints[{index}].addresses[0]")
        result.append((address, endpoint_state(endpoint, node_name)))
    return result


class ServiceModel:
    """Cached Services and EndpointSlices, and the rows they compile to.

    Row ids are assigned once per (namespace, name, port name, protocol)
    and never reused, so the compiler's mirror can address rows by id.
    """

    def __init__(self, node_name: str = "") -> None:
        self.node_name = node_name
        self.services: dict[ServiceKey, Object] = {}
        self.slices: dict[ServiceKey, dict[str, Object]] = {}
        self.dirty: set[ServiceKey] = set()
        self._row_ids: dict[PortKey, int] = {}
        self._next_row_id = 0
        self._service_ports: dict[ServiceKey, list[PortKey]] = {}
        self.committed: dict[PortKey, ServicePortSpec] = {}
        self._pending: dict[PortKey, ServicePortSpec | None] = {}
        self._pending_ports: dict[ServiceKey, list[PortKey]] = {}

    # --- cache -------------------------------------------------------------

    def set_service(self, service: Object) -> None:
        """Cache a Service and mark it changed."""
        key = (service["metadata"].get("namespace", ""), service["metadata"]["name"])
        self.services[key] = service
        self.dirty.add(key)

    def delete_service(self, service: Object) -> None:
        """Forget a Service and mark it changed, so its rows are removed."""
        key = (service["metadata"].get("namespace", ""), service["metadata"]["name"])
        self.services.pop(key, None)
        self.dirty.add(key)

    def set_slice(self, endpoint_slice: Object) -> None:
        """Cache an EndpointSlice and mark its Service changed."""
        key = self._slice_service(endpoint_slice)
        if key is None:
            return
        self.slices.setdefault(key, {})[endpoint_slice["metadata"]["name"]] = endpoint_slice
        self.dirty.add(key)

    def delete_slice(self, endpoint_slice: Object) -> None:
        """Forget an EndpointSlice and mark its Service changed."""
        key = self._slice_service(endpoint_slice)
        if key is None:
            return
        self.slices.get(key, {}).pop(endpoint_slice["metadata"]["name"], None)
        self.dirty.add(key)

    @staticmethod
    def _slice_service(endpoint_slice: Object) -> ServiceKey | None:
        labels = endpoint_slice["metadata"].get("labels") or {}
        service_name = labels.get(SERVICE_NAME_LABEL)
        if not service_name:
            return None
        return (endpoint_slice["metadata"].get("namespace", ""), service_name)

    # --- rows -------------------------------------------------------------

    def changed_specs(self, keys: Iterable[ServiceKey]) -> tuple[list[ServicePortSpec], list[Problem]]:
        """Return the rows of the given Services, removals included, and the problems found.

        The rows stay pending until commit(); a removed port is sent as an
        empty row of its id.
        """
        specs: list[ServicePortSpec] = []
        problems: list[Problem] = []
        for key in keys:
            new_specs = self._service_specs(key, problems)
            old_ports = self._pending_ports.get(key, self._service_ports.get(key, []))
            new_ports = [port_key for port_key, _ in new_specs]
            for port_key in old_ports:
                if port_key not in new_ports:
                    specs.append(ServicePortSpec(id=self._row_ids[port_key]))
                    self._pending[port_key] = None
            for port_key, spec in new_specs:
                specs.append(spec)
                self._pending[port_key] = spec
            self._pending_ports[key] = new_ports
        return specs, problems

    def all_specs(self) -> tuple[list[ServicePortSpec], list[Problem]]:
        """Return the rows of every cached Service, for a full sync."""
        self._pending.clear()
        self._pending_ports.clear()
        specs: list[ServicePortSpec] = []
        problems: list[Problem] = []
        for key in list(self._service_ports):
            if key not in self.services:
                for port_key in self._service_ports[key]:
                    self._pending[port_key] = None
                self._pending_ports[key] = []
        for key in self.services:
            new_specs = self._service_specs(key, problems)
            for port_key in self._service_ports.get(key, []):
                self._pending[port_key] = None
            for port_key, spec in new_specs:
                specs.append(spec)
                self._pending[port_key] = spec
            self._pending_ports[key] = [port_key for port_key, _ in new_specs]
        return specs, problems

    def commit(self) -> dict[PortKey, tuple[ServicePortSpec | None, ServicePortSpec | None]]:
        """Adopt the pending rows; return (before, after) of every changed port."""
        changes: dict[PortKey, tuple[ServicePortSpec | None, ServicePortSpec | None]] = {}
        for port_key, spec in self._pending.items():
            before = self.committed.get(port_key)
            if spec is None:
                self.committed.pop(port_key, None)
            else:
                self.committed[port_key] = spec
            if before != spec:
                changes[port_key] = (before, spec)
        for key, ports in self._pending_ports.items():
            if ports:
                self._service_ports[key] = ports
            else:
                self._service_ports.pop(key, None)
        self._pending.clear()
        self._pending_ports.clear()
        return changes

    def discard(self) -> None:
        """Drop the pending rows."""
        self._pending.clear()
        self._pending_ports.clear()

    def _row_id(self, port_key: PortKey) -> int:
        row_id = self._row_ids.get(port_key)
        if row_id is None:
            row_id = self._next_row_id
            self._next_row_id += 1
            self._row_ids[port_key] = row_id
        return row_id

    def _service_specs(self, key: ServiceKey, problems: list[Problem]) -> list[tuple[PortKey, ServicePortSpec]]:
        service = self.services.get(key)
        if service is None:
            return []
        try:
            return self._compile_service(key, service, problems)
        except InvalidService as exc:
            problems.append(Problem("Service", key[0], key[1], str(exc)))
            return []

    def _compile_service(
        self, key: ServiceKey, service: Object, problems: list[Problem]
    ) -> list[tuple[PortKey, ServicePortSpec]]:
        spec = service.get("spec") or {}
        service_type = spec.get("type") or "ClusterIP"
        cluster_ip_text = spec.get("clusterIP") or ""
        if service_type == "ExternalName" or cluster_ip_text in ("", "None"):
            return []
        cluster_ip = parse_ipv4(cluster_ip_text, "spec.clusterIP")

        external: list[tuple[int, int]] = []
        for index, text in enumerate(spec.get("externalIPs") or []):
            external.append((parse_ipv4(text, f"spec.externalIPs[{index}]"), EXTERNAL_IP))
        source_ranges: list[tuple[int, int]] = []
        if service_type == "LoadBalancer":
            ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            for index, entry in enumerate(ingress):
                if entry.get("ip"):
                    field = f"status.loadBalancer.ingress[{index}].ip"
                    external.append((parse_ipv4(entry["ip"], field), LOAD_BALANCER_IP))
            for index, text in enumerate(spec.get("loadBalancerSourceRanges") or []):
                source_ranges.append(parse_cidr(text, f"spec.loadBalancerSourceRanges[{index}]"))

        flags = 0
        timeout = 0
        if spec.get("sessionAffinity") == "ClientIP":
            flags |= AFFINITY_CLIENT_IP
            config = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
            timeout = config.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT
            if not isinstance(timeout, int) or not 1 <= timeout <= MAX_AFFINITY_TIMEOUT:
                raise InvalidService(
                    f"spec.sessionAffinityConfig.clientIP.timeoutSeconds: {timeout!r} out of range; "
                    f"expected 1-{MAX_AFFINITY_TIMEOUT}"
                )
        if spec.get("externalTrafficPolicy") == "Local" and service_type in ("NodePort", "LoadBalancer"):
            flags |= EXTERNAL_POLICY_LOCAL
        if spec.get("internalTrafficPolicy") == "Local":
            flags |= INTERNAL_POLICY_LOCAL

        slices = list(self.slices.get(key, {}).values())
        results: list[tuple[PortKey, ServicePortSpec]] = []
        for index, port in enumerate(spec.get("ports") or []):
            try:
                results.append(
                    self._port_spec(key, service_type, cluster_ip, flags, timeout, external, source_ranges,
                                    index, port, slices, problems)
                )
            except InvalidService as exc:
                problems.append(Problem("Service", key[0], key[1], str(exc)))
        return results

    def _port_spec(
        self,
        key: ServiceKey,
        service_type: str,
        cluster_ip: int,
        flags: int,
        timeout: int,
        external: list[tuple[int, int]],
        source_ranges: list[tuple[int, int]],
        index: int,
        port: Object,
        slices: list[Object],
        problems: list[Problem],
    ) -> tuple[PortKey, ServicePortSpec]:
        name = port.get("name") or ""
        protocol_name = port.get("protocol") or "TCP"
        # TODO: check that the kernel has conntrack and NAT for SCTP before
        # programming it; every protocol of PROTOCOL_NUMBERS is assumed present.
        protocol = PROTOCOL_NUMBERS.get(protocol_name)
        if protocol is None:
            raise InvalidService(
                f"spec.ports[{index}].protocol: unsupported protocol {protocol_name!r}; "
                f"expected one of {sorted(PROTOCOL_NUMBERS)}"
            )
        number = check_port(port.get("port"), f"spec.ports[{index}].port")
        node_port = 0
        if service_type in ("NodePort", "LoadBalancer") and port.get("nodePort"):
            node_port = check_port(port["nodePort"], f"spec.ports[{index}].nodePort")
        port_key: PortKey = (key[0], key[1], name, protocol_name)
        return port_key, ServicePortSpec(
            id=self._row_id(port_key),
            cluster_ip=cluster_ip,
            protocol=protocol,
            port=number,
            node_port=node_port,
            flags=flags,
            affinity_timeout=timeout,
            external=tuple(external),
            source_ranges=tuple(source_ranges),
            endpoints=self._endpoints(key, name, protocol_name, slices, problems),
        )

    def _endpoints(
        self, key: ServiceKey, port_name: str, protocol: str, slices: list[Object], problems: list[Problem]
    ) -> tuple[EndpointSpec, ...]:
        """Return the endpoints of one service port, named ports resolved per slice, sorted."""
        found: dict[tuple[int, int], int] = {}
        for endpoint_slice in slices:
            if endpoint_slice.get("addressType", "IPv4") != "IPv4":
                continue
            target = None
            for slice_port in endpoint_slice.get("ports") or []:
                if (slice_port.get("name") or "") == port_name and (slice_port.get("protocol") or "TCP") == protocol:
                    target = slice_port.get("port")
            if target is None:
                continue
            slice_name = endpoint_slice["metadata"]["name"]
            try:
                target_port = check_port(target, "ports[].port")
                endpoints = slice_endpoints(endpoint_slice, self.node_name)
            except InvalidService as exc:
                problems.append(Problem("EndpointSlice", key[0], slice_name, str(exc)))
                continue
            for address, state in endpoints:
                found.setdefault((address, target_port), state)
        return tuple(EndpointSpec(address, port, state) for (address, port), state in sorted(found.items()))
