"""Priority admission: resolve a new pod's PriorityClass into spec.priority and spec.preemptionPolicy.

On pod CREATE the plugin looks up spec.priorityClassName, or the class
marked globalDefault when the pod names none, and writes the class's value
and preemption policy into the pod. The scheduler then orders and preempts
by spec.priority alone and never reads PriorityClasses. A pod that names a
missing class is rejected with 403 and Kubernetes' message ``no
PriorityClass with name X was found``. A pod that sets spec.priority or
spec.preemptionPolicy to something other than what its class gives is
rejected too.

On PriorityClass CREATE and UPDATE the plugin allows at most one class with
globalDefault, and the two system classes cannot be deleted.
``ensure_system_priority_classes`` creates them when the server starts.

Pods read classes from the watch cache. For a few seconds after a class
is written they read the store instead (see cache_lag), so a
class written a moment before a pod already applies to it. The
globalDefault check always reads the store.

Differences from Kubernetes 1.31: the pod defaults (validation.pod_defaults)
set spec.priority to 0 and spec.preemptionPolicy to PreemptLowerPriority
before admission runs, so the plugin cannot tell those values from ones a
client sent. It therefore accepts and overwrites priority 0 and
PreemptLowerPriority, where Kubernetes rejects them when they differ from
the class.
"""

from __future__ import annotations

import logging
from typing import Any

from pykube_control.apiserver import objects, resources, storage
from pykube_control.apiserver.admission.cache_lag import RECENT_CREATES
from pykube_control.apiserver.admission.chain import AdmissionRequest
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.status import APIError, forbidden
from pykube_control.apiserver.validation.policy import SYSTEM_PRIORITY_CLASSES
from pykube_control.store.errors import KeyExistsError
from pykube_control.store.interface import Store

log = logging.getLogger("pykube.apiserver.admission")

Object = dict[str, Any]

_SERVED = resources.by_plural("scheduling.k8s.io", "v1", "priorityclasses")
assert _SERVED is not None
PRIORITY_CLASSES: resources.ResourceType = _SERVED

DEFAULT_PRIORITY = 0
"""spec.priority of a pod that names no class when no class is the global default."""
DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"


async def admit_priority(ctx: APIContext, request: AdmissionRequest) -> None:
    if request.subresource is not None:
        return
    kind = request.resource.qualified
    if kind == "pods" and request.operation == "CREATE" and request.obj is not None:
        await _admit_pod(ctx, request, request.obj)
    elif kind == PRIORITY_CLASSES.qualified:
        await _admit_priority_class(ctx, request)


async def _admit_pod(ctx: APIContext, request: AdmissionRequest, pod: Object) -> None:
    spec = pod.setdefault("spec", {})
    name = spec.get("priorityClassName") or ""
    if name:
        priority_class = await _read_class(ctx, name)
        if priority_class is None:
            raise forbidden(
                f'pods "{request.name}" is forbidden: no PriorityClass with name {name} was found',
                request.resource,
                request.name,
            )
    else:
        priority_class = _global_default(await _list_classes(ctx, fresh=False))
        if priority_class is not None:
            spec["priorityClassName"] = priority_class["metadata"]["name"]

    value = DEFAULT_PRIORITY if priority_class is None else int(priority_class.get("value") or 0)

    # NOTE: a priority of 0 without a class may come from the pod defaults, so it is not checked.
    sent_priority = spec.get("priority")
    if sent_priority is not None and sent_priority != value and not (sent_priority == DEFAULT_PRIORITY and not name):
        raise forbidden(
            f'pods "{request.name}" is forbidden: the integer value of priority ({sent_priority}) must not be '
            f"provided in pod spec; priority admission controller computed {value} from the given PriorityClass name",
            request.resource,
            request.name,
        )
    spec["priority"] = value
    if priority_class is None:
        # Without a class, the pod keeps the policy it sent or was defaulted to.
        return
    policy = priority_class.get("preemptionPolicy") or DEFAULT_PREEMPTION_POLICY
    sent_policy = spec.get("preemptionPolicy")
    if sent_policy is not None and sent_policy != policy and sent_policy != DEFAULT_PREEMPTION_POLICY:
        raise forbidden(
            f'pods "{request.name}" is forbidden: the string value of PreemptionPolicy ({sent_policy}) must not be '
            f"provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name",
            request.resource,
            request.name,
        )
    spec["preemptionPolicy"] = policy


async def _admit_priority_class(ctx: APIContext, request: AdmissionRequest) -> None:
    RECENT_CREATES.note(ctx.store, PRIORITY_CLASSES.qualified, "")
    if request.operation == "DELETE":
        if request.name in SYSTEM_PRIORITY_CLASSES:
            raise forbidden(
                f'{PRIORITY_CLASSES.qualified} "{request.name}" is forbidden: '
                "this is a system priority class and cannot be deleted",
                request.resource,
                request.name,
            )
        return
    if request.obj is None or not request.obj.get("globalDefault"):
        return
    for existing in await _list_classes(ctx, fresh=True):
        other = existing["metadata"]["name"]
        if existing.get("globalDefault") and other != request.name:
            raise forbidden(
                f'{PRIORITY_CLASSES.qualified} "{request.name}" is forbidden: '
                f"PriorityClass {other} is already marked as default. Only one default can exist",
                request.resource,
                request.name,
            )


def _global_default(classes: list[Object]) -> Object | None:
    """Return the globalDefault class; of several (created concurrently), the one of highest value."""
    defaults = [item for item in classes if item.get("globalDefault")]
    if not defaults:
        return None
    return max(defaults, key=lambda item: int(item.get("value") or 0))


async def _read_class(ctx: APIContext, name: str) -> Object | None:
    cached = ctx.cache(PRIORITY_CLASSES).objects.get(storage.object_key(PRIORITY_CLASSES, None, name))
    if cached is not None and not cached[0].get("metadata", {}).get("deletionTimestamp"):
        return cached[0]
    # The cache may lag a class created a moment ago; the store is the truth.
    try:
        obj, _ = await ctx.read(PRIORITY_CLASSES, None, name)
    except APIError as error:
        if error.code == 404:
            return None
        raise
    if obj.get("metadata", {}).get("deletionTimestamp"):
        return None
    return obj


async def _list_classes(ctx: APIContext, *, fresh: bool) -> list[Object]:
    """Return every PriorityClass, from the store when ``fresh`` or after a recent class write, else the cache."""
    if not fresh and not RECENT_CREATES.is_recent(ctx.store, PRIORITY_CLASSES.qualified, ""):
        return ctx.cached_objects(PRIORITY_CLASSES)
    listed = await ctx.store.list(storage.list_prefix(PRIORITY_CLASSES, None))
    return [storage.decode_kv(kv) for kv in listed.items]


async def ensure_system_priority_classes(store: Store) -> None:
    """Create system-cluster-critical and system-node-critical unless they exist."""
    for name, value in SYSTEM_PRIORITY_CLASSES.items():
        description = (
            "Used for system critical pods that must not be moved from their current node."
            if name == "system-node-critical"
            else "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."
        )
        obj: Object = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value,
            "globalDefault": False,
            "description": description,
            "preemptionPolicy": DEFAULT_PREEMPTION_POLICY,
        }
        objects.prepare_create(obj)
        try:
            await store.create(storage.object_key(PRIORITY_CLASSES, None, name), storage.encode(obj))
            log.info("created priority class name=%s value=%d", name, value)
        except KeyExistsError:
            pass
