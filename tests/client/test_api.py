"""APIClient against a real API server: verbs, credentials, error mapping and retries."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.apiserver.auth import certs
from pykube_control.client import errors
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig, load_client_config
from pykube_control.client.resource import CONFIGMAPS, NAMESPACES, PODS, resource_for, resource_path
from pykube_control.client.transport import RetryPolicy
from tests.client.conftest import ServerHandle, configmap, pod

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05)


def admin_config(server: RunningAPIServer) -> ClientConfig:
    assert server.kubeconfig is not None
    return load_client_config(server.kubeconfig)


def certificate_config(server: RunningAPIServer, user: str, groups: tuple[str, ...]) -> ClientConfig:
    ca = certs.load_ca(certs.PKI.in_data_dir(server.config.data_dir))
    certificate, key = ca.issue_client_certificate(user, groups)
    return dataclasses.replace(admin_config(server), token=None, client_certificate_data=certificate, client_key_data=key)


@pytest.mark.parametrize(
    ("namespace", "name", "subresource", "expected"),
    [
        pytest.param(None, None, None, "/api/v1/pods", id="all namespaces"),
        pytest.param("web", "front", "status", "/api/v1/namespaces/web/pods/front/status", id="subresource"),
        pytest.param("web", "a b", None, "/api/v1/namespaces/web/pods/a%20b", id="quoted name"),
    ],
)
def test_resource_path_pods(namespace: str | None, name: str | None, subresource: str | None, expected: str) -> None:
    assert resource_path(PODS, namespace, name, subresource) == expected


def test_resource_path_cluster_scoped() -> None:
    assert resource_path(NAMESPACES, "ignored", "kube-system") == "/api/v1/namespaces/kube-system"


def test_resource_path_group() -> None:
    deployments = resource_for("apps", "v1", "deployments")
    assert resource_path(deployments, "web") == "/apis/apps/v1/namespaces/web/deployments"


def test_resource_for_unknown() -> None:
    with pytest.raises(KeyError, match="widgets is not served"):
        resource_for("example.com", "v1", "widgets")


async def test_crud_roundtrip(client: APIClient) -> None:
    created = await client.create(CONFIGMAPS, configmap("settings", level="1"))
    assert created["metadata"]["resourceVersion"]

    fetched = await client.get(CONFIGMAPS, "settings")
    assert fetched["data"] == {"level": "1"}

    fetched["data"]["level"] = "2"
    updated = await client.update(CONFIGMAPS, fetched)
    assert updated["data"] == {"level": "2"}

    listed = await client.list(CONFIGMAPS, namespace="default")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["settings"]

    await client.delete(CONFIGMAPS, "settings")
    with pytest.raises(errors.NotFound):
        await client.get(CONFIGMAPS, "settings")


@pytest.mark.parametrize(
    ("patch_type", "patch", "expected"),
    [
        pytest.param("merge", {"data": {"b": "2", "a": None}}, {"b": "2"}, id="merge"),
        pytest.param("strategic", {"data": {"b": "2"}}, {"a": "1", "b": "2"}, id="strategic"),
        pytest.param("json", [{"op": "replace", "path": "/data/a", "value": "9"}], {"a": "9"}, id="json"),
    ],
)
async def test_patch_types(client: APIClient, patch_type: str, patch: object, expected: dict[str, str]) -> None:
    await client.create(CONFIGMAPS, configmap("patched", a="1"))
    patched = await client.patch(CONFIGMAPS, "patched", patch, patch_type=patch_type)  # type: ignore[arg-type]
    assert patched["data"] == expected


async def test_list_label_selector(client: APIClient) -> None:
    labelled = configmap("labelled")
    labelled["metadata"]["labels"] = {"tier": "web"}
    await client.create(CONFIGMAPS, labelled)
    await client.create(CONFIGMAPS, configmap("plain"))
    listed = await client.list(CONFIGMAPS, label_selector="tier=web")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["labelled"]


async def test_list_pages(client: APIClient) -> None:
    for index in range(5):
        await client.create(CONFIGMAPS, configmap(f"page-{index}"))
    pages = [page async for page in client.list_pages(CONFIGMAPS, namespace="default", limit=2)]
    names = [item["metadata"]["name"] for page in pages for item in page["items"]]
    assert len(pages) == 3
    assert names == [f"page-{index}" for index in range(5)]


async def test_update_status_and_bind(client: APIClient) -> None:
    await client.create(PODS, pod("web"))
    await client.bind("web", "node-1")
    bound = await client.get(PODS, "web")
    assert bound["spec"]["nodeName"] == "node-1"

    bound["status"]["phase"] = "Running"
    updated = await client.update_status(PODS, bound)
    assert updated["status"]["phase"] == "Running"


async def test_bind_twice_conflict(client: APIClient) -> None:
    await client.create(PODS, pod("web"))
    await client.bind("web", "node-1")
    with pytest.raises(errors.Conflict, match="already assigned"):
        await client.bind("web", "node-2")


async def test_evict_deletes_pod(client: APIClient) -> None:
    await client.create(PODS, pod("doomed", node="node-1"))
    await client.evict("doomed", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await client.get(PODS, "doomed")


async def test_create_event(client: APIClient) -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web"},
        "reason": "Tested",
        "message": "created by a test",
        "type": "Normal",
    }
    created = await client.create_event(event)
    assert created["reason"] == "Tested"


async def test_delete_precondition_conflict(client: APIClient) -> None:
    await client.create(CONFIGMAPS, configmap("guarded"))
    with pytest.raises(errors.Conflict):
        await client.delete(CONFIGMAPS, "guarded", precondition_uid="not-the-uid")


async def test_error_already_exists(client: APIClient) -> None:
    await client.create(CONFIGMAPS, configmap("twice"))
    with pytest.raises(errors.AlreadyExists) as caught:
        await client.create(CONFIGMAPS, configmap("twice"))
    assert caught.value.code == 409
    assert 'configmaps "twice" already exists' in caught.value.message


async def test_error_conflict_stale_update(client: APIClient) -> None:
    created = await client.create(CONFIGMAPS, configmap("stale"))
    await client.patch(CONFIGMAPS, "stale", {"data": {"x": "1"}})
    with pytest.raises(errors.Conflict) as caught:
        await client.update(CONFIGMAPS, created)
    assert caught.value.reason == "Conflict"


async def test_error_invalid(client: APIClient) -> None:
    with pytest.raises(errors.Invalid) as caught:
        await client.create(CONFIGMAPS, configmap("Not_A_Name"))
    assert caught.value.code == 422
    assert "Not_A_Name" in caught.value.message


async def test_error_not_found_status(client: APIClient) -> None:
    with pytest.raises(errors.NotFound) as caught:
        await client.get(CONFIGMAPS, "absent", namespace="default")
    assert caught.value.status["details"]["name"] == "absent"


async def test_error_gone_compacted(handle: ServerHandle) -> None:
    async with APIClient(ClientConfig.for_url(handle.url)) as api:
        first = await api.create(CONFIGMAPS, configmap("old"))
        await api.patch(CONFIGMAPS, "old", {"data": {"x": "1"}})
        # After a restart the watch cache starts at the current revision, so
        # older revisions come from the store's history, which is compacted.
        await handle.stop()
        running = await handle.start()
        await api.patch(CONFIGMAPS, "old", {"data": {"x": "2"}})
        await running.store.compact(await running.store.current_revision())
        events = api.watch(CONFIGMAPS, resource_version=first["metadata"]["resourceVersion"], timeout_seconds=5)
        with pytest.raises(errors.Gone) as caught:
            async for _ in events:
                pass
    assert caught.value.code == 410


async def test_error_unauthorized(server: RunningAPIServer) -> None:
    config = dataclasses.replace(admin_config(server), token="wrong-token")
    async with APIClient(config) as api:
        with pytest.raises(errors.Unauthorized):
            await api.list(NAMESPACES)


async def test_error_forbidden(server: RunningAPIServer) -> None:
    async with APIClient(certificate_config(server, "jane", ())) as api:
        with pytest.raises(errors.Forbidden) as caught:
            await api.list(PODS, namespace="default")
    assert 'User "jane" cannot list resource "pods"' in caught.value.message


async def test_client_certificate_admin(server: RunningAPIServer) -> None:
    async with APIClient(certificate_config(server, "root", ("system:masters",))) as api:
        listed = await api.list(NAMESPACES)
    assert "kube-system" in [item["metadata"]["name"] for item in listed["items"]]


async def test_untrusted_ca_rejected(server: RunningAPIServer) -> None:
    config = dataclasses.replace(admin_config(server), ca_data=None)
    async with APIClient(config, retry=FAST_RETRY) as api:
        with pytest.raises(errors.APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await api.list(NAMESPACES)


async def test_insecure_skip_tls_verify(server: RunningAPIServer) -> None:
    config = dataclasses.replace(admin_config(server), ca_data=None, insecure_skip_tls_verify=True)
    async with APIClient(config) as api:
        listed = await api.list(NAMESPACES)
    assert listed["kind"] == "NamespaceList"


async def test_token_file_reread(server: RunningAPIServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("wrong\n")
    config = dataclasses.replace(admin_config(server), token=None, token_file=token_file)
    async with APIClient(config) as api:
        with pytest.raises(errors.Unauthorized):
            await api.list(NAMESPACES)
        assert server.admin_token is not None
        token_file.write_text(server.admin_token + "\n")
        # Make the modification time differ even on coarse-grained file systems.
        stat = token_file.stat()
        import os

        os.utime(token_file, (stat.st_atime, stat.st_mtime + 5))
        listed = await api.list(NAMESPACES)
    assert listed["kind"] == "NamespaceList"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_connection_refused_raises(tmp_path: Path) -> None:
    config = ClientConfig.for_url(f"http://127.0.0.1:{free_port()}")
    async with APIClient(config, retry=FAST_RETRY) as api:
        with pytest.raises(errors.APIConnectionError, match="after 3 attempt"):
            await api.list(NAMESPACES)


async def test_get_retries_until_server_starts(tmp_path: Path) -> None:
    port = free_port()
    config = ClientConfig.for_url(f"http://127.0.0.1:{port}")
    patient = RetryPolicy(attempts=100, initial_delay=0.05, max_delay=0.1)

    async def start_later() -> RunningAPIServer:
        await asyncio.sleep(0.3)
        return await start_apiserver(APIServerConfig(data_dir=tmp_path, host="127.0.0.1", port=port, insecure=True))

    starting = asyncio.create_task(start_later())
    async with APIClient(config, retry=patient) as api:
        listed = await api.list(NAMESPACES)
    running = await starting
    await running.stop()
    assert listed["kind"] == "NamespaceList"


async def test_plain_http_client(plain_client: APIClient) -> None:
    created = await plain_client.create(CONFIGMAPS, configmap("plain"))
    assert created["metadata"]["name"] == "plain"
