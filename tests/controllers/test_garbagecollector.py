"""The garbage collector against a real API server: propagation policies, dangling and invalid references."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from pykube_control.client.api import APIClient, PropagationPolicy
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import CONFIGMAPS, EVENTS, NAMESPACES, PODS, REPLICA_SETS, ResourceLike
from pykube_control.controllers.garbagecollector import GarbageCollector
from tests.controllers.gc_helpers import (  # noqa: F401 (api is a fixture)
    api,
    configmap,
    eventually,
    make_context,
    owner_reference,
    pod,
    running_controllers,
)

Object = dict[str, Any]

GHOST_UID = "00000000-0000-0000-0000-00000000dead"


@pytest.fixture
async def collector(api: APIClient) -> AsyncIterator[GarbageCollector]:
    context = make_context(api)
    controller = GarbageCollector(context)
    async with running_controllers(context, [controller]):
        yield controller


async def absent(api: APIClient, resource: ResourceLike, name: str, namespace: str = "default") -> bool:
    try:
        await api.get(resource, name, namespace=namespace)
    except NotFound:
        return True
    return False


def ghost_reference(name: str = "ghost") -> Object:
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": GHOST_UID}


@pytest.mark.parametrize(
    "policy",
    [pytest.param("Background", id="background"), pytest.param("Foreground", id="foreground")],
)
async def test_owner_deletion_cascades(api: APIClient, collector: GarbageCollector, policy: PropagationPolicy) -> None:
    owner = await api.create(CONFIGMAPS, configmap("owner"))
    await api.create(CONFIGMAPS, configmap("child", owners=[owner], block=True))
    await api.create(CONFIGMAPS, configmap("sibling", owners=[owner]))

    await api.delete(CONFIGMAPS, "owner", propagation_policy=policy)

    await eventually(lambda: absent(api, CONFIGMAPS, "child"), "child is deleted")
    await eventually(lambda: absent(api, CONFIGMAPS, "sibling"), "sibling is deleted")
    await eventually(lambda: absent(api, CONFIGMAPS, "owner"), "owner is deleted")


async def test_foreground_waits_for_blocking_dependent(api: APIClient, collector: GarbageCollector) -> None:
    owner = await api.create(CONFIGMAPS, configmap("owner"))
    held = configmap("held", owners=[owner], block=True)
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await api.create(CONFIGMAPS, held)

    await api.delete(CONFIGMAPS, "owner", propagation_policy="Foreground")

    async def held_is_deleting() -> bool:
        current = await api.get(CONFIGMAPS, "held")
        return bool(current["metadata"].get("deletionTimestamp"))

    await eventually(held_is_deleting, "held is marked for deletion")
    waiting = await api.get(CONFIGMAPS, "owner")
    assert waiting["metadata"]["finalizers"] == ["foregroundDeletion"]

    await api.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}})
    await eventually(lambda: absent(api, CONFIGMAPS, "owner"), "owner is deleted")


async def test_orphan_keeps_dependents(api: APIClient, collector: GarbageCollector) -> None:
    owner = await api.create(CONFIGMAPS, configmap("owner"))
    other = await api.create(CONFIGMAPS, configmap("other"))
    await api.create(CONFIGMAPS, configmap("child", owners=[owner, other]))

    await api.delete(CONFIGMAPS, "owner", propagation_policy="Orphan")
    await eventually(lambda: absent(api, CONFIGMAPS, "owner"), "owner is deleted")

    child = await api.get(CONFIGMAPS, "child")
    assert child["metadata"]["ownerReferences"] == [owner_reference(other)]


async def test_orphan_removes_last_reference(api: APIClient, collector: GarbageCollector) -> None:
    owner = await api.create(CONFIGMAPS, configmap("owner"))
    await api.create(CONFIGMAPS, configmap("child", owners=[owner]))

    await api.delete(CONFIGMAPS, "owner", propagation_policy="Orphan")
    await eventually(lambda: absent(api, CONFIGMAPS, "owner"), "owner is deleted")

    child = await api.get(CONFIGMAPS, "child")
    assert "ownerReferences" not in child["metadata"]


@pytest.mark.parametrize(
    "owner_name",
    [pytest.param("ghost", id="owner never existed"), pytest.param("alive", id="owner name reused with new uid")],
)
async def test_dangling_reference_deletes_dependent(
    api: APIClient, collector: GarbageCollector, owner_name: str
) -> None:
    await api.create(CONFIGMAPS, configmap("alive"))
    orphan = configmap("orphan")
    orphan["metadata"]["ownerReferences"] = [ghost_reference(owner_name)]
    await api.create(CONFIGMAPS, orphan)

    await eventually(lambda: absent(api, CONFIGMAPS, "orphan"), "orphan is deleted")
    assert not await absent(api, CONFIGMAPS, "alive")


async def test_dangling_reference_removed_beside_owner(api: APIClient, collector: GarbageCollector) -> None:
    owner = await api.create(CONFIGMAPS, configmap("owner"))
    child = configmap("child", owners=[owner])
    child["metadata"]["ownerReferences"].append(ghost_reference())
    await api.create(CONFIGMAPS, child)

    async def ghost_dropped() -> bool:
        current = await api.get(CONFIGMAPS, "child")
        return len(current["metadata"].get("ownerReferences") or []) == 1

    await eventually(ghost_dropped, "the ghost reference is removed")
    current = await api.get(CONFIGMAPS, "child")
    assert current["metadata"]["ownerReferences"] == [owner_reference(owner)]


async def test_cross_namespace_reference_is_invalid(api: APIClient, collector: GarbageCollector) -> None:
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    owner = await api.create(CONFIGMAPS, configmap("owner"))
    await api.create(CONFIGMAPS, configmap("stray", "other", owners=[owner]))

    await eventually(lambda: absent(api, CONFIGMAPS, "stray", "other"), "stray is deleted")
    events = await api.list(EVENTS, namespace="other")
    reasons = [event["reason"] for event in events["items"]]
    assert "OwnerRefInvalidNamespace" in reasons
    assert not await absent(api, CONFIGMAPS, "owner")


async def test_replicaset_foreground_deletes_pods(api: APIClient, collector: GarbageCollector) -> None:
    labels = {"app": "web"}
    replica_set = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "main", "image": "busybox"}]}},
        },
    }
    owner = await api.create(REPLICA_SETS, replica_set)
    for name in ("web-a", "web-b"):
        dependent = pod(name, "default")
        dependent["metadata"]["ownerReferences"] = [{**owner_reference(owner, block=True), "controller": True}]
        await api.create(PODS, dependent)

    await api.delete(REPLICA_SETS, "web", propagation_policy="Foreground")

    await eventually(lambda: absent(api, REPLICA_SETS, "web"), "replica set web is deleted")
    pods = await api.list(PODS, namespace="default")
    assert pods["items"] == []
