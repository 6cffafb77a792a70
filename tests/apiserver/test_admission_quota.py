"""ResourceQuota: usage of single objects, scopes, and the plugin over a real SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_core.pod_resources import ResourceList
from pykube_core.quantity import parse_quantity
from pykube_core.quota_scopes import quota_matches
from pykube_core.quota_usage import object_usage
from pykube_control.apiserver.admission import quota_usage as usage
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.status import APIError
from pykube_control.store.errors import KeyExistsError

from tests.apiserver.admission_builders import (
    CLAIMS,
    CONFIGMAPS,
    PODS,
    QUOTAS,
    SERVICES,
    claim,
    configmap,
    container,
    create,
    delete,
    open_context,
    pod,
    quota,
    quota_used,
    read,
    update,
)

Object = dict[str, Any]


def text(values: ResourceList) -> dict[str, str]:
    return {name: str(quantity) for name, quantity in values.items()}


# --- usage of one object ----------------------------------------------------------------


def test_pod_usage_counts_compute() -> None:
    target = pod(
        "p",
        container("a", requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "64Mi"}),
        container("b", requests={"cpu": "100m", "example.com/gpu": "1"}),
    )
    assert text(object_usage("pods", target)) == {
        "count/pods": "1",
        "pods": "1",
        "cpu": "200m",
        "requests.cpu": "200m",
        "limits.cpu": "200m",
        "memory": "64Mi",
        "requests.memory": "64Mi",
        "limits.memory": "64Mi",
        "requests.example.com/gpu": "1",
    }


@pytest.mark.parametrize(
    ("status", "metadata", "expected"),
    [
        pytest.param({"phase": "Running"}, {}, {"count/pods": "1", "pods": "1"}, id="running"),
        pytest.param({"phase": "Succeeded"}, {}, {"count/pods": "1"}, id="succeeded"),
        pytest.param({"phase": "Failed"}, {}, {"count/pods": "1"}, id="failed"),
        pytest.param({"phase": "Running"}, {"deletionTimestamp": "2025-01-01T00:00:00Z"}, {}, id="being deleted"),
    ],
)
def test_pod_usage_lifecycle(status: Object, metadata: Object, expected: dict[str, str]) -> None:
    target = pod("p")
    target["status"] = status
    target["metadata"].update(metadata)
    assert text(object_usage("pods", target)) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"type": "ClusterIP", "ports": [{"port": 80}]}, {"services.nodeports": "0", "services.loadbalancers": "0"}, id="cluster ip"),
        pytest.param({"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}, {"services.nodeports": "2", "services.loadbalancers": "0"}, id="node port"),
        pytest.param({"type": "LoadBalancer", "ports": [{"port": 80}]}, {"services.nodeports": "1", "services.loadbalancers": "1"}, id="load balancer"),
    ],
)
def test_service_usage(spec: Object, expected: dict[str, str]) -> None:
    found = text(object_usage("services", {"metadata": {"name": "s"}, "spec": spec}))
    assert found == {"count/services": "1", "services": "1", **expected}


def test_claim_usage_per_class() -> None:
    assert text(object_usage("persistentvolumeclaims", claim(storage_request="1500m", storage_class="fast"))) == {
        "count/persistentvolumeclaims": "1",
        "persistentvolumeclaims": "1",
        "requests.storage": "2",
        "fast.storageclass.storage.k8s.io/requests.storage": "2",
        "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
    }


def test_claim_usage_allocated_larger() -> None:
    target = claim(storage_request="1Gi")
    target["status"] = {"allocatedResources": {"storage": "2Gi"}}
    assert str(object_usage("persistentvolumeclaims", target)["requests.storage"]) == "2Gi"


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        pytest.param("configmaps", {"count/configmaps": "1", "configmaps": "1"}, id="core with plain name"),
        pytest.param("deployments.apps", {"count/deployments.apps": "1"}, id="group resource"),
        pytest.param("leases.coordination.k8s.io", {"count/leases.coordination.k8s.io": "1"}, id="lease"),
    ],
)
def test_object_counts(resource: str, expected: dict[str, str]) -> None:
    assert text(object_usage(resource, {"metadata": {"name": "x"}})) == expected


@pytest.mark.parametrize(
    ("name", "source"),
    [
        pytest.param("pods", "pods", id="pods"),
        pytest.param("requests.cpu", "pods", id="cpu request"),
        pytest.param("limits.memory", "pods", id="memory limit"),
        pytest.param("requests.storage", "persistentvolumeclaims", id="storage"),
        pytest.param("gold.storageclass.storage.k8s.io/requests.storage", "persistentvolumeclaims", id="class storage"),
        pytest.param("services.nodeports", "services", id="node ports"),
        pytest.param("count/deployments.apps", "deployments.apps", id="count of group resource"),
        pytest.param("count/nodes", None, id="cluster-scoped count"),
        pytest.param("count/widgets.example.com", None, id="unknown resource"),
    ],
)
def test_usage_source(name: str, source: str | None) -> None:
    assert usage.usage_source(name) == source


@pytest.mark.parametrize(
    ("hard", "target", "message"),
    [
        pytest.param(["pods"], pod("p", container()), None, id="no compute quota"),
        pytest.param(
            ["requests.cpu", "limits.cpu"],
            pod("p", container("a", requests={"cpu": "1"}), container("b")),
            "must specify limits.cpu for: a,b; requests.cpu for: b",
            id="missing cpu",
        ),
        pytest.param(
            ["memory"],
            pod("p", container("a", requests={"memory": "1Mi"}), init=(container("init"),)),
            "must specify memory for: init",
            id="init container missing memory",
        ),
        pytest.param(["cpu"], pod("p", container("a", requests={"cpu": "1"})), None, id="all set"),
    ],
)
def test_missing_requirements(hard: list[str], target: Object, message: str | None) -> None:
    assert usage.missing_requirements(hard, target) == message


def test_exceeded_message() -> None:
    one = {"pods": parse_quantity("1")}
    two = {"pods": parse_quantity("2")}
    assert usage.exceeded(two, two, one) == ["pods"]
    assert usage.exceeded_message("q", one, two, two) == "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"


def test_apply_delta_floors_at_zero() -> None:
    used = {"pods": parse_quantity("1")}
    assert text(usage.apply_delta(used, {"pods": parse_quantity("-2")})) == {"pods": "0"}


# --- scopes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "target", "matches"),
    [
        pytest.param(["BestEffort"], pod("p", container()), True, id="best effort"),
        pytest.param(["BestEffort"], pod("p", container(requests={"cpu": "1"})), False, id="not best effort"),
        pytest.param(["NotBestEffort"], pod("p", container(limits={"memory": "1Mi"})), True, id="not best effort scope"),
        pytest.param(["Terminating"], pod("p", activeDeadlineSeconds=30), True, id="terminating"),
        pytest.param(["NotTerminating"], pod("p", activeDeadlineSeconds=30), False, id="not terminating"),
        pytest.param(["PriorityClass"], pod("p", priorityClassName="high"), True, id="priority class exists"),
        pytest.param(["PriorityClass"], pod("p"), False, id="no priority class"),
    ],
)
def test_scopes_match_pods(scopes: list[str], target: Object, matches: bool) -> None:
    assert quota_matches(quota("q", scopes=scopes, pods="1"), "pods", target) is matches


@pytest.mark.parametrize(
    ("operator", "values", "priority_class", "matches"),
    [
        pytest.param("In", ["high"], "high", True, id="in"),
        pytest.param("In", ["high"], "low", False, id="in other"),
        pytest.param("NotIn", ["high"], "low", True, id="not in"),
        pytest.param("NotIn", ["high"], "", True, id="not in without class"),
        pytest.param("DoesNotExist", [], "", True, id="does not exist"),
    ],
)
def test_priority_class_selector(operator: str, values: list[str], priority_class: str, matches: bool) -> None:
    scoped = quota("q", pods="1")
    scoped["spec"]["scopeSelector"] = {
        "matchExpressions": [{"scopeName": "PriorityClass", "operator": operator, "values": values}]
    }
    target = pod("p", priorityClassName=priority_class) if priority_class else pod("p")
    assert quota_matches(scoped, "pods", target) is matches


def test_scoped_quota_ignores_other_kinds() -> None:
    assert not quota_matches(quota("q", scopes=["BestEffort"], pods="1"), "configmaps", configmap("c"))


# --- the plugin over a store ------------------------------------------------------------


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[APIContext]:
    async for context in open_context(tmp_path):
        yield context


async def test_quota_starts_from_existing(ctx: APIContext) -> None:
    await create(ctx, PODS, pod("a", container(requests={"cpu": "100m"})))
    await create(ctx, CONFIGMAPS, configmap("c"))
    await create(ctx, QUOTAS, quota("quota", pods="10", requests_cpu="1", configmaps="5", resourcequotas="2"))
    stored = await read(ctx, QUOTAS, "quota")
    assert stored["status"]["hard"] == {"pods": "10", "requests.cpu": "1", "configmaps": "5", "resourcequotas": "2"}
    assert stored["status"]["used"] == {"pods": "1", "requests.cpu": "100m", "configmaps": "1", "resourcequotas": "1"}


async def test_quota_rejects_over_limit(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="2"))
    await create(ctx, PODS, pod("a"))
    await create(ctx, PODS, pod("b"))
    with pytest.raises(APIError) as info:
        await create(ctx, PODS, pod("c"))
    assert info.value.code == 403
    assert info.value.reason == "Forbidden"
    assert info.value.message == 'pods "c" is forbidden: exceeded quota: quota, requested: pods=1, used: pods=2, limited: pods=2'
    assert await quota_used(ctx) == {"pods": "2"}


async def test_quota_requires_cpu(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("compute", requests_cpu="2", limits_cpu="4"))
    with pytest.raises(APIError) as info:
        await create(ctx, PODS, pod("p", container("app"), container("sidecar", requests={"cpu": "100m"})))
    assert info.value.message == (
        'pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: app,sidecar; requests.cpu for: app'
    )


async def test_quota_sums_quantities(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", requests_memory="1Gi"))
    await create(ctx, PODS, pod("a", container(requests={"memory": "256Mi"})))
    await create(ctx, PODS, pod("b", container(requests={"memory": "512Mi"})))
    with pytest.raises(APIError) as info:
        await create(ctx, PODS, pod("c", container(requests={"memory": "512Mi"})))
    assert "requested: requests.memory=512Mi, used: requests.memory=768Mi, limited: requests.memory=1Gi" in info.value.message
    assert await quota_used(ctx) == {"requests.memory": "768Mi"}


async def test_quota_dry_run_writes_nothing(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="2"))
    await create(ctx, PODS, pod("a"), dry_run=True)
    assert await quota_used(ctx) == {"pods": "0"}


async def test_quota_rollback_on_failed_write(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="5"))
    await create(ctx, PODS, pod("a"))
    with pytest.raises(KeyExistsError):
        await create(ctx, PODS, pod("a"))  # the store rejects the duplicate name after admission charged it
    assert await quota_used(ctx) == {"pods": "1"}


async def test_quota_release_on_delete(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="5", count_configmaps="5"))
    await create(ctx, PODS, pod("a"))
    await create(ctx, CONFIGMAPS, configmap("c"))
    await delete(ctx, PODS, "a")
    await delete(ctx, CONFIGMAPS, "c")
    assert await quota_used(ctx) == {"pods": "0", "count/configmaps": "0"}


async def test_quota_release_on_marked_delete(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="5", count_pods="5"))
    await create(ctx, PODS, pod("a", nodeName="node-1"))
    await delete(ctx, PODS, "a")  # a pod on a node is only marked, with a grace period
    marked = await read(ctx, PODS, "a")
    assert marked["metadata"].get("deletionTimestamp")
    assert await quota_used(ctx) == {"pods": "0", "count/pods": "0"}
    await delete(ctx, PODS, "a", gracePeriodSeconds=0)
    assert await quota_used(ctx) == {"pods": "0", "count/pods": "0"}


async def test_quota_release_on_success(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="1", count_pods="5"))
    await create(ctx, PODS, pod("job"))
    finished = await read(ctx, PODS, "job")
    finished["status"] = {"phase": "Succeeded"}
    await update(ctx, PODS, finished, subresource="status")
    assert await quota_used(ctx) == {"pods": "0", "count/pods": "1"}
    await create(ctx, PODS, pod("next"))


async def test_quota_claim_growth_checked(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("storage", requests_storage="10Gi"))
    await create(ctx, CLAIMS, claim("data", storage_request="4Gi"))
    grown = await read(ctx, CLAIMS, "data")
    grown["spec"]["resources"]["requests"]["storage"] = "8Gi"
    await update(ctx, CLAIMS, grown)
    assert await quota_used(ctx, "storage") == {"requests.storage": "8Gi"}
    grown["spec"]["resources"]["requests"]["storage"] = "12Gi"
    with pytest.raises(APIError) as info:
        await update(ctx, CLAIMS, grown)
    assert info.value.message.endswith("requested: requests.storage=4Gi, used: requests.storage=8Gi, limited: requests.storage=10Gi")


async def test_quota_service_node_ports(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("net", services_nodeports="1"))
    service = {"metadata": {"name": "s", "namespace": "team"}, "spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 81}]}}
    with pytest.raises(APIError) as info:
        await create(ctx, SERVICES, service)
    assert "requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1" in info.value.message


async def test_quota_scoped_counts_matching(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("best-effort", scopes=["BestEffort"], pods="1"))
    await create(ctx, PODS, pod("burstable", container(requests={"cpu": "100m"})))
    await create(ctx, PODS, pod("free"))
    assert await quota_used(ctx, "best-effort") == {"pods": "1"}


async def test_quota_update_recounts(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="5"))
    await create(ctx, PODS, pod("a"))
    stored = await read(ctx, QUOTAS, "quota")
    stored["spec"]["hard"]["count/configmaps"] = "3"
    stored["status"] = {"used": {"pods": "99"}}
    await update(ctx, QUOTAS, stored)
    assert await quota_used(ctx) == {"pods": "1", "count/configmaps": "0"}


async def test_quota_counts_other_quotas(ctx: APIContext) -> None:
    await create(ctx, QUOTAS, quota("quota", resourcequotas="1"))
    with pytest.raises(APIError) as info:
        await create(ctx, QUOTAS, quota("second", pods="1"))
    assert "exceeded quota: quota, requested: resourcequotas=1, used: resourcequotas=1" in info.value.message
    await delete(ctx, QUOTAS, "quota")


@pytest.mark.parametrize("cached", [pytest.param(True, id="quota in cache"), pytest.param(False, id="quota just created")])
async def test_quota_exact_under_concurrency(ctx: APIContext, cached: bool) -> None:
    await create(ctx, QUOTAS, quota("quota", pods="5"))
    # With the quota in the watch cache the namespace lock serializes the
    # creates; right after the create only compare-and-swap keeps them exact.
    while cached and not ctx.cached_objects(QUOTAS, "team"):
        await asyncio.sleep(0.01)

    async def attempt(index: int) -> bool:
        try:
            await create(ctx, PODS, pod(f"p{index}"))
        except APIError as exc:
            assert exc.code == 403
            return False
        return True

    results = await asyncio.gather(*(attempt(index) for index in range(20)))
    assert sum(results) == 5
    assert await quota_used(ctx) == {"pods": "5"}
    created = [f"p{index}" for index, ok in enumerate(results) if ok]
    await asyncio.gather(*(delete(ctx, PODS, name) for name in created[:2]))
    assert await quota_used(ctx) == {"pods": "3"}
