"""The disruption controller against a real API server: budget status, and evictions that honour it."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.errors import TooManyRequests
from pykube_control.client.resource import DEPLOYMENTS, POD_DISRUPTION_BUDGETS, PODS, REPLICA_SETS
from pykube_control.controllers.disruption import DisruptionController
from pykube_control.controllers.disruption_status import DELETION_TIMEOUT, kept_disruptions
from pykube_control.controllers.deployment import new_deployment_controller
from pykube_control.controllers.replicaset import new_replicaset_controller
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    PodRunner,
    api,
    eventually,
    make_deployment,
    make_pod,
    make_replica_set,
    mark_running,
    running,
    server,
)

Object = dict[str, Any]
LABELS = {"app": "web"}


def budget(**spec: Any) -> Object:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"matchLabels": dict(LABELS)}, **spec},
    }


async def start_pods(api: APIClient, count: int, *, ready: bool = True) -> None:
    for index in range(count):
        created = await api.create(PODS, make_pod(f"web-{index}", LABELS))
        if ready:
            assert await mark_running(api, created)


async def status_becomes(api: APIClient, **expected: Any) -> Object:
    """Wait until the budget's status has every expected field value; return the status."""
    found: Object = {}

    async def matches() -> bool:
        nonlocal found
        found = (await api.get(POD_DISRUPTION_BUDGETS, "web", namespace="default")).get("status") or {}
        return all(found.get(key) == value for key, value in expected.items())

    await eventually(matches, f"budget status has {expected}")
    return found


async def test_min_available_counts(api: APIClient) -> None:
    await start_pods(api, 3)
    await api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=2))

    async with running(api, [DisruptionController]):
        status = await status_becomes(api, disruptionsAllowed=1)

    assert status["expectedPods"] == 3
    assert status["desiredHealthy"] == 2
    assert status["currentHealthy"] == 3
    assert status["observedGeneration"] == 1
    assert status["conditions"][0]["type"] == "DisruptionAllowed"
    assert status["conditions"][0]["status"] == "True"
    assert status["conditions"][0]["reason"] == "SufficientPods"


async def test_unready_pods_not_healthy(api: APIClient) -> None:
    await start_pods(api, 2, ready=False)
    await api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1))

    async with running(api, [DisruptionController]):
        status = await status_becomes(api, expectedPods=2, currentHealthy=0)
        assert status["disruptionsAllowed"] == 0
        assert status["conditions"][0]["reason"] == "InsufficientPods"

        for name in ("web-0", "web-1"):
            assert await mark_running(api, await api.get(PODS, name, namespace="default"))
        await status_becomes(api, currentHealthy=2, disruptionsAllowed=1)


async def test_eviction_honours_budget(api: APIClient) -> None:
    await start_pods(api, 2)
    await api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1))

    async with running(api, [DisruptionController]):
        await status_becomes(api, disruptionsAllowed=1)
        await api.evict("web-0", namespace="default")
        # The controller drops the disruptedPods entry once its informer shows the pod deleted.
        await status_becomes(api, disruptionsAllowed=0, currentHealthy=1, disruptedPods=None)

        with pytest.raises(TooManyRequests) as raised:
            await api.evict("web-1", namespace="default")

    assert raised.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert raised.value.status["details"]["causes"][0]["message"] == (
        "The disruption budget web needs 1 healthy pods and has 1 currently"
    )


async def test_max_unavailable_uses_scale(api: APIClient) -> None:
    await api.create(REPLICA_SETS, make_replica_set("web", 4, LABELS))
    await api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable="25%"))

    async with PodRunner(api), running(api, [new_replicaset_controller, DisruptionController]):
        status = await status_becomes(api, currentHealthy=4)

    assert status["expectedPods"] == 4
    assert status["desiredHealthy"] == 3
    assert status["disruptionsAllowed"] == 1


async def test_percent_uses_deployment_scale(api: APIClient) -> None:
    await api.create(DEPLOYMENTS, make_deployment("web", 3))
    await api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable="50%"))
    controllers = [new_deployment_controller, new_replicaset_controller, DisruptionController]

    async with PodRunner(api), running(api, controllers):
        status = await status_becomes(api, currentHealthy=3)

    assert status["expectedPods"] == 3
    assert status["desiredHealthy"] == 2
    assert status["disruptionsAllowed"] == 1


async def test_unmanaged_pods_expect_none(api: APIClient) -> None:
    await start_pods(api, 2)
    await api.create(POD_DISRUPTION_BUDGETS, budget(maxUnavailable=1))

    async with running(api, [DisruptionController]):
        status = await status_becomes(api, currentHealthy=2)

    assert status["expectedPods"] == 0
    assert status["disruptionsAllowed"] == 0


async def test_spec_change_observed(api: APIClient) -> None:
    await start_pods(api, 3)
    created = await api.create(POD_DISRUPTION_BUDGETS, budget(minAvailable=1))

    async with running(api, [DisruptionController]):
        await status_becomes(api, disruptionsAllowed=2)
        current = await api.get(POD_DISRUPTION_BUDGETS, "web", namespace="default")
        current["spec"]["minAvailable"] = 3
        await api.update(POD_DISRUPTION_BUDGETS, current)
        status = await status_becomes(api, disruptionsAllowed=0)

    assert status["observedGeneration"] == created["metadata"]["generation"] + 1
    assert status["desiredHealthy"] == 3


NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("age", "pod_deleting", "kept"),
    [
        pytest.param(datetime.timedelta(seconds=10), False, True, id="recent"),
        pytest.param(DELETION_TIMEOUT, False, False, id="expired"),
        pytest.param(datetime.timedelta(seconds=10), True, False, id="pod deleting"),
    ],
)
def test_disrupted_pod_kept(age: datetime.timedelta, pod_deleting: bool, kept: bool) -> None:
    pod = make_pod("web-0", LABELS)
    if pod_deleting:
        pod["metadata"]["deletionTimestamp"] = stamp(NOW)
    recorded = budget(minAvailable=1)
    recorded["status"] = {"disruptedPods": {"web-0": stamp(NOW - age)}}

    entries, expiry = kept_disruptions(recorded, [pod], NOW)

    assert ("web-0" in entries) == kept
    assert (expiry is not None) == kept


def test_disrupted_pod_gone_dropped() -> None:
    recorded = budget(minAvailable=1)
    recorded["status"] = {"disruptedPods": {"web-0": stamp(NOW)}}

    entries, _ = kept_disruptions(recorded, [], NOW)

    assert entries == {}
