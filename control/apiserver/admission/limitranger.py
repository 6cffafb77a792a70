"""LimitRanger: apply the namespace's LimitRanges to new pods and to claims.

On CREATE of a pod, the plugin fills missing container requests and limits
from the Container defaults, then checks the Container and Pod constraints.
On CREATE and UPDATE of a PersistentVolumeClaim it checks the claim's
storage request. Pod updates are skipped, as in Kubernetes, because a
pod's containers and their resources cannot change after creation. A
broken constraint rejects the write with 403 Forbidden and Kubernetes'
message, such as ``pods "web" is forbidden: maximum memory usage per
Container is 1Gi, but limit is 2Gi``.

The rules themselves are pure functions in limitrange_rules.
"""

from __future__ import annotations

import logging
from typing import Any

from pykube_control.apiserver import resources, storage
from pykube_control.apiserver.admission import limitrange_rules as rules
from pykube_control.apiserver.admission.cache_lag import RECENT_CREATES
from pykube_control.apiserver.admission.chain import AdmissionRequest
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.status import forbidden

log = logging.getLogger("pykube.apiserver.admission")

Object = dict[str, Any]

LIMIT_RANGES = resources.by_plural("", "v1", "limitranges")
assert LIMIT_RANGES is not None


async def admit_limit_ranger(ctx: APIContext, request: AdmissionRequest) -> None:
    resource = request.resource.qualified
    namespace = request.namespace
    if request.subresource is not None or namespace is None or request.obj is None:
        return
    if resource == "limitranges" and request.operation == "CREATE":
        RECENT_CREATES.note(ctx.store, resource, namespace)
        return
    is_pod_create = resource == "pods" and request.operation == "CREATE"
    if not is_pod_create and resource != "persistentvolumeclaims":
        return

    items = rules.limit_items(await limit_ranges(ctx, namespace))
    if not items:
        return
    if is_pod_create:
        default_requests, default_limits = rules.default_requirements(items)
        rules.apply_defaults(request.obj, default_requests, default_limits)
        messages = rules.pod_violations(items, request.obj)
    else:
        messages = rules.claim_violations(items, request.obj)
    if messages:
        log.debug("limit range rejected resource=%s namespace=%s name=%s", resource, namespace, request.name)
        raise forbidden(
            f'{resource} "{request.name}" is forbidden: {rules.aggregate(messages)}', request.resource, request.name
        )


async def limit_ranges(ctx: APIContext, namespace: str) -> list[Object]:
    """Return the LimitRanges of ``namespace`` in name order.

    They come from the watch cache, except right after a LimitRange create
    that the cache may not show yet (see cache_lag), when the store is read.
    """
    assert LIMIT_RANGES is not None
    if RECENT_CREATES.is_recent(ctx.store, LIMIT_RANGES.qualified, namespace):
        listed = await ctx.store.list(storage.list_prefix(LIMIT_RANGES, namespace))
        found = [storage.decode_kv(kv) for kv in listed.items]
    else:
        found = ctx.cached_objects(LIMIT_RANGES, namespace)
    return sorted(found, key=lambda obj: str(obj.get("metadata", {}).get("name", "")))
