"""A node that stops heartbeating: its Deployment pods are evicted and run again on other nodes.

Hollow nodes run the pods, the scheduler daemon places them, and the
Deployment, ReplicaSet and node lifecycle controllers run with a 2 s
grace period. The pods tolerate the unreachable NoExecute taint for 0 s,
so they are evicted as soon as the silent node is tainted, where the API
server's default toleration would keep them for 300 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import DEPLOYMENTS
from pykube_control.controllers.base import Controller, ControllerContext
from pykube_control.controllers.deployment import new_deployment_controller
from pykube_control.controllers.nodelifecycle import NodeLifecycleController
from pykube_control.controllers.nodelifecycle_taints import UNREACHABLE_TAINT
from pykube_control.controllers.replicaset import new_replicaset_controller
from pykube_control.scheduler.daemon import SchedulerDaemon
from pykube_control.scheduler.queue import SchedulingQueue
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    api,
    eventually,
    is_ready,
    list_pods,
    make_deployment,
    running,
    server,
)

Object = dict[str, Any]

SELECTOR = "app=web"
CONTROLLERS: list[Callable[[ControllerContext], Controller]] = [
    new_deployment_controller,
    new_replicaset_controller,
    functools.partial(NodeLifecycleController, grace_period=2.0, monitor_period=0.2),
]


@contextlib.asynccontextmanager
async def hollow_nodes(api: APIClient, first_index: int, count: int) -> AsyncIterator[FakeNodes]:
    """Hollow nodes "node-<first_index>" on, renewing their Leases every 0.2 s until stopped."""
    nodes = FakeNodes(api, count, prefix="node-", first_index=first_index, lease_interval=0.2)
    await nodes.start()
    try:
        yield nodes
    finally:
        await nodes.stop()


@contextlib.asynccontextmanager
async def scheduler(api: APIClient) -> AsyncIterator[None]:
    daemon = SchedulerDaemon(api, queue=SchedulingQueue(initial_backoff=0.2, max_backoff=1.0))
    task = asyncio.create_task(daemon.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def tolerating_deployment(replicas: int) -> Object:
    deployment = make_deployment("web", replicas)
    toleration = {"key": UNREACHABLE_TAINT, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
    deployment["spec"]["template"]["spec"]["tolerations"] = [toleration]
    return deployment


async def running_on(api: APIClient, nodes: set[str], count: int) -> bool:
    """Tell whether exactly ``count`` pods exist, all ready and bound to one of ``nodes``."""
    pods = await list_pods(api, SELECTOR)
    return len(pods) == count and all(is_ready(pod) and pod["spec"].get("nodeName") in nodes for pod in pods)


async def test_silent_node_pods_rescheduled(api: APIClient) -> None:
    async with hollow_nodes(api, 0, 1) as doomed, scheduler(api), running(api, CONTROLLERS):
        await api.create(DEPLOYMENTS, tolerating_deployment(2))
        await eventually(lambda: running_on(api, {"node-0"}, 2), "2 pods run on node-0")
        first_uids = {pod["metadata"]["uid"] for pod in await list_pods(api, SELECTOR)}

        async with hollow_nodes(api, 1, 2):
            await doomed.stop()
            await eventually(lambda: running_on(api, {"node-1", "node-2"}, 2), "2 pods run on node-1 and node-2")
            pods = await list_pods(api, SELECTOR)

    assert len(pods) == 2
    assert not first_uids & {pod["metadata"]["uid"] for pod in pods}
