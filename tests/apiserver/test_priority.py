"""Priority admission on a real API server: PriorityClasses resolved into pod priorities."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.errors import Forbidden
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import PODS, PRIORITY_CLASSES


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[APIClient]:
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    server = await start_apiserver(config)
    try:
        async with APIClient(ClientConfig.for_url(server.url)) as api:
            yield api
    finally:
        await server.stop()


def priority_class(name: str, value: int, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value, **fields}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], **spec},
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("system-cluster-critical", 2_000_000_000, id="cluster critical"),
        pytest.param("system-node-critical", 2_000_001_000, id="node critical"),
    ],
)
async def test_system_class_exists_at_start(client: APIClient, name: str, value: int) -> None:
    found = await client.get(PRIORITY_CLASSES, name)

    assert found["value"] == value


async def test_system_class_delete_forbidden(client: APIClient) -> None:
    with pytest.raises(Forbidden) as raised:
        await client.delete(PRIORITY_CLASSES, "system-node-critical")

    assert "system priority class and cannot be deleted" in raised.value.message


@pytest.mark.parametrize(
    ("fields", "policy"),
    [
        pytest.param({}, "PreemptLowerPriority", id="default policy"),
        pytest.param({"preemptionPolicy": "Never"}, "Never", id="never"),
    ],
)
async def test_pod_gets_class_priority(client: APIClient, fields: dict[str, Any], policy: str) -> None:
    await client.create(PRIORITY_CLASSES, priority_class("high", 1000, **fields))

    created = await client.create(PODS, pod("web", priorityClassName="high"), namespace="default")

    assert created["spec"]["priority"] == 1000
    assert created["spec"]["preemptionPolicy"] == policy


async def test_pod_gets_global_default(client: APIClient) -> None:
    await client.create(PRIORITY_CLASSES, priority_class("normal", 50, globalDefault=True))

    created = await client.create(PODS, pod("web"), namespace="default")

    assert created["spec"]["priorityClassName"] == "normal"
    assert created["spec"]["priority"] == 50


async def test_pod_without_classes_gets_zero(client: APIClient) -> None:
    created = await client.create(PODS, pod("web"), namespace="default")

    assert created["spec"]["priority"] == 0
    assert "priorityClassName" not in created["spec"]


async def test_pod_system_class_resolves(client: APIClient) -> None:
    created = await client.create(PODS, pod("dns", priorityClassName="system-cluster-critical"), namespace="default")

    assert created["spec"]["priority"] == 2_000_000_000


async def test_unknown_class_rejected(client: APIClient) -> None:
    with pytest.raises(Forbidden) as raised:
        await client.create(PODS, pod("web", priorityClassName="missing"), namespace="default")

    assert raised.value.message == 'pods "web" is forbidden: no PriorityClass with name missing was found'


async def test_mismatched_priority_rejected(client: APIClient) -> None:
    await client.create(PRIORITY_CLASSES, priority_class("high", 1000))

    with pytest.raises(Forbidden) as raised:
        await client.create(PODS, pod("web", priorityClassName="high", priority=7), namespace="default")

    assert "the integer value of priority (7) must not be provided in pod spec" in raised.value.message
    assert "computed 1000" in raised.value.message


async def test_matching_priority_accepted(client: APIClient) -> None:
    await client.create(PRIORITY_CLASSES, priority_class("high", 1000))

    created = await client.create(PODS, pod("web", priorityClassName="high", priority=1000), namespace="default")

    assert created["spec"]["priority"] == 1000


async def test_policy_kept_without_class(client: APIClient) -> None:
    created = await client.create(PODS, pod("web", preemptionPolicy="Never"), namespace="default")

    assert created["spec"]["preemptionPolicy"] == "Never"


async def test_mismatched_policy_rejected(client: APIClient) -> None:
    await client.create(PRIORITY_CLASSES, priority_class("batch", 10))

    with pytest.raises(Forbidden) as raised:
        await client.create(PODS, pod("job", priorityClassName="batch", preemptionPolicy="Never"), namespace="default")

    assert "the string value of PreemptionPolicy (Never) must not be provided" in raised.value.message


async def test_second_global_default_rejected(client: APIClient) -> None:
    await client.create(PRIORITY_CLASSES, priority_class("first", 10, globalDefault=True))

    with pytest.raises(Forbidden) as raised:
        await client.create(PRIORITY_CLASSES, priority_class("second", 20, globalDefault=True))

    assert "PriorityClass first is already marked as default. Only one default can exist" in raised.value.message


async def test_global_default_update_keeps_itself(client: APIClient) -> None:
    created = await client.create(PRIORITY_CLASSES, priority_class("first", 10, globalDefault=True))
    created["description"] = "the default"

    updated = await client.update(PRIORITY_CLASSES, created)

    assert updated["description"] == "the default"
