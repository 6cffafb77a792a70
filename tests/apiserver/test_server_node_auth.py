"""A node agent's client certificate against the real server: its own objects only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from pykube_control.apiserver.app import RunningAPIServer
from pykube_control.apiserver.auth import certs
from pykube_control.apiserver.auth.kubeconfig import build_kubeconfig, dump_kubeconfig


def node_client(server: RunningAPIServer, tmp_path: Path, node: str) -> client.ApiClient:
    pki = certs.PKI.in_data_dir(server.config.data_dir)
    ca = certs.load_ca(pki)
    cert_pem, key_pem = ca.issue_client_certificate(f"system:node:{node}", ["system:nodes"])
    kubeconfig = build_kubeconfig(server.url, ca.certificate_pem, client_certificate_pem=cert_pem, client_key_pem=key_pem)
    path = tmp_path / f"{node}.kubeconfig"
    path.write_bytes(dump_kubeconfig(kubeconfig))
    return config.new_client_from_config(config_file=str(path))


@pytest.fixture
def admin(kubeconfig: Path) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def node_api(server: RunningAPIServer, tmp_path: Path) -> Iterator[client.CoreV1Api]:
    api_client = node_client(server, tmp_path, "n1")
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def pod(name: str, node: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


def test_node_registers_itself(node_api: client.CoreV1Api) -> None:
    created = node_api.create_node({"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}})
    assert created.metadata.name == "n1"
    node_api.patch_node_status("n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})


def test_node_cannot_touch_other_node(node_api: client.CoreV1Api, admin: client.CoreV1Api) -> None:
    admin.create_node({"metadata": {"name": "n2"}})
    with pytest.raises(ApiException) as info:
        node_api.patch_node("n2", {"metadata": {"labels": {"stolen": "yes"}}})
    assert info.value.status == 403
    assert 'User \\"system:node:n1\\" cannot patch resource \\"nodes\\"' in info.value.body


def test_node_sees_only_its_pods(node_api: client.CoreV1Api, admin: client.CoreV1Api) -> None:
    admin.create_namespaced_pod("default", pod("on-n1", "n1"))
    admin.create_namespaced_pod("default", pod("on-n2", "n2"))
    mine = node_api.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1")
    assert [p.metadata.name for p in mine.items] == ["on-n1"]
    with pytest.raises(ApiException) as info:
        node_api.list_pod_for_all_namespaces()
    assert info.value.status == 403
    with pytest.raises(ApiException) as other:
        node_api.read_namespaced_pod("on-n2", "default")
    assert other.value.status == 403
    node_api.patch_namespaced_pod_status("on-n1", "default", {"status": {"phase": "Running"}})


def test_node_cannot_delete_namespaces(node_api: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as info:
        node_api.delete_namespace("default")
    assert info.value.status == 403


def test_kubeconfig_written_is_valid_yaml(server: RunningAPIServer) -> None:
    assert server.kubeconfig is not None
    document = yaml.safe_load(server.kubeconfig.read_text())
    assert document["clusters"][0]["cluster"]["server"] == server.url
