"""The ServiceAccount controller against a real API server: the "default" account of each namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import NAMESPACES
from pykube_control.controllers.serviceaccount import SERVICE_ACCOUNTS, ServiceAccountController
from tests.controllers.gc_helpers import api, eventually, make_context, running_controllers  # noqa: F401 (api is a fixture)


@pytest.fixture
async def controller(api: APIClient) -> AsyncIterator[ServiceAccountController]:
    context = make_context(api)
    running = ServiceAccountController(context)
    async with running_controllers(context, [running]):
        yield running


async def has_default(api: APIClient, namespace: str) -> bool:
    try:
        await api.get(SERVICE_ACCOUNTS, "default", namespace=namespace)
    except NotFound:
        return False
    return True


async def test_default_created_in_system_namespaces(api: APIClient, controller: ServiceAccountController) -> None:
    for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
        await eventually(lambda: has_default(api, namespace), f"namespace {namespace} has a default account")


async def test_default_created_in_new_namespace(api: APIClient, controller: ServiceAccountController) -> None:
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})

    await eventually(lambda: has_default(api, "team"), "namespace team has a default account")


async def test_default_recreated_after_delete(api: APIClient, controller: ServiceAccountController) -> None:
    await eventually(lambda: has_default(api, "default"), "namespace default has a default account")
    first = await api.get(SERVICE_ACCOUNTS, "default", namespace="default")

    await api.delete(SERVICE_ACCOUNTS, "default", namespace="default")

    async def replaced() -> bool:
        try:
            current = await api.get(SERVICE_ACCOUNTS, "default", namespace="default")
        except NotFound:
            return False
        return bool(current["metadata"]["uid"] != first["metadata"]["uid"])

    await eventually(replaced, "the default account is recreated")


async def test_terminating_namespace_skipped(api: APIClient, controller: ServiceAccountController) -> None:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "leaving"}}
    await api.create(NAMESPACES, namespace)
    await eventually(lambda: has_default(api, "leaving"), "namespace leaving has a default account")

    await api.delete(NAMESPACES, "leaving")
    await api.delete(SERVICE_ACCOUNTS, "default", namespace="leaving")
    # The marker's account shows the controller is handling later events. The API server would
    # also reject a create in the terminating namespace.
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "marker"}})
    await eventually(lambda: has_default(api, "marker"), "namespace marker has a default account")

    assert not await has_default(api, "leaving")
