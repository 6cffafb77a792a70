"""kubectl against a real pykube API server over TLS with the admin kubeconfig."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.apiserver.server_thread import kubectl_binary, run_kubectl

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


class Kubectl:
    """One kubectl binary bound to the test server's kubeconfig."""

    def __init__(self, binary: str, kubeconfig: Path, version: str) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.version = version

    def __call__(self, *args: str, input: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubeconfig, *args, input=input, timeout=timeout, binary=self.binary)


@pytest.fixture(params=["current", "1.20"])
def k(request: pytest.FixtureRequest, kubeconfig: Path) -> Kubectl:
    binary = kubectl_binary(request.param)
    if binary is None:
        pytest.skip(f"kubectl {request.param} not installed; scripts/setup unpacks Debian's 1.20 into .cache/")
    return Kubectl(binary, kubeconfig, request.param)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"kubectl failed ({result.returncode}): {result.stderr}"
    return result.stdout


@pytest.fixture
def namespace(k: Kubectl) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    ok(k("create", "namespace", name))
    return name


def test_version_and_api_resources(k: Kubectl) -> None:
    version = json.loads(ok(k("version", "-o", "json")))
    assert version["serverVersion"]["major"] == "1"
    resources = ok(k("api-resources", "-o", "name"))
    for name in ["pods", "deployments.apps", "jobs.batch", "ingresses.networking.k8s.io", "leases.coordination.k8s.io"]:
        assert name in resources.split()


def test_default_namespaces_listed(k: Kubectl) -> None:
    names = ok(k("get", "namespaces", "-o", "name")).split()
    for name in ["namespace/default", "namespace/kube-system", "namespace/kube-public", "namespace/kube-node-lease"]:
        assert name in names


def test_apply_get_scale_delete_deployment(k: Kubectl, namespace: str) -> None:
    assert "deployment.apps/web created" in ok(k("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))
    assert "unchanged" in ok(k("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))

    obj = json.loads(ok(k("get", "deployment", "web", "-n", namespace, "-o", "json")))
    assert obj["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert obj["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]

    table = ok(k("get", "deployments", "-n", namespace))
    assert table.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.split("\n")[1].split()[:2] == ["web", "0/2"]

    ok(k("scale", "deployment/web", "-n", namespace, "--replicas=5"))
    scaled = json.loads(ok(k("get", "deployment", "web", "-n", namespace, "-o", "json")))
    assert scaled["spec"]["replicas"] == 5
    assert scaled["metadata"]["generation"] == 2

    assert 'deployment.apps "web" deleted' in ok(k("delete", "deployment", "web", "-n", namespace))
    missing = k("get", "deployment", "web", "-n", namespace)
    assert missing.returncode != 0
    assert 'deployments.apps "web" not found' in missing.stderr


def test_apply_change_updates_by_patch(k: Kubectl, namespace: str) -> None:
    ok(k("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))
    changed = DEPLOYMENT.replace("busybox:1.36", "busybox:1.37").replace("replicas: 2", "replicas: 3")
    assert "configured" in ok(k("apply", "-n", namespace, "-f", "-", input=changed))
    obj = json.loads(ok(k("get", "deployment", "web", "-n", namespace, "-o", "json")))
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert obj["spec"]["replicas"] == 3


def test_invalid_object_names_field(k: Kubectl, namespace: str) -> None:
    bad = DEPLOYMENT.replace("        image: busybox:1.36\n", "")
    result = k("apply", "-n", namespace, "-f", "-", input=bad)
    assert result.returncode != 0
    assert "spec.template.spec.containers[0].image: Required value" in result.stderr


def test_unknown_field_rejected_strict(k: Kubectl, namespace: str) -> None:
    bad = DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  replicaz: 3\n")
    result = k("create", "-n", namespace, "-f", "-", input=bad)
    assert result.returncode != 0
    # kubectl 1.27+ leaves the check to the server (fieldValidation=Strict);
    # kubectl 1.20 checks against the OpenAPI v2 document itself.
    expected = 'unknown field "spec.replicaz"' if k.version == "current" else 'unknown field "replicaz"'
    assert expected in result.stderr


def test_label_selector_and_patch(k: Kubectl, namespace: str) -> None:
    for name, tier in [("a", "front"), ("b", "back"), ("c", "front")]:
        ok(k("create", "configmap", name, "-n", namespace, f"--from-literal=tier={tier}"))
        ok(k("label", "configmap", name, "-n", namespace, f"tier={tier}"))
    front = ok(k("get", "configmaps", "-n", namespace, "-l", "tier=front", "-o", "name")).split()
    assert front == ["configmap/a", "configmap/c"]
    ok(k("patch", "configmap", "a", "-n", namespace, "--type=merge", "-p", '{"data":{"x":"1"}}'))
    data = json.loads(ok(k("get", "configmap", "a", "-n", namespace, "-o", "json")))["data"]
    assert data == {"tier": "front", "x": "1"}


def test_get_watch_prints_changes(k: Kubectl, namespace: str) -> None:
    ok(k("create", "configmap", "watched", "-n", namespace))
    binary_args = ["get", "configmaps", "-n", namespace, "-w", "--request-timeout=3s"]
    result = k(*binary_args, timeout=30)
    assert "watched" in result.stdout


def test_explain_prints_description(k: Kubectl) -> None:
    text = ok(k("explain", "deployment.spec.replicas"))
    assert "replicas" in text.lower()
    assert "integer" in text.lower()


def test_describe_deployment(k: Kubectl, namespace: str) -> None:
    ok(k("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT))
    text = ok(k("describe", "deployment", "web", "-n", namespace))
    assert "Replicas:" in text
    assert "busybox:1.36" in text


def test_delete_namespace_marks_terminating(k: Kubectl) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    ok(k("create", "namespace", name))
    ok(k("delete", "namespace", name, "--wait=false"))
    phase = ok(k("get", "namespace", name, "-o", "jsonpath={.status.phase}"))
    assert phase == "Terminating"
    refused = k("create", "configmap", "x", "-n", name)
    assert refused.returncode != 0
    assert "because it is being terminated" in refused.stderr
