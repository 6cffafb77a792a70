"""Running controllers against a real API server in a test's own event loop.

The ``api`` fixture serves a fresh API server per test.
``running_controllers`` starts the informers the controllers requested,
waits until they synced, runs the controllers and cancels them on exit.
``eventually`` polls a condition, because controllers converge
asynchronously. Builders make the objects the tests create.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.controllers.base import Controller, ControllerContext, SharedInformers

Object = dict[str, Any]

WAIT_TIMEOUT = 20.0
"""Seconds a test waits for a controller to converge before it fails."""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[APIClient]:
    """A client of a plain-HTTP API server on loopback, started for one test."""
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    server = await start_apiserver(config)
    try:
        async with APIClient(ClientConfig.for_url(server.url)) as client:
            yield client
    finally:
        await server.stop()


def make_context(client: APIClient) -> ControllerContext:
    informers = SharedInformers(client)
    recorders: dict[str, EventRecorder] = {}

    def recorder(component: str) -> EventRecorder:
        return recorders.setdefault(component, EventRecorder(client, component))

    return ControllerContext(client=client, informers=informers, recorder=recorder)


@contextlib.asynccontextmanager
async def running_controllers(context: ControllerContext, controllers: Sequence[Controller]) -> AsyncIterator[None]:
    """Start the informers, wait for their sync and run ``controllers`` with two workers each."""
    context.informers.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        assert await context.informers.wait_for_sync(WAIT_TIMEOUT)
        tasks = [asyncio.create_task(controller.run(2)) for controller in controllers]
        yield
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


def configmap(name: str, namespace: str = "default", owners: Sequence[Object] = (), block: bool = False) -> Object:
    """A ConfigMap owned by ``owners`` (objects as the server returned them)."""
    metadata: Object = {"name": name, "namespace": namespace}
    if owners:
        metadata["ownerReferences"] = [owner_reference(owner, block) for owner in owners]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"key": name}}


def owner_reference(owner: Object, block: bool = False) -> Object:
    reference: Object = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    if block:
        reference["blockOwnerDeletion"] = True
    return reference


def pod(name: str, namespace: str, node: str | None = None) -> Object:
    spec: Object = {"containers": [{"name": "main", "image": "busybox"}]}
    if node is not None:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def deployment(name: str, namespace: str) -> Object:
    labels = {"app": name}
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }
