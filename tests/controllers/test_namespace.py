"""The namespace controller against a real API server: content deletion, conditions and finalize."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS, SECRETS
from pykube_control.controllers.manager import run_controllers
from pykube_control.controllers.namespace import NamespaceController
from pykube_control.controllers.serviceaccount import SERVICE_ACCOUNTS
from tests.controllers.gc_helpers import (  # noqa: F401 (api is a fixture)
    api,
    configmap,
    deployment,
    eventually,
    make_context,
    pod,
    running_controllers,
)

Object = dict[str, Any]


async def create_namespace(api: APIClient, name: str) -> None:
    await api.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


async def gone(api: APIClient, name: str) -> bool:
    try:
        await api.get(NAMESPACES, name)
    except NotFound:
        return True
    return False


def condition(namespace: Object, kind: str) -> Object:
    for entry in (namespace.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return {}


async def test_namespace_deletion_removes_content(api: APIClient) -> None:
    await create_namespace(api, "shop")
    await api.create(CONFIGMAPS, configmap("settings", "shop"))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "shop"}}
    await api.create(SECRETS, secret)
    await api.create(DEPLOYMENTS, deployment("web", "shop"))
    await api.create(PODS, pod("worker", "shop"))
    context = make_context(api)
    controller = NamespaceController(context, recheck_initial=0.1, recheck_max=0.5)

    async with running_controllers(context, [controller]):
        await api.delete(NAMESPACES, "shop")
        await eventually(lambda: gone(api, "shop"), "namespace shop is deleted")

    for resource in (CONFIGMAPS, SECRETS, DEPLOYMENTS, PODS):
        listing = await api.list(resource, namespace="shop")
        assert listing["items"] == [], resource.plural


async def test_namespace_waits_for_graceful_pod(api: APIClient) -> None:
    await create_namespace(api, "slow")
    await api.create(PODS, pod("running", "slow", node="node-a"))
    context = make_context(api)
    controller = NamespaceController(context, recheck_initial=0.1, recheck_max=0.5)

    async def content_remaining() -> bool:
        namespace = await api.get(NAMESPACES, "slow")
        return condition(namespace, "NamespaceContentRemaining").get("status") == "True"

    async with running_controllers(context, [controller]):
        await api.delete(NAMESPACES, "slow")
        await eventually(content_remaining, "namespace slow reports NamespaceContentRemaining")
        namespace = await api.get(NAMESPACES, "slow")
        remaining = condition(namespace, "NamespaceContentRemaining")
        assert remaining["reason"] == "SomeResourcesRemain"
        assert "pods has 1 resource instances" in remaining["message"]
        assert condition(namespace, "NamespaceDeletionContentFailure")["status"] == "False"
        assert namespace["status"]["phase"] == "Terminating"

        # The node agent confirms the pod stopped by deleting it with no grace period.
        await api.delete(PODS, "running", namespace="slow", grace_period_seconds=0)
        await eventually(lambda: gone(api, "slow"), "namespace slow is deleted")


async def test_namespace_reports_remaining_finalizers(api: APIClient) -> None:
    await create_namespace(api, "held")
    held = configmap("held", "held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await api.create(CONFIGMAPS, held)
    context = make_context(api)
    controller = NamespaceController(context, recheck_initial=0.1, recheck_max=0.5)

    async def finalizers_remaining() -> bool:
        namespace = await api.get(NAMESPACES, "held")
        return condition(namespace, "NamespaceFinalizersRemaining").get("status") == "True"

    async with running_controllers(context, [controller]):
        await api.delete(NAMESPACES, "held")
        await eventually(finalizers_remaining, "namespace held reports NamespaceFinalizersRemaining")
        namespace = await api.get(NAMESPACES, "held")
        message = condition(namespace, "NamespaceFinalizersRemaining")["message"]
        assert "example.com/hold in 1 resource instances" in message

        await api.patch(CONFIGMAPS, "held", {"metadata": {"finalizers": None}}, namespace="held")
        await eventually(lambda: gone(api, "held"), "namespace held is deleted")


async def test_namespace_keeps_metadata_finalizer(api: APIClient) -> None:
    namespace: Object = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "kept", "finalizers": ["example.com/keep"]},
    }
    await api.create(NAMESPACES, namespace)
    context = make_context(api)
    controller = NamespaceController(context, recheck_initial=0.1, recheck_max=0.5)

    async def spec_finalized() -> bool:
        current = await api.get(NAMESPACES, "kept")
        return not (current.get("spec") or {}).get("finalizers")

    async with running_controllers(context, [controller]):
        await api.delete(NAMESPACES, "kept")
        await eventually(spec_finalized, "namespace kept has no spec finalizers")

    current = await api.get(NAMESPACES, "kept")
    assert current["metadata"]["finalizers"] == ["example.com/keep"]


async def test_manager_runs_namespace_controllers(api: APIClient) -> None:
    await create_namespace(api, "team")
    owner = await api.create(CONFIGMAPS, configmap("owner", "team"))
    dependent = configmap("child", "team")
    dependent["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ]
    await api.create(CONFIGMAPS, dependent)
    names = ["namespace", "garbagecollector", "serviceaccount"]
    manager = asyncio.create_task(run_controllers(api, names, workers=2))
    try:
        await eventually(lambda: has_default_account(api, "team"), "namespace team has a default account")
        await api.delete(NAMESPACES, "team")
        await eventually(lambda: gone(api, "team"), "namespace team is deleted")
    finally:
        manager.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await manager


async def has_default_account(api: APIClient, namespace: str) -> bool:
    listing = await api.list(SERVICE_ACCOUNTS, namespace=namespace)
    return any(item["metadata"]["name"] == "default" for item in listing["items"])
