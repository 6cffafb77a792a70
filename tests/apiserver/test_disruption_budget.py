"""PodDisruptionBudgets on a real API server: validation, the status subresource and evictions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.errors import InternalError, Invalid, NotFound, TooManyRequests
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import POD_DISRUPTION_BUDGETS, PODS


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[APIClient]:
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    server = await start_apiserver(config)
    try:
        async with APIClient(ClientConfig.for_url(server.url)) as api:
            yield api
    finally:
        await server.stop()


def budget(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"matchLabels": {"app": "web"}})
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name}, "spec": spec}


def running_pod(name: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels if labels is not None else {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}], "nodeName": "node-1"},
    }


async def start_pod(client: APIClient, name: str, *, ready: bool = True, labels: dict[str, str] | None = None) -> None:
    created = await client.create(PODS, running_pod(name, labels=labels), namespace="default")
    created["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    await client.update_status(PODS, created, namespace="default")


async def is_evicted(client: APIClient, name: str) -> bool:
    """Return True when the pod is gone or marked for graceful deletion, as a bound pod is."""
    try:
        found = await client.get(PODS, name, namespace="default")
    except NotFound:
        return True
    return bool(found["metadata"].get("deletionTimestamp"))


async def set_status(client: APIClient, name: str, **status: Any) -> None:
    current = await client.get(POD_DISRUPTION_BUDGETS, name, namespace="default")
    status.setdefault("observedGeneration", current["metadata"]["generation"])
    current["status"] = status
    await client.update_status(POD_DISRUPTION_BUDGETS, current, namespace="default")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        pytest.param({"minAvailable": 1, "maxUnavailable": 1}, "spec.minAvailable", id="both set"),
        pytest.param({}, "spec.minAvailable", id="neither set"),
        pytest.param({"minAvailable": -1}, "spec.minAvailable", id="negative"),
        pytest.param({"maxUnavailable": "120%"}, "spec.maxUnavailable", id="over 100 percent"),
        pytest.param({"maxUnavailable": "half"}, "spec.maxUnavailable", id="not a percent"),
        pytest.param({"minAvailable": 1, "unhealthyPodEvictionPolicy": "Sometimes"}, "spec.unhealthyPodEvictionPolicy", id="bad policy"),
        pytest.param(
            {"minAvailable": 1, "selector": {"matchExpressions": [{"key": "app", "operator": "Near"}]}},
            "spec.selector.matchExpressions[0].operator",
            id="bad selector",
        ),
    ],
)
async def test_invalid_budget_rejected(client: APIClient, spec: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as raised:
        await client.create(POD_DISRUPTION_BUDGETS, budget(**spec), namespace="default")

    assert field in raised.value.message


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"minAvailable": 2}, id="min available"),
        pytest.param({"minAvailable": "50%"}, id="min available percent"),
        pytest.param({"maxUnavailable": 0}, id="max unavailable zero"),
        pytest.param({"maxUnavailable": "100%", "unhealthyPodEvictionPolicy": "AlwaysAllow"}, id="always allow"),
    ],
)
async def test_valid_budget_created(client: APIClient, spec: dict[str, Any]) -> None:
    created = await client.create(POD_DISRUPTION_BUDGETS, budget(**spec), namespace="default")

    assert created["spec"] == budget(**spec)["spec"]


async def test_status_negative_rejected(client: APIClient) -> None:
    await client.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1), namespace="default")

    with pytest.raises(Invalid) as raised:
        await set_status(client, "web", disruptionsAllowed=-1)

    assert "status.disruptionsAllowed" in raised.value.message


async def test_eviction_without_budget_deletes(client: APIClient) -> None:
    await start_pod(client, "web-1")

    await client.evict("web-1", namespace="default")

    assert await is_evicted(client, "web-1")


async def test_eviction_violating_budget_429(client: APIClient) -> None:
    await start_pod(client, "web-1")
    await client.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1), namespace="default")
    await set_status(client, "web", disruptionsAllowed=0, currentHealthy=1, desiredHealthy=1, expectedPods=1)

    with pytest.raises(TooManyRequests) as raised:
        await client.evict("web-1", namespace="default")

    assert raised.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    causes = raised.value.status["details"]["causes"]
    assert causes[0]["reason"] == "DisruptionBudget"
    assert causes[0]["message"] == "The disruption budget web needs 1 healthy pods and has 1 currently"


async def test_eviction_spends_disruption(client: APIClient) -> None:
    await start_pod(client, "web-1")
    await start_pod(client, "web-2")
    await client.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1), namespace="default")
    await set_status(client, "web", disruptionsAllowed=1, currentHealthy=2, desiredHealthy=1, expectedPods=2)

    await client.evict("web-1", namespace="default")

    status = (await client.get(POD_DISRUPTION_BUDGETS, "web", namespace="default"))["status"]
    assert status["disruptionsAllowed"] == 0
    assert "web-1" in status["disruptedPods"]
    assert status["conditions"][0]["reason"] == "InsufficientPods"
    with pytest.raises(TooManyRequests):
        await client.evict("web-2", namespace="default")


async def test_eviction_stale_budget_429(client: APIClient) -> None:
    await start_pod(client, "web-1")
    await client.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=0), namespace="default")

    with pytest.raises(TooManyRequests) as raised:
        await client.evict("web-1", namespace="default")

    message = raised.value.status["details"]["causes"][0]["message"]
    assert message == "The disruption budget web is still being processed by the server."


@pytest.mark.parametrize(
    ("policy", "current", "evicted"),
    [
        pytest.param("AlwaysAllow", 0, True, id="always allow"),
        pytest.param("IfHealthyBudget", 1, True, id="budget met"),
        pytest.param("IfHealthyBudget", 0, False, id="budget not met"),
    ],
)
async def test_eviction_unready_pod(client: APIClient, policy: str, current: int, evicted: bool) -> None:
    await start_pod(client, "web-1", ready=False)
    spec = {"minAvailable": 1, "unhealthyPodEvictionPolicy": policy}
    await client.create(POD_DISRUPTION_BUDGETS, budget(**spec), namespace="default")
    await set_status(client, "web", disruptionsAllowed=0, currentHealthy=current, desiredHealthy=1, expectedPods=2)

    if evicted:
        await client.evict("web-1", namespace="default")
    else:
        with pytest.raises(TooManyRequests):
            await client.evict("web-1", namespace="default")

    assert await is_evicted(client, "web-1") == evicted


async def test_eviction_two_budgets_500(client: APIClient) -> None:
    await start_pod(client, "web-1")
    await client.create(POD_DISRUPTION_BUDGETS, budget("one", minAvailable=0), namespace="default")
    await client.create(POD_DISRUPTION_BUDGETS, budget("two", minAvailable=0), namespace="default")

    with pytest.raises(InternalError) as raised:
        await client.evict("web-1", namespace="default")

    assert "more than one PodDisruptionBudget" in raised.value.message


async def test_eviction_other_labels_ignore_budget(client: APIClient) -> None:
    await start_pod(client, "db-1", labels={"app": "db"})
    await client.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1), namespace="default")
    await set_status(client, "web", disruptionsAllowed=0, currentHealthy=0, desiredHealthy=1, expectedPods=0)

    await client.evict("db-1", namespace="default")

    assert await is_evicted(client, "db-1")
