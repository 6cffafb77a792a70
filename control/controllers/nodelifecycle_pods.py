"""Marking the pods of an unreachable node NotReady, as kube-controller-manager's MarkPodsNotReady does.

When a node's Ready condition is Unknown its kubelet is silent, so nothing
else updates its pods. Their Ready condition is set to False, which makes
the endpoint controllers list them as not ready, so Services stop sending
traffic to them long before the NoExecute taint evicts them (300 s by
default). The node lifecycle controller calls this on every check of an
Unknown node, so pods bound there later, or missed after a conflict, are
marked at the next check.

Differences from Kubernetes: only pods whose Ready condition is True are
written, and a pod that lost a write race is left for the next check
instead of being retried at once.
"""

from __future__ import annotations

import copy
import datetime
import logging
from collections.abc import Iterable

from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import Object, object_key
from pykube_control.client.resource import PODS
from pykube_control.controllers.nodelifecycle_taints import rfc3339

log = logging.getLogger("pykube.controllers.nodelifecycle")


def ready_pod_condition(pod: Object) -> Object | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return None


def not_ready_copy(pod: Object, now: datetime.datetime) -> Object | None:
    """Return a copy of ``pod`` with Ready=False, or None when its Ready condition is not True."""
    ready = ready_pod_condition(pod)
    if ready is None or ready.get("status") != "True":
        return None
    updated = copy.deepcopy(pod)
    condition = ready_pod_condition(updated)
    assert condition is not None
    condition.update(status="False", lastTransitionTime=rfc3339(now))
    return updated


async def mark_pods_not_ready(client: APIClient, recorder: EventRecorder, node_name: str, pods: Iterable[Object]) -> int:
    """Set Ready=False on each of ``pods`` bound to ``node_name`` that is still Ready; return how many were written."""
    now = datetime.datetime.now(datetime.timezone.utc)
    written = 0
    for pod in pods:
        if (pod.get("spec") or {}).get("nodeName") != node_name:
            continue
        updated = not_ready_copy(pod, now)
        if updated is None:
            continue
        key = object_key(pod)
        try:
            await client.update_status(PODS, updated)
        except NotFound:
            continue
        except Conflict:
            log.info("pod not marked not ready, retrying at the next check pod=%s node=%s reason=Conflict", key, node_name)
            continue
        written += 1
        log.info("pod marked not ready pod=%s node=%s", key, node_name)
        await recorder.record(pod, "Warning", "NodeNotReady", "Node is not ready")
    return written
