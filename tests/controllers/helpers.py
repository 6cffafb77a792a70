"""Shared pieces of the workload controller tests: a real API server, controllers, builders, and a pod runner.

Pods do not run without a node agent, so ``PodRunner`` plays one: it
watches pods and, after an optional delay, writes phase Running and a true
Ready condition through pods/status, as a kubelet would once containers
start. ``running`` starts the controllers' shared informers and workers in
the test's event loop and stops them on exit, so a test can also stop and
start controllers mid-way. ``eventually`` polls, because controllers
converge asynchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient, PatchType
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.informer import Informer
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import EVENTS, PODS, ResourceLike
from pykube_control.controllers.base import Controller, ControllerContext, SharedInformers

Object = dict[str, Any]

WAIT_TIMEOUT = 30.0
"""Seconds a test waits for controllers to converge before it fails."""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    """A plain-HTTP API server on loopback, without authentication, for one test."""
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def api(server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(server.url)) as client:
        yield client


def make_context(client: APIClient) -> ControllerContext:
    informers = SharedInformers(client)
    recorders: dict[str, EventRecorder] = {}

    def recorder(component: str) -> EventRecorder:
        return recorders.setdefault(component, EventRecorder(client, component))

    return ControllerContext(client=client, informers=informers, recorder=recorder)


@contextlib.asynccontextmanager
async def running(
    client: APIClient, factories: Sequence[Callable[[ControllerContext], Controller]], workers: int = 2
) -> AsyncIterator[list[Controller]]:
    """Build controllers on a fresh context, start its informers and run the controllers until exit."""
    context = make_context(client)
    controllers = [factory(context) for factory in factories]
    context.informers.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        assert await context.informers.wait_for_sync(WAIT_TIMEOUT)
        tasks = [asyncio.create_task(controller.run(workers)) for controller in controllers]
        yield controllers
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await context.informers.stop()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT_TIMEOUT) -> None:
    """Poll ``check`` every 50 ms until it returns True; fail naming ``what`` after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        await asyncio.sleep(0.05)


# --- pods that "run" -----------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def running_status(pod: Object) -> Object:
    """Return the status a kubelet writes once every container of ``pod`` is running and ready."""
    now = _now()
    containers = (pod.get("spec") or {}).get("containers") or []
    return {
        "phase": "Running",
        "startTime": now,
        "conditions": [
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": [
            {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
             "started": True, "state": {"running": {"startedAt": now}}}
            for c in containers
        ],
    }  # fmt: skip


async def mark_running(client: APIClient, pod: Object) -> bool:
    """Write a running, ready status to ``pod``; return False when the pod is gone."""
    meta = pod["metadata"]
    for _ in range(10):
        try:
            current = await client.get(PODS, meta["name"], namespace=meta["namespace"])
        except NotFound:
            return False
        if current["metadata"].get("uid") != meta.get("uid"):
            return False
        current["status"] = running_status(current)
        try:
            await client.update_status(PODS, current)
        except NotFound:
            return False
        except Conflict:
            continue
        return True
    return False


class PodRunner:
    """Marks every new pod Running and Ready after ``ready_delay`` seconds, as a node agent would."""

    def __init__(self, client: APIClient, ready_delay: float = 0.0) -> None:
        self.client = client
        self.ready_delay = ready_delay
        self.informer = Informer(client, PODS)
        self.informer.add_handlers(on_add=self._added)
        self._tasks: set[asyncio.Task[None]] = set()

    async def _added(self, pod: Object) -> None:
        if (pod.get("status") or {}).get("phase") == "Running":
            return
        task = asyncio.create_task(self._run(pod))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, pod: Object) -> None:
        if self.ready_delay > 0:
            await asyncio.sleep(self.ready_delay)
        await mark_running(self.client, pod)

    async def __aenter__(self) -> PodRunner:
        self.informer.start()
        await self.informer.wait_for_sync(WAIT_TIMEOUT)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.informer.stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def patch_retrying(
    client: APIClient, resource: ResourceLike, name: str, body: Any, patch_type: PatchType = "merge"
) -> Object:
    """Patch an object in the default namespace, retrying on Conflict.

    NOTE: the API server returns 409 Conflict for a patch that races with
    another write, where kube-apiserver retries the patch itself, so tests
    that patch objects controllers are writing retry here.
    """
    for _ in range(20):
        try:
            return await client.patch(resource, name, body, namespace="default", patch_type=patch_type)
        except Conflict:
            await asyncio.sleep(0.02)
    return await client.patch(resource, name, body, namespace="default", patch_type=patch_type)


# --- reading ------------------------------------------------------------------------------------


async def list_pods(client: APIClient, selector: str, namespace: str = "default") -> list[Object]:
    """Return the pods matching ``selector`` that are not being deleted."""
    result = await client.list(PODS, namespace=namespace, label_selector=selector)
    return [pod for pod in result.get("items") or [] if not pod["metadata"].get("deletionTimestamp")]


def is_ready(pod: Object) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def event_reasons(client: APIClient, kind: str, name: str, namespace: str = "default") -> list[str]:
    """Return the reasons of the Events about the object ``kind``/``name``."""
    result = await client.list(EVENTS, namespace=namespace)
    return [
        event.get("reason", "") for event in result.get("items") or []
        if event["involvedObject"].get("kind") == kind and event["involvedObject"].get("name") == name
    ]  # fmt: skip


# --- builders -----------------------------------------------------------------------------------


def pod_template(labels: dict[str, str], image: str = "nginx:1.25") -> Object:
    return {
        "metadata": {"labels": dict(labels)},
        "spec": {"containers": [{"name": "web", "image": image}], "terminationGracePeriodSeconds": 0},
    }


def make_replica_set(name: str, replicas: int, labels: dict[str, str], **spec: Any) -> Object:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "template": pod_template(labels), **spec},
    }


def make_replication_controller(name: str, replicas: int, labels: dict[str, str]) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": dict(labels), "template": pod_template(labels)},
    }


def make_deployment(name: str, replicas: int, image: str = "nginx:1.25", **spec: Any) -> Object:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": pod_template(labels, image),
            **spec,
        },
    }


def make_pod(name: str, labels: dict[str, str]) -> Object:
    template = pod_template(labels)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": dict(labels)},
        "spec": template["spec"],
    }
