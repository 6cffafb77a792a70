"""Pod defaults: a whole defaulted Pod compared with what Kubernetes 1.32 stores."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_control.apiserver.resources import ResourceType, by_kind
from pykube_control.apiserver.validation.pod_defaults import image_pull_policy
from pykube_control.apiserver.validation.registry import apply_defaults


def served(group: str, kind: str) -> ResourceType:
    """Return the served resource of ``kind``, failing the import when it is not served."""
    resource = by_kind(group, kind)
    assert resource is not None
    return resource


POD = served("", "Pod")

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}


def test_pod_defaults_whole() -> None:
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {"limits": {"cpu": "500m"}},
                    "readinessProbe": {"httpGet": {"port": 80}},
                    "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                }
            ],
            "volumes": [{"name": "scratch"}, {"name": "cfg", "configMap": {"name": "settings"}}],
        },
    }
    apply_defaults(POD, pod)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx",
                    "imagePullPolicy": "Always",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m"}, "requests": {"cpu": "500m"}},
                    "readinessProbe": {
                        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                        "timeoutSeconds": 1,
                        "periodSeconds": 10,
                        "successThreshold": 1,
                        "failureThreshold": 3,
                    },
                    "env": [
                        {"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}
                    ],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "settings", "defaultMode": 420}},
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "priority": 0,
            "preemptionPolicy": "PreemptLowerPriority",
            "tolerations": [NOT_READY, UNREACHABLE],
        },
    }


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        pytest.param("nginx", "Always", id="no tag"),
        pytest.param("nginx:latest", "Always", id="latest"),
        pytest.param("nginx:1.27", "IfNotPresent", id="tag"),
        pytest.param("registry.local:5000/nginx", "Always", id="registry port no tag"),
        pytest.param("registry.local:5000/nginx:1.27", "IfNotPresent", id="registry port tag"),
        pytest.param("nginx@sha256:" + "a" * 64, "IfNotPresent", id="digest"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_explicit_values_kept() -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "containers": [{"name": "app", "image": "nginx", "imagePullPolicy": "Never"}],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "serviceAccountName": "builder",
            "enableServiceLinks": False,
        },
    }
    apply_defaults(POD, pod)
    spec = pod["spec"]
    assert spec["containers"][0]["imagePullPolicy"] == "Never"
    assert spec["restartPolicy"] == "Never"
    assert spec["terminationGracePeriodSeconds"] == 0
    assert spec["serviceAccountName"] == "builder"
    assert spec["serviceAccount"] == "builder"
    assert spec["enableServiceLinks"] is False


def test_existing_toleration_not_duplicated() -> None:
    own = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}
    pod: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}], "tolerations": [own]},
    }
    apply_defaults(POD, pod)
    assert pod["spec"]["tolerations"] == [own, UNREACHABLE]


def test_host_network_host_port() -> None:
    pod: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"hostNetwork": True, "containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 8080}]}]},
    }
    apply_defaults(POD, pod)
    assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]


def test_defaults_idempotent() -> None:
    pod: dict[str, Any] = {"metadata": {"name": "web", "namespace": "default"}, "spec": {"containers": [{"name": "a", "image": "b"}]}}
    apply_defaults(POD, pod)
    once = repr(pod)
    apply_defaults(POD, pod)
    assert repr(pod) == once
