"""Every served kind through kubectl and the Python client: create, get, list, patch, watch, delete."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config, dynamic, watch

from tests.apiserver.server_thread import kubectl_binary, run_kubectl

POD_SPEC = {"containers": [{"name": "c", "image": "busybox:1.36"}]}
TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": POD_SPEC}

MANIFESTS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Pod", "spec": POD_SPEC},
    {"apiVersion": "v1", "kind": "Service", "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]}},
    {"apiVersion": "v1", "kind": "Endpoints", "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}]},
    {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}},
    {"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "b"}},
    {"apiVersion": "v1", "kind": "ServiceAccount"},
    {
        "apiVersion": "v1",
        "kind": "Event",
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "NS"},
        "reason": "Test",
        "message": "hello",
        "type": "Normal",
    },
    {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    },
    {"apiVersion": "v1", "kind": "ResourceQuota", "spec": {"hard": {"configmaps": "100"}}},
    {"apiVersion": "v1", "kind": "LimitRange", "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}},
    {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "spec": {"replicas": 1, "selector": {"app": "x"}, "template": TEMPLATE},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
    },
    {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE},
    },
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}},
    },
    {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.2.3"]}],
        "ports": [{"port": 80, "protocol": "TCP"}],
    },
    {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "spec": {
            "rules": [
                {
                    "host": "example.test",
                    "http": {
                        "paths": [
                            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}
                        ]
                    },
                }
            ]
        },
    },
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15}},
    {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "pykube.test/ctl",
        "reportingInstance": "i1",
        "action": "Testing",
        "reason": "Test",
        "type": "Normal",
        "regarding": {"kind": "Pod", "name": "p", "namespace": "NS"},
    },
]

CLUSTER_MANIFESTS: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "Node", "spec": {}},
    {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/pv"}},
    },
    {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "spec": {"controller": "pykube.test/ingress"}},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "pykube.test/hostpath"},
    {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "value": 1000},
]


def kind_id(manifest: dict[str, Any]) -> str:
    return f"{manifest['apiVersion']}/{manifest['kind']}"


@pytest.fixture(scope="module")
def dynamic_client(kubeconfig: Path) -> Iterator[dynamic.DynamicClient]:
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield dynamic.DynamicClient(api_client)
    finally:
        api_client.close()


@pytest.fixture(scope="module")
def namespace(kubeconfig: Path) -> str:
    name = f"k-{uuid.uuid4().hex[:8]}"
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        client.CoreV1Api(api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    finally:
        api_client.close()
    return name


def named(manifest: dict[str, Any], name: str, namespace: str | None) -> dict[str, Any]:
    body = json.loads(json.dumps(manifest).replace('"NS"', json.dumps(namespace or "default")))
    body["metadata"] = {"name": name, "labels": {"suite": "every-kind"}}
    if namespace:
        body["metadata"]["namespace"] = namespace
    return body


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    if kubectl_binary() is None:
        pytest.skip("kubectl not found on PATH")
    return run_kubectl(kubeconfig, *args, input=input)


@pytest.mark.parametrize("manifest", MANIFESTS + CLUSTER_MANIFESTS, ids=kind_id)
def test_kubectl_lifecycle(kubeconfig: Path, namespace: str, manifest: dict[str, Any]) -> None:
    namespaced = manifest in MANIFESTS
    name = f"kc-{uuid.uuid4().hex[:6]}"
    body = named(manifest, name, namespace if namespaced else None)
    scope = ["-n", namespace] if namespaced else []
    resource = f"{manifest['kind'].lower()}.{manifest['apiVersion'].rpartition('/')[0] or ''}".rstrip(".")
    if manifest["apiVersion"] == "v1":
        resource = manifest["kind"].lower()

    applied = kubectl(kubeconfig, "apply", *scope, "-f", "-", input=yaml.safe_dump(body))
    assert applied.returncode == 0, applied.stderr
    got = kubectl(kubeconfig, "get", resource, name, *scope, "-o", "json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["metadata"]["name"] == name
    listed = kubectl(kubeconfig, "get", resource, *scope, "-l", "suite=every-kind", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert any(line.endswith("/" + name) for line in listed.stdout.split())
    labeled = kubectl(kubeconfig, "label", resource, name, *scope, "extra=yes")
    assert labeled.returncode == 0, labeled.stderr
    deleted = kubectl(kubeconfig, "delete", resource, name, *scope, "--wait=false")
    assert deleted.returncode == 0, deleted.stderr


@pytest.mark.parametrize("manifest", MANIFESTS + CLUSTER_MANIFESTS, ids=kind_id)
def test_python_client_lifecycle(dynamic_client: dynamic.DynamicClient, namespace: str, manifest: dict[str, Any]) -> None:
    namespaced = manifest in MANIFESTS
    name = f"py-{uuid.uuid4().hex[:6]}"
    api = dynamic_client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
    scope = {"namespace": namespace} if namespaced else {}
    start = api.get(**scope).metadata.resourceVersion

    created = api.create(body=named(manifest, name, namespace if namespaced else None), **scope)
    assert created.metadata.uid
    fetched = api.get(name=name, **scope)
    assert fetched.metadata.resourceVersion == created.metadata.resourceVersion
    patched = api.patch(
        name=name, body={"metadata": {"annotations": {"patched": "yes"}}}, content_type="application/merge-patch+json", **scope
    )
    assert patched.metadata.annotations["patched"] == "yes"
    api.delete(name=name, **scope)

    events = []
    for event in api.watch(resource_version=start, timeout=5, **scope):
        if event["object"].metadata.name == name:
            events.append(event["type"])
        if len(events) >= 3:
            break
    assert events[:2] == ["ADDED", "MODIFIED"]
