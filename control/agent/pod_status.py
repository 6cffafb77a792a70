"""A pod's status, computed from what the pod worker observed of its containers.

The worker condenses CRI's container statuses into one ``ContainerView``
per container of the spec. The functions here turn those views into the
wire status: containerStatuses and initContainerStatuses, the phase, and
the conditions PodReadyToStartContainers, Initialized, ContainersReady,
Ready and PodScheduled. They are pure, so every rule can be tested
without a runtime.

The phase follows the kubelet's rules:

- Failed when an init container failed and the pod never restarts;
  Pending while init containers have not all succeeded;
- Pending while an app container is waiting for its first start;
- Running while an app container runs, or while containers that stopped
  will be restarted (restartPolicy Always, or OnFailure after a failure);
- Succeeded when every app container exited 0, Failed when one did not
  and it will not be restarted.

A condition keeps its lastTransitionTime while its status stays the same.
Ready also needs every condition named in spec.readinessGates to be True.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from pykube_control.agent.fake_status import rfc3339, utc_now

Object = dict[str, Any]
RUNTIME_PREFIX = "containerd://"


@dataclasses.dataclass(slots=True)
class ContainerView:
    """One container of the spec as last observed; times are Unix seconds."""

    name: str
    image: str
    state: str = "waiting"
    """"waiting", "running" or "terminated"."""
    reason: str = "ContainerCreating"
    """Waiting reason (ContainerCreating, PodInitializing, CrashLoopBackOff, ...) or terminated reason."""
    message: str = ""
    container_id: str = ""
    image_id: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int = 0
    restart_count: int = 0
    last_terminated: Object | None = None
    """The terminated state of the previous instance, as written in lastState."""
    ready: bool = False
    started: bool = False


def timestamp(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return rfc3339(datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc))


def terminated_state(view: ContainerView) -> Object:
    """Return the wire ``terminated`` state of a container view that exited."""
    state: Object = {
        "exitCode": view.exit_code,
        "reason": view.reason or ("Completed" if view.exit_code == 0 else "Error"),
        "startedAt": timestamp(view.started_at),
        "finishedAt": timestamp(view.finished_at),
        "containerID": RUNTIME_PREFIX + view.container_id if view.container_id else None,
    }
    if view.message:
        state["message"] = view.message
    return state


def container_status(view: ContainerView) -> Object:
    """Return the wire status of one container."""
    if view.state == "running":
        state: Object = {"running": {"startedAt": timestamp(view.started_at)}}
    elif view.state == "terminated":
        state = {"terminated": terminated_state(view)}
    else:
        waiting: Object = {"reason": view.reason}
        if view.message:
            waiting["message"] = view.message
        state = {"waiting": waiting}
    status: Object = {
        "name": view.name,
        "state": state,
        "lastState": {"terminated": view.last_terminated} if view.last_terminated else {},
        "ready": view.ready,
        "restartCount": view.restart_count,
        "image": view.image,
        "imageID": view.image_id,
        "started": view.started,
    }
    if view.container_id:
        status["containerID"] = RUNTIME_PREFIX + view.container_id
    return status


def pod_phase(spec: Mapping[str, Any], init: Sequence[ContainerView], app: Sequence[ContainerView]) -> str:
    """Return the pod phase by the rules in the module docstring."""
    policy = spec.get("restartPolicy") or "Always"
    for view in init:
        if view.state == "terminated" and view.exit_code != 0 and policy == "Never":
            return "Failed"
    if not init_done(init):
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for view in app:
        if view.state == "running":
            running += 1
        elif view.state == "terminated":
            stopped += 1
            succeeded += view.exit_code == 0
        elif view.last_terminated is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Running" if policy == "OnFailure" else "Failed"


def init_done(init: Sequence[ContainerView]) -> bool:
    """Return True when every init container exited 0."""
    return all(view.state == "terminated" and view.exit_code == 0 for view in init)


def pod_conditions(
    pod: Mapping[str, Any],
    *,
    phase: str,
    sandbox_ready: bool,
    init: Sequence[ContainerView],
    app: Sequence[ContainerView],
) -> list[Object]:
    """Return the pod's conditions; unchanged ones keep the lastTransitionTime of the pod's current status."""
    spec = pod.get("spec") or {}
    current = {
        c.get("type"): c for c in ((pod.get("status") or {}).get("conditions") or []) if isinstance(c, dict)
    }
    terminal = phase in ("Succeeded", "Failed")
    incomplete = [view.name for view in init if not init_done([view])]
    unready = [view.name for view in app if not view.ready]

    wanted: list[tuple[str, bool, str, str]] = [("PodReadyToStartContainers", sandbox_ready, "", "")]
    if incomplete and not terminal:
        wanted.append(("Initialized", False, "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(incomplete)}]"))
    else:
        wanted.append(("Initialized", True, "PodCompleted" if terminal and init else "", ""))
    if terminal:
        containers_ready = (False, "PodCompleted", "")
    elif unready:
        containers_ready = (False, "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]")
    else:
        containers_ready = (True, "", "")
    wanted.append(("ContainersReady", *containers_ready))
    ready = containers_ready
    gates = [str(gate.get("conditionType")) for gate in spec.get("readinessGates") or []]
    missing = [gate for gate in gates if (current.get(gate) or {}).get("status") != "True"]
    if ready[0] and missing:
        ready = (False, "ReadinessGatesNotReady", f"corresponding condition of pod readiness gate \"{missing[0]}\" does not exist or is not True")
    wanted.append(("Ready", *ready))
    wanted.append(("PodScheduled", True, "", ""))

    now = rfc3339(utc_now())
    conditions = []
    for kind, ok, reason, message in wanted:
        status = "True" if ok else "False"
        before = current.get(kind) or {}
        transition = before.get("lastTransitionTime") if before.get("status") == status else None
        condition: Object = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": transition or now}
        if reason:
            condition["reason"] = reason
        if message:
            condition["message"] = message
        conditions.append(condition)
    return conditions


def qos_class(pod: Mapping[str, Any]) -> str:
    """Return the QoS class from the pod status when the API server set it, else compute it from cpu and memory."""
    known = (pod.get("status") or {}).get("qosClass")
    if known:
        return str(known)
    spec = pod.get("spec") or {}
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    any_set = False
    guaranteed = bool(containers)
    for container in containers:
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in ("cpu", "memory"):
            any_set = any_set or name in requests or name in limits
            if name not in limits or str(requests.get(name, limits[name])) != str(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def pod_status(
    pod: Mapping[str, Any],
    *,
    host_ip: str,
    pod_ips: Sequence[str],
    sandbox_ready: bool,
    init: Sequence[ContainerView],
    app: Sequence[ContainerView],
    start_time: str | None,
) -> Object:
    """Return the whole status the worker writes for the pod."""
    phase = pod_phase(pod.get("spec") or {}, init, app)
    status: Object = {
        "phase": phase,
        "conditions": pod_conditions(pod, phase=phase, sandbox_ready=sandbox_ready, init=init, app=app),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
        "qosClass": qos_class(pod),
        "containerStatuses": [container_status(view) for view in app],
    }
    if init:
        status["initContainerStatuses"] = [container_status(view) for view in init]
    if pod_ips:
        status["podIP"] = pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in pod_ips]
    return status
