"""Builders and an in-process API context for the admission tests.

``create`` and ``update`` run a write the way the HTTP handlers do: take the
namespace's write lock, admit, write with compare-and-swap, and roll the
admission's side effects back if the store write fails. Deletes use the
handlers' own ``delete_one``.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pykube_control.apiserver import objects, resources, storage, write
from pykube_control.apiserver.admission.chain import AdmissionRequest, Plugin
from pykube_control.apiserver.admission.limitranger import admit_limit_ranger
from pykube_control.apiserver.admission.quota import admit_resource_quota
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.resources import ResourceType
from pykube_control.store.sqlite import SQLiteStore

Object = dict[str, Any]

NAMESPACE = "team"
PLUGINS: list[Plugin] = [admit_limit_ranger, admit_resource_quota]


def resource(plural: str, group: str = "") -> ResourceType:
    found = resources.by_plural(group, "v1", plural)
    assert found is not None, plural
    return found


PODS = resource("pods")
CLAIMS = resource("persistentvolumeclaims")
QUOTAS = resource("resourcequotas")
LIMIT_RANGES = resource("limitranges")
CONFIGMAPS = resource("configmaps")
SERVICES = resource("services")
DEPLOYMENTS = resource("deployments", "apps")


async def open_context(tmp_path: Path) -> AsyncIterator[APIContext]:
    """Yield a started APIContext over a fresh SQLite store, with both plugins installed."""
    store = await SQLiteStore.open(tmp_path / "db")
    ctx = APIContext.create(store)
    ctx.admission_plugins = list(PLUGINS)
    await ctx.start()
    try:
        yield ctx
    finally:
        await ctx.stop()
        await store.close()


def container(name: str = "app", requests: dict[str, str] | None = None, limits: dict[str, str] | None = None) -> Object:
    resources_: Object = {}
    if requests is not None:
        resources_["requests"] = dict(requests)
    if limits is not None:
        resources_["limits"] = dict(limits)
    return {"name": name, "image": "busybox", "resources": resources_}


def pod(name: str = "web", *containers: Object, init: tuple[Object, ...] = (), **spec: Any) -> Object:
    body: Object = {"containers": list(containers) or [container()], **spec}
    if init:
        body["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": body}


def claim(name: str = "data", storage_request: str | None = "1Gi", storage_class: str | None = None) -> Object:
    spec: Object = {"accessModes": ["ReadWriteOnce"], "resources": {}}
    if storage_request is not None:
        spec["resources"]["requests"] = {"storage": storage_request}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def quota(name: str = "quota", scopes: list[str] | None = None, **hard: str) -> Object:
    """Build a quota; ``requests_cpu="1"`` limits "requests.cpu" and ``count_pods="2"`` limits "count/pods"."""
    spec: Object = {"hard": {_quota_resource(key): value for key, value in hard.items()}}
    if scopes:
        spec["scopes"] = scopes
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}


def _quota_resource(keyword: str) -> str:
    if keyword.startswith("count_"):
        return "count/" + keyword[len("count_"):].replace("_", ".")
    return keyword.replace("_", ".")


def limit_range(name: str = "limits", *items: Object) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"limits": list(items)},
    }


def configmap(name: str) -> Object:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": NAMESPACE}, "data": {}}


async def create(ctx: APIContext, resource_type: ResourceType, obj: Object, *, dry_run: bool = False) -> Object:
    """Admit and store a new object as the create handler does; return what was stored."""
    obj = copy.deepcopy(obj)
    objects.prepare_create(obj)
    name = obj["metadata"]["name"]
    request = AdmissionRequest("CREATE", resource_type, None, NAMESPACE, name, obj, None, dry_run)
    async with ctx.write_lock(resource_type, NAMESPACE):
        await write.admit(ctx, request)
        if dry_run:
            return obj
        try:
            await ctx.store.create(storage.object_key(resource_type, NAMESPACE, name), storage.encode(obj))
        except BaseException:
            await write.rollback(request)
            raise
    return obj


async def update(ctx: APIContext, resource_type: ResourceType, obj: Object, subresource: str | None = None) -> Object:
    """Admit and store a changed object over the stored one, as the update handler does."""
    name = obj["metadata"]["name"]
    current, revision = await ctx.read(resource_type, NAMESPACE, name)
    new = copy.deepcopy(obj)
    new["metadata"] = {**current["metadata"], **{k: v for k, v in new["metadata"].items() if k != "resourceVersion"}}
    request = AdmissionRequest("UPDATE", resource_type, subresource, NAMESPACE, name, new, current, False)
    async with ctx.write_lock(resource_type, NAMESPACE):
        await write.admit(ctx, request)
        try:
            await ctx.store.update(
                storage.object_key(resource_type, NAMESPACE, name), storage.encode(new), expected_revision=revision
            )
        except BaseException:
            await write.rollback(request)
            raise
    return new


async def delete(ctx: APIContext, resource_type: ResourceType, name: str, **options: Any) -> None:
    await write.delete_one(ctx, resource_type, NAMESPACE, name, dict(options), False)


async def read(ctx: APIContext, resource_type: ResourceType, name: str) -> Object:
    obj, _ = await ctx.read(resource_type, NAMESPACE, name)
    return obj


async def quota_used(ctx: APIContext, name: str = "quota") -> dict[str, str]:
    stored = await read(ctx, QUOTAS, name)
    used: dict[str, str] = stored.get("status", {}).get("used", {})
    return used
