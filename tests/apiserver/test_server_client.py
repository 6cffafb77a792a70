"""The official kubernetes Python client against a real pykube API server."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from pykube_control.apiserver.app import RunningAPIServer


@pytest.fixture(scope="module")
def api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def configmap(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": "t"}), data=data)


def test_configmap_crud(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, configmap("one", a="1"))
    assert created.metadata.uid
    assert created.metadata.resource_version
    read = core.read_namespaced_config_map("one", namespace)
    assert read.data == {"a": "1"}
    read.data["b"] = "2"
    replaced = core.replace_namespaced_config_map("one", namespace, read)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_config_map("one", namespace)
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("one", namespace)
    assert info.value.status == 404


def test_stale_update_conflicts(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    created = core.create_namespaced_config_map(namespace, configmap("c", a="1"))
    created.data = {"a": "2"}
    core.replace_namespaced_config_map("c", namespace, created)
    created.data = {"a": "3"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("c", namespace, created)
    assert info.value.status == 409
    assert "the object has been modified" in info.value.body


def test_create_existing_conflicts(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, configmap("dup"))
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(namespace, configmap("dup"))
    assert info.value.status == 409
    assert json.loads(info.value.body)["message"] == 'configmaps "dup" already exists'


def test_generate_name(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
    first = core.create_namespaced_config_map(namespace, body)
    second = core.create_namespaced_config_map(namespace, body)
    assert first.metadata.name.startswith("gen-")
    assert len(first.metadata.name) == len("gen-") + 5
    assert first.metadata.name != second.metadata.name


def test_list_pages_with_limit(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for i in range(7):
        core.create_namespaced_config_map(namespace, configmap(f"p{i}"))
    names: list[str] = []
    page = core.list_namespaced_config_map(namespace, limit=3)
    names += [item.metadata.name for item in page.items]
    while page.metadata._continue:
        page = core.list_namespaced_config_map(namespace, limit=3, _continue=page.metadata._continue)
        names += [item.metadata.name for item in page.items]
    assert names == [f"p{i}" for i in range(7)]


def test_empty_list_has_items(api: client.ApiClient, namespace: str) -> None:
    listed = client.CoreV1Api(api).list_namespaced_secret(namespace)
    assert listed.items == []


def test_watch_from_resource_version(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, configmap("w1"))
    core.patch_namespaced_config_map("w1", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w1", namespace)
    seen = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            stream.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


def test_watch_label_transition(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="m")))
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"sel": "yes"}}})
    core.patch_namespaced_config_map("m", namespace, {"metadata": {"labels": {"sel": "no"}}})
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map, namespace, label_selector="sel=yes", resource_version=start, timeout_seconds=5
    ):
        seen.append(event["type"])
        if len(seen) == 2:
            stream.stop()
    assert seen == ["ADDED", "DELETED"]


def test_concurrent_watchers_all_see_event(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    start = core.list_namespaced_config_map(namespace).metadata.resource_version
    results: list[str] = []
    lock = threading.Lock()

    def follow() -> None:
        stream = watch.Watch()
        for event in stream.stream(core.list_namespaced_config_map, namespace, resource_version=start, timeout_seconds=10):
            with lock:
                results.append(event["object"].metadata.name)
            stream.stop()

    threads = [threading.Thread(target=follow) for _ in range(10)]
    for thread in threads:
        thread.start()
    core.create_namespaced_config_map(namespace, configmap("fan"))
    for thread in threads:
        thread.join(timeout=20)
    assert results == ["fan"] * 10


def test_deployment_scale_subresource(api: client.ApiClient, namespace: str) -> None:
    apps = client.AppsV1Api(api)
    body = {
        "metadata": {"name": "d"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "d"}},
            "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
        },
    }
    apps.create_namespaced_deployment(namespace, body)
    scale = apps.read_namespaced_deployment_scale("d", namespace)
    assert scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("d", namespace).spec.replicas == 4


def test_unauthenticated_rejected(server: RunningAPIServer) -> None:
    configuration = client.Configuration(host=server.url)
    configuration.ssl_ca_cert = str(server.config.data_dir / "pki" / "ca.crt")
    api_client = client.ApiClient(configuration)
    try:
        with pytest.raises(ApiException) as info:
            client.CoreV1Api(api_client).list_namespace()
        assert info.value.status == 401
    finally:
        api_client.close()


def test_wrong_token_rejected(server: RunningAPIServer) -> None:
    configuration = client.Configuration(host=server.url, api_key={"authorization": "Bearer wrong"})
    configuration.ssl_ca_cert = str(server.config.data_dir / "pki" / "ca.crt")
    api_client = client.ApiClient(configuration)
    try:
        with pytest.raises(ApiException) as info:
            client.CoreV1Api(api_client).list_namespace()
        assert info.value.status == 401
    finally:
        api_client.close()
