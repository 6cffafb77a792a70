"""Tests of the node's capacity, reserved amounts and allocatable."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykube_control.agent.node_info import NodeResources, machine_capacity, parse_reserved

GI = 1024**3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", {}, id="empty"),
        pytest.param("cpu=100m", {"cpu": 100}, id="milli cpu"),
        pytest.param("cpu=1,memory=1Gi", {"cpu": 1000, "memory": GI}, id="cpu and memory"),
        pytest.param("pods=10, ephemeral-storage=1G", {"pods": 10, "ephemeral-storage": 10**9}, id="spaces"),
        pytest.param("memory=1Gi,memory=1Gi", {"memory": 2 * GI}, id="repeated name adds up"),
    ],
)
def test_parse_reserved(text: str, expected: dict[str, int]) -> None:
    assert parse_reserved(text, flag="--kube-reserved") == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("cpu", id="no value"),
        pytest.param("gpu=1", id="unknown resource"),
        pytest.param("cpu=lots", id="invalid quantity"),
    ],
)
def test_parse_reserved_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="--system-reserved"):
        parse_reserved(text, flag="--system-reserved")


def test_minus_never_negative() -> None:
    capacity = NodeResources(cpu=2000, memory=4 * GI, ephemeral_storage=10 * GI, pods=110)
    left = capacity.minus({"cpu": 500, "memory": 8 * GI})
    assert left.cpu == 1500
    assert left.memory == 0
    assert left.pods == 110


def test_minus_unknown_resource() -> None:
    capacity = NodeResources(cpu=2000, memory=GI, ephemeral_storage=GI, pods=110)
    with pytest.raises(ValueError, match="gpu"):
        capacity.minus({"gpu": 1})


def test_resource_list_quantities() -> None:
    listed = NodeResources(cpu=1500, memory=2 * GI, ephemeral_storage=GI, pods=110).resource_list()
    assert listed == {"cpu": "1500m", "memory": "2Gi", "ephemeral-storage": "1Gi", "pods": "110"}


def test_machine_capacity_positive(tmp_path: Path) -> None:
    capacity = machine_capacity(tmp_path, max_pods=20)
    assert capacity.cpu >= 1
    assert capacity.memory > 0
    assert capacity.ephemeral_storage > 0
    assert capacity.pods == 20
