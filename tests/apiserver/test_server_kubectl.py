"""kubectl against a real pykube API server over TLS with the admin kubeconfig."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.apiserver.server_thread import run_kubectl

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        ports:
        - containerPort: 8080
"""


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"kubectl failed ({result.returncode}): {result.stderr}"
    return result.stdout


@pytest.fixture
def namespace(kubectl: Path) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    ok(run_kubectl(kubectl, "create", "namespace", name))
    return name


def test_version_and_api_resources(kubectl: Path) -> None:
    version = json.loads(ok(run_kubectl(kubectl, "version", "-o", "json")))
    assert version["serverVersion"]["major"] == "1"
    resources = ok(run_kubectl(kubectl, "api-resources", "-o", "name"))
    for name in ["pods", "deployments.apps", "jobs.batch", "ingresses.networking.k8s.io", "leases.coordination.k8s.io"]:
        assert name in resources.split()


def test_default_namespaces_listed(kubectl: Path) -> None:
    names = ok(run_kubectl(kubectl, "get", "namespaces", "-o", "name")).split()
    for name in ["namespace/default", "namespace/kube-system", "namespace/kube-public", "namespace/kube-node-lease"]:
        assert name in names


def test_apply_get_scale_delete_deployment(kubectl: Path, namespace: str) -> None:
    assert "deployment.apps/web created" in ok(run_kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))
    assert "unchanged" in ok(run_kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))

    obj = json.loads(ok(run_kubectl(kubectl, "get", "deployment", "web", "-n", namespace, "-o", "json")))
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert obj["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]

    table = ok(run_kubectl(kubectl, "get", "deployments", "-n", namespace))
    assert table.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.split("\n")[1].split()[:2] == ["web", "0/2"]

    ok(run_kubectl(kubectl, "scale", "deployment/web", "-n", namespace, "--replicas=5"))
    scaled = json.loads(ok(run_kubectl(kubectl, "get", "deployment", "web", "-n", namespace, "-o", "json")))
    assert scaled["spec"]["replicas"] == 5
    assert scaled["metadata"]["generation"] == 2

    assert 'deployment.apps "web" deleted' in ok(run_kubectl(kubectl, "delete", "deployment", "web", "-n", namespace))
    missing = run_kubectl(kubectl, "get", "deployment", "web", "-n", namespace)
    assert missing.returncode != 0
    assert 'deployments.apps "web" not found' in missing.stderr


def test_apply_change_updates_by_patch(kubectl: Path, namespace: str) -> None:
    ok(run_kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))
    changed = DEPLOYMENT.replace("busybox:1.36", "busybox:1.37").replace("replicas: 2", "replicas: 3")
    assert "configured" in ok(run_kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=changed))
    obj = json.loads(ok(run_kubectl(kubectl, "get", "deployment", "web", "-n", namespace, "-o", "json")))
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert obj["spec"]["replicas"] == 3


def test_invalid_object_names_field(kubectl: Path, namespace: str) -> None:
    bad = DEPLOYMENT.replace("        image: busybox:1.36\n", "")
    result = run_kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=bad)
    assert result.returncode != 0
    assert "spec.template.spec.containers[0].image: Required value" in result.stderr


def test_unknown_field_rejected_strict(kubectl: Path, namespace: str) -> None:
    bad = DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n")
    result = run_kubectl(kubectl, "create", "-n", namespace, "-f", "-", input=bad)
    assert result.returncode != 0
    assert 'unknown field "spec.replicaz"' in result.stderr


def test_label_selector_and_patch(kubectl: Path, namespace: str) -> None:
    for name, tier in [("a", "front"), ("b", "back"), ("c", "front")]:
        ok(run_kubectl(kubectl, "create", "configmap", name, "-n", namespace, f"--from-literal=tier={tier}"))
        ok(run_kubectl(kubectl, "label", "configmap", name, "-n", namespace, f"tier={tier}"))
    front = ok(run_kubectl(kubectl, "get", "configmaps", "-n", namespace, "-l", "tier=front", "-o", "name")).split()
    assert front == ["configmap/a", "configmap/c"]
    ok(run_kubectl(kubectl, "patch", "configmap", "a", "-n", namespace, "--type=merge", "-p", '{"data":{"x":"1"}}'))
    data = json.loads(ok(run_kubectl(kubectl, "get", "configmap", "a", "-n", namespace, "-o", "json")))["data"]
    assert data == {"tier": "front", "x": "1"}


def test_get_watch_prints_changes(kubectl: Path, namespace: str) -> None:
    ok(run_kubectl(kubectl, "create", "configmap", "watched", "-n", namespace))
    binary_args = ["get", "configmaps", "-n", namespace, "-w", "--request-timeout=3s"]
    result = run_kubectl(kubectl, *binary_args, timeout=30)
    assert "watched" in result.stdout


def test_explain_prints_description(kubectl: Path) -> None:
    text = ok(run_kubectl(kubectl, "explain", "deployment.spec.replicas"))
    assert "replicas" in text.lower()
    assert "integer" in text.lower()


def test_describe_deployment(kubectl: Path, namespace: str) -> None:
    ok(run_kubectl(kubectl, "apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))
    text = ok(run_kubectl(kubectl, "describe", "deployment", "web", "-n", namespace))
    assert "Replicas:" in text
    assert "busybox:1.36" in text


def test_delete_namespace_marks_terminating(kubectl: Path) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    ok(run_kubectl(kubectl, "create", "namespace", name))
    ok(run_kubectl(kubectl, "delete", "namespace", name, "--wait=false"))
    phase = ok(run_kubectl(kubectl, "get", "namespace", name, "-o", "jsonpath={.status.phase}"))
    assert phase == "Terminating"
    refused = run_kubectl(kubectl, "create", "configmap", "x", "-n", name)
    assert refused.returncode != 0
    assert "because it is being terminated" in refused.stderr
