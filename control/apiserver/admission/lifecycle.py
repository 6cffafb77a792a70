"""NamespaceLifecycle: objects go only into namespaces that exist and are not terminating."""

from __future__ import annotations

from typing import Any

from pykube_control.apiserver import resources, storage
from pykube_control.apiserver.admission.chain import AdmissionRequest
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.status import APIError, forbidden, not_found

NAMESPACES = resources.by_plural("", "v1", "namespaces")
assert NAMESPACES is not None

IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
"""Namespaces the server creates at start and refuses to delete."""


async def admit_namespace_lifecycle(ctx: APIContext, request: AdmissionRequest) -> None:
    resource = request.resource
    if resource.qualified == "namespaces" and request.operation == "DELETE" and request.name in IMMORTAL_NAMESPACES:
        raise forbidden(f'namespaces "{request.name}" is forbidden: this namespace may not be deleted', resource, request.name)
    if not resource.namespaced or request.operation != "CREATE" or request.namespace is None:
        return
    namespace = await _namespace(ctx, request.namespace)
    if namespace is None:
        assert NAMESPACES is not None
        raise not_found(NAMESPACES, request.namespace)
    if (namespace.get("status") or {}).get("phase") == "Terminating" or (namespace.get("metadata") or {}).get("deletionTimestamp"):
        raise APIError(
            403,
            "Forbidden",
            f'{resource.qualified} "{request.name}" is forbidden: unable to create new content in namespace '
            f"{request.namespace} because it is being terminated",
            details={"name": request.name, "kind": resource.plural, "causes": [{"reason": "NamespaceTerminating", "message": f"namespace {request.namespace} is being terminated", "field": "metadata.namespace"}]},
        )


async def _namespace(ctx: APIContext, name: str) -> dict[str, Any] | None:
    assert NAMESPACES is not None
    cache = ctx.cache(NAMESPACES)
    cached = cache.objects.get(storage.object_key(NAMESPACES, None, name))
    if cached is not None:
        return cached[0]
    # The cache may lag a namespace created a moment ago; the store is the truth.
    try:
        obj, _ = await ctx.read(NAMESPACES, None, name)
    except APIError:
        return None
    return obj
