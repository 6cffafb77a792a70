"""Reporting a pod that no node fits: its PodScheduled condition and a FailedScheduling event.

kube-scheduler writes the same "0/N nodes are available: ..." message to
both places, and users and tools (kubectl describe, autoscalers) read
them. The condition is patched only when it would change, because an
unschedulable pod is retried on every helpful cluster event and rewriting
an identical status would only wake every pod watcher. The event is
recorded on every failed attempt; EventRecorder folds repeats into one
Event with a count.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIConnectionError, APIError, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.resource import PODS

log = logging.getLogger("pykube.scheduler")

Pod = dict[str, Any]

UNSCHEDULABLE_REASON = "Unschedulable"
FAILED_SCHEDULING = "FailedScheduling"


def scheduled_condition(pod: Pod) -> dict[str, Any] | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled":
            return dict(condition)
    return None


def needs_condition_update(pod: Pod, message: str) -> bool:
    """Return True unless the pod already has PodScheduled=False, Unschedulable, with this message."""
    current = scheduled_condition(pod)
    if current is None:
        return True
    return (current.get("status"), current.get("reason"), current.get("message")) != (
        "False", UNSCHEDULABLE_REASON, message
    )


async def report_unschedulable(client: APIClient, recorder: EventRecorder, pod: Pod, message: str) -> None:
    """Patch the PodScheduled condition and record the FailedScheduling event; errors are logged."""
    metadata = pod.get("metadata") or {}
    name, namespace = str(metadata.get("name", "")), str(metadata.get("namespace") or "default")
    if needs_condition_update(pod, message):
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": UNSCHEDULABLE_REASON,
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": now,
        }
        # A strategic merge patch merges conditions by type, so other conditions stay.
        patch = {"status": {"conditions": [condition]}}
        try:
            await client.patch(PODS, name, patch, namespace=namespace, patch_type="strategic", subresource="status")
        except NotFound:
            return
        except (APIError, APIConnectionError) as error:
            log.warning("pod condition not updated pod=%s/%s error=%s", namespace, name, error)
    await recorder.record(pod, "Warning", FAILED_SCHEDULING, message)
