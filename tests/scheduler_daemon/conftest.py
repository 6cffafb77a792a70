"""A real API server, hollow nodes and the scheduler daemon, all in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import PODS, PRIORITY_CLASSES
from pykube_control.scheduler.daemon import SchedulerDaemon
from pykube_control.scheduler.queue import SchedulingQueue

Object = dict[str, Any]

# Short back-off, so retries happen within a test's seconds; the daemon's defaults are 1 s and 10 s.
TEST_INITIAL_BACKOFF = 0.2
TEST_MAX_BACKOFF = 1.0
WAIT_TIMEOUT = 30.0
"""Seconds a test waits for the cluster to reach a state before failing."""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(server.url)) as api:
        yield api


@pytest.fixture
async def nodes(client: APIClient) -> AsyncIterator[FakeNodes]:
    """Twenty hollow nodes (4 cpu, 16Gi); even-numbered ones are labelled disk=ssd."""
    fake = FakeNodes(client, 20, labels=lambda index: {"disk": "ssd"} if index % 2 == 0 else {}, lease_interval=1.0)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def scheduler(client: APIClient, nodes: FakeNodes) -> AsyncIterator[SchedulerDaemon]:
    queue = SchedulingQueue(initial_backoff=TEST_INITIAL_BACKOFF, max_backoff=TEST_MAX_BACKOFF)
    daemon = SchedulerDaemon(client, queue=queue)
    task = asyncio.create_task(daemon.run())
    try:
        yield daemon
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_pod(
    name: str,
    *,
    cpu: str = "100m",
    memory: str = "64Mi",
    scheduler_name: str | None = None,
    node_selector: dict[str, str] | None = None,
    tolerations: list[Object] | None = None,
    priority: int | None = None,
    priority_class_name: str | None = None,
) -> Object:
    spec: Object = {
        "containers": [{"name": "app", "image": "busybox", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]
    }
    if scheduler_name is not None:
        spec["schedulerName"] = scheduler_name
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if tolerations is not None:
        spec["tolerations"] = tolerations
    if priority is not None:
        spec["priority"] = priority
    if priority_class_name is not None:
        spec["priorityClassName"] = priority_class_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = WAIT_TIMEOUT, what: str = "") -> None:
    """Poll ``check`` every 0.1 s until it returns True; fail the test after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or 'the condition'}")
        await asyncio.sleep(0.1)


async def get_pod(client: APIClient, name: str) -> Object:
    return dict(await client.get(PODS, name, namespace="default"))


def condition(pod: Object, kind: str) -> Object | None:
    for item in (pod.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return None


async def create_priority_class(client: APIClient, name: str, value: int, **fields: Any) -> None:
    """Create a PriorityClass; the API server resolves a pod's spec.priority only from such a class."""
    body = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value}
    await client.create(PRIORITY_CLASSES, {**body, **fields})
