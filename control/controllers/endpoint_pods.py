"""Which pods back a Service, and at which ports: the rules both endpoint controllers share.

The EndpointSlice and Endpoints controllers differ only in how they write
the result, so the selection lives here. The rules are those of
Kubernetes' endpoint controllers:

- A Service with no selector (absent or empty) or of type ExternalName
  has no managed endpoints. The user who created it writes them.
- A pod backs the Service when it is in the Service's namespace, matches
  the selector, has an IP (status.podIP) and has not ended (phase
  Succeeded or Failed). Terminating pods (deletionTimestamp set) are kept
  only where the caller asks for them, because EndpointSlices list them
  with the terminating condition and Endpoints drop them.
- A pod is ready when its Ready condition is True. With
  ``spec.publishNotReadyAddresses`` every backing pod counts as ready.
- A numeric targetPort is used as is. A named one resolves to the
  containerPort of that name and protocol in the pod's containers, so
  pods of one Service may serve a name on different numbers. A port that
  does not resolve is left out for that pod.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from typing import Any

from pykube_core.labels import Operator, Requirement, Selector

from pykube_control.client.indexer import BY_NAMESPACE, Indexer

Object = dict[str, Any]

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclasses.dataclass(frozen=True, order=True)
class EndpointPort:
    """One Service port as served by one pod: the number is the pod's resolved target port."""

    name: str
    port: int
    protocol: str
    app_protocol: str | None = None

    def as_dict(self) -> Object:
        port: Object = {"name": self.name, "port": self.port, "protocol": self.protocol}
        if self.app_protocol:
            port["appProtocol"] = self.app_protocol
        return port


def service_selector(service: Object) -> Selector | None:
    """Return the selector of a Service whose endpoints a controller manages, or None."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if spec.get("type") == "ExternalName" or not isinstance(selector, dict) or not selector:
        return None
    return Selector.from_requirements(Requirement(str(key), Operator.EQUALS, (str(value),)) for key, value in selector.items())


def is_terminating(pod: Object) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_ready(pod: Object) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_ip(pod: Object) -> str | None:
    """Return the pod's primary IP, or None when it has none or it is not an IP address."""
    address = (pod.get("status") or {}).get("podIP")
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(str(address)))
    except ValueError:
        return None


def address_type(address: str) -> str:
    return "IPv6" if ":" in address else "IPv4"


def backs_service(pod: Object, *, include_terminating: bool) -> bool:
    """Tell whether ``pod`` belongs in its matching Services' endpoints; see the module docstring."""
    if pod_ip(pod) is None:
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return include_terminating or not is_terminating(pod)


def backing_pods(pods: Indexer, service: Object, selector: Selector, *, include_terminating: bool) -> list[Object]:
    """Return the pods that back ``service``, sorted by name so output is stable."""
    namespace = str((service.get("metadata") or {}).get("namespace") or "")
    found = [
        pod
        for pod in pods.by_index(BY_NAMESPACE, namespace)
        if selector.matches((pod.get("metadata") or {}).get("labels") or {})
        and backs_service(pod, include_terminating=include_terminating)
    ]
    return sorted(found, key=lambda pod: str(pod["metadata"].get("name", "")))


def resolve_ports(service: Object, pod: Object) -> tuple[EndpointPort, ...]:
    """Return the Service's ports as ``pod`` serves them, leaving out names the pod does not declare."""
    resolved: list[EndpointPort] = []
    for port in (service.get("spec") or {}).get("ports") or []:
        if not isinstance(port, dict):
            continue
        protocol = str(port.get("protocol") or "TCP")
        number = _target_port(port.get("targetPort", port.get("port")), protocol, pod)
        if number is None:
            continue
        app_protocol = port.get("appProtocol")
        resolved.append(EndpointPort(str(port.get("name") or ""), number, protocol, str(app_protocol) if app_protocol else None))
    return tuple(resolved)


def _target_port(target: object, protocol: str, pod: Object) -> int | None:
    if isinstance(target, int) and not isinstance(target, bool):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    if not isinstance(target, str) or not target:
        return None
    for container in (pod.get("spec") or {}).get("containers") or []:
        for declared in (container or {}).get("ports") or []:
            if declared.get("name") == target and str(declared.get("protocol") or "TCP") == protocol:
                number = declared.get("containerPort")
                return int(number) if isinstance(number, int) else None
    return None


def services_selecting(services: Indexer, pods: Iterable[Object]) -> set[str]:
    """Return the cache keys of the Services in the pods' namespaces whose selectors match any of ``pods``."""
    keys: set[str] = set()
    for pod in pods:
        metadata = pod.get("metadata") or {}
        labels = metadata.get("labels") or {}
        for service in services.by_index(BY_NAMESPACE, str(metadata.get("namespace") or "")):
            selector = service_selector(service)
            if selector is not None and selector.matches(labels):
                keys.add(f"{service['metadata']['namespace']}/{service['metadata']['name']}")
    return keys


def node_zone(nodes: Indexer, node_name: str | None) -> str | None:
    if not node_name:
        return None
    node = nodes.get(node_name)
    if node is None:
        return None
    zone = ((node.get("metadata") or {}).get("labels") or {}).get(ZONE_LABEL)
    return str(zone) if zone else None


def target_ref(pod: Object) -> Object:
    metadata = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": metadata.get("namespace"), "name": metadata.get("name"), "uid": metadata.get("uid")}


def pod_hostname(service: Object, pod: Object) -> str | None:
    """Return the pod's DNS hostname when its spec.subdomain names this Service, as Kubernetes does."""
    spec = pod.get("spec") or {}
    name = (service.get("metadata") or {}).get("name")
    if spec.get("hostname") and spec.get("subdomain") == name:
        return str(spec["hostname"])
    return None
