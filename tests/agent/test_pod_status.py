"""Tests of the pod status built from container views: phase, conditions, container statuses."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_control.agent.pod_status import ContainerView, container_status, pod_conditions, pod_phase, pod_status, qos_class

from tests.agent.builders import container, pod, resources


def running(name: str = "main", ready: bool = True) -> ContainerView:
    return ContainerView(name=name, image="img", state="running", started_at=1.0, ready=ready, started=True)


def exited(name: str = "main", code: int = 0) -> ContainerView:
    return ContainerView(name=name, image="img", state="terminated", exit_code=code, reason="", started_at=1.0, finished_at=2.0)


def waiting(name: str = "main", after_crash: bool = False) -> ContainerView:
    view = ContainerView(name=name, image="img")
    if after_crash:
        view.reason = "CrashLoopBackOff"
        view.last_terminated = {"exitCode": 1}
    return view


@pytest.mark.parametrize(
    ("policy", "init", "app", "phase"),
    [
        pytest.param("Always", [], [waiting()], "Pending", id="not started"),
        pytest.param("Always", [], [running()], "Running", id="running"),
        pytest.param("Always", [], [waiting(after_crash=True)], "Running", id="crash loop stays running"),
        pytest.param("Always", [], [exited(code=0)], "Running", id="always restarts success"),
        pytest.param("OnFailure", [], [exited(code=0)], "Succeeded", id="on failure succeeded"),
        pytest.param("OnFailure", [], [exited(code=1)], "Running", id="on failure restarts failure"),
        pytest.param("Never", [], [exited(code=0), exited("b", code=0)], "Succeeded", id="never succeeded"),
        pytest.param("Never", [], [exited(code=0), exited("b", code=2)], "Failed", id="never one failed"),
        pytest.param("Never", [], [exited(code=0), running("b")], "Running", id="one still running"),
        pytest.param("Always", [running("init")], [waiting()], "Pending", id="init running"),
        pytest.param("Never", [exited("init", code=1)], [waiting()], "Failed", id="init failed never"),
        pytest.param("OnFailure", [exited("init", code=1)], [waiting()], "Pending", id="init failed retried"),
        pytest.param("Always", [exited("init", code=0)], [running()], "Running", id="init done"),
    ],
)
def test_pod_phase(policy: str, init: list[ContainerView], app: list[ContainerView], phase: str) -> None:
    assert pod_phase({"restartPolicy": policy}, init, app) == phase


def conditions_of(obj: dict[str, Any], **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in pod_conditions(obj, **kwargs)}


def test_conditions_ready() -> None:
    conditions = conditions_of(pod("p"), phase="Running", sandbox_ready=True, init=[], app=[running()])
    assert conditions["Ready"]["status"] == "True"
    assert conditions["ContainersReady"]["status"] == "True"
    assert conditions["Initialized"]["status"] == "True"
    assert conditions["PodScheduled"]["status"] == "True"
    assert conditions["PodReadyToStartContainers"]["status"] == "True"


def test_conditions_unready_lists_containers() -> None:
    conditions = conditions_of(pod("p"), phase="Running", sandbox_ready=True, init=[],
                               app=[running("a", ready=False), running("b")])  # fmt: skip
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["message"] == "containers with unready status: [a]"


def test_conditions_init_incomplete() -> None:
    conditions = conditions_of(pod("p"), phase="Pending", sandbox_ready=True, init=[running("setup")], app=[waiting()])
    assert conditions["Initialized"]["status"] == "False"
    assert conditions["Initialized"]["reason"] == "ContainersNotInitialized"


def test_conditions_keep_transition_time() -> None:
    obj = pod("p")
    obj["status"] = {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}]}
    conditions = conditions_of(obj, phase="Running", sandbox_ready=True, init=[], app=[running()])
    assert conditions["Ready"]["lastTransitionTime"] == "2020-01-01T00:00:00Z"


def test_conditions_readiness_gate() -> None:
    obj = pod("p", readinessGates=[{"conditionType": "example.com/lb"}])
    conditions = conditions_of(obj, phase="Running", sandbox_ready=True, init=[], app=[running()])
    assert conditions["Ready"]["status"] == "False"
    assert conditions["ContainersReady"]["status"] == "True"


def test_container_status_terminated() -> None:
    view = exited(code=137)
    view.reason = "OOMKilled"
    view.container_id = "abc"
    status = container_status(view)
    assert status["state"]["terminated"]["reason"] == "OOMKilled"
    assert status["state"]["terminated"]["exitCode"] == 137
    assert status["containerID"] == "containerd://abc"


def test_container_status_waiting_last_state() -> None:
    status = container_status(waiting(after_crash=True))
    assert status["state"] == {"waiting": {"reason": "CrashLoopBackOff"}}
    assert status["lastState"] == {"terminated": {"exitCode": 1}}


@pytest.mark.parametrize(
    ("spec_resources", "expected"),
    [
        pytest.param(None, "BestEffort", id="none"),
        pytest.param(resources(requests={"cpu": "100m"}), "Burstable", id="requests only"),
        pytest.param(resources(limits={"cpu": "1", "memory": "1Gi"}), "Guaranteed", id="limits only"),
        pytest.param(resources(requests={"cpu": "1", "memory": "1Gi"}, limits={"cpu": "2", "memory": "1Gi"}),
                     "Burstable", id="request below limit"),  # fmt: skip
    ],
)
def test_qos_class(spec_resources: dict[str, Any] | None, expected: str) -> None:
    fields = {"resources": spec_resources} if spec_resources else {}
    assert qos_class(pod("p", container(**fields))) == expected


def test_pod_status_ips() -> None:
    status = pod_status(pod("p"), host_ip="10.0.0.1", pod_ips=["10.244.0.5"], sandbox_ready=True, init=[],
                        app=[running()], start_time="2026-01-01T00:00:00Z")  # fmt: skip
    assert status["podIP"] == "10.244.0.5"
    assert status["podIPs"] == [{"ip": "10.244.0.5"}]
    assert status["hostIPs"] == [{"ip": "10.0.0.1"}]
    assert status["phase"] == "Running"
    assert "initContainerStatuses" not in status
