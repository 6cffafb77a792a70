"""Carrying out a preemption through the API server: nominate the preemptor, then evict its victims.

The writes follow kube-scheduler's order. The preemptor's
status.nominatedNodeName is set first, so users and other schedulers see
where it waits. Lower-priority pods nominated on the same node lose their
nomination. Each victim then gets the DisruptionTarget condition (reason
PreemptionByScheduler), which shows its controller and its user why it is
removed. It also gets a Preempted event and a graceful delete with a uid
precondition, so a pod recreated under the same name is never deleted.

The victims are deleted directly, not through the eviction API: the
budgets were weighed when the victims were chosen, and preemption may
violate a budget when no other choice exists, as in Kubernetes.

Errors are logged and not retried: a victim already gone is what
preemption wants, and the preemptor is retried by the queue anyway and
preempts again if room is still missing.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, APIError, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.resource import PODS
from pykube_control.scheduler.preemption import Candidate
from pykube_control.scheduler.queue import pod_key

log = logging.getLogger("pykube.scheduler")

Pod = dict[str, Any]

DISRUPTION_TARGET = "DisruptionTarget"
PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"


async def carry_out(
    client: APIClient,
    recorder: EventRecorder,
    scheduler_name: str,
    preemptor: Pod,
    candidate: Candidate,
    displaced: Sequence[Pod],
) -> bool:
    """Nominate the preemptor on the candidate node, clear displaced nominations and delete the victims.

    Return False when a victim could not be deleted, so the caller can drop
    the nomination and let the preemptor search again.
    """
    await _set_nominated_node(client, preemptor, candidate.node)
    for pod in displaced:
        await _set_nominated_node(client, pod, None)
    preemptor_uid = (preemptor.get("metadata") or {}).get("uid")
    message = f"Preempted by pod {preemptor_uid} on node {candidate.node}"
    deleted = [await _evict(client, recorder, scheduler_name, victim, message) for victim in candidate.victims]
    return all(deleted)


async def _set_nominated_node(client: APIClient, pod: Pod, node: str | None) -> None:
    metadata = pod.get("metadata") or {}
    patch = {"status": {"nominatedNodeName": node}}
    try:
        await client.patch(PODS, metadata["name"], patch, namespace=metadata.get("namespace"), subresource="status")
    except NotFound:
        return
    except (APIError, APIConnectionError) as error:
        log.warning("nominated node not written pod=%s node=%s error=%s", pod_key(pod), node, error)


async def _evict(client: APIClient, recorder: EventRecorder, scheduler_name: str, victim: Pod, message: str) -> bool:
    """Mark and delete one victim; return False when the delete failed (a victim already gone counts as deleted)."""
    metadata = victim.get("metadata") or {}
    name, namespace = metadata["name"], metadata.get("namespace")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    condition = {
        "type": DISRUPTION_TARGET,
        "status": "True",
        "reason": PREEMPTION_BY_SCHEDULER,
        "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
        "lastTransitionTime": now,
    }
    try:
        # A strategic merge patch merges conditions by type, so the others stay.
        await client.patch(
            PODS, name, {"status": {"conditions": [condition]}}, namespace=namespace,
            patch_type="strategic", subresource="status",
        )  # fmt: skip
        await client.delete(PODS, name, namespace=namespace, precondition_uid=metadata.get("uid"))
    except NotFound:
        return True
    except (APIError, APIConnectionError) as error:
        log.warning("preemption victim not deleted pod=%s error=%s", pod_key(victim), error)
        return False
    log.info("preemption victim deleted pod=%s message=%r", pod_key(victim), message)
    await recorder.record(victim, "Normal", "Preempted", message)
    return True
