"""ResourceQuota admission: charge each write to the namespace's quotas before it is stored.

Kubernetes splits this work between an admission plugin, which checks and
charges new objects, and a controller that recounts ``status.used``. This
server has no such controller, so the plugin keeps ``status.used`` exact by
itself. Every write that changes what an object counts (see quota_usage)
moves the usage of each matching quota by the difference:

- CREATE, and UPDATE of claims and Services, must fit: used + increase <=
  hard for every resource the quota limits, or the write fails with 403
  ``exceeded quota: <name>, requested: ..., used: ..., limited: ...``. A new
  pod under a cpu or memory quota must also set that resource in every
  container (``failed quota: <name>: must specify ...``).
- Other updates are not checked, as in Kubernetes, but their changes still
  count, such as a pod reaching Succeeded.
- DELETE releases the object's whole usage. A deleted object stops
  counting when its deletion starts (see quota_usage), so the release
  happens at the DELETE request even when finalizers keep it in the store.

Each charge is written to the quota's status with compare-and-swap, before
the object itself is written, and ``request.rollbacks`` gets an undo step
in case that write then fails. The handlers hold the namespace's write lock
from admission until the store write ends, so no other write sees the
charge of a write that is then rolled back. Compare-and-swap keeps the
arithmetic exact even without the lock, because a lost race rereads the
quotas and checks again. A dry run checks and writes nothing.

Creating or updating a quota recounts its ``status.used`` from the objects
in the store, and ``status.hard`` mirrors ``spec.hard``.

NOTE: an object written in the instant between a namespace's first quota
being counted and being stored is missed by that quota until the quota is
updated again.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pykube_core.pod_resources import (
    ResourceList,
    add_into,
    format_resource_list,
    parse_resource_list,
)
from pykube_core.quota_scopes import quota_matches
from pykube_core.quota_usage import object_usage
from pykube_control.apiserver import resources, storage
from pykube_control.apiserver.admission import quota_usage as usage
from pykube_control.apiserver.admission.cache_lag import RECENT_CREATES
from pykube_control.apiserver.admission.chain import AdmissionRequest
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.resources import RESOURCES
from pykube_control.apiserver.status import APIError, conflict, forbidden
from pykube_control.store.errors import ConflictError, KeyNotFoundError

log = logging.getLogger("pykube.apiserver.admission")

Object = dict[str, Any]

RESOURCE_QUOTAS = resources.by_plural("", "v1", "resourcequotas")
assert RESOURCE_QUOTAS is not None

QUOTA_WRITE_RETRIES = 32
"""Attempts to write a charge when other writers keep changing the same quota.
Under the namespace lock the first attempt succeeds. Without the lock, as
with a quota too new for the watch cache, each lost race costs one attempt,
so a burst of up to 32 concurrent writers still succeeds."""

CHECKED_UPDATES = frozenset({"persistentvolumeclaims", "services"})
"""Resources whose updates must fit the quota; Kubernetes checks no other update."""

_BY_QUALIFIED = {resource.qualified: resource for resource in RESOURCES}


async def admit_resource_quota(ctx: APIContext, request: AdmissionRequest) -> None:
    namespace = request.namespace
    resource = request.resource
    if namespace is None or not resource.namespaced:
        return
    is_quota = resource.qualified == "resourcequotas"
    if is_quota and request.operation == "CREATE":
        RECENT_CREATES.note(ctx.store, resource.qualified, namespace)

    quotas = _other_quotas(request, await namespace_quotas(ctx, namespace))
    if quotas:
        await _charge(ctx, request, namespace, quotas)
    if is_quota and request.obj is not None:
        await _recount(ctx, request, namespace)


async def namespace_quotas(ctx: APIContext, namespace: str) -> list[tuple[Object, int]]:
    """Return the quotas of ``namespace`` with their revisions, read from the store, in name order.

    The watch cache only decides whether to look: a namespace it shows no
    quota in is skipped, unless a quota was created there a moment ago.
    """
    assert RESOURCE_QUOTAS is not None
    cached = ctx.cached_objects(RESOURCE_QUOTAS, namespace)
    if not cached and not RECENT_CREATES.is_recent(ctx.store, RESOURCE_QUOTAS.qualified, namespace):
        return []
    listed = await ctx.store.list(storage.list_prefix(RESOURCE_QUOTAS, namespace))
    return [(storage.decode_kv(kv), kv.mod_revision) for kv in listed.items]


def _other_quotas(request: AdmissionRequest, quotas: list[tuple[Object, int]]) -> list[tuple[Object, int]]:
    """Drop the quota being written itself: charging its own status here would
    break the compare-and-swap of the write being admitted."""
    if request.resource.qualified != "resourcequotas":
        return quotas
    return [(quota, revision) for quota, revision in quotas if _name(quota) != request.name]


# --- charging a write ------------------------------------------------------------------


async def _charge(ctx: APIContext, request: AdmissionRequest, namespace: str, quotas: list[tuple[Object, int]]) -> None:
    qualified = request.resource.qualified
    new_usage = object_usage(qualified, request.obj) if request.obj is not None else {}
    old_usage = object_usage(qualified, request.old) if request.old is not None else {}
    if new_usage == old_usage:
        return
    checked = request.operation == "CREATE" or (request.operation == "UPDATE" and qualified in CHECKED_UPDATES)

    for attempt in range(QUOTA_WRITE_RETRIES):
        if attempt:
            quotas = _other_quotas(request, await namespace_quotas(ctx, namespace))
        if checked and qualified == "pods" and request.operation == "CREATE" and request.obj is not None:
            _check_pod_requirements(request, quotas)
        charges: list[tuple[Object, int, ResourceList]] = []
        for quota, revision in quotas:
            delta = _quota_delta(quota, qualified, request, new_usage, old_usage)
            if not delta:
                continue
            hard = _hard(quota)
            used = await _used(ctx, quota, namespace, hard)
            if checked:
                _check_fits(request, quota, hard, used, delta)
            charges.append((_with_status(quota, hard, usage.apply_delta(used, delta)), revision, delta))
        if request.dry_run or not charges:
            return
        if await _write_charges(ctx, request, namespace, charges):
            return
    log.warning(
        "quota charge gave up after retries resource=%s namespace=%s name=%s retries=%d",
        qualified, namespace, request.name, QUOTA_WRITE_RETRIES,
    )  # fmt: skip
    raise conflict(request.resource, request.name, "the namespace's ResourceQuotas kept changing during admission; retry")


def _quota_delta(
    quota: Object, qualified: str, request: AdmissionRequest, new_usage: ResourceList, old_usage: ResourceList
) -> ResourceList:
    """Return how the write moves this quota's usage, limited to the resources it tracks."""
    hard_names = ((quota.get("spec") or {}).get("hard") or {}).keys()
    if not hard_names:
        return {}
    new = new_usage if request.obj is not None and quota_matches(quota, qualified, request.obj) else {}
    old = old_usage if request.old is not None and quota_matches(quota, qualified, request.old) else {}
    return usage.mask(usage.subtract(new, old), hard_names)


def _check_pod_requirements(request: AdmissionRequest, quotas: list[tuple[Object, int]]) -> None:
    assert request.obj is not None
    for quota, _ in quotas:
        hard_names = ((quota.get("spec") or {}).get("hard") or {}).keys()
        if not quota_matches(quota, "pods", request.obj):
            continue
        message = usage.missing_requirements(hard_names, request.obj)
        if message:
            raise _rejection(request, f"failed quota: {_name(quota)}: {message}")


def _check_fits(request: AdmissionRequest, quota: Object, hard: ResourceList, used: ResourceList, delta: ResourceList) -> None:
    requested = {name: quantity for name, quantity in delta.items() if quantity.nanos > 0}
    over = usage.exceeded(hard, used, requested)
    if not over:
        return
    message = usage.exceeded_message(
        _name(quota), usage.mask(requested, over), usage.mask(used, over), usage.mask(hard, over)
    )
    log.debug("quota exceeded quota=%s resource=%s name=%s over=%s", _name(quota), request.resource.qualified, request.name, over)
    raise _rejection(request, message)


def _rejection(request: AdmissionRequest, message: str) -> APIError:
    return forbidden(f'{request.resource.qualified} "{request.name}" is forbidden: {message}', request.resource, request.name)


async def _write_charges(
    ctx: APIContext, request: AdmissionRequest, namespace: str, charges: list[tuple[Object, int, ResourceList]]
) -> bool:
    """Write every charged quota; on a lost race undo the ones written and return False."""
    assert RESOURCE_QUOTAS is not None
    written: list[tuple[str, ResourceList]] = []
    for quota, revision, delta in charges:
        key = storage.object_key(RESOURCE_QUOTAS, namespace, _name(quota))
        try:
            await ctx.store.update(key, storage.encode(quota), expected_revision=revision)
        except (ConflictError, KeyNotFoundError):
            for name, applied in written:
                await adjust_usage(ctx, namespace, name, _negate(applied))
            return False
        written.append((_name(quota), delta))
    for name, applied in written:
        request.rollbacks.append(_undo_step(ctx, namespace, name, _negate(applied)))
    return True


def _undo_step(ctx: APIContext, namespace: str, name: str, delta: ResourceList) -> Callable[[], Awaitable[None]]:
    async def undo() -> None:
        await adjust_usage(ctx, namespace, name, delta)

    return undo


async def adjust_usage(ctx: APIContext, namespace: str, name: str, delta: ResourceList) -> None:
    """Add ``delta`` to the ``status.used`` of one quota, rereading it after each lost race.

    A quota that no longer exists needs no adjustment.
    """
    assert RESOURCE_QUOTAS is not None
    key = storage.object_key(RESOURCE_QUOTAS, namespace, name)
    for _ in range(QUOTA_WRITE_RETRIES):
        try:
            quota, revision = await ctx.read(RESOURCE_QUOTAS, namespace, name)
        except APIError:  # 404: the quota is gone, so there is nothing to adjust
            return
        hard = _hard(quota)
        used = parse_resource_list((quota.get("status") or {}).get("used"))
        updated = _with_status(quota, hard, usage.apply_delta(used, usage.mask(delta, hard)))
        try:
            await ctx.store.update(key, storage.encode(updated), expected_revision=revision)
            return
        except KeyNotFoundError:
            return
        except ConflictError:
            continue
    log.warning("quota usage adjustment gave up namespace=%s quota=%s retries=%d", namespace, name, QUOTA_WRITE_RETRIES)


# --- recounting ----------------------------------------------------------------------


async def _recount(ctx: APIContext, request: AdmissionRequest, namespace: str) -> None:
    """Set the admitted quota's status: hard from spec.hard, used counted from the store."""
    quota = request.obj
    assert quota is not None
    hard = _hard(quota)
    used = await count_usage(ctx, quota, namespace, hard)
    if request.operation == "CREATE" and quota_matches(quota, "resourcequotas", quota):
        # The store does not hold the new quota yet, but it counts itself.
        add_into(used, usage.mask(object_usage("resourcequotas", quota), hard))
    quota["status"] = _status(hard, used)


async def count_usage(ctx: APIContext, quota: Object, namespace: str, hard: ResourceList) -> ResourceList:
    """Count the usage of every resource in ``hard`` over the objects of ``namespace`` in the store."""
    totals = usage.zero_like(hard)
    for source in sorted(usage.usage_sources(hard)):
        resource = _BY_QUALIFIED[source]
        listed = await ctx.store.list(storage.list_prefix(resource, namespace))
        for kv in listed.items:
            obj = storage.decode_kv(kv)
            if quota_matches(quota, source, obj):
                add_into(totals, usage.mask(object_usage(source, obj), hard))
    return totals


async def _used(ctx: APIContext, quota: Object, namespace: str, hard: ResourceList) -> ResourceList:
    """Return the quota's recorded usage, counted afresh if its status lacks a resource it limits."""
    used = parse_resource_list((quota.get("status") or {}).get("used"))
    if all(name in used for name in hard):
        return used
    log.info("recounting quota usage namespace=%s quota=%s", namespace, _name(quota))
    return await count_usage(ctx, quota, namespace, hard)


# --- small helpers ---------------------------------------------------------------------


def _name(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _hard(quota: Object) -> ResourceList:
    return parse_resource_list((quota.get("spec") or {}).get("hard"))


def _status(hard: ResourceList, used: ResourceList) -> dict[str, dict[str, str]]:
    return {"hard": format_resource_list(hard), "used": format_resource_list(usage.mask(used, hard))}


def _with_status(quota: Object, hard: ResourceList, used: ResourceList) -> Object:
    updated = copy.copy(quota)
    updated["status"] = _status(hard, used)
    return updated


def _negate(delta: ResourceList) -> ResourceList:
    return {name: -quantity for name, quantity in delta.items()}


__all__ = ["admit_resource_quota", "adjust_usage", "count_usage", "namespace_quotas"]
