"""The rules the Job controller applies to a Job and its pods, on plain dicts.

They count pods (active, succeeded, failed, container restarts), decide
whether a Job has finished and why, and read and write its conditions.
Keeping them apart from the controller keeps them free of I/O, so a test
can check each rule on a hand-built Job.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from pykube_control.controllers.replicaset_util import Object, format_time, is_being_deleted, parse_time

COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
DEADLINE_EXCEEDED = "DeadlineExceeded"
DEFAULT_BACKOFF_LIMIT = 6

BACKOFF_LIMIT_MESSAGE = "Job has reached the specified backoff limit"
DEADLINE_MESSAGE = "Job was active longer than specified deadline"


def phase_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_active(pod: Mapping[str, Any]) -> bool:
    """Tell whether the pod still runs or waits to: not finished and not being deleted."""
    return phase_of(pod) not in ("Succeeded", "Failed") and not is_being_deleted(pod)


def restarts(pod: Mapping[str, Any]) -> int:
    """Return the sum of restartCount over the pod's containers and init containers."""
    status = pod.get("status") or {}
    total = 0
    for field in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(field) or []:
            if isinstance(container, dict):
                total += int(container.get("restartCount") or 0)
    return total


@dataclasses.dataclass(frozen=True)
class PodCounts:
    active: list[Object]
    succeeded: int
    failed: int
    restarts: int
    """Container restarts of the active pods, which count as failures under restartPolicy OnFailure."""


def count_pods(pods: Iterable[Object]) -> PodCounts:
    active: list[Object] = []
    succeeded = failed = restarted = 0
    for pod in pods:
        phase = phase_of(pod)
        if phase == "Succeeded":
            succeeded += 1
        elif phase == "Failed":
            failed += 1
        elif not is_being_deleted(pod):
            active.append(pod)
            restarted += restarts(pod)
    return PodCounts(active, succeeded, failed, restarted)


def spec_int(job: Mapping[str, Any], field: str, default: int | None) -> int | None:
    """Return ``spec.<field>`` as an int, or ``default`` when it is unset."""
    value = (job.get("spec") or {}).get(field)
    return default if value is None else int(value)


def restart_policy(job: Mapping[str, Any]) -> str:
    template_spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    return str(template_spec.get("restartPolicy") or "Never")


def is_suspended(job: Mapping[str, Any]) -> bool:
    return bool((job.get("spec") or {}).get("suspend"))


def desired_active(job: Mapping[str, Any], succeeded: int) -> int:
    """Return how many pods should run now, from parallelism and the completions still missing.

    Without ``completions`` (a work queue Job), pods run until one succeeds.
    """
    parallelism = spec_int(job, "parallelism", 1) or 0
    completions = spec_int(job, "completions", None)
    if completions is None:
        return 0 if succeeded > 0 else parallelism
    return max(0, min(parallelism, completions - succeeded))


def is_complete(job: Mapping[str, Any], succeeded: int, active: int) -> bool:
    completions = spec_int(job, "completions", None)
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= completions


def deadline(job: Mapping[str, Any], start: datetime.datetime | None) -> datetime.datetime | None:
    """Return when the Job runs out of activeDeadlineSeconds, or None when it has no deadline yet."""
    seconds = spec_int(job, "activeDeadlineSeconds", None)
    if seconds is None or start is None:
        return None
    return start + datetime.timedelta(seconds=seconds)


def start_time(job: Mapping[str, Any]) -> datetime.datetime | None:
    return parse_time((job.get("status") or {}).get("startTime"))


# --- conditions ---------------------------------------------------------------------------------


def condition(status: Mapping[str, Any], condition_type: str) -> dict[str, Any] | None:
    for entry in status.get("conditions") or []:
        if isinstance(entry, dict) and entry.get("type") == condition_type:
            return entry
    return None


def finished_condition(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the Job's true Complete or Failed condition, or None while it runs."""
    status = job.get("status") or {}
    for condition_type in (COMPLETE, FAILED):
        entry = condition(status, condition_type)
        if entry is not None and entry.get("status") == "True":
            return entry
    return None


def set_condition(
    status: dict[str, Any], condition_type: str, value: str, reason: str, message: str, now: datetime.datetime
) -> None:
    """Add or update a condition in ``status``; the transition time moves only when the value changes."""
    stamp = format_time(now)
    conditions = [dict(entry) for entry in status.get("conditions") or [] if isinstance(entry, dict)]
    for entry in conditions:
        if entry.get("type") == condition_type:
            if entry.get("status") != value:
                entry["lastTransitionTime"] = stamp
            entry.update(status=value, reason=reason, message=message, lastProbeTime=stamp)
            break
    else:
        conditions.append({"type": condition_type, "status": value, "reason": reason, "message": message,
                           "lastProbeTime": stamp, "lastTransitionTime": stamp})  # fmt: skip
    status["conditions"] = conditions


def finished_at(job: Mapping[str, Any]) -> datetime.datetime | None:
    """Return when the Job finished: its completionTime, else the finishing condition's transition."""
    status = job.get("status") or {}
    done = parse_time(status.get("completionTime"))
    if done is not None:
        return done
    entry = finished_condition(job)
    return parse_time(entry.get("lastTransitionTime")) if entry is not None else None
