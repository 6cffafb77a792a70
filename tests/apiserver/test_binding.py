"""pods/binding: the scheduler's write, which starts from the watch cache's copy of the pod."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pykube_control.apiserver import storage
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.apiserver.resources import by_kind
from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import PODS

Object = dict[str, Any]

CACHE_TIMEOUT = 10.0
"""Seconds a test waits for the watch cache to apply a write."""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    running = await start_apiserver(APIServerConfig(data_dir=tmp_path, host="127.0.0.1", port=0, insecure=True))
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(server.url)) as api:
        yield api


def make_pod(name: str, finalizers: list[str] | None = None) -> Object:
    metadata: Object = {"name": name, "namespace": "default"}
    if finalizers:
        metadata["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [{"name": "c", "image": "i"}]}}


def pod_key(name: str) -> str:
    pods = by_kind("", "Pod")
    assert pods is not None
    return storage.object_key(pods, "default", name)


async def cached_at(server: RunningAPIServer, name: str, revision: str) -> Object:
    """Wait until the pods watch cache contains ``name`` at ``revision``; return the cached object."""
    cache = server.ctx.caches["pods"]
    deadline = asyncio.get_running_loop().time() + CACHE_TIMEOUT
    while True:
        entry = cache.objects.get(pod_key(name))
        if entry is not None and entry[0]["metadata"]["resourceVersion"] == revision:
            return entry[0]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"watch cache did not reach pod {name} at resourceVersion {revision}")
        await asyncio.sleep(0.01)


async def test_binding_sets_node_and_condition(server: RunningAPIServer, client: APIClient) -> None:
    created = await client.create(PODS, make_pod("web"))
    created["status"]["conditions"] = [{"type": "Custom", "status": "True"}]
    updated = await client.update_status(PODS, created)
    await cached_at(server, "web", updated["metadata"]["resourceVersion"])

    await client.bind("web", "n1", namespace="default")

    pod = await client.get(PODS, "web", namespace="default")
    assert pod["spec"]["nodeName"] == "n1"
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    assert conditions["PodScheduled"]["status"] == "True"
    assert conditions["PodScheduled"]["lastTransitionTime"]
    assert conditions["Custom"]["status"] == "True"
    assert int(pod["metadata"]["resourceVersion"]) > int(updated["metadata"]["resourceVersion"])


async def test_binding_leaves_cached_copy(server: RunningAPIServer, client: APIClient) -> None:
    created = await client.create(PODS, make_pod("web"))
    cached = await cached_at(server, "web", created["metadata"]["resourceVersion"])

    await client.bind("web", "n1", namespace="default")

    assert "nodeName" not in cached["spec"]
    assert "conditions" not in cached["status"]


async def test_binding_twice_conflicts(client: APIClient) -> None:
    await client.create(PODS, make_pod("web"))
    await client.bind("web", "n1", namespace="default")

    with pytest.raises(Conflict) as raised:
        await client.bind("web", "n2", namespace="default")

    assert raised.value.message == 'Operation cannot be fulfilled on pods "web": pod web is already assigned to node "n1"'
    assert (await client.get(PODS, "web", namespace="default"))["spec"]["nodeName"] == "n1"


async def test_binding_stale_cache_conflicts(server: RunningAPIServer, client: APIClient) -> None:
    created = await client.create(PODS, make_pod("web"))
    await cached_at(server, "web", created["metadata"]["resourceVersion"])
    # Bind behind the API's back; the cache may still show the pod pending.
    bound = {**created, "spec": {**created["spec"], "nodeName": "elsewhere"}}
    revision = int(created["metadata"]["resourceVersion"])
    await server.store.update(pod_key("web"), storage.encode(bound), expected_revision=revision)

    with pytest.raises(Conflict) as raised:
        await client.bind("web", "n1", namespace="default")

    assert "already assigned to node \"elsewhere\"" in raised.value.message
    assert (await client.get(PODS, "web", namespace="default"))["spec"]["nodeName"] == "elsewhere"


async def test_binding_deleting_pod_conflicts(client: APIClient) -> None:
    await client.create(PODS, make_pod("web", finalizers=["example.com/hold"]))
    await client.delete(PODS, "web", namespace="default")

    with pytest.raises(Conflict) as raised:
        await client.bind("web", "n1", namespace="default")

    assert "is being deleted" in raised.value.message
    await client.patch(PODS, "web", {"metadata": {"finalizers": None}}, namespace="default")


async def test_binding_missing_pod_not_found(client: APIClient) -> None:
    with pytest.raises(NotFound):
        await client.bind("absent", "n1", namespace="default")


async def test_binding_pod_deleted_behind_cache(server: RunningAPIServer, client: APIClient) -> None:
    created = await client.create(PODS, make_pod("web"))
    await cached_at(server, "web", created["metadata"]["resourceVersion"])
    # Delete behind the API's back; the cache may still show the pod.
    await server.store.delete(pod_key("web"))

    with pytest.raises(NotFound):
        await client.bind("web", "n1", namespace="default")
