"""The node lifecycle controller against a real API server and hollow nodes.

Each hollow node runs in its own FakeNodes, so stopping that FakeNodes
stops exactly one node's Lease renewals. A node "comes back" through
``renewing``, which renews its Lease the way the kubelet would. The
controller runs with a 2 s grace period, so a silent node turns Unknown
about 2 s after its last renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
from collections.abc import AsyncIterator
import pytest

from pykube_control.agent.fake import LEASE_NAMESPACE, FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.resource import ENDPOINT_SLICES, LEASES, NODES, PODS, SERVICES
from pykube_control.controllers.endpointslice import EndpointSliceController
from pykube_control.controllers.nodelifecycle import NodeLifecycleController
from pykube_control.controllers.nodelifecycle_taints import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    eviction_time,
    reconcile_taints,
    tolerates,
)
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    Object,
    api,
    event_reasons,
    eventually,
    running,
    server,
)

GRACE_PERIOD = 2.0
LEASE_INTERVAL = 0.2

lifecycle = functools.partial(NodeLifecycleController, grace_period=GRACE_PERIOD, monitor_period=0.2)


@contextlib.asynccontextmanager
async def hollow_node(api: APIClient, index: int) -> AsyncIterator[FakeNodes]:
    """One hollow node, "node-<index>", renewing its Lease every 0.2 s until stopped."""
    nodes = FakeNodes(api, 1, prefix="node-", first_index=index, lease_interval=LEASE_INTERVAL)
    await nodes.start()
    try:
        yield nodes
    finally:
        await nodes.stop()


@contextlib.asynccontextmanager
async def renewing(api: APIClient, name: str) -> AsyncIterator[None]:
    """Renew node ``name``'s Lease every 0.2 s, as its kubelet would after coming back."""

    async def renew() -> None:
        while True:
            with contextlib.suppress(Conflict, NotFound):
                lease = await api.get(LEASES, name, namespace=LEASE_NAMESPACE)
                lease["spec"]["renewTime"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                await api.update(LEASES, lease, namespace=LEASE_NAMESPACE)
            await asyncio.sleep(LEASE_INTERVAL)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def bound_pod(name: str, node: str, tolerations: list[Object] | None = None) -> Object:
    spec: Object = {
        "nodeName": node,
        "containers": [{"name": "web", "image": "nginx:1.25"}],
        "terminationGracePeriodSeconds": 0,
    }
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def unreachable_toleration(seconds: int | None) -> Object:
    toleration: Object = {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute"}
    if seconds is not None:
        toleration["tolerationSeconds"] = seconds
    return toleration


def condition(node: Object, kind: str) -> Object:
    return next(c for c in node["status"]["conditions"] if c["type"] == kind)


def lifecycle_taints(node: Object) -> list[tuple[str, str]]:
    taints = (node.get("spec") or {}).get("taints") or []
    return sorted((t["key"], t["effect"]) for t in taints if t["key"] in (UNREACHABLE_TAINT, NOT_READY_TAINT))


async def ready_status(api: APIClient, name: str) -> str:
    return str(condition(await api.get(NODES, name), "Ready")["status"])


async def is_evicted(api: APIClient, name: str) -> bool:
    try:
        pod = await api.get(PODS, name, namespace="default")
    except NotFound:
        return True
    return bool(pod["metadata"].get("deletionTimestamp"))


async def set_ready(api: APIClient, name: str, status: str) -> None:
    for _ in range(20):
        node = await api.get(NODES, name)
        condition(node, "Ready")["status"] = status
        try:
            await api.update_status(NODES, node)
            return
        except Conflict:
            await asyncio.sleep(0.05)
    raise AssertionError(f"node {name}: Ready={status} not written after 20 conflicts")


# --- taints and tolerations alone --------------------------------------------------------------


@pytest.mark.parametrize(
    ("toleration", "expected"),
    [
        pytest.param({"operator": "Exists"}, True, id="empty key exists"),
        pytest.param({"key": "k", "operator": "Exists", "effect": "NoExecute"}, True, id="key exists"),
        pytest.param({"key": "k", "value": "v", "effect": "NoExecute"}, True, id="equal by default"),
        pytest.param({"key": "k", "operator": "Equal", "value": "w"}, False, id="other value"),
        pytest.param({"key": "k", "operator": "Exists", "effect": "NoSchedule"}, False, id="other effect"),
        pytest.param({"key": "j", "operator": "Exists"}, False, id="other key"),
    ],
)
def test_tolerates_table(toleration: Object, expected: bool) -> None:
    assert tolerates(toleration, {"key": "k", "value": "v", "effect": "NoExecute"}) is expected


@pytest.mark.parametrize(
    ("tolerations", "expected_seconds"),
    [
        pytest.param([], 0.0, id="untolerated at once"),
        pytest.param([unreachable_toleration(30)], 30.0, id="toleration seconds"),
        pytest.param([unreachable_toleration(30), {"operator": "Exists", "tolerationSeconds": 5}], 5.0, id="shortest wins"),
        pytest.param([unreachable_toleration(-3)], 0.0, id="negative counts as zero"),
        pytest.param([unreachable_toleration(None)], None, id="tolerated for ever"),
    ],
)
def test_eviction_time_table(tolerations: list[Object], expected_seconds: float | None) -> None:
    added = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    taint = {"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": "2026-01-02T03:04:05Z"}
    pod = bound_pod("p", "n", tolerations)

    deadline = eviction_time(pod, [taint], added + datetime.timedelta(hours=1))

    expected = None if expected_seconds is None else added + datetime.timedelta(seconds=expected_seconds)
    assert deadline == expected


def test_reconcile_keeps_other_taints() -> None:
    other = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    old = {"key": UNREACHABLE_TAINT, "effect": "NoExecute", "timeAdded": "2026-01-02T03:04:05Z"}
    now = datetime.datetime(2026, 1, 2, 3, 5, 0, tzinfo=datetime.timezone.utc)

    taints = reconcile_taints([other, old], UNREACHABLE_TAINT, now)

    assert taints[0] == other
    assert old in taints
    assert {"key": UNREACHABLE_TAINT, "effect": "NoSchedule", "timeAdded": "2026-01-02T03:05:00Z"} in taints
    assert reconcile_taints(taints, None, now) == [other]


# --- the controller ----------------------------------------------------------------------------


async def test_silent_node_marked_unknown(api: APIClient) -> None:
    async with hollow_node(api, 0), hollow_node(api, 1) as silent, running(api, [lifecycle]):
        await silent.stop()

        await eventually(lambda: _is_status(api, "node-1", "Unknown"), "node-1 is Unknown")
        node = await api.get(NODES, "node-1")
        live = await api.get(NODES, "node-0")

        # The Event is written after the status, so it may trail it by a moment.
        async def recorded() -> bool:
            return "NodeNotReady" in await event_reasons(api, "Node", "node-1")

        await eventually(recorded, "the NodeNotReady Event of node-1")
        reasons = await event_reasons(api, "Node", "node-1")

    ready = condition(node, "Ready")
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert condition(node, "MemoryPressure")["status"] == "Unknown"
    assert "NodeNotReady" in reasons
    assert condition(live, "Ready")["status"] == "True"
    assert lifecycle_taints(live) == []


async def test_silent_node_gets_unreachable_taints(api: APIClient) -> None:
    async with hollow_node(api, 0) as silent, running(api, [lifecycle]):
        await silent.stop()

        await eventually(lambda: _has_taints(api, "node-0", 2), "node-0 has the unreachable taints")
        node = await api.get(NODES, "node-0")

    assert lifecycle_taints(node) == [(UNREACHABLE_TAINT, "NoExecute"), (UNREACHABLE_TAINT, "NoSchedule")]
    assert all(taint.get("timeAdded") for taint in node["spec"]["taints"])


async def test_silent_node_pods_evicted(api: APIClient) -> None:
    async with hollow_node(api, 0) as silent, running(api, [lifecycle]):
        await api.create(PODS, bound_pod("now", "node-0", [unreachable_toleration(0)]))
        await api.create(PODS, bound_pod("later", "node-0", [unreachable_toleration(4)]))
        await api.create(PODS, bound_pod("stays", "node-0", [unreachable_toleration(None)]))
        await silent.stop()

        await eventually(lambda: is_evicted(api, "now"), "pod now is evicted")
        later_evicted_first = await is_evicted(api, "later")
        await eventually(lambda: is_evicted(api, "later"), "pod later is evicted after its 4 s")
        stays_evicted = await is_evicted(api, "stays")

    assert later_evicted_first is False
    assert stays_evicted is False


async def test_default_tolerations_delay_eviction(api: APIClient) -> None:
    # The API server gives a pod without tolerations 300 s for unreachable and not-ready.
    async with hollow_node(api, 0) as silent, running(api, [lifecycle]):
        await api.create(PODS, bound_pod("plain", "node-0"))
        await api.create(PODS, bound_pod("now", "node-0", [unreachable_toleration(0)]))
        await silent.stop()

        await eventually(lambda: is_evicted(api, "now"), "pod now is evicted")
        plain_evicted = await is_evicted(api, "plain")

    assert plain_evicted is False


async def test_untolerated_taint_evicts(api: APIClient) -> None:
    async with hollow_node(api, 0), running(api, [lifecycle]):
        await api.create(PODS, bound_pod("plain", "node-0"))
        await api.create(PODS, bound_pod("dedicated", "node-0", [{"key": "dedicated", "operator": "Exists"}]))
        node = await api.get(NODES, "node-0")
        node["spec"]["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoExecute"}]
        await api.update(NODES, node)

        await eventually(lambda: is_evicted(api, "plain"), "pod plain is evicted")
        dedicated_evicted = await is_evicted(api, "dedicated")

    assert dedicated_evicted is False


async def test_returning_node_untainted(api: APIClient) -> None:
    async with hollow_node(api, 0) as silent, running(api, [lifecycle]):
        await silent.stop()
        await eventually(lambda: _has_taints(api, "node-0", 2), "node-0 has the unreachable taints")

        async with renewing(api, "node-0"):
            await eventually(lambda: _has_taints(api, "node-0", 0), "node-0 loses the unreachable taints")
            node = await api.get(NODES, "node-0")
            reasons = await event_reasons(api, "Node", "node-0")

    assert condition(node, "Ready")["status"] == "True"
    assert condition(node, "MemoryPressure")["status"] == "False"
    assert "NodeReady" in reasons


async def test_not_ready_node_tainted(api: APIClient) -> None:
    async with hollow_node(api, 0), running(api, [lifecycle]):
        await set_ready(api, "node-0", "False")
        await eventually(lambda: _has_taints(api, "node-0", 2), "node-0 has the not-ready taints")
        tainted = await api.get(NODES, "node-0")

        await set_ready(api, "node-0", "True")
        await eventually(lambda: _has_taints(api, "node-0", 0), "node-0 loses the not-ready taints")

    assert lifecycle_taints(tainted) == [(NOT_READY_TAINT, "NoExecute"), (NOT_READY_TAINT, "NoSchedule")]


async def test_unreachable_node_pods_not_ready(api: APIClient) -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    async with hollow_node(api, 0), hollow_node(api, 1) as silent, running(api, [lifecycle, EndpointSliceController]):
        await api.create(SERVICES, service)
        for name, node in (("live", "node-0"), ("stranded", "node-1")):
            pod = bound_pod(name, node, [unreachable_toleration(None)])
            pod["metadata"]["labels"] = {"app": "web"}
            await api.create(PODS, pod)
        await eventually(lambda: _ready_endpoints(api, {"live": True, "stranded": True}), "both endpoints are ready")
        await silent.stop()

        await eventually(lambda: _ready_endpoints(api, {"live": True, "stranded": False}), "stranded is not ready")
        stranded = await api.get(PODS, "stranded", namespace="default")
        live = await api.get(PODS, "live", namespace="default")
        reasons = await event_reasons(api, "Pod", "stranded")

    assert condition(stranded, "Ready")["status"] == "False"
    assert condition(live, "Ready")["status"] == "True"
    assert "NodeNotReady" in reasons
    assert stranded["metadata"].get("deletionTimestamp") is None


async def _ready_endpoints(api: APIClient, expected: dict[str, bool]) -> bool:
    """Tell whether the "web" Service's slices list exactly these pods with these ready conditions."""
    listing = await api.list(ENDPOINT_SLICES, namespace="default", label_selector="kubernetes.io/service-name=web")
    found = {
        endpoint["targetRef"]["name"]: bool((endpoint.get("conditions") or {}).get("ready"))
        for item in listing.get("items") or []
        for endpoint in item.get("endpoints") or []
    }
    return found == expected


async def _is_status(api: APIClient, name: str, status: str) -> bool:
    return await ready_status(api, name) == status


async def _has_taints(api: APIClient, name: str, count: int) -> bool:
    node = await api.get(NODES, name)
    return len(lifecycle_taints(node)) == count
