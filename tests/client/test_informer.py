"""Informer against a real API server: list and watch, handlers, indexes, restarts and relists."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.indexer import BY_NAMESPACE, BY_OWNER_UID, Indexer
from pykube_control.client.informer import Informer
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import CONFIGMAPS, NAMESPACES
from tests.client.conftest import ServerHandle, configmap

WAIT = 15.0

Object = dict[str, Any]


class Recorder:
    """Handlers that record every notification as (event, name, extra) and wake waiters."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []
        self._changed = asyncio.Condition()

    async def on_add(self, obj: Object) -> None:
        await self._record(("add", obj["metadata"]["name"], None))

    async def on_update(self, old: Object, new: Object) -> None:
        await self._record(("update", new["metadata"]["name"], (new.get("data") or {}).get("v")))

    async def on_delete(self, obj: Object, final_state_unknown: bool) -> None:
        await self._record(("delete", obj["metadata"]["name"], final_state_unknown))

    async def _record(self, event: tuple[str, str, Any]) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(self, event: tuple[str, str, Any]) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: event in self.events), WAIT)


def named(name: str, value: str = "0", owner_uid: str | None = None, namespace: str = "default") -> Object:
    obj = configmap(name, namespace, v=value)
    if owner_uid:
        obj["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
        ]
    return obj


@pytest.fixture
async def api(handle: ServerHandle) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(handle.url)) as client:
        yield client


def informer_of(api: APIClient, recorder: Recorder, **options: Any) -> Informer:
    informer = Informer(api, CONFIGMAPS, page_size=2, backoff_initial=0.05, backoff_max=0.2, **options)
    informer.add_handlers(recorder.on_add, recorder.on_update, recorder.on_delete)
    return informer


async def test_informer_list_then_watch(api: APIClient) -> None:
    for index in range(5):
        await api.create(CONFIGMAPS, named(f"cm-{index}"))
    recorder = Recorder()
    informer = informer_of(api, recorder, namespace="default")
    informer.start()
    try:
        assert await informer.wait_for_sync(WAIT)
        assert sorted(informer.store.keys()) == [f"default/cm-{index}" for index in range(5)]
        assert [event[0] for event in recorder.events] == ["add"] * 5

        await api.create(CONFIGMAPS, named("late"))
        await recorder.wait_for(("add", "late", None))
        await api.patch(CONFIGMAPS, "late", {"data": {"v": "1"}})
        await recorder.wait_for(("update", "late", "1"))
        await api.delete(CONFIGMAPS, "late")
        await recorder.wait_for(("delete", "late", False))
    finally:
        await informer.stop()
    assert "default/late" not in informer.store


async def test_informer_cluster_scoped(api: APIClient) -> None:
    informer = Informer(api, NAMESPACES)
    informer.start()
    try:
        assert await informer.wait_for_sync(WAIT)
        assert informer.store.get("kube-system") is not None
    finally:
        await informer.stop()


async def test_informer_label_selector(api: APIClient) -> None:
    selected = named("selected")
    selected["metadata"]["labels"] = {"app": "web"}
    await api.create(CONFIGMAPS, selected)
    await api.create(CONFIGMAPS, named("ignored"))
    informer = Informer(api, CONFIGMAPS, label_selector="app=web")
    informer.start()
    try:
        assert await informer.wait_for_sync(WAIT)
        assert informer.store.keys() == ["default/selected"]
    finally:
        await informer.stop()


async def test_informer_indexes(api: APIClient) -> None:
    await api.create(CONFIGMAPS, named("child-a", owner_uid="uid-1"))
    await api.create(CONFIGMAPS, named("child-b", owner_uid="uid-1"))
    await api.create(CONFIGMAPS, named("orphan"))
    await api.create(CONFIGMAPS, named("elsewhere", namespace="kube-system"))
    informer = Informer(api, CONFIGMAPS, indexers={"by_value": lambda obj: [obj["data"]["v"]] if obj.get("data") else []})
    informer.start()
    try:
        assert await informer.wait_for_sync(WAIT)
        owned = sorted(obj["metadata"]["name"] for obj in informer.store.by_index(BY_OWNER_UID, "uid-1"))
        in_system = [obj["metadata"]["name"] for obj in informer.store.by_index(BY_NAMESPACE, "kube-system")]
        by_value = informer.store.by_index("by_value", "0")
    finally:
        await informer.stop()
    assert owned == ["child-a", "child-b"]
    assert "elsewhere" in in_system
    assert len(by_value) == 4


def test_indexer_update_moves_index() -> None:
    indexer = Indexer()
    indexer.put("default/a", named("a", owner_uid="uid-1"))
    indexer.put("default/a", named("a", owner_uid="uid-2"))
    assert indexer.by_index(BY_OWNER_UID, "uid-1") == []
    assert len(indexer.by_index(BY_OWNER_UID, "uid-2")) == 1
    assert indexer.index_values(BY_OWNER_UID) == ["uid-2"]


def test_indexer_added_later_builds() -> None:
    indexer = Indexer()
    indexer.put("default/a", named("a", value="x"))
    indexer.add_indexer("by_value", lambda obj: [obj["data"]["v"]])
    assert [obj["metadata"]["name"] for obj in indexer.by_index("by_value", "x")] == ["a"]


def test_indexer_unknown_index() -> None:
    with pytest.raises(KeyError, match="no indexer named 'absent'"):
        Indexer().by_index("absent", "x")


async def test_informer_resync(api: APIClient) -> None:
    await api.create(CONFIGMAPS, named("steady", value="7"))
    recorder = Recorder()
    informer = informer_of(api, recorder, resync_period=0.1)
    informer.start()
    try:
        await recorder.wait_for(("update", "steady", "7"))
    finally:
        await informer.stop()
    assert recorder.events[0] == ("add", "steady", None)


async def test_informer_handler_error_logged(api: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    await api.create(CONFIGMAPS, named("boom"))
    recorder = Recorder()

    async def failing(obj: Object) -> None:
        raise RuntimeError("handler broke")

    informer = Informer(api, CONFIGMAPS)
    informer.add_handlers(on_add=failing)
    informer.add_handlers(on_add=recorder.on_add)
    informer.start()
    try:
        await recorder.wait_for(("add", "boom", None))
    finally:
        await informer.stop()
    assert "informer handler failed" in caplog.text


async def test_informer_survives_restart(api: APIClient, handle: ServerHandle) -> None:
    await api.create(CONFIGMAPS, named("kept"))
    await api.create(CONFIGMAPS, named("removed"))
    recorder = Recorder()
    informer = informer_of(api, recorder)
    informer.start()
    try:
        assert await informer.wait_for_sync(WAIT)
        await handle.stop()
        # Changes made while the informer cannot reach its server, through another one on the same store.
        other = await handle.start(port=0)
        async with APIClient(ClientConfig.for_url(other.url)) as side:
            await side.delete(CONFIGMAPS, "removed")
            await side.create(CONFIGMAPS, named("created"))
        await other.stop()
        await handle.start()

        await recorder.wait_for(("add", "created", None))
        await recorder.wait_for(("delete", "removed", False))
        await api.patch(CONFIGMAPS, "kept", {"data": {"v": "after"}})
        await recorder.wait_for(("update", "kept", "after"))
    finally:
        await informer.stop()
    assert sorted(informer.store.keys()) == ["default/created", "default/kept"]


async def test_informer_relists_on_gone(api: APIClient, handle: ServerHandle) -> None:
    await api.create(CONFIGMAPS, named("kept"))
    await api.create(CONFIGMAPS, named("removed"))
    recorder = Recorder()
    informer = informer_of(api, recorder)
    informer.start()
    try:
        assert await informer.wait_for_sync(WAIT)
        listed_version = informer.resource_version
        await handle.stop()
        other = await handle.start(port=0)
        async with APIClient(ClientConfig.for_url(other.url)) as side:
            await side.delete(CONFIGMAPS, "removed")
            await side.create(CONFIGMAPS, named("created"))
        # Compacting past the informer's resourceVersion makes its resumed watch fail with 410 Gone.
        await other.store.compact(await other.store.current_revision())
        await other.stop()
        await handle.start()

        await recorder.wait_for(("delete", "removed", True))
        await recorder.wait_for(("add", "created", None))
    finally:
        await informer.stop()
    assert sorted(informer.store.keys()) == ["default/created", "default/kept"]
    assert informer.resource_version != listed_version
    assert ("update", "kept", "0") in recorder.events
