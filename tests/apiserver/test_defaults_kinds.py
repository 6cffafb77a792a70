"""Defaults of Service, Namespace, Secret, storage, policy and networking kinds."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pykube_control.apiserver.resources import by_kind
from pykube_control.apiserver.validation.registry import apply_defaults


def defaulted(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    served = by_kind(group, kind)
    assert served is not None
    apply_defaults(served, obj)
    return obj


def test_service_defaults_whole() -> None:
    service = defaulted("", "Service", {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert service["spec"] == {
        "selector": {"app": "web"},
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
    }


@pytest.mark.parametrize(
    ("spec", "key", "value"),
    [
        pytest.param({"type": "NodePort"}, "externalTrafficPolicy", "Cluster", id="node port traffic policy"),
        pytest.param({"type": "LoadBalancer"}, "allocateLoadBalancerNodePorts", True, id="load balancer node ports"),
        pytest.param({"clusterIP": "fd00::10"}, "ipFamilies", ["IPv6"], id="ipv6 family"),
        pytest.param({"clusterIP": "10.96.0.10"}, "clusterIPs", ["10.96.0.10"], id="cluster ips"),
        pytest.param(
            {"sessionAffinity": "ClientIP"},
            "sessionAffinityConfig",
            {"clientIP": {"timeoutSeconds": 10800}},
            id="client ip timeout",
        ),
    ],
)
def test_service_default(spec: dict[str, Any], key: str, value: Any) -> None:
    service = defaulted("", "Service", {"spec": {"ports": [{"port": 80}], **spec}})
    assert service["spec"][key] == value


def test_external_name_gets_no_families() -> None:
    service = defaulted("", "Service", {"spec": {"type": "ExternalName", "externalName": "db.example.com"}})
    assert "ipFamilies" not in service["spec"]
    assert "internalTrafficPolicy" not in service["spec"]


def test_service_named_target_port_kept() -> None:
    service = defaulted("", "Service", {"spec": {"ports": [{"port": 80, "targetPort": "http"}]}})
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_namespace_defaults() -> None:
    namespace = defaulted("", "Namespace", {"metadata": {"name": "team-a"}})
    assert namespace == {
        "metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "team-a"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def test_secret_string_data_merged() -> None:
    secret = defaulted("", "Secret", {"data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "new"}})
    assert secret == {"type": "Opaque", "data": {"a": "eA==", "b": base64.b64encode(b"new").decode()}}


def test_persistent_volume_defaults() -> None:
    volume = defaulted("", "PersistentVolume", {"spec": {}})
    assert volume == {"spec": {"persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}


def test_claim_defaults() -> None:
    claim = defaulted("", "PersistentVolumeClaim", {"spec": {}})
    assert claim == {"spec": {"volumeMode": "Filesystem"}, "status": {"phase": "Pending"}}


def test_storage_class_defaults() -> None:
    storage_class = defaulted("storage.k8s.io", "StorageClass", {"provisioner": "example.com/x"})
    assert storage_class == {"provisioner": "example.com/x", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}


def test_priority_class_defaults() -> None:
    priority_class = defaulted("scheduling.k8s.io", "PriorityClass", {"value": 10})
    assert priority_class["preemptionPolicy"] == "PreemptLowerPriority"


def test_limit_range_defaults() -> None:
    limit_range = defaulted(
        "", "LimitRange", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}}]}}
    )
    assert limit_range["spec"]["limits"][0] == {
        "type": "Container",
        "max": {"cpu": "2"},
        "min": {"memory": "64Mi"},
        "default": {"cpu": "2"},
        "defaultRequest": {"cpu": "2", "memory": "64Mi"},
    }


def test_endpoint_slice_port_defaults() -> None:
    endpoint_slice = defaulted("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", "ports": [{"port": 80}]})
    assert endpoint_slice["ports"] == [{"port": 80, "protocol": "TCP", "name": ""}]


def test_ingress_class_parameters_scope() -> None:
    ingress_class = defaulted(
        "networking.k8s.io", "IngressClass", {"spec": {"controller": "a.io/b", "parameters": {"kind": "K", "name": "n"}}}
    )
    assert ingress_class["spec"]["parameters"]["scope"] == "Cluster"


def test_node_allocatable_from_capacity() -> None:
    node = defaulted("", "Node", {"status": {"capacity": {"cpu": "4"}}})
    assert node["status"]["allocatable"] == {"cpu": "4"}
