"""A container's environment, resolved from its spec as the kubelet resolves it.

Order and precedence follow Kubernetes: first every ``envFrom`` source in
order (each key prefixed by the source's ``prefix``), then every ``env``
entry in order, and a later name replaces an earlier one. A value may
refer to variables defined before it as ``$(NAME)``. A reference to an
undefined name stays as written, and ``$$`` escapes a dollar sign.

Values come from literals, ``fieldRef`` (pod metadata, spec and status
fields), ``resourceFieldRef`` (the container's requests and limits, with
limits defaulting to the node's allocatable), ``configMapKeyRef`` and
``secretKeyRef``. A missing ConfigMap, Secret or key that is not optional
raises ``EnvError``. The pod worker then reports the container as waiting
with reason CreateContainerConfigError, and retries at its next sync.

Differences from a kubelet: the service environment variables
(``<SERVICE>_SERVICE_HOST`` and the like) are not added.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from pykube_core.quantity import parse_quantity

from pykube_control.agent.node_info import NodeResources
from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import CONFIGMAPS, SECRETS

Object = dict[str, Any]

_REFERENCE = re.compile(r"\$\$|\$\(([^)]*)\)")
_LABEL_PATH = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")


class EnvError(Exception):
    """A value of a container's environment could not be resolved; the message names the source."""


class PodContext:
    """The pod facts that fieldRef and resourceFieldRef read: the pod object, its IPs and the node's allocatable."""

    def __init__(self, pod: Object, *, host_ip: str, pod_ips: list[str], allocatable: NodeResources) -> None:
        self.pod = pod
        self.host_ip = host_ip
        self.pod_ips = pod_ips
        self.allocatable = allocatable


async def resolve_env(client: APIClient, container: Mapping[str, Any], context: PodContext) -> list[tuple[str, str]]:
    """Return the container's environment as (name, value) pairs in definition order."""
    namespace = str(context.pod["metadata"].get("namespace") or "default")
    values: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        values.update(await _env_from(client, namespace, source))
    for entry in container.get("env") or []:
        name = str(entry.get("name", ""))
        if "valueFrom" in entry:
            value = await _value_from(client, namespace, name, entry["valueFrom"], container, context)
            if value is None:
                continue
        else:
            value = expand(str(entry.get("value") or ""), values)
        values[name] = value
    return list(values.items())


def expand(text: str, defined: Mapping[str, str]) -> str:
    """Replace each ``$(NAME)`` with a defined value; ``$$`` becomes ``$``; unknown names stay as written."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return defined.get(name, match.group(0))

    return _REFERENCE.sub(substitute, text)


async def _env_from(client: APIClient, namespace: str, source: Mapping[str, Any]) -> dict[str, str]:
    prefix = str(source.get("prefix") or "")
    if "configMapRef" in source:
        ref = source["configMapRef"]
        data = await _configmap_data(client, namespace, ref)
    elif "secretRef" in source:
        ref = source["secretRef"]
        data = await _secret_data(client, namespace, ref)
    else:
        raise EnvError(f"envFrom entry {dict(source)!r} has neither configMapRef nor secretRef")
    if data is None:
        return {}
    return {prefix + key: value for key, value in data.items()}


async def _value_from(
    client: APIClient,
    namespace: str,
    name: str,
    source: Mapping[str, Any],
    container: Mapping[str, Any],
    context: PodContext,
) -> str | None:
    """Resolve one valueFrom; None means an optional source was missing and the variable is left out."""
    if "fieldRef" in source:
        return field_value(str(source["fieldRef"].get("fieldPath", "")), context)
    if "resourceFieldRef" in source:
        return resource_value(source["resourceFieldRef"], container, context)
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        data = await _configmap_data(client, namespace, ref)
        return _key_of(data, ref, "ConfigMap", namespace, name)
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        data = await _secret_data(client, namespace, ref)
        return _key_of(data, ref, "Secret", namespace, name)
    raise EnvError(f"env {name}: valueFrom has no fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef")


def _key_of(
    data: Mapping[str, str] | None, ref: Mapping[str, Any], kind: str, namespace: str, variable: str
) -> str | None:
    if data is None:
        return None
    key = str(ref.get("key", ""))
    if key in data:
        return data[key]
    if ref.get("optional"):
        return None
    raise EnvError(f"env {variable}: couldn't find key {key} in {kind} {namespace}/{ref.get('name')}")


async def _configmap_data(client: APIClient, namespace: str, ref: Mapping[str, Any]) -> dict[str, str] | None:
    name = str(ref.get("name", ""))
    try:
        configmap = await client.get(CONFIGMAPS, name, namespace=namespace)
    except NotFound:
        if ref.get("optional"):
            return None
        raise EnvError(f'configmap "{name}" not found') from None
    data = {str(key): str(value) for key, value in (configmap.get("data") or {}).items()}
    for key, value in (configmap.get("binaryData") or {}).items():
        data[str(key)] = base64.b64decode(value).decode("utf-8", "replace")
    return data


async def _secret_data(client: APIClient, namespace: str, ref: Mapping[str, Any]) -> dict[str, str] | None:
    name = str(ref.get("name", ""))
    try:
        secret = await client.get(SECRETS, name, namespace=namespace)
    except NotFound:
        if ref.get("optional"):
            return None
        raise EnvError(f'secret "{name}" not found') from None
    data = {str(key): base64.b64decode(value).decode("utf-8", "replace") for key, value in (secret.get("data") or {}).items()}
    for key, value in (secret.get("stringData") or {}).items():
        data[str(key)] = str(value)
    return data


def field_value(path: str, context: PodContext) -> str:
    """Return the value of a fieldRef's fieldPath for the pod; raise EnvError for an unsupported path."""
    pod = context.pod
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {
        "metadata.name": metadata.get("name"),
        "metadata.namespace": metadata.get("namespace"),
        "metadata.uid": metadata.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": context.host_ip,
        "status.hostIPs": context.host_ip,
        "status.podIP": context.pod_ips[0] if context.pod_ips else "",
        "status.podIPs": ",".join(context.pod_ips),
    }
    if path in simple:
        return str(simple[path] or "")
    match = _LABEL_PATH.match(path)
    if match:
        return str((metadata.get(match.group(1)) or {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = metadata.get(path.split(".")[1]) or {}
        return "\n".join(f'{key}="{value}"' for key, value in sorted(items.items()))
    raise EnvError(f"fieldRef: unsupported fieldPath {path!r}")


def resource_value(ref: Mapping[str, Any], container: Mapping[str, Any], context: PodContext) -> str:
    """Return a resourceFieldRef's value, divided by its divisor and rounded up, as the kubelet does."""
    target = container
    wanted = ref.get("containerName")
    if wanted and wanted != container.get("name"):
        spec = context.pod.get("spec") or {}
        matches = [c for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) if c.get("name") == wanted]
        if not matches:
            raise EnvError(f"resourceFieldRef: container {wanted!r} is not in the pod")
        target = matches[0]
    resource = str(ref.get("resource", ""))
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or name not in ("cpu", "memory", "ephemeral-storage"):
        raise EnvError(f"resourceFieldRef: unsupported resource {resource!r}; use limits or requests of cpu, memory or ephemeral-storage")
    resources = target.get("resources") or {}
    text = (resources.get(kind) or {}).get(name)
    divisor = parse_quantity(str(ref.get("divisor") or "1"))
    if name == "cpu":
        if text is None:
            amount = context.allocatable.cpu if kind == "limits" else 0
        else:
            amount = parse_quantity(str(text)).milli_value()
        return str(-(-amount // max(1, divisor.milli_value())))
    if text is None:
        fallback = context.allocatable.memory if name == "memory" else context.allocatable.ephemeral_storage
        amount = fallback if kind == "limits" else 0
    else:
        amount = parse_quantity(str(text)).value()
    return str(-(-amount // max(1, divisor.value())))
