"""ReplicaSet and ReplicationController controllers against a real API server."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.resource import EVENTS, PODS, REPLICA_SETS, resource_for
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.replicaset import (
    REPLICATION_CONTROLLERS,
    ReplicaController,
    new_replicaset_controller,
    new_replication_controller,
    replicaset_selector,
)
from pykube_control.controllers.replicaset_util import Expectations, deletion_order, is_pod_available
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    PodRunner,
    api,
    event_reasons,
    eventually,
    is_ready,
    list_pods,
    make_pod,
    make_replica_set,
    make_replication_controller,
    mark_running,
    patch_retrying,
    running,
    server,
)

LABELS = {"app": "web"}
SELECTOR = "app=web"


async def pod_count(api: APIClient, count: int) -> bool:
    return len(await list_pods(api, SELECTOR)) == count


async def rs_status(api: APIClient, name: str) -> dict[str, Any]:
    status: dict[str, Any] = (await api.get(REPLICA_SETS, name, namespace="default")).get("status") or {}
    return status


# --- unit: pod ranking and expectations -------------------------------------------------------------


def _pod(name: str, *, node: str | None = None, phase: str = "Pending", ready: bool = False, created: int = 0) -> dict[str, Any]:
    stamp = f"2026-01-01T00:00:{created:02d}Z"
    status: dict[str, Any] = {"phase": phase}
    if ready:
        status["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": stamp}]
    spec: dict[str, Any] = {"nodeName": node} if node else {}
    return {"metadata": {"name": name, "creationTimestamp": stamp}, "spec": spec, "status": status}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(_pod("a"), _pod("b", node="n1"), id="unscheduled before scheduled"),
        pytest.param(_pod("a", node="n1"), _pod("b", node="n1", phase="Running"), id="pending before running"),
        pytest.param(
            _pod("a", node="n1", phase="Running"), _pod("b", node="n1", phase="Running", ready=True),
            id="not ready before ready",
        ),
        pytest.param(_pod("a", node="n1", created=5), _pod("b", node="n1", created=1), id="newer before older"),
    ],
)
def test_deletion_order(first: dict[str, Any], second: dict[str, Any]) -> None:
    ordered = deletion_order([second, first], [second, first])
    assert [pod["metadata"]["name"] for pod in ordered] == [first["metadata"]["name"], second["metadata"]["name"]]


def test_pod_available_after_min_ready() -> None:
    pod = _pod("a", phase="Running", ready=True, created=0)
    ready_at = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    assert not is_pod_available(pod, 10, ready_at + datetime.timedelta(seconds=5))
    assert is_pod_available(pod, 10, ready_at + datetime.timedelta(seconds=10))


def test_expectations_block_until_observed() -> None:
    expectations = Expectations()
    expectations.expect("default/web", creations=2, deletions=["default/web-a"])
    expectations.creation_observed("default/web")
    expectations.creation_observed("default/web")
    assert not expectations.satisfied("default/web")
    expectations.deletion_observed("default/web", "default/web-a")
    assert expectations.satisfied("default/web")


def test_expectations_expire() -> None:
    expectations = Expectations(timeout=-1.0)
    expectations.expect("default/web", creations=1)
    assert expectations.satisfied("default/web")


# --- ReplicaSet against an API server ------------------------------------------------------------------


async def test_replicaset_scale_up(api: APIClient) -> None:
    await api.create(REPLICA_SETS, make_replica_set("web", 3, LABELS))
    async with PodRunner(api), running(api, [new_replicaset_controller]):
        await eventually(lambda: pod_count(api, 3), "3 pods exist")

        async def all_ready() -> bool:
            status = await rs_status(api, "web")
            return status.get("readyReplicas") == 3 and status.get("availableReplicas") == 3

        await eventually(all_ready, "the status counts 3 ready pods")

    pods = await list_pods(api, SELECTOR)
    owner = pods[0]["metadata"]["ownerReferences"][0]
    status = await rs_status(api, "web")
    assert owner["kind"] == "ReplicaSet"
    assert owner["name"] == "web"
    assert owner["controller"] is True
    assert owner["blockOwnerDeletion"] is True
    assert all(pod["metadata"]["name"].startswith("web-") for pod in pods)
    assert all(pod["metadata"]["labels"] == LABELS for pod in pods)
    assert status["replicas"] == 3
    assert status["fullyLabeledReplicas"] == 3
    assert status["observedGeneration"] == 1
    assert "SuccessfulCreate" in await event_reasons(api, "ReplicaSet", "web")


async def test_replicaset_scale_down_not_ready_first(api: APIClient) -> None:
    await api.create(REPLICA_SETS, make_replica_set("web", 3, LABELS))
    async with running(api, [new_replicaset_controller]):
        await eventually(lambda: pod_count(api, 3), "3 pods exist")
        pods = await list_pods(api, SELECTOR)
        for pod in pods[:2]:
            assert await mark_running(api, pod)
        await eventually(lambda: _ready_count(api, 2), "2 pods are ready")

        await patch_retrying(api, REPLICA_SETS, "web", {"spec": {"replicas": 2}})
        await eventually(lambda: pod_count(api, 2), "2 pods remain")
        remaining = await list_pods(api, SELECTOR)

    assert all(is_ready(pod) for pod in remaining)
    assert "SuccessfulDelete" in await event_reasons(api, "ReplicaSet", "web")


async def _ready_count(api: APIClient, count: int) -> bool:
    return sum(1 for pod in await list_pods(api, SELECTOR) if is_ready(pod)) == count


async def test_replicaset_adopts_orphan(api: APIClient) -> None:
    await api.create(PODS, make_pod("orphan", LABELS))
    await api.create(REPLICA_SETS, make_replica_set("web", 2, LABELS))
    async with running(api, [new_replicaset_controller]):
        await eventually(lambda: pod_count(api, 2), "2 pods exist")

        async def adopted() -> bool:
            orphan = await api.get(PODS, "orphan", namespace="default")
            return bool(orphan["metadata"].get("ownerReferences"))

        await eventually(adopted, "the orphan has an owner")

    orphan = await api.get(PODS, "orphan", namespace="default")
    assert orphan["metadata"]["ownerReferences"][0]["name"] == "web"
    assert len(await list_pods(api, SELECTOR)) == 2


async def test_replicaset_releases_relabelled_pod(api: APIClient) -> None:
    await api.create(REPLICA_SETS, make_replica_set("web", 2, LABELS))
    async with running(api, [new_replicaset_controller]):
        await eventually(lambda: pod_count(api, 2), "2 pods exist")
        victim = (await list_pods(api, SELECTOR))[0]["metadata"]["name"]
        await patch_retrying(api, PODS, victim, {"metadata": {"labels": {"app": "debug"}}})

        async def released() -> bool:
            pod = await api.get(PODS, victim, namespace="default")
            return not pod["metadata"].get("ownerReferences")

        await eventually(released, "the relabelled pod has no owner")
        await eventually(lambda: pod_count(api, 2), "a replacement brings the set back to 2 pods")


async def test_replicaset_replaces_deleted_pod(api: APIClient) -> None:
    await api.create(REPLICA_SETS, make_replica_set("web", 2, LABELS))
    async with running(api, [new_replicaset_controller]):
        await eventually(lambda: pod_count(api, 2), "2 pods exist")
        before = {pod["metadata"]["name"] for pod in await list_pods(api, SELECTOR)}
        victim = sorted(before)[0]
        await api.delete(PODS, victim, namespace="default")

        async def replaced() -> bool:
            names = {pod["metadata"]["name"] for pod in await list_pods(api, SELECTOR)}
            return len(names) == 2 and victim not in names

        await eventually(replaced, "the deleted pod is replaced")


async def test_replicaset_burst_no_duplicates(api: APIClient) -> None:
    def factory(context: ControllerContext) -> ReplicaController:
        return ReplicaController(
            context, name="replicaset", resource=REPLICA_SETS, selector_of=replicaset_selector,
            component="replicaset-controller", burst_replicas=2,
        )  # fmt: skip

    await api.create(REPLICA_SETS, make_replica_set("web", 7, LABELS))
    async with running(api, [factory], workers=3):
        await eventually(lambda: pod_count(api, 7), "7 pods exist")
        await eventually(lambda: _status_replicas(api, 7), "the status counts 7 pods")
    assert len(await list_pods(api, SELECTOR)) == 7


async def _status_replicas(api: APIClient, count: int) -> bool:
    return (await rs_status(api, "web")).get("replicas") == count


async def test_replicaset_min_ready_seconds(api: APIClient) -> None:
    await api.create(REPLICA_SETS, make_replica_set("web", 2, LABELS, minReadySeconds=1))
    async with PodRunner(api), running(api, [new_replicaset_controller]):

        async def ready_not_available() -> bool:
            status = await rs_status(api, "web")
            return status.get("readyReplicas") == 2 and status.get("availableReplicas", 0) < 2

        async def available() -> bool:
            return (await rs_status(api, "web")).get("availableReplicas") == 2

        await eventually(ready_not_available, "2 pods are ready but not yet available")
        await eventually(available, "2 pods are available after minReadySeconds")


async def test_replication_controller_scale_up(api: APIClient) -> None:
    await api.create(REPLICATION_CONTROLLERS, make_replication_controller("web", 2, LABELS))
    async with PodRunner(api), running(api, [new_replication_controller]):
        await eventually(lambda: pod_count(api, 2), "2 pods exist")

        async def ready() -> bool:
            rc = await api.get(REPLICATION_CONTROLLERS, "web", namespace="default")
            return (rc.get("status") or {}).get("readyReplicas") == 2

        await eventually(ready, "the status counts 2 ready pods")

    owner = (await list_pods(api, SELECTOR))[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "ReplicationController"
    assert owner["apiVersion"] == "v1"


async def test_replicaset_reports_failed_creates(api: APIClient) -> None:
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "two-pods"}, "spec": {"hard": {"pods": "2"}}}
    await api.create(resource_for("", "v1", "resourcequotas"), quota, namespace="default")
    await api.create(REPLICA_SETS, make_replica_set("over", 4, LABELS))
    async with running(api, [new_replicaset_controller]):
        await eventually(lambda: pod_count(api, 2), "the 2 pods the quota allows exist")

        async def failure_reported() -> bool:
            status = await rs_status(api, "over")
            return status.get("replicas") == 2 and any(c.get("type") == "ReplicaFailure" for c in status.get("conditions") or [])

        await eventually(failure_reported, "status.replicas 2 and a ReplicaFailure condition")
        events = (await api.list(EVENTS, namespace="default"))["items"]

    condition = next(c for c in (await rs_status(api, "over"))["conditions"] if c["type"] == "ReplicaFailure")
    failed = [e["message"] for e in events if e["reason"] == "FailedCreate" and e["involvedObject"]["name"] == "over"]
    assert (condition["status"], condition["reason"]) == ("True", "FailedCreate")
    assert "exceeded quota: two-pods" in condition["message"]
    assert failed
    assert failed[0].startswith('Error creating: pods "over-')
    assert "exceeded quota: two-pods" in failed[0]
