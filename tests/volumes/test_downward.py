"""downwardAPI volume files: metadata fields, label maps and container resources."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_control.agent.volumes.downward import downward_payload, field_value, format_map, resource_value
from pykube_control.agent.volumes.errors import VolumeError

POD: dict[str, Any] = {
    "metadata": {
        "name": "web", "namespace": "prod", "uid": "u-1",
        "labels": {"tier": "front", "app": "web"},
        "annotations": {"note": 'say "hi"\nbye'},
    },
    "spec": {
        "containers": [
            {"name": "main", "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}},
            {"name": "side"},
        ]
    },
}
ALLOCATABLE = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "10Gi"}


@pytest.mark.parametrize(
    ("field_path", "expected"),
    [
        pytest.param("metadata.name", "web", id="name"),
        pytest.param("metadata.namespace", "prod", id="namespace"),
        pytest.param("metadata.uid", "u-1", id="uid"),
        pytest.param("metadata.labels", 'app="web"\ntier="front"', id="labels sorted"),
        pytest.param("metadata.annotations", 'note="say \\"hi\\"\\nbye"', id="annotations escaped"),
        pytest.param("metadata.labels['tier']", "front", id="one label"),
        pytest.param("metadata.labels['absent']", "", id="absent label"),
    ],
)
def test_field_value(field_path: str, expected: str) -> None:
    assert field_value("d", POD, field_path) == expected


def test_field_value_unsupported() -> None:
    with pytest.raises(VolumeError, match="unsupported fieldPath 'status.podIP'"):
        field_value("d", POD, "status.podIP")


def test_format_map_empty() -> None:
    assert format_map({}) == ""


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param({"containerName": "main", "resource": "limits.cpu"}, "2", id="cpu rounds up"),
        pytest.param({"containerName": "main", "resource": "limits.cpu", "divisor": "1m"}, "1500", id="cpu millis"),
        pytest.param({"containerName": "main", "resource": "requests.cpu", "divisor": "1m"}, "250", id="cpu request"),
        pytest.param({"containerName": "main", "resource": "limits.memory", "divisor": "1Mi"}, "64", id="memory MiB"),
        pytest.param({"containerName": "side", "resource": "limits.cpu"}, "4", id="unset limit allocatable"),
        pytest.param({"containerName": "side", "resource": "limits.memory", "divisor": "1Gi"}, "8", id="unset memory allocatable"),
        pytest.param({"containerName": "side", "resource": "requests.memory"}, "0", id="unset request zero"),
    ],
)
def test_resource_value(ref: dict[str, Any], expected: str) -> None:
    assert resource_value("d", POD, ref, ALLOCATABLE) == expected


def test_resource_unknown_container() -> None:
    with pytest.raises(VolumeError, match=r"choose one of: \[main side\]"):
        resource_value("d", POD, {"containerName": "nope", "resource": "limits.cpu"}, ALLOCATABLE)


def test_downward_payload_modes() -> None:
    items = [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "main", "resource": "limits.cpu"}, "mode": 0o400},
    ]
    payload = downward_payload("d", items, 0o644, POD, ALLOCATABLE)
    assert payload == {"name": (b"web", 0o644), "cpu": (b"2", 0o400)}
