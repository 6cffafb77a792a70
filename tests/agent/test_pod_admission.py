"""Tests of the agent's admission of pods against the node's allocatable resources."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_control.agent.node_info import NodeResources
from pykube_control.agent.pod_admission import admit

from tests.agent.builders import container, pod, resources

MI = 1024**2
NODE = NodeResources(cpu=1000, memory=512 * MI, ephemeral_storage=10 * 1024 * MI, pods=3)


def requesting(name: str, cpu: str | None = None, memory: str | None = None, phase: str | None = None) -> dict[str, Any]:
    wanted = {key: value for key, value in (("cpu", cpu), ("memory", memory)) if value}
    return pod(name, container(resources=resources(requests=wanted)), phase=phase)


def test_admit_fits() -> None:
    assert admit(requesting("a", cpu="500m"), [requesting("b", cpu="500m")], NODE) is None


@pytest.mark.parametrize(
    ("new", "others", "reason", "message"),
    [
        pytest.param(
            requesting("a", cpu="2"), [requesting("b", cpu="300m")], "OutOfcpu",
            "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 300, capacity: 1000",
            id="cpu",
        ),
        pytest.param(
            requesting("a", memory="400Mi"), [requesting("b", memory="200Mi")], "OutOfmemory",
            "Pod was rejected: Node didn't have enough resource: memory, requested: 419430400, used: 209715200, "
            "capacity: 536870912",
            id="memory",
        ),
        pytest.param(
            requesting("a"), [requesting("b"), requesting("c"), requesting("d")], "OutOfpods",
            "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
            id="pods",
        ),
    ],
)  # fmt: skip
def test_admit_rejects(new: dict[str, Any], others: list[dict[str, Any]], reason: str, message: str) -> None:
    rejection = admit(new, others, NODE)
    assert rejection is not None
    assert rejection.reason == reason
    assert rejection.message == message


def test_admit_ignores_terminal_pods() -> None:
    others = [requesting("b", cpu="900m", phase="Succeeded"), requesting("c", cpu="900m", phase="Failed")]
    assert admit(requesting("a", cpu="900m"), others, NODE) is None


def test_admit_counts_init_container_peak() -> None:
    big_init = pod("a", container(resources=resources(requests={"cpu": "100m"})),
                   init=[container("setup", resources=resources(requests={"cpu": "1500m"}))])  # fmt: skip
    rejection = admit(big_init, [], NODE)
    assert rejection is not None
    assert rejection.reason == "OutOfcpu"
