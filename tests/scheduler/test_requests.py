"""Effective pod requests: init containers, sidecars, overhead and scoring defaults."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.scheduler import pod_requests
from tests.scheduler.builders import container, make_pod

SIDECAR = "Always"


def cpu_pod(apps: list[str], inits: list[tuple[str, str | None]], **spec: Any) -> dict[str, Any]:
    return make_pod(
        containers=[container(f"app{i}", requests={"cpu": cpu}) for i, cpu in enumerate(apps)],
        init_containers=[
            container(f"init{i}", requests={"cpu": cpu}, restart_policy=policy)
            for i, (cpu, policy) in enumerate(inits)
        ],
        **spec,
    )


REQUEST_CASES = [
    pytest.param(cpu_pod(["300m", "400m"], []), 700, id="apps summed"),
    pytest.param(cpu_pod(["300m", "400m"], [("500m", None)]), 700, id="init smaller than app sum"),
    pytest.param(cpu_pod(["300m", "400m"], [("900m", None)]), 900, id="init container cpu too large"),
    pytest.param(cpu_pod(["300m"], [("500m", None), ("800m", None)]), 800, id="largest init wins"),
    pytest.param(cpu_pod(["300m", "400m"], [("100m", SIDECAR)]), 800, id="sidecar adds to apps"),
    pytest.param(
        cpu_pod(["300m", "400m"], [("100m", SIDECAR), ("500m", None), ("200m", SIDECAR)]),
        1000,
        id="sidecars before and after init",
    ),
    pytest.param(
        cpu_pod(["100m"], [("300m", SIDECAR), ("900m", None)]),
        1200,
        id="init step includes earlier sidecar",
    ),
    pytest.param(
        cpu_pod(["100m"], [("900m", None), ("300m", SIDECAR)]),
        900,
        id="later sidecar not in earlier step",
    ),
    pytest.param(cpu_pod(["300m"], [], overhead={"cpu": "250m"}), 550, id="overhead added"),
    pytest.param(
        cpu_pod(["300m"], [("1", None)], overhead={"cpu": "250m"}), 1250, id="overhead after init max"
    ),
    pytest.param(cpu_pod(["0.0001"], []), 1, id="cpu rounds up to a milli"),
]


@pytest.mark.parametrize(("pod", "cpu"), REQUEST_CASES)
def test_pod_requests_cpu(pod: dict[str, Any], cpu: int) -> None:
    assert pod_requests(pod)["cpu"] == cpu


def test_pod_requests_empty_pod() -> None:
    assert pod_requests(make_pod()) == {}


def test_pod_requests_memory_bytes() -> None:
    assert pod_requests(make_pod(memory="1Gi"))["memory"] == 2**30


def test_pod_requests_extended_resource() -> None:
    pod = make_pod(containers=[container(requests={"example.com/gpu": "2"})])
    assert pod_requests(pod) == {"example.com/gpu": 2}


DEFAULT_CASES = [
    pytest.param(make_pod(), {"cpu": 100, "memory": 200 * 2**20}, id="no requests get both defaults"),
    pytest.param(make_pod(cpu="1"), {"cpu": 1000, "memory": 200 * 2**20}, id="cpu only"),
    pytest.param(make_pod(cpu="0", memory="0"), {"cpu": 0, "memory": 0}, id="explicit zero kept"),
    pytest.param(
        make_pod(containers=[container("a"), container("b")]),
        {"cpu": 200, "memory": 400 * 2**20},
        id="defaults per container",
    ),
]


@pytest.mark.parametrize(("pod", "expected"), DEFAULT_CASES)
def test_pod_requests_scoring_defaults(pod: dict[str, Any], expected: dict[str, int]) -> None:
    assert pod_requests(pod, scoring_defaults=True) == expected


def test_pod_requests_invalid_quantity() -> None:
    with pytest.raises(ValueError, match=r"spec.containers\[0\].resources.requests\['cpu'\]"):
        pod_requests(make_pod(cpu="lots"))
