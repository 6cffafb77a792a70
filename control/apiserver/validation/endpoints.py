"""Endpoints and EndpointSlice: addresses of the right family, well-formed ports."""

from __future__ import annotations

import ipaddress
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_label, name_is_dns_subdomain, validate_dns1123_subdomain

from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    duplicate,
    invalid,
    invalid_each,
    not_supported,
    required,
    too_many,
)
from pykube_control.apiserver.validation.formats import ip_messages, port_number_messages
from pykube_control.apiserver.validation.ports import protocol_errors
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str, set_default

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
MAX_SLICE_ENDPOINTS = 1000
MAX_ENDPOINT_ADDRESSES = 100
MAX_SLICE_PORTS = 20000


def _address_errors(path: str, address: dict[str, Any]) -> list[FieldError]:
    ip = as_str(address.get("ip"))
    errors = invalid_each(f"{path}.ip", ip, ip_messages(ip))
    hostname = as_str(address.get("hostname"))
    if hostname:
        errors.extend(invalid_each(f"{path}.hostname", hostname, name_is_dns_label(hostname, False)))
    node_name = as_str(address.get("nodeName"))
    if node_name:
        errors.extend(invalid_each(f"{path}.nodeName", node_name, name_is_dns_subdomain(node_name, False)))
    return errors


def _endpoint_port_errors(path: str, port: dict[str, Any], require_name: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    name = as_str(port.get("name"))
    if require_name and not name:
        errors.append(required(f"{path}.name"))
    elif name:
        errors.extend(invalid_each(f"{path}.name", name, name_is_dns_label(name, False)))
    number = as_int(port.get("port")) or 0
    errors.extend(invalid_each(f"{path}.port", number, port_number_messages(number)))
    errors.extend(protocol_errors(f"{path}.protocol", port.get("protocol")))
    return errors


def default_endpoints(obj: dict[str, Any]) -> None:
    for subset in as_list(obj.get("subsets")):
        for port in as_list(as_dict(subset).get("ports")):
            if isinstance(port, dict):
                set_default(port, "protocol", "TCP")


def validate_endpoints(obj: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(obj.get("subsets"))):
        subset = as_dict(raw)
        path = f"subsets[{index}]"
        for key in ("addresses", "notReadyAddresses"):
            for position, address in enumerate(as_list(subset.get(key))):
                errors.extend(_address_errors(f"{path}.{key}[{position}]", as_dict(address)))
        ports = as_list(subset.get("ports"))
        for position, port in enumerate(ports):
            errors.extend(_endpoint_port_errors(f"{path}.ports[{position}]", as_dict(port), len(ports) > 1))
    return errors


def default_endpoint_slice(obj: dict[str, Any]) -> None:
    for port in as_list(obj.get("ports")):
        if isinstance(port, dict):
            set_default(port, "protocol", "TCP")
            if port.get("name") is None:
                port["name"] = ""


def _slice_address_messages(address_type: str, address: str) -> list[str]:
    if address_type == "FQDN":
        return validate_dns1123_subdomain(address)
    if ip_messages(address):
        return [f"must be a valid {address_type} address"]
    version = ipaddress.ip_address(address).version
    if (address_type == "IPv4") != (version == 4):
        return [f"must be a valid {address_type} address"]
    return []


def validate_endpoint_slice(obj: dict[str, Any]) -> list[FieldError]:
    address_type = obj.get("addressType")
    errors: list[FieldError] = []
    if not address_type:
        errors.append(required("addressType"))
    elif address_type not in ADDRESS_TYPES:
        errors.append(not_supported("addressType", address_type, ADDRESS_TYPES))
    endpoints = as_list(obj.get("endpoints"))
    if len(endpoints) > MAX_SLICE_ENDPOINTS:
        errors.append(too_many("endpoints", len(endpoints), MAX_SLICE_ENDPOINTS))
    for index, raw in enumerate(endpoints):
        errors.extend(_slice_endpoint_errors(f"endpoints[{index}]", as_dict(raw), as_str(address_type)))
    errors.extend(_slice_ports_errors(as_list(obj.get("ports"))))
    return errors


def _slice_endpoint_errors(path: str, endpoint: dict[str, Any], address_type: str) -> list[FieldError]:
    addresses = as_list(endpoint.get("addresses"))
    errors: list[FieldError] = []
    if not addresses:
        errors.append(required(f"{path}.addresses", "must contain at least 1 address"))
    elif len(addresses) > MAX_ENDPOINT_ADDRESSES:
        errors.append(too_many(f"{path}.addresses", len(addresses), MAX_ENDPOINT_ADDRESSES))
    if address_type in ADDRESS_TYPES:
        for index, address in enumerate(addresses):
            text = as_str(address)
            errors.extend(invalid_each(f"{path}.addresses[{index}]", text, _slice_address_messages(address_type, text)))
    for key, check in (("nodeName", name_is_dns_subdomain), ("hostname", name_is_dns_label)):
        value = as_str(endpoint.get(key))
        if value:
            errors.extend(invalid_each(f"{path}.{key}", value, check(value, False)))
    return errors


def _slice_ports_errors(ports: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(ports) > MAX_SLICE_PORTS:
        errors.append(too_many("ports", len(ports), MAX_SLICE_PORTS))
    names: set[str] = set()
    for index, raw in enumerate(ports):
        port = as_dict(raw)
        path = f"ports[{index}]"
        name = as_str(port.get("name"))
        if name:
            errors.extend(invalid_each(f"{path}.name", name, name_is_dns_label(name, False)))
        if name in names:
            errors.append(duplicate(f"{path}.name", name))
        names.add(name)
        errors.extend(protocol_errors(f"{path}.protocol", port.get("protocol")))
        if port.get("port") is not None:
            number = as_int(port["port"]) or 0
            errors.extend(invalid_each(f"{path}.port", number, port_number_messages(number)))
    return errors


def validate_endpoint_slice_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    return check_immutable("addressType", new.get("addressType"), old.get("addressType"))


ENDPOINTS = KindRules(defaults=default_endpoints, validate=validate_endpoints)
ENDPOINT_SLICE = KindRules(
    defaults=default_endpoint_slice,
    validate=validate_endpoint_slice,
    validate_update=validate_endpoint_slice_update,
)
