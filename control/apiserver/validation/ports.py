"""Port checks shared by pods and services: numbers, IANA names and container port lists."""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.fielderrors import (
    duplicate,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import port_name_messages, port_number_messages
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str

PROTOCOLS = ("SCTP", "TCP", "UDP")


def port_number_or_name_errors(path: str, value: object) -> list[FieldError]:
    """Check an IntOrString port such as a probe's or a Service's targetPort.

    A number must be 1-65535 and a string an IANA service name; null and ""
    are reported as missing.
    """
    number = as_int(value)
    if number is not None:
        return invalid_each(path, number, port_number_messages(number))
    name = as_str(value)
    if not name:
        return [required(path)]
    return invalid_each(path, name, port_name_messages(name))


def protocol_errors(path: str, value: object) -> list[FieldError]:
    protocol = as_str(value)
    if not protocol:
        return [required(path)]
    if protocol not in PROTOCOLS:
        return [not_supported(path, protocol, PROTOCOLS)]
    return []


def container_ports_errors(path: str, ports: object, host_network: bool) -> list[FieldError]:
    """Check one container's ``ports``: numbers, protocols and names unique in the container."""
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, raw in enumerate(as_list(ports)):
        port = as_dict(raw)
        entry = f"{path}[{index}]"
        name = as_str(port.get("name"))
        if name:
            messages = port_name_messages(name)
            errors.extend(invalid_each(f"{entry}.name", name, messages))
            if not messages and name in names:
                errors.append(duplicate(f"{entry}.name", name))
            names.add(name)

        container_port = as_int(port.get("containerPort")) or 0
        if container_port == 0:
            errors.append(required(f"{entry}.containerPort"))
        else:
            errors.extend(invalid_each(f"{entry}.containerPort", container_port, port_number_messages(container_port)))
        host_port = as_int(port.get("hostPort")) or 0
        if host_port != 0:
            errors.extend(invalid_each(f"{entry}.hostPort", host_port, port_number_messages(host_port)))
            if host_network and host_port != container_port:
                errors.append(
                    invalid(f"{entry}.containerPort", container_port, "must match `hostPort` when `hostNetwork` is true")
                )
        errors.extend(protocol_errors(f"{entry}.protocol", port.get("protocol")))
    return errors


def host_port_conflicts(containers: list[tuple[str, dict[str, Any]]]) -> list[FieldError]:
    """Report a hostIP/protocol/hostPort triple used twice across the pod's containers.

    ``containers`` pairs each container's field path with the container.
    """
    seen: set[str] = set()
    errors: list[FieldError] = []
    for path, container in containers:
        for index, raw in enumerate(as_list(container.get("ports"))):
            port = as_dict(raw)
            host_port = as_int(port.get("hostPort")) or 0
            if host_port == 0:
                continue
            key = f"{as_str(port.get('hostIP'))}/{as_str(port.get('protocol'))}/{host_port}"
            if key in seen:
                errors.append(duplicate(f"{path}.ports[{index}].hostPort", key))
            seen.add(key)
    return errors
