"""The ResourceQuota controller: usage rules alone, then status against a real API server and kubectl.

The API server's admission also writes quota status, so the tests that
need the controller itself write a wrong status straight into the store,
as a lost admission charge would leave it, and wait for the controller's
periodic recount to correct it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pykube_core.quantity import Quantity, parse_quantity
from pykube_core.quota_scopes import quota_matches
from pykube_core.quota_usage import object_usage
from pykube_core.resource_sum import PURE_PYTHON_KERNEL, QuantityKernel, native_quantity_kernel
from pykube_control.apiserver import storage
from pykube_control.apiserver.app import RunningAPIServer
from pykube_control.apiserver.resources import by_plural
from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict
from pykube_control.client.resource import CONFIGMAPS, DEPLOYMENTS, PODS, SERVICES
from pykube_control.controllers.resourcequota import RESOURCE_QUOTAS, ResourceQuotaController, resolve_listed
from pykube_control.controllers.resourcequota_count import count_used, status_matches, sum_rows

from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    Object,
    api,
    eventually,
    make_deployment,
    running,
    server,
)

RESYNC = 0.5
controller = functools.partial(ResourceQuotaController, resync_period=RESYNC)


def kernels() -> list[Any]:
    params = [pytest.param(PURE_PYTHON_KERNEL, id="py")]
    try:
        params.append(pytest.param(native_quantity_kernel(), id="native"))
    except ImportError:
        params.append(pytest.param(None, id="native", marks=pytest.mark.skip(reason="native quantity kernel not built")))
    return params


# --- builders ----------------------------------------------------------------------------------


def pod(
    name: str,
    cpu: str | None = "100m",
    memory: str | None = "64Mi",
    *,
    phase: str | None = None,
    deadline: int | None = None,
    priority_class: str | None = None,
    init_cpu: str | None = None,
    sidecar_cpu: str | None = None,
) -> Object:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Object = {"name": "web", "image": "nginx:1.25"}
    if requests:
        container["resources"] = {"requests": requests, "limits": dict(requests)}
    spec: Object = {"containers": [container], "terminationGracePeriodSeconds": 0}
    init: list[Object] = []
    if sidecar_cpu is not None:
        init.append({"name": "proxy", "image": "envoy", "restartPolicy": "Always",
                     "resources": {"requests": {"cpu": sidecar_cpu}}})  # fmt: skip
    if init_cpu is not None:
        init.append({"name": "setup", "image": "busybox", "resources": {"requests": {"cpu": init_cpu}}})
    if init:
        spec["initContainers"] = init
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    if priority_class is not None:
        spec["priorityClassName"] = priority_class
    obj: Object = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}
    if phase is not None:
        obj["status"] = {"phase": phase}
    return obj


def quota(name: str, hard: dict[str, str], scopes: list[str] | None = None, selector: list[Object] | None = None) -> Object:
    spec: Object = {"hard": hard}
    if scopes is not None:
        spec["scopes"] = scopes
    if selector is not None:
        spec["scopeSelector"] = {"matchExpressions": selector}
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def service(name: str, service_type: str = "ClusterIP", ports: int = 1) -> Object:
    port_list = [{"name": f"p{i}", "port": 80 + i} for i in range(ports)]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": service_type, "selector": {"app": name}, "ports": port_list},
    }


def configmap(name: str) -> Object:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {}}


def as_text(values: dict[str, Quantity]) -> dict[str, str]:
    return {name: str(quantity) for name, quantity in values.items()}


# --- usage rules alone --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "resource", "expected"),
    [
        pytest.param(pod("a"), "requests.cpu", "100m", id="pod cpu request"),
        pytest.param(pod("a"), "limits.memory", "64Mi", id="pod memory limit"),
        pytest.param(pod("a"), "pods", "1", id="pod counts one"),
        pytest.param(pod("a", phase="Succeeded"), "pods", None, id="succeeded pod not counted"),
        pytest.param(pod("a", phase="Failed"), "cpu", None, id="failed pod cpu not counted"),
        pytest.param(pod("a", phase="Failed"), "count/pods", "1", id="failed pod still an object"),
        pytest.param(pod("a", init_cpu="1"), "requests.cpu", "1", id="init container larger"),
        pytest.param(pod("a", init_cpu="50m"), "requests.cpu", "100m", id="init container smaller"),
        pytest.param(pod("a", sidecar_cpu="200m", init_cpu="150m"), "requests.cpu", "350m", id="init beside sidecar"),
        pytest.param(pod("a", sidecar_cpu="200m"), "requests.cpu", "300m", id="sidecar adds"),
        pytest.param(service("s", "NodePort", 2), "services.nodeports", "2", id="node ports per port"),
        pytest.param(service("s", "LoadBalancer"), "services.loadbalancers", "1", id="load balancer"),
        pytest.param(service("s"), "services.nodeports", "0", id="cluster ip no node ports"),
        pytest.param(configmap("c"), "configmaps", "1", id="configmap plain count"),
    ],
)
def test_object_usage(obj: Object, resource: str, expected: str | None) -> None:
    qualified = {"Pod": "pods", "Service": "services", "ConfigMap": "configmaps"}[obj["kind"]]
    usage = object_usage(qualified, obj)
    assert (str(usage[resource]) if resource in usage else None) == expected


def test_deleting_object_counts_nothing() -> None:
    obj = pod("a")
    obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert object_usage("pods", obj) == {}


def test_claim_rounds_up_and_per_class() -> None:
    claim = {
        "metadata": {"name": "c"},
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1500m"}}},
        "status": {"allocatedResources": {"storage": "1"}},
    }
    usage = as_text(object_usage("persistentvolumeclaims", claim))
    assert usage["requests.storage"] == "2"
    assert usage["fast.storageclass.storage.k8s.io/requests.storage"] == "2"
    assert usage["fast.storageclass.storage.k8s.io/persistentvolumeclaims"] == "1"


@pytest.mark.parametrize(
    ("scoped", "obj", "counted"),
    [
        pytest.param(quota("q", {}, ["BestEffort"]), pod("a", None, None), True, id="best effort"),
        pytest.param(quota("q", {}, ["BestEffort"]), pod("a"), False, id="best effort skips burstable"),
        pytest.param(quota("q", {}, ["NotBestEffort"]), pod("a"), True, id="not best effort"),
        pytest.param(quota("q", {}, ["Terminating"]), pod("a", deadline=30), True, id="terminating"),
        pytest.param(quota("q", {}, ["Terminating"]), pod("a"), False, id="terminating skips no deadline"),
        pytest.param(quota("q", {}, ["NotTerminating"]), pod("a"), True, id="not terminating"),
        pytest.param(quota("q", {}, ["NotTerminating", "BestEffort"]), pod("a"), False, id="all scopes must match"),
        pytest.param(
            quota("q", {}, selector=[{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]),
            pod("a", priority_class="high"), True, id="priority class in",
        ),
        pytest.param(
            quota("q", {}, selector=[{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]),
            pod("a", priority_class="low"), False, id="priority class not in values",
        ),
        pytest.param(
            quota("q", {}, selector=[{"scopeName": "PriorityClass", "operator": "DoesNotExist"}]),
            pod("a"), True, id="priority class does not exist",
        ),
        pytest.param(quota("q", {}, ["BestEffort"]), configmap("c"), False, id="scoped quota skips other kinds"),
        pytest.param(quota("q", {}), configmap("c"), True, id="unscoped counts every kind"),
    ],
)  # fmt: skip
def test_scopes(scoped: Object, obj: Object, counted: bool) -> None:
    qualified = "pods" if obj["kind"] == "Pod" else "configmaps"
    assert quota_matches(scoped, qualified, obj) is counted


@pytest.mark.parametrize("kernel", kernels())
def test_count_used(kernel: QuantityKernel) -> None:
    hard = {"pods": "10", "requests.cpu": "4", "requests.memory": "1Gi", "configmaps": "5", "secrets": "3"}
    objects = {
        "pods": [pod("a"), pod("b", "250m", "128Mi"), pod("done", phase="Succeeded")],
        "configmaps": [configmap("c")],
    }
    used = as_text(count_used(quota("q", hard), objects, kernel=kernel))
    assert used == {"pods": "2", "requests.cpu": "350m", "requests.memory": "192Mi", "configmaps": "1", "secrets": "0"}


@pytest.mark.parametrize("kernel", kernels())
def test_sum_rows_exact_below_milli(kernel: QuantityKernel) -> None:
    rows = [{"cpu": parse_quantity("1n")}, {"cpu": parse_quantity("2")}]
    assert str(sum_rows(["cpu"], rows, kernel=kernel)["cpu"]) == "2000000001n"


@pytest.mark.parametrize("kernel", kernels())
def test_sum_rows_overflow_falls_back(kernel: QuantityKernel) -> None:
    big = parse_quantity("8E")
    assert sum_rows(["memory"], [{"memory": big}, {"memory": big}], kernel=kernel)["memory"] == big + big


def test_status_matches_ignores_format() -> None:
    stored = quota("q", {"memory": "1Gi"})
    stored["status"] = {"hard": {"memory": "1Gi"}, "used": {"memory": "1073741824"}}
    hard = {"memory": parse_quantity("1Gi")}
    assert status_matches(stored, hard, {"memory": parse_quantity("1Gi")})


@pytest.mark.parametrize(
    ("qualified", "plural"),
    [
        pytest.param("deployments.apps", "deployments", id="apps"),
        pytest.param("jobs.batch", "jobs", id="batch"),
        pytest.param("serviceaccounts", "serviceaccounts", id="core"),
        pytest.param("nodes", None, id="cluster scoped"),
        pytest.param("widgets.example.com", None, id="not served"),
    ],
)
def test_resolve_listed(qualified: str, plural: str | None) -> None:
    resource = resolve_listed(qualified)
    assert (None if resource is None else resource.plural) == plural


# --- against a real API server ----------------------------------------------------------------------


async def quota_status(api: APIClient, name: str = "q") -> Object:
    return dict((await api.get(RESOURCE_QUOTAS, name, namespace="default")).get("status") or {})


async def used_is(api: APIClient, expected: dict[str, str], name: str = "q") -> bool:
    used = (await quota_status(api, name)).get("used") or {}
    return {k: parse_quantity(v) for k, v in used.items()} == {k: parse_quantity(v) for k, v in expected.items()}


async def corrupt_used(server: RunningAPIServer, name: str, used: dict[str, str]) -> None:
    """Write ``used`` straight into the stored quota, past admission, as a lost charge would leave it."""
    resource = by_plural("", "v1", "resourcequotas")
    assert resource is not None
    key = storage.object_key(resource, "default", name)
    kv = await server.store.get(key)
    obj = storage.decode_kv(kv)
    obj["status"]["used"] = used
    await server.store.update(key, storage.encode(obj), expected_revision=kv.mod_revision)


async def set_phase(api: APIClient, name: str, phase: str) -> None:
    for _ in range(20):
        current = await api.get(PODS, name, namespace="default")
        current["status"] = {"phase": phase}
        try:
            await api.update_status(PODS, current)
            return
        except Conflict:
            await asyncio.sleep(0.05)
    raise AssertionError(f"pod {name}: phase {phase} not written after 20 conflicts")


async def test_status_counts_namespace(api: APIClient) -> None:
    # The default namespace also holds the "kubernetes" Service, so services counts 2.
    hard = {"pods": "10", "requests.cpu": "2", "limits.memory": "1Gi", "services": "4", "services.nodeports": "4",
            "configmaps": "9", "count/deployments.apps": "3", "resourcequotas": "2"}  # fmt: skip
    async with running(api, [controller]):
        await api.create(RESOURCE_QUOTAS, quota("q", hard))
        await api.create(PODS, pod("a"))
        await api.create(PODS, pod("b", "400m", "128Mi"))
        await api.create(SERVICES, service("web", "NodePort", 2))
        await api.create(CONFIGMAPS, configmap("settings"))
        await api.create(DEPLOYMENTS, make_deployment("web", 0))
        expected = {"pods": "2", "requests.cpu": "500m", "limits.memory": "192Mi", "services": "2",
                    "services.nodeports": "2", "configmaps": "1", "count/deployments.apps": "1", "resourcequotas": "1"}  # fmt: skip
        await eventually(lambda: used_is(api, expected), f"used is {expected}")
        status = await quota_status(api)

    assert status["hard"] == hard


async def test_terminal_pod_released(api: APIClient) -> None:
    async with running(api, [controller]):
        await api.create(RESOURCE_QUOTAS, quota("q", {"pods": "5", "requests.cpu": "1", "count/pods": "5"}))
        await api.create(PODS, pod("job"))
        await eventually(lambda: used_is(api, {"pods": "1", "requests.cpu": "100m", "count/pods": "1"}), "pod counted")
        await set_phase(api, "job", "Succeeded")

        await eventually(
            lambda: used_is(api, {"pods": "0", "requests.cpu": "0", "count/pods": "1"}), "succeeded pod released"
        )


async def test_drift_corrected(api: APIClient, server: RunningAPIServer) -> None:
    async with running(api, [controller]):
        await api.create(RESOURCE_QUOTAS, quota("q", {"pods": "5", "configmaps": "5"}))
        await api.create(PODS, pod("a"))
        await api.create(CONFIGMAPS, configmap("c"))
        await eventually(lambda: used_is(api, {"pods": "1", "configmaps": "1"}), "objects counted")
        await corrupt_used(server, "q", {"pods": "4", "configmaps": "0"})

        await eventually(lambda: used_is(api, {"pods": "1", "configmaps": "1"}), "the resync corrects the status")


async def test_scoped_quotas(api: APIClient, server: RunningAPIServer) -> None:
    async with running(api, [controller]):
        await api.create(RESOURCE_QUOTAS, quota("best-effort", {"pods": "5"}, ["BestEffort"]))
        await api.create(RESOURCE_QUOTAS, quota("terminating", {"pods": "5", "requests.cpu": "1"}, ["Terminating"]))
        await api.create(PODS, pod("plain", None, None))
        await api.create(PODS, pod("deadline", deadline=60))
        await api.create(PODS, pod("burstable"))
        for name in ("best-effort", "terminating"):
            await corrupt_used(server, name, {"pods": "3"})

        await eventually(lambda: used_is(api, {"pods": "1"}, "best-effort"), "best-effort counts one pod")
        await eventually(
            lambda: used_is(api, {"pods": "1", "requests.cpu": "100m"}, "terminating"), "terminating counts one pod"
        )


async def test_no_write_when_current(api: APIClient) -> None:
    await api.create(RESOURCE_QUOTAS, quota("q", {"pods": "5"}))
    await api.create(PODS, pod("a"))
    before = await api.get(RESOURCE_QUOTAS, "q", namespace="default")
    async with running(api, [controller]):
        await asyncio.sleep(RESYNC * 3)
    after = await api.get(RESOURCE_QUOTAS, "q", namespace="default")

    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
async def test_kubectl_describe_quota(api: APIClient, server: RunningAPIServer, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server.url}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}],
    }))  # fmt: skip
    async with running(api, [controller]):
        await api.create(RESOURCE_QUOTAS, quota("compute", {"pods": "4", "requests.memory": "1Gi"}))
        await api.create(PODS, pod("a", memory="256Mi"))
        await eventually(lambda: used_is(api, {"pods": "1", "requests.memory": "256Mi"}, "compute"), "pod counted")

        process = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(config), "describe", "quota", "compute",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await process.communicate()

    assert process.returncode == 0, stderr.decode()
    rows = {tuple(line.split()) for line in stdout.decode().splitlines()}
    assert ("pods", "1", "4") in rows
    assert ("requests.memory", "256Mi", "1Gi") in rows
