"""JSON responses, list bodies and warning headers."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from pykube_control.apiserver.resources import ResourceType

Object = dict[str, Any]


def warning_header(text: str) -> str:
    """Format a Warning header value as Kubernetes does: code 299, agent "-", quoted text."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'


def json_response(body: Any, *, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
    for warning in warnings or []:
        response.headers.add("Warning", warning_header(warning))
    return response


def list_body(
    resource: ResourceType,
    items: list[Object],
    resource_version: str,
    *,
    continue_token: str | None = None,
    remaining: int | None = None,
) -> Object:
    metadata: Object = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
    return {"kind": resource.list_kind, "apiVersion": resource.group_version, "metadata": metadata, "items": items}
