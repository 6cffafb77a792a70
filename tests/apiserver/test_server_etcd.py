"""The API server on an etcd store: the same client calls as on SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer
from tests.apiserver.server_thread import ServerThread
from tests.store.etcd_server import EtcdCluster, start_etcd


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdCluster]:
    cluster = start_etcd(1)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def etcd_server(etcd: EtcdCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAPIServer]:
    data_dir = tmp_path_factory.mktemp("apiserver-etcd")
    store_url = "etcd://" + ",".join(etcd.endpoints)
    thread = ServerThread(APIServerConfig(data_dir=data_dir, host="127.0.0.1", port=0, store_url=store_url))
    try:
        yield thread.start()
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def core(etcd_server: RunningAPIServer) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(etcd_server.kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def test_crud_and_watch_on_etcd(core: client.CoreV1Api) -> None:
    namespace = f"e-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm"), data={"a": "1"})
    created = core.create_namespaced_config_map(namespace, body)
    core.patch_namespaced_config_map("cm", namespace, {"data": {"a": "2"}})
    created.data = {"a": "3"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("cm", namespace, created)
    assert info.value.status == 409
    core.delete_namespaced_config_map("cm", namespace)

    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=10):
        seen.append((event["type"], (event["object"].data or {}).get("a")))
        if len(seen) == 3:
            stream.stop()
    assert seen == [("ADDED", "1"), ("MODIFIED", "2"), ("DELETED", "2")]


def test_system_namespaces_on_etcd(core: client.CoreV1Api) -> None:
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
