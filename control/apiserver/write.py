"""Mutating verbs: create, update, patch, delete and deletecollection.

Each handler decodes and checks its input (pipeline), runs admission, then
writes with compare-and-swap on the revision it read. A concurrent writer
therefore makes an update fail with 409 Conflict, and makes a patch or
delete retry on fresh state. No write overwrites another silently.
Nothing is written before every check has passed.
"""

from __future__ import annotations

import copy
import datetime
import logging
from typing import Any

from aiohttp import web

from pykube_control.apiserver import csr_strategy, lifecycle, objects, pipeline, storage
from pykube_control.apiserver.admission.chain import AdmissionRequest
from pykube_control.apiserver.body import decode_document, decode_object, media_type, read_body
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.patch import InvalidPatch, UnsupportedPatchType, apply_patch
from pykube_control.apiserver.request_info import RequestInfo
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.responses import json_response, list_body
from pykube_control.apiserver.selection import parse_filter
from pykube_control.apiserver.status import (
    APIError,
    already_exists,
    bad_request,
    conflict,
    not_found,
    status_body,
    unsupported_media_type,
)
from pykube_control.store.errors import ConflictError, KeyExistsError, KeyNotFoundError

log = logging.getLogger("pykube.apiserver")

Object = dict[str, Any]

WRITE_RETRIES = 64
"""Attempts of a patch or delete that lost a race with another writer. Each
attempt rereads the object and one racing writer wins every round, so this
covers dozens of concurrent writers to one object and only stops
pathological contention."""

GENERATE_NAME_RETRIES = 5


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise bad_request(f'dryRun must be "All", not "{value}"')
    return bool(values)


async def admit(ctx: APIContext, req: AdmissionRequest) -> None:
    """Run the admission chain; undo what earlier plugins charged if a later one rejects."""
    try:
        for plugin in ctx.admission_plugins:
            await plugin(ctx, req)
    except BaseException:
        await rollback(req)
        raise


async def rollback(req: AdmissionRequest) -> None:
    for undo in reversed(req.rollbacks):
        try:
            await undo()
        except Exception:  # a failed undo must not hide the write's own error
            log.exception("admission rollback failed resource=%s name=%s", req.resource.qualified, req.name)


# --- create ---------------------------------------------------------------------


def _place(info: RequestInfo, obj: Object) -> None:
    """Set the namespace from the URL, rejecting a different one in the body."""
    metadata = objects.metadata_of(obj)
    if info.resource.namespaced:
        body_namespace = metadata.get("namespace")
        if body_namespace and body_namespace != info.namespace:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        metadata["namespace"] = info.namespace
    else:
        metadata.pop("namespace", None)


async def create(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    resource = info.resource
    if info.name is not None:
        raise APIError(405, "MethodNotAllowed", "POST is not allowed on a named object; use PUT to replace it")
    if resource.namespaced and info.namespace is None:
        raise APIError(405, "MethodNotAllowed", f"POST to all namespaces is not allowed; post {resource.plural} to /namespaces/<namespace>/{resource.plural}")
    obj = decode_object(await read_body(request), media_type(request))
    mode = pipeline.field_validation_mode(request.query.get("fieldValidation"))
    is_dry_run = dry_run(request)
    warnings = pipeline.prepare_input(resource, obj, mode)
    _place(info, obj)
    metadata = objects.metadata_of(obj)
    generate = not metadata.get("name") and isinstance(metadata.get("generateName"), str) and metadata["generateName"]

    for _ in range(GENERATE_NAME_RETRIES):
        candidate = copy.deepcopy(obj)
        candidate_meta = objects.metadata_of(candidate)
        if generate:
            candidate_meta["name"] = objects.generate_name(metadata["generateName"])
        objects.prepare_create(candidate)
        lifecycle.initial_status(resource, candidate)
        csr_strategy.prepare_create(resource, candidate, request.get(csr_strategy.USER_KEY))
        pipeline.defaults_and_validate_create(resource, candidate)
        created = await _store_new(ctx, info, candidate, is_dry_run, generated=bool(generate))
        if created is not None:
            return json_response(created, status=201, warnings=warnings)
    raise APIError(500, "InternalError", f"could not generate a free name from prefix {metadata['generateName']!r}; retry")


async def _store_new(ctx: APIContext, info: RequestInfo, obj: Object, is_dry_run: bool, *, generated: bool) -> Object | None:
    """Admit and store a new object; return None if a generated name was taken."""
    resource = info.resource
    name = obj["metadata"]["name"]
    req = AdmissionRequest("CREATE", resource, None, info.namespace, name, obj, None, is_dry_run)
    async with ctx.write_lock(resource, info.namespace):
        await admit(ctx, req)
        if is_dry_run:
            return obj
        key = storage.object_key(resource, info.namespace, name)
        try:
            kv = await ctx.store.create(key, storage.encode(obj))
        except KeyExistsError:
            await rollback(req)
            if generated:
                return None
            raise already_exists(resource, name) from None
        except BaseException:
            await rollback(req)
            raise
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


# --- update and patch --------------------------------------------------------------


def _check_identity(info: RequestInfo, obj: Object) -> None:
    metadata = objects.metadata_of(obj)
    name = metadata.get("name")
    if name is None:
        metadata["name"] = info.name
    elif name != info.name:
        raise bad_request(f"the name of the object ({name}) does not match the name on the URL ({info.name})")
    _place(info, obj)


async def update(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    resource = info.resource
    if info.name is None:
        raise APIError(405, "MethodNotAllowed", "PUT needs an object name in the path")
    if info.subresource == "scale":
        from pykube_control.apiserver.subresources import update_scale

        return await update_scale(ctx, info, request)
    obj = decode_object(await read_body(request), media_type(request))
    mode = pipeline.field_validation_mode(request.query.get("fieldValidation"))
    is_dry_run = dry_run(request)
    warnings = pipeline.prepare_input(resource, obj, mode)
    _check_identity(info, obj)
    expected = obj["metadata"].get("resourceVersion")
    for _ in range(WRITE_RETRIES):
        current, revision = await ctx.read(resource, info.namespace, info.name)
        if expected and str(expected) != str(revision):
            raise conflict(resource, info.name)
        try:
            result = await _store_update(ctx, info, copy.deepcopy(obj), current, revision, is_dry_run)
        except ConflictError:
            # Another write landed between the read and this one. With a
            # resourceVersion that is a conflict for the client; without one
            # the update applies to whatever is current, so it is retried.
            if expected:
                raise conflict(resource, info.name) from None
            continue
        except KeyNotFoundError:
            raise not_found(resource, info.name) from None
        return json_response(result, warnings=warnings)
    raise conflict(resource, info.name, "too many concurrent writers; retry")


async def _store_update(
    ctx: APIContext, info: RequestInfo, new: Object, current: Object, revision: int, is_dry_run: bool
) -> Object:
    """Check and store ``new`` over ``current`` read at ``revision``; raise ConflictError on a race."""
    resource = info.resource
    status_only = info.subresource in ("status", "approval")
    updated = objects.prepare_update(
        new, current, status_only=status_only, has_status="status" in resource.subresources
    )
    csr_strategy.prepare_update(resource, info.subresource, updated, current)
    pipeline.defaults_and_validate_update(resource, updated, current, status=status_only)
    req = AdmissionRequest("UPDATE", resource, info.subresource, info.namespace, info.name or "", updated, current, is_dry_run)
    key = storage.object_key(resource, info.namespace, info.name or "")
    async with ctx.write_lock(resource, info.namespace):
        await admit(ctx, req)
        if is_dry_run:
            return updated
        if _finalized(updated):
            await rollback(req)
            deleted = await ctx.store.delete(key, expected_revision=revision)
            return storage.decode(deleted.prev.value, deleted.revision)
        if storage.encode(updated) == storage.encode(current):
            await rollback(req)
            return current
        try:
            kv = await ctx.store.update(key, storage.encode(updated), expected_revision=revision)
        except BaseException:
            await rollback(req)
            raise
    updated["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return updated


def _finalized(obj: Object) -> bool:
    """Return whether an object marked for deletion has no finalizers left."""
    metadata = obj.get("metadata", {})
    if not metadata.get("deletionTimestamp") or metadata.get("finalizers"):
        return False
    spec_finalizers = (obj.get("spec") or {}).get("finalizers") if obj.get("kind") == "Namespace" else None
    return not spec_finalizers


PATCH_ERROR_REASONS = {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid"}

PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]


async def patch(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    resource = info.resource
    if info.name is None:
        raise APIError(405, "MethodNotAllowed", "PATCH needs an object name in the path")
    if info.subresource == "scale":
        from pykube_control.apiserver.subresources import patch_scale

        return await patch_scale(ctx, info, request)
    content_type = media_type(request)
    if content_type not in PATCH_TYPES:
        raise unsupported_media_type(content_type, PATCH_TYPES)
    raw = await read_body(request)
    mode = pipeline.field_validation_mode(request.query.get("fieldValidation"))
    is_dry_run = dry_run(request)
    for _ in range(WRITE_RETRIES):
        current, revision = await ctx.read(resource, info.namespace, info.name)
        base = copy.deepcopy(current)
        if content_type != "application/json-patch+json":
            # Without the stored version in the base, a resourceVersion in the
            # result can only come from the patch: a precondition. A JSON patch
            # keeps it, so its test operations can check it.
            base["metadata"].pop("resourceVersion", None)
        try:
            patched = apply_patch(content_type, base, raw, resource)
        except UnsupportedPatchType as exc:
            raise APIError(415, "UnsupportedMediaType", str(exc)) from None
        except InvalidPatch as exc:
            raise APIError(exc.status, PATCH_ERROR_REASONS.get(exc.status, "BadRequest"), str(exc)) from None
        if not isinstance(patched, dict):
            raise bad_request("the patched object is not a JSON object")
        warnings = pipeline.prepare_input(resource, patched, mode)
        _check_identity(info, patched)
        expected = patched.get("metadata", {}).get("resourceVersion")
        precondition = expected is not None and (
            content_type != "application/json-patch+json" or str(expected) != str(revision)
        )
        if precondition and str(expected) != str(revision):
            raise conflict(resource, info.name)
        try:
            result = await _store_update(ctx, info, patched, current, revision, is_dry_run)
        except ConflictError:
            # Without a precondition a patch applies to whatever is current,
            # so a lost race is retried on fresh state, as Kubernetes does.
            if precondition:
                raise conflict(resource, info.name) from None
            continue
        except KeyNotFoundError:
            raise not_found(resource, info.name) from None
        return json_response(result, warnings=warnings)
    raise conflict(resource, info.name, "too many concurrent writers; retry")


# --- delete ----------------------------------------------------------------------


async def delete_options(request: web.Request) -> Object:
    """Merge DeleteOptions from the body and the query (query wins, as in Kubernetes)."""
    options: Object = {}
    raw = await read_body(request)
    if raw.strip():
        document = decode_document(raw, media_type(request) or "application/json")
        if not isinstance(document, dict):
            raise bad_request("DeleteOptions must be a JSON object")
        options.update(document)
    query = request.query
    if "gracePeriodSeconds" in query:
        try:
            options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
        except ValueError:
            raise bad_request(f"gracePeriodSeconds must be an integer, not {query['gracePeriodSeconds']!r}") from None
    if "propagationPolicy" in query:
        options["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        options["orphanDependents"] = query["orphanDependents"] == "true"
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in ("Orphan", "Background", "Foreground"):
        raise bad_request(f'propagationPolicy must be "Orphan", "Background" or "Foreground", not "{policy}"')
    if options.get("orphanDependents") is not None and policy is not None:
        raise bad_request("orphanDependents and propagationPolicy cannot both be set; use propagationPolicy")
    if options.get("orphanDependents"):
        options["propagationPolicy"] = "Orphan"
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise bad_request("gracePeriodSeconds must be an integer")
    return options


def _check_preconditions(resource: ResourceType, name: str, obj: Object, revision: int, options: Object) -> None:
    preconditions = options.get("preconditions") or {}
    if not isinstance(preconditions, dict):
        raise bad_request("preconditions must be an object")
    uid = preconditions.get("uid")
    if uid and uid != obj["metadata"].get("uid"):
        raise conflict(
            resource, name, f"Precondition failed: UID in precondition: {uid}, UID in object meta: {obj['metadata'].get('uid')}"
        )
    rv = preconditions.get("resourceVersion")
    if rv and str(rv) != str(revision):
        raise conflict(
            resource,
            name,
            f"Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {revision}",
        )


async def delete(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    if info.name is None:
        return await delete_collection(ctx, info, request)
    options = await delete_options(request)
    is_dry_run = dry_run(request)
    result, deleted = await delete_one(ctx, info.resource, info.namespace, info.name, options, is_dry_run)
    return _delete_response(info.resource, result, deleted)


def _delete_response(resource: ResourceType, obj: Object, deleted: bool) -> web.StreamResponse:
    code = 200 if deleted else 202
    if resource.qualified in lifecycle.RETURNS_OBJECT_ON_DELETE or not deleted:
        return json_response(obj, status=code)
    details = {"name": obj["metadata"]["name"], "kind": resource.plural, "uid": obj["metadata"].get("uid")}
    if resource.group:
        details["group"] = resource.group
    return json_response(status_body(200, "", "", details), status=code)


async def delete_one(
    ctx: APIContext, resource: ResourceType, namespace: str | None, name: str, options: Object, is_dry_run: bool
) -> tuple[Object, bool]:
    """Delete or mark one object; return its last state and whether it is gone."""
    key = storage.object_key(resource, namespace, name)
    for _ in range(WRITE_RETRIES):
        obj, revision = await ctx.read(resource, namespace, name)
        _check_preconditions(resource, name, obj, revision, options)
        req = AdmissionRequest("DELETE", resource, None, namespace, name, None, obj, is_dry_run)
        marked = _mark_for_deletion(resource, obj, options)
        try:
            async with ctx.write_lock(resource, namespace):
                await admit(ctx, req)
                if is_dry_run:
                    return obj, marked is None
                if marked is not None:
                    if storage.encode(marked) == storage.encode(obj):
                        return obj, False
                    kv = await ctx.store.update(key, storage.encode(marked), expected_revision=revision)
                    marked["metadata"]["resourceVersion"] = str(kv.mod_revision)
                    return marked, False
                deleted = await ctx.store.delete(key, expected_revision=revision)
        except ConflictError:
            await rollback(req)
            continue
        except KeyNotFoundError:
            await rollback(req)
            raise not_found(resource, name) from None
        except BaseException:
            await rollback(req)
            raise
        return storage.decode(deleted.prev.value, deleted.revision), True
    raise conflict(resource, name, "too many concurrent writers; retry")


def _mark_for_deletion(resource: ResourceType, obj: Object, options: Object) -> Object | None:
    """Return the object marked for graceful deletion, or None to delete it now."""
    metadata = obj.get("metadata", {})
    finalizers = list(metadata.get("finalizers") or [])
    for finalizer in lifecycle.finalizers_for_policy(options.get("propagationPolicy")):
        if finalizer not in finalizers:
            finalizers.append(finalizer)
    grace = 0
    if resource.qualified == "pods":
        grace = lifecycle.pod_grace_seconds(obj, options.get("gracePeriodSeconds"))
    is_namespace = resource.qualified == "namespaces"
    if not finalizers and grace == 0 and not is_namespace:
        return None
    marked = copy.deepcopy(obj)
    marked_meta = marked["metadata"]
    if finalizers:
        marked_meta["finalizers"] = finalizers
    if not marked_meta.get("deletionTimestamp"):
        moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=grace)
        marked_meta["deletionTimestamp"] = lifecycle.rfc3339(moment)
        marked_meta["deletionGracePeriodSeconds"] = grace
    elif grace < int(marked_meta.get("deletionGracePeriodSeconds") or 0):
        # A shorter grace period shortens a deletion already under way.
        moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=grace)
        marked_meta["deletionTimestamp"] = lifecycle.rfc3339(moment)
        marked_meta["deletionGracePeriodSeconds"] = grace
    if is_namespace:
        marked.setdefault("status", {})["phase"] = "Terminating"
        if not finalizers and not (marked.get("spec") or {}).get("finalizers"):
            return None
    return marked


async def delete_collection(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    resource = info.resource
    selection = parse_filter(
        resource, info.namespace, request.query.get("labelSelector", ""), request.query.get("fieldSelector", "")
    )
    options = await delete_options(request)
    is_dry_run = dry_run(request)
    result = await ctx.store.list(storage.list_prefix(resource, info.namespace))
    items: list[Object] = []
    for kv in result.items:
        obj = storage.decode_kv(kv)
        if not selection.matches(obj):
            continue
        metadata = obj["metadata"]
        try:
            last, _ = await delete_one(ctx, resource, metadata.get("namespace"), metadata["name"], options, is_dry_run)
        except APIError as exc:
            if exc.code == 404:
                continue
            raise
        items.append(last)
    return json_response(list_body(resource, items, str(result.revision)))

