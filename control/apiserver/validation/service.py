"""Service: defaults, validation, and the allocated fields an update must keep.

Checks follow ValidateService and ValidateServiceUpdate in
k8s.io/kubernetes/pkg/apis/core/validation (1.32). Kubernetes' allocators,
not its validation, reject a nodePort outside the service-node-port range;
``NODE_PORT_RANGE`` does it here with the allocator's message.

Differences from Kubernetes:

- Cluster IPs are allocated by the HTTP layer. Defaulting sets ipFamilies
  from the clusterIP literal and otherwise assumes a single-stack IPv4
  cluster.
- loadBalancerSourceRanges and the loadBalancerClass rules are not checked.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_label, validate_dns1123_subdomain

from pykube_control.apiserver.validation.fielderrors import (
    duplicate,
    forbidden,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import ip_messages, port_number_messages
from pykube_control.apiserver.validation.meta import validate_labels
from pykube_control.apiserver.validation.ports import port_number_or_name_errors, protocol_errors
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str, child_dict, set_default

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
IP_FAMILIES = ("IPv4", "IPv6")
NODE_PORT_RANGE = (30000, 32767)
"""Inclusive nodePort range, kube-apiserver's default --service-node-port-range."""
DEFAULT_CLIENT_IP_TIMEOUT_SECONDS = 10800
MAX_CLIENT_IP_TIMEOUT_SECONDS = 86400
KUBELET_PORT = 10250
HEADLESS = "None"


def _externally_accessible(spec: dict[str, Any]) -> bool:
    return spec.get("type") in ("NodePort", "LoadBalancer")


def default_service(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    if spec is None:
        return
    set_default(spec, "type", "ClusterIP")
    set_default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = child_dict(spec, "sessionAffinityConfig")
        client_ip = child_dict(config, "clientIP") if config is not None else None
        if client_ip is not None:
            set_default(client_ip, "timeoutSeconds", DEFAULT_CLIENT_IP_TIMEOUT_SECONDS)
    for port in as_list(spec.get("ports")):
        if isinstance(port, dict):
            set_default(port, "protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    if _externally_accessible(spec):
        set_default(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] != "ExternalName":
        set_default(spec, "internalTrafficPolicy", "Cluster")
        _default_ip_families(spec)
    if spec["type"] == "LoadBalancer":
        set_default(spec, "allocateLoadBalancerNodePorts", True)


def _default_ip_families(spec: dict[str, Any]) -> None:
    cluster_ip = as_str(spec.get("clusterIP"))
    if cluster_ip and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [cluster_ip]
    set_default(spec, "ipFamilyPolicy", "SingleStack")
    if spec.get("ipFamilies"):
        return
    family = "IPv4"
    if cluster_ip and cluster_ip != HEADLESS and not ip_messages(cluster_ip):
        family = "IPv6" if ipaddress.ip_address(cluster_ip).version == 6 else "IPv4"
    spec["ipFamilies"] = [family]


def validate_service(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    kind = spec.get("type")
    headless = spec.get("clusterIP") == HEADLESS
    errors: list[FieldError] = []
    ports = as_list(spec.get("ports"))
    if not ports and not headless and kind != "ExternalName":
        errors.append(required("spec.ports"))

    if not kind:
        errors.append(required("spec.type"))
    elif kind not in SERVICE_TYPES:
        errors.append(not_supported("spec.type", kind, SERVICE_TYPES))
    errors.extend(_type_errors(spec))
    errors.extend(_ports_errors(spec, ports))
    if spec.get("selector") is not None:
        errors.extend(validate_labels(spec["selector"], "spec.selector"))
    errors.extend(_affinity_errors(spec))
    errors.extend(_cluster_ip_errors(spec))
    for index, address in enumerate(as_list(spec.get("externalIPs"))):
        errors.extend(invalid_each(f"spec.externalIPs[{index}]", address, ip_messages(as_str(address))))
    errors.extend(_traffic_policy_errors(spec))
    return errors


def _type_errors(spec: dict[str, Any]) -> list[FieldError]:
    kind = spec.get("type")
    errors: list[FieldError] = []
    headless = spec.get("clusterIP") == HEADLESS
    if kind in ("LoadBalancer", "NodePort") and headless:
        errors.append(invalid("spec.clusterIPs[0]", HEADLESS, f"may not be set to 'None' for {kind} services"))
    if kind == "LoadBalancer":
        for index, raw in enumerate(as_list(spec.get("ports"))):
            if as_int(as_dict(raw).get("port")) == KUBELET_PORT:
                detail = f"may not expose port {KUBELET_PORT} externally since it is used by kubelet"
                errors.append(invalid(f"spec.ports[{index}].port", KUBELET_PORT, detail))
    if kind == "ExternalName":
        for key in ("clusterIPs", "ipFamilies"):
            if as_list(spec.get(key)):
                errors.append(forbidden(f"spec.{key}", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errors.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        # A trailing dot marks the name as fully qualified.
        cname = as_str(spec.get("externalName")).removesuffix(".")
        if not cname:
            errors.append(required("spec.externalName"))
        else:
            errors.extend(invalid_each("spec.externalName", cname, validate_dns1123_subdomain(cname)))
    return errors


def _ports_errors(spec: dict[str, Any], ports: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    names: set[str] = set()
    pairs: set[tuple[str, int]] = set()
    node_ports: set[tuple[str, int]] = set()
    low, high = NODE_PORT_RANGE
    for index, raw in enumerate(ports):
        port = as_dict(raw)
        path = f"spec.ports[{index}]"
        name = as_str(port.get("name"))
        if not name and len(ports) > 1:
            errors.append(required(f"{path}.name"))
        elif name:
            errors.extend(invalid_each(f"{path}.name", name, name_is_dns_label(name, False)))
            if name in names:
                errors.append(duplicate(f"{path}.name", name))
            names.add(name)
        number = as_int(port.get("port")) or 0
        errors.extend(invalid_each(f"{path}.port", number, port_number_messages(number)))
        errors.extend(protocol_errors(f"{path}.protocol", port.get("protocol")))
        errors.extend(port_number_or_name_errors(f"{path}.targetPort", port.get("targetPort")))

        protocol = as_str(port.get("protocol"))
        if (protocol, number) in pairs:
            errors.append(duplicate(path, {"port": number, "protocol": protocol}))
        pairs.add((protocol, number))

        node_port = as_int(port.get("nodePort")) or 0
        if node_port == 0:
            continue
        if spec.get("type") in ("ClusterIP", "ExternalName"):
            errors.append(forbidden(f"{path}.nodePort", f"may not be used when `type` is '{spec.get('type')}'"))
        elif not low <= node_port <= high:
            detail = f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
            errors.append(invalid(f"{path}.nodePort", node_port, detail))
        elif (protocol, node_port) in node_ports:
            errors.append(duplicate(f"{path}.nodePort", node_port))
        node_ports.add((protocol, node_port))
    return errors


def _affinity_errors(spec: dict[str, Any]) -> list[FieldError]:
    affinity = spec.get("sessionAffinity")
    if not affinity:
        return [required("spec.sessionAffinity")]
    if affinity not in SESSION_AFFINITIES:
        return [not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES)]
    config = spec.get("sessionAffinityConfig")
    if affinity == "None":
        if config is not None:
            return [forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None")]
        return []
    path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
    timeout = as_int(as_dict(as_dict(config).get("clientIP")).get("timeoutSeconds"))
    if timeout is None:
        return [required(path)]
    if not 0 < timeout <= MAX_CLIENT_IP_TIMEOUT_SECONDS:
        return [invalid(path, timeout, f"must be greater than 0 and less than {MAX_CLIENT_IP_TIMEOUT_SECONDS}")]
    return []


def _cluster_ip_errors(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    cluster_ip = as_str(spec.get("clusterIP"))
    cluster_ips = [as_str(address) for address in as_list(spec.get("clusterIPs"))]
    if cluster_ips and cluster_ip and cluster_ips[0] != cluster_ip:
        errors.append(invalid("spec.clusterIPs", cluster_ips, "first value must match `clusterIP`"))
    for index, address in enumerate(cluster_ips or ([cluster_ip] if cluster_ip else [])):
        if address == HEADLESS and index == 0:
            continue
        errors.extend(invalid_each(f"spec.clusterIPs[{index}]", address, ip_messages(address)))

    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errors.append(not_supported("spec.ipFamilyPolicy", policy, IP_FAMILY_POLICIES))
    seen: set[str] = set()
    for index, family in enumerate(as_list(spec.get("ipFamilies"))):
        path = f"spec.ipFamilies[{index}]"
        if family not in IP_FAMILIES:
            errors.append(not_supported(path, family, IP_FAMILIES))
        elif family in seen:
            errors.append(duplicate(path, family))
        seen.add(as_str(family))
    return errors


def _traffic_policy_errors(spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    external = spec.get("externalTrafficPolicy")
    if _externally_accessible(spec):
        if not external:
            errors.append(required("spec.externalTrafficPolicy"))
        elif external not in TRAFFIC_POLICIES:
            errors.append(not_supported("spec.externalTrafficPolicy", external, TRAFFIC_POLICIES))
    elif external and not as_list(spec.get("externalIPs")):
        errors.append(invalid("spec.externalTrafficPolicy", external, "may only be set for externally-accessible services"))
    internal = spec.get("internalTrafficPolicy")
    if spec.get("type") != "ExternalName":
        if not internal:
            errors.append(required("spec.internalTrafficPolicy"))
        elif internal not in TRAFFIC_POLICIES:
            errors.append(not_supported("spec.internalTrafficPolicy", internal, TRAFFIC_POLICIES))
    return errors


def carry_over_allocations(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Copy the allocated clusterIP(s), families and nodePorts a PUT left out, as Kubernetes does.

    Clients often send a Service without the values the API server
    allocated; Kubernetes keeps the old ones instead of failing the update.
    """
    new_spec = new.get("spec")
    old_spec = as_dict(old.get("spec"))
    if not isinstance(new_spec, dict) or "ExternalName" in (new_spec.get("type"), old_spec.get("type")):
        return
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        if not new_spec.get(key) and old_spec.get(key):
            new_spec[key] = old_spec[key]
    old_ports = {(as_str(p.get("protocol")), as_int(p.get("port"))): p for p in map(as_dict, as_list(old_spec.get("ports")))}
    for port in as_list(new_spec.get("ports")):
        if not isinstance(port, dict) or port.get("nodePort"):
            continue
        previous = old_ports.get((as_str(port.get("protocol")) or "TCP", as_int(port.get("port"))))
        if previous is not None and previous.get("nodePort") and new_spec.get("type") in ("NodePort", "LoadBalancer"):
            port["nodePort"] = previous["nodePort"]


def validate_service_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Reject a changed or removed primary cluster IP, unless either side is ExternalName."""
    new_spec = as_dict(new.get("spec"))
    old_spec = as_dict(old.get("spec"))
    if "ExternalName" in (new_spec.get("type"), old_spec.get("type")):
        return []
    old_ips = as_list(old_spec.get("clusterIPs")) or ([old_spec["clusterIP"]] if old_spec.get("clusterIP") else [])
    new_ips = as_list(new_spec.get("clusterIPs")) or ([new_spec["clusterIP"]] if new_spec.get("clusterIP") else [])
    if not old_ips:
        return []
    if not new_ips:
        return [required("spec.clusterIPs[0]", "primary clusterIP can not be unset")]
    if new_ips[0] != old_ips[0]:
        return [invalid("spec.clusterIPs[0]", new_ips, "may not change once set")]
    return []


def validate_service_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    ingress = as_list(as_dict(as_dict(new.get("status")).get("loadBalancer")).get("ingress"))
    errors: list[FieldError] = []
    for index, raw in enumerate(ingress):
        address = as_str(as_dict(raw).get("ip"))
        if address:
            errors.extend(invalid_each(f"status.loadBalancer.ingress[{index}].ip", address, ip_messages(address)))
    return errors


SERVICE = KindRules(
    defaults=default_service,
    validate=validate_service,
    validate_update=validate_service_update,
    validate_status=validate_service_status,
)
