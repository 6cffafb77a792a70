"""Subresources with their own shapes: scale, binding, eviction and namespace finalize.

``scale`` reads and writes ``spec.replicas`` through an autoscaling/v1 Scale
object, as ``kubectl scale`` does. ``binding`` sets a pending pod's node
(the scheduler's write); binding an already bound pod is a 409 Conflict.
``eviction`` deletes a pod through the eviction API once its
PodDisruptionBudget allows it (see eviction.py). ``finalize`` updates a namespace's ``spec.finalizers``.
"""

from __future__ import annotations

import copy
import datetime
from typing import Any

from aiohttp import web

from pykube_control.apiserver import storage
from pykube_control.apiserver.body import decode_object, media_type, read_body
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.request_info import RequestInfo
from pykube_control.apiserver.responses import json_response
from pykube_control.apiserver.selection import _selector_text_for_scale
from pykube_control.apiserver.status import APIError, bad_request, conflict, not_found, status_body
from pykube_control.store.errors import ConflictError, KeyNotFoundError

Object = dict[str, Any]


def scale_of(obj: Object) -> Object:
    metadata = obj["metadata"]
    status = obj.get("status") or {}
    scale: Object = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
            "creationTimestamp": metadata.get("creationTimestamp"),
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0)},
    }
    selector = _selector_text_for_scale(obj)
    if selector:
        scale["status"]["selector"] = selector
    return scale


async def get_scale(ctx: APIContext, info: RequestInfo) -> web.StreamResponse:
    assert info.name is not None
    obj, _ = await ctx.read(info.resource, info.namespace, info.name)
    return json_response(scale_of(obj))


async def _write_replicas(ctx: APIContext, info: RequestInfo, replicas: Any, expected: str | None) -> web.StreamResponse:
    from pykube_control.apiserver.write import _store_update

    assert info.name is not None
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise APIError(
            422, "Invalid",
            f'Scale.autoscaling "{info.name}" is invalid: spec.replicas: Invalid value: {replicas!r}: must be greater than or equal to 0',
        )
    for _ in range(8):
        current, revision = await ctx.read(info.resource, info.namespace, info.name)
        if expected and expected != str(revision):
            raise conflict(info.resource, info.name)
        updated = copy.deepcopy(current)
        updated.setdefault("spec", {})["replicas"] = replicas
        main = RequestInfo(info.resource, info.namespace, info.name, None, False, info.group, info.version)
        try:
            result = await _store_update(ctx, main, updated, current, revision, False)
        except ConflictError:
            if expected:
                raise conflict(info.resource, info.name) from None
            continue
        return json_response(scale_of(result))
    raise conflict(info.resource, info.name, "too many concurrent writers; retry")


async def update_scale(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    body = decode_object(await read_body(request), media_type(request))
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise bad_request("Scale spec must be an object")
    expected = (body.get("metadata") or {}).get("resourceVersion")
    return await _write_replicas(ctx, info, spec.get("replicas", 0), str(expected) if expected else None)


async def patch_scale(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    from pykube_control.apiserver.patch import InvalidPatch, UnsupportedPatchType, apply_patch
    from pykube_control.apiserver.write import PATCH_ERROR_REASONS

    assert info.name is not None
    raw = await read_body(request)
    current, _ = await ctx.read(info.resource, info.namespace, info.name)
    try:
        patched = apply_patch(media_type(request), scale_of(current), raw, info.resource)
    except UnsupportedPatchType as exc:
        raise APIError(415, "UnsupportedMediaType", str(exc)) from None
    except InvalidPatch as exc:
        raise APIError(exc.status, PATCH_ERROR_REASONS.get(exc.status, "BadRequest"), str(exc)) from None
    expected = (patched.get("metadata") or {}).get("resourceVersion")
    original = current["metadata"].get("resourceVersion")
    return await _write_replicas(
        ctx, info, (patched.get("spec") or {}).get("replicas", 0), str(expected) if expected != original else None
    )


def _bound_pod(current: Object, node: str, now: str) -> Object:
    """Return a copy of ``current`` assigned to ``node``, with PodScheduled True since ``now``.

    Only the dicts on the changed paths are copied, so ``current``, which
    may be the watch cache's object, stays untouched.
    """
    updated = dict(current)
    updated["spec"] = {**(current.get("spec") or {}), "nodeName": node}
    status = dict(current.get("status") or {})
    conditions = [c for c in (status.get("conditions") or []) if c.get("type") != "PodScheduled"]
    conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
    status["conditions"] = conditions
    updated["status"] = status
    return updated


def _binding_rejection(current: Object, name: str) -> str | None:
    """Return the Conflict message when ``current`` cannot be bound, else None."""
    node_name = (current.get("spec") or {}).get("nodeName")
    if node_name:
        return f'pod {name} is already assigned to node "{node_name}"'
    if (current.get("metadata") or {}).get("deletionTimestamp"):
        return f"pod {name} is being deleted, cannot be assigned to a host"
    return None


def _cached_pod(ctx: APIContext, key: str) -> tuple[Object, int] | None:
    """Return the watch cache's copy of the pod and its revision, or None when the cache does not have it."""
    cache = ctx.caches.get("pods")
    entry = cache.objects.get(key) if cache is not None else None
    if entry is None:
        return None
    obj = entry[0]
    return obj, int(obj["metadata"]["resourceVersion"])


async def create_binding(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    """Assign a pending pod to the Binding's target node with one compare-and-swap write.

    The first attempt starts from the watch cache's copy, which spares a
    store read. That copy may be behind the store, so any rejection or
    failed swap based on it is retried once from a store read, and only the
    store's state decides the response.
    """
    from pykube_control.apiserver.lifecycle import rfc3339

    assert info.name is not None
    body = decode_object(await read_body(request), media_type(request))
    target = body.get("target") or {}
    node = target.get("name") if isinstance(target, dict) else None
    if not isinstance(node, str) or not node:
        raise APIError(422, "Invalid", f'Binding "{info.name}" is invalid: target.name: Required value')
    key = storage.object_key(info.resource, info.namespace, info.name)
    now = rfc3339(datetime.datetime.now(datetime.timezone.utc))
    cached = _cached_pod(ctx, key)
    if cached is not None and _binding_rejection(cached[0], info.name) is None:
        try:
            # Binding is the one write that may change a pod's nodeName, so it
            # skips update validation and writes with compare-and-swap directly.
            await ctx.store.update(key, storage.encode(_bound_pod(cached[0], node, now)), expected_revision=cached[1])
            return json_response(status_body(201, "", "", None), status=201)
        except (ConflictError, KeyNotFoundError):
            pass  # the cache was behind the store, which decides below
    current, revision = await ctx.read(info.resource, info.namespace, info.name)
    rejection = _binding_rejection(current, info.name)
    if rejection is not None:
        raise conflict(info.resource, info.name, rejection)
    try:
        await ctx.store.update(key, storage.encode(_bound_pod(current, node, now)), expected_revision=revision)
    except ConflictError:
        raise conflict(info.resource, info.name) from None
    except KeyNotFoundError:
        raise not_found(info.resource, info.name) from None
    return json_response(status_body(201, "", "", None), status=201)


async def create_eviction(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    from pykube_control.apiserver.eviction import spend_disruption
    from pykube_control.apiserver.write import delete_one

    assert info.name is not None
    body = decode_object(await read_body(request), media_type(request))
    options = body.get("deleteOptions") or {}
    if not isinstance(options, dict):
        raise bad_request("deleteOptions must be an object")
    pod, _ = await ctx.read(info.resource, info.namespace, info.name)
    await spend_disruption(ctx, pod, False)
    await delete_one(ctx, info.resource, info.namespace, info.name, options, False)
    return json_response(status_body(201, "", "", None), status=201)


async def update_finalize(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    assert info.name is not None
    body = decode_object(await read_body(request), media_type(request))
    finalizers = (body.get("spec") or {}).get("finalizers") or []
    if not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers):
        raise bad_request("spec.finalizers must be a list of strings")
    key = storage.object_key(info.resource, None, info.name)
    current, revision = await ctx.read(info.resource, None, info.name)
    updated = copy.deepcopy(current)
    updated.setdefault("spec", {})["finalizers"] = finalizers
    metadata = updated["metadata"]
    if metadata.get("deletionTimestamp") and not finalizers and not metadata.get("finalizers"):
        deleted = await ctx.store.delete(key, expected_revision=revision)
        return json_response(storage.decode(deleted.prev.value, deleted.revision))
    try:
        kv = await ctx.store.update(key, storage.encode(updated), expected_revision=revision)
    except ConflictError:
        raise conflict(info.resource, info.name) from None
    metadata["resourceVersion"] = str(kv.mod_revision)
    return json_response(updated)
