"""Deleting a Deployment with each propagation policy, with the garbage collector running.

Foreground keeps the Deployment, marked with the foregroundDeletion
finalizer, until its ReplicaSet and pods are gone. Background removes the
Deployment at once and its dependents after. Orphan removes only the
Deployment and leaves the ReplicaSet and its pods running, without an
owner reference to the Deployment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pykube_control.client.api import APIClient, PropagationPolicy
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import DEPLOYMENTS, REPLICA_SETS
from pykube_control.controllers.base import Controller, ControllerContext
from pykube_control.controllers.deployment import new_deployment_controller
from pykube_control.controllers.garbagecollector import new_garbage_collector
from pykube_control.controllers.replicaset import new_replicaset_controller
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    api,
    eventually,
    list_pods,
    make_deployment,
    running,
    server,
)

CONTROLLERS: list[Callable[[ControllerContext], Controller]] = [new_deployment_controller, new_replicaset_controller, new_garbage_collector]
SELECTOR = "app=web"

Object = dict[str, Any]


async def replica_sets(api: APIClient) -> list[Object]:
    items: list[Object] = (await api.list(REPLICA_SETS, namespace="default")).get("items") or []
    return items


async def deployment_gone(api: APIClient) -> bool:
    try:
        await api.get(DEPLOYMENTS, "web", namespace="default")
    except NotFound:
        return True
    return False


async def dependents_gone(api: APIClient) -> bool:
    return not await replica_sets(api) and not await list_pods(api, SELECTOR)


async def ready_to_delete(api: APIClient) -> bool:
    """Tell whether the Deployment's ReplicaSet and all 3 pods exist, each owned by the controller above it."""
    sets = await replica_sets(api)
    pods = await list_pods(api, SELECTOR)
    return len(sets) == 1 and len(pods) == 3 and all(pod["metadata"].get("ownerReferences") for pod in pods)


async def orphaned(api: APIClient) -> bool:
    sets = await replica_sets(api)
    return len(sets) == 1 and not sets[0]["metadata"].get("ownerReferences")


@pytest.mark.parametrize(
    "policy",
    [pytest.param("Foreground", id="foreground"), pytest.param("Background", id="background")],
)
async def test_cascading_delete(api: APIClient, policy: PropagationPolicy) -> None:
    async with running(api, CONTROLLERS):
        await api.create(DEPLOYMENTS, make_deployment("web", 3))
        await eventually(lambda: ready_to_delete(api), "the ReplicaSet and 3 pods exist")

        response = await api.delete(DEPLOYMENTS, "web", namespace="default", propagation_policy=policy)
        await eventually(lambda: dependents_gone(api), "the ReplicaSet and pods are deleted")
        await eventually(lambda: deployment_gone(api), "the Deployment is deleted")

    if policy == "Foreground":
        assert "foregroundDeletion" in (response.get("metadata") or {}).get("finalizers", [])
        assert response["metadata"].get("deletionTimestamp")


async def test_orphan_delete(api: APIClient) -> None:
    async with running(api, CONTROLLERS):
        await api.create(DEPLOYMENTS, make_deployment("web", 3))
        await eventually(lambda: ready_to_delete(api), "the ReplicaSet and 3 pods exist")
        owned_uid = (await replica_sets(api))[0]["metadata"]["uid"]

        await api.delete(DEPLOYMENTS, "web", namespace="default", propagation_policy="Orphan")
        await eventually(lambda: deployment_gone(api), "the Deployment is deleted")
        await eventually(lambda: orphaned(api), "the ReplicaSet loses its owner reference")
        sets = await replica_sets(api)
        pods = await list_pods(api, SELECTOR)

    assert sets[0]["metadata"]["uid"] == owned_uid
    assert sets[0]["spec"]["replicas"] == 3
    assert len(pods) == 3
    assert {ref["uid"] for pod in pods for ref in pod["metadata"]["ownerReferences"]} == {owned_uid}
