"""Builders of pods and containers for the node agent's tests."""

from __future__ import annotations

import uuid
from typing import Any

Object = dict[str, Any]


def container(name: str = "main", image: str = "localhost/busybox:latest", **fields: Any) -> Object:
    """Return a container spec; ``fields`` are added as given (camelCase keys)."""
    return {"name": name, "image": image, **fields}


def resources(requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Object:
    result: Object = {}
    if requests:
        result["requests"] = requests
    if limits:
        result["limits"] = limits
    return result


def pod(
    name: str,
    *containers: Object,
    namespace: str = "default",
    node: str | None = None,
    phase: str | None = None,
    init: list[Object] | None = None,
    **spec: Any,
) -> Object:
    """Return a pod with a uid, as the API server would store it, with the given containers and spec fields."""
    body: Object = {"containers": list(containers) or [container()], **spec}
    if init:
        body["initContainers"] = init
    if node is not None:
        body["nodeName"] = node
    obj: Object = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())},
        "spec": body,
    }
    if phase is not None:
        obj["status"] = {"phase": phase}
    return obj
