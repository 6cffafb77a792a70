"""Files of a downwardAPI volume: pod metadata and container resources, as pure functions.

A volume file shows one of the pod fields the kubelet allows in volumes
(metadata.name, namespace, uid, labels, annotations, or one label or
annotation) or one container resource (limits and requests of cpu, memory,
ephemeral-storage and hugepages-<size>). Maps are written as the kubelet
writes them: one ``key="value"`` line per entry, sorted by key, with no
newline after the last line. A resource is ceil(quantity / divisor), where
cpu divides milli-values and the others whole units. An unset limit reads
as the node's allocatable amount, so that a program sees the most it can use.

Differences from Kubernetes: values are quoted with JSON-style escapes,
so a non-ASCII character appears as \\uXXXX where Go's %q prints it as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from pykube_core.quantity import parse_quantity

from pykube_control.agent.volumes.errors import VolumeError
from pykube_control.agent.volumes.payload import Object, Payload

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")

RESOURCE_PREFIXES = ("limits.", "requests.")


def downward_payload(
    volume: str, items: list[Object], mode: int, pod: Object, allocatable: Mapping[str, str]
) -> Payload:
    """Build the files of downwardAPI ``items`` for ``pod``, each with its own mode or ``mode``."""
    payload: Payload = {}
    for item in items:
        path = item.get("path", "")
        if item.get("fieldRef"):
            text = field_value(volume, pod, item["fieldRef"].get("fieldPath", ""))
        elif item.get("resourceFieldRef"):
            text = resource_value(volume, pod, item["resourceFieldRef"], allocatable)
        else:
            raise VolumeError(volume, f"downwardAPI item {path!r} has neither fieldRef nor resourceFieldRef; set one")
        item_mode = item.get("mode")
        payload[path] = (text.encode(), mode if item_mode is None else int(item_mode))
    return payload


def field_value(volume: str, pod: Object, field_path: str) -> str:
    """Return the text of a pod field that a downwardAPI volume may show."""
    metadata = pod.get("metadata") or {}
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(metadata.get(field_path.split(".", 1)[1]) or "")
    if field_path in ("metadata.labels", "metadata.annotations"):
        return format_map(metadata.get(field_path.split(".", 1)[1]) or {})
    match = _SUBSCRIPT.match(field_path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    raise VolumeError(
        volume,
        f"unsupported fieldPath {field_path!r} in a downwardAPI volume; use metadata.name, metadata.namespace, "
        "metadata.uid, metadata.labels, metadata.annotations or a single label or annotation",
    )


def format_map(values: Mapping[str, Any]) -> str:
    """Format labels or annotations as sorted ``key="value"`` lines without a final newline."""
    return "\n".join(f"{key}={json.dumps(str(values[key]))}" for key in sorted(values))


def resource_value(volume: str, pod: Object, ref: Mapping[str, Any], allocatable: Mapping[str, str]) -> str:
    """Return ceil(resource / divisor) of the referenced container, as decimal text."""
    resource = str(ref.get("resource", ""))
    container = _container(volume, pod, str(ref.get("containerName", "")))
    if not resource.startswith(RESOURCE_PREFIXES):
        raise VolumeError(volume, f"unsupported container resource {resource!r}; use limits.<name> or requests.<name>")
    section, name = resource.split(".", 1)
    resources = container.get("resources") or {}
    amount = (resources.get(section) or {}).get(name)
    if amount is None and section == "limits":
        amount = allocatable.get(name)
    quantity = parse_quantity(str(amount if amount is not None else "0"))
    divisor = parse_quantity(str(ref.get("divisor") or "1"))
    if divisor.nanos <= 0:
        raise VolumeError(volume, f"divisor {ref.get('divisor')!r} of {resource} must be positive")
    if name == "cpu":
        return str(_ceil_divide(quantity.milli_value(), divisor.milli_value()))
    return str(_ceil_divide(quantity.value(), divisor.value()))


def _container(volume: str, pod: Object, name: str) -> Object:
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for container in containers:
        if container.get("name") == name:
            return dict(container)
    names = " ".join(str(c.get("name")) for c in containers)
    raise VolumeError(volume, f"resourceFieldRef names container {name!r}, which the pod does not have; choose one of: [{names}]")


def _ceil_divide(numerator: int, denominator: int) -> int:
    if denominator == 0:
        raise ZeroDivisionError("divisor rounds to zero")
    return -(-numerator // denominator)
