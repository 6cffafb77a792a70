"""The DaemonSet controller against a real API server, with hollow nodes and the scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.informer import Informer
from pykube_control.client.resource import DAEMON_SETS, NODES, PODS
from pykube_control.controllers.daemonset import new_daemonset_controller
from pykube_control.controllers.daemonset_util import (
    TEMPLATE_HASH_LABEL,
    matches_node_selection,
    pod_for_node,
    rolling_update_victims,
    should_run,
    target_node,
)
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    api,
    eventually,
    is_ready,
    list_pods,
    patch_retrying,
    pod_template,
    running,
    server,
)

Object = dict[str, Any]
NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def make_daemon_set(name: str, image: str = "agent:1", **spec: Any) -> Object:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"selector": {"matchLabels": dict(labels)}, "template": pod_template(labels, image), **spec},
    }


def node(name: str, labels: dict[str, str] | None = None, taints: list[Object] | None = None) -> Object:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def pod_on(node_name: str, template_hash: str, ready: bool) -> Object:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": f"{node_name}-{template_hash}", "labels": {TEMPLATE_HASH_LABEL: template_hash}},
        "spec": {"nodeName": node_name},
        "status": {"phase": "Running", "conditions": conditions},
    }


# --- rules --------------------------------------------------------------------------------------

IN_ZONE_A = {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}


@pytest.mark.parametrize(
    ("pod_spec", "labels", "matches"),
    [
        pytest.param({}, {}, True, id="no constraints"),
        pytest.param({"nodeSelector": {"disk": "ssd"}}, {"disk": "ssd"}, True, id="node selector met"),
        pytest.param({"nodeSelector": {"disk": "ssd"}}, {"disk": "hdd"}, False, id="node selector unmet"),
        pytest.param(
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [IN_ZONE_A]}}}},
            {"zone": "a"}, True, id="required affinity met",
        ),
        pytest.param(
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [IN_ZONE_A]}}}},
            {"zone": "b"}, False, id="required affinity unmet",
        ),
        pytest.param(
            {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{}]}}}},
            {}, False, id="empty term matches nothing",
        ),
    ],
)  # fmt: skip
def test_node_selection(pod_spec: Object, labels: dict[str, str], matches: bool) -> None:
    assert matches_node_selection(pod_spec, node("n1", labels)) is matches


@pytest.mark.parametrize(
    ("taint", "tolerated"),
    [
        pytest.param({"key": "dedicated", "value": "db", "effect": "NoSchedule"}, False, id="foreign taint"),
        pytest.param({"key": "dedicated", "value": "db", "effect": "PreferNoSchedule"}, True, id="soft taint"),
        pytest.param({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}, True, id="not ready"),
        pytest.param({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}, True, id="cordoned"),
    ],
)
def test_taints(taint: Object, tolerated: bool) -> None:
    assert should_run(make_daemon_set("ds"), node("n1", taints=[taint])) is tolerated


def test_pod_pinned() -> None:
    daemon_set = make_daemon_set("ds")
    daemon_set["metadata"]["uid"] = "u1"
    pod = pod_for_node(daemon_set, "n7", "h1")
    assert target_node(pod) == "n7"
    assert pod["metadata"]["labels"][TEMPLATE_HASH_LABEL] == "h1"


@pytest.mark.parametrize(
    ("pods", "allowed", "deleted"),
    [
        pytest.param({"a": [pod_on("a", "old", True)], "b": [pod_on("b", "old", True)]}, 1, 1, id="budget of one"),
        pytest.param({"a": [pod_on("a", "new", False)], "b": [pod_on("b", "old", True)]}, 1, 0, id="budget used"),
        pytest.param({"a": [pod_on("a", "old", False)], "b": [pod_on("b", "old", True)]}, 1, 1, id="unavailable old"),
        pytest.param({"a": [pod_on("a", "old", True), pod_on("a", "new", True)]}, 1, 1, id="old beside new"),
    ],
)
def test_rolling_victims(pods: dict[str, list[Object]], allowed: int, deleted: int) -> None:
    assert len(rolling_update_victims(pods, "new", allowed, 0, NOW)) == deleted


# --- against the API server ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def cluster(client: APIClient, nodes: FakeNodes) -> AsyncIterator[None]:
    """Hollow nodes, the scheduler and the DaemonSet controller, until exit."""
    await nodes.start()
    scheduler = asyncio.create_task(SchedulerDaemon(client).run())
    try:
        async with running(client, [new_daemonset_controller]):
            yield
    finally:
        scheduler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scheduler
        await nodes.stop()


async def placed(client: APIClient, selector: str) -> dict[str, str]:
    """Return node name -> image of the running pods matching ``selector``."""
    pods = await list_pods(client, selector)
    return {
        pod["spec"]["nodeName"]: pod["spec"]["containers"][0]["image"]
        for pod in pods if pod["spec"].get("nodeName") and (pod.get("status") or {}).get("phase") == "Running"
    }  # fmt: skip


async def status_of(client: APIClient, name: str) -> Object:
    status: Object = (await client.get(DAEMON_SETS, name, namespace="default")).get("status") or {}
    return status


async def test_one_pod_per_node(api: APIClient) -> None:
    nodes = FakeNodes(api, 5, prefix="n-")
    async with cluster(api, nodes):
        await api.create(DAEMON_SETS, make_daemon_set("agent"), namespace="default")

        async def everywhere() -> bool:
            return set(await placed(api, "app=agent")) == set(nodes.names)

        await eventually(everywhere, "every node runs an agent pod")
        assert len(await list_pods(api, "app=agent")) == 5

        async def counted() -> bool:
            status = await status_of(api, "agent")
            return (status.get("desiredNumberScheduled"), status.get("numberReady")) == (5, 5)

        await eventually(counted, "the status counts 5 ready pods")

        extra = FakeNodes(api, 1, prefix="n-", first_index=5)
        await extra.start()
        try:
            async def on_new_node() -> bool:
                return "n-5" in await placed(api, "app=agent")

            await eventually(on_new_node, "the added node runs an agent pod")
        finally:
            await extra.stop()

        await api.delete(NODES, "n-5")

        async def left() -> bool:
            pods = await list_pods(api, "app=agent")
            return sorted(target_node(pod) or "" for pod in pods) == sorted(nodes.names)

        await eventually(left, "the removed node's pod is deleted")


async def test_node_selector(api: APIClient) -> None:
    nodes = FakeNodes(api, 5, prefix="n-", labels=lambda i: {"gpu": "yes" if i < 2 else "no"})
    async with cluster(api, nodes):
        daemon_set = make_daemon_set("gpu")
        daemon_set["spec"]["template"]["spec"]["nodeSelector"] = {"gpu": "yes"}
        await api.create(DAEMON_SETS, daemon_set, namespace="default")

        async def on_gpu_nodes() -> bool:
            return set(await placed(api, "app=gpu")) == {"n-0", "n-1"}

        await eventually(on_gpu_nodes, "only the gpu nodes run a pod")
        assert (await status_of(api, "gpu")).get("desiredNumberScheduled") == 2


async def test_rolling_update(api: APIClient) -> None:
    nodes = FakeNodes(api, 5, prefix="n-")
    async with cluster(api, nodes):
        await api.create(DAEMON_SETS, make_daemon_set("roll", "agent:1"), namespace="default")

        async def all_on(image: str) -> bool:
            return set((await placed(api, "app=roll")).values()) == {image} and len(await placed(api, "app=roll")) == 5

        await eventually(lambda: all_on("agent:1"), "every node runs agent:1")
        watcher = Informer(api, PODS)
        ready_counts: list[int] = []

        async def changed(*args: Any) -> None:
            ready_counts.append(len({
                pod["spec"].get("nodeName") for pod in watcher.store.list()
                if is_ready(pod) and not pod["metadata"].get("deletionTimestamp")
            }))  # fmt: skip

        watcher.add_handlers(on_add=changed, on_update=changed, on_delete=changed)
        watcher.start()
        await watcher.wait_for_sync(10)
        body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "agent:2"}]}}}}
        await patch_retrying(api, DAEMON_SETS, "roll", body, patch_type="strategic")

        async def updated() -> bool:
            pods = await list_pods(api, "app=roll")
            images = {pod["spec"]["containers"][0]["image"] for pod in pods}
            return await all_on("agent:2") and images == {"agent:2"} and len(pods) == 5

        await eventually(updated, "every node runs agent:2")

        async def counted() -> bool:
            status = await status_of(api, "roll")
            return (status.get("updatedNumberScheduled"), status.get("numberAvailable")) == (5, 5)

        await eventually(counted, "the status counts 5 updated, available pods")
        await watcher.stop()
        # maxUnavailable defaults to 1, so at least 4 of the 5 nodes keep a ready pod throughout.
        assert min(ready_counts) >= 4
