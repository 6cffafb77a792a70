"""Validation of the remaining kinds: config, storage, policy, networking, cluster, events."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from pykube_core.errors import ErrorType
from pykube_control.apiserver.resources import by_kind
from pykube_control.apiserver.validation.registry import (
    apply_defaults,
    validate_create,
    validate_status_update,
    validate_update,
)


def resource(group: str, kind: str) -> Any:
    found = by_kind(group, kind)
    assert found is not None
    return found


def build(group: str, kind: str, **body: Any) -> dict[str, Any]:
    """Build a defaulted object named "x" (namespaced when the kind is) with ``body`` as top-level members."""
    served = resource(group, kind)
    meta: dict[str, Any] = {"name": "x"}
    if served.namespaced:
        meta["namespace"] = "default"
    obj = {"metadata": meta, **body}
    apply_defaults(served, obj)
    return obj


def pairs(errors: list[Any]) -> list[tuple[str, ErrorType]]:
    return [(error.field, error.error_type) for error in errors]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


PV_SPEC = {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/srv"}}
PVC_SPEC = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
INGRESS_PATH = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
EVENT_TIME = "2025-01-01T00:00:00.000000Z"

VALID = [
    pytest.param(("", "ConfigMap", {"data": {"a.conf": "x"}, "binaryData": {"b": b64("y")}}), id="configmap"),
    pytest.param(("", "Secret", {"data": {"password": b64("p")}}), id="secret"),
    pytest.param(("", "Secret", {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}), id="tls secret"),
    pytest.param(("", "ServiceAccount", {}), id="serviceaccount"),
    pytest.param(("", "PersistentVolume", {"spec": PV_SPEC}), id="pv"),
    pytest.param(("", "PersistentVolumeClaim", {"spec": PVC_SPEC}), id="pvc"),
    pytest.param(("storage.k8s.io", "StorageClass", {"provisioner": "example.com/hostpath"}), id="storageclass"),
    pytest.param(("", "ResourceQuota", {"spec": {"hard": {"pods": "10", "requests.cpu": "4", "count/jobs.batch": "5"}}}), id="quota"),
    pytest.param(
        ("", "LimitRange", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}}]}}),
        id="limitrange",
    ),
    pytest.param(("networking.k8s.io", "Ingress", {"spec": {"rules": [{"host": "a.example.com", "http": {"paths": [INGRESS_PATH]}}]}}), id="ingress"),
    pytest.param(("networking.k8s.io", "IngressClass", {"spec": {"controller": "example.com/ingress"}}), id="ingressclass"),
    pytest.param(("scheduling.k8s.io", "PriorityClass", {"value": 1000}), id="priorityclass"),
    pytest.param(("", "Namespace", {}), id="namespace"),
    pytest.param(("", "Node", {"spec": {"podCIDRs": ["10.244.1.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]}}), id="node"),
    pytest.param(("coordination.k8s.io", "Lease", {"spec": {"holderIdentity": "a", "leaseDurationSeconds": 15}}), id="lease"),
    pytest.param(("", "Endpoints", {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}), id="endpoints"),
    pytest.param(
        ("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}),
        id="endpointslice",
    ),
    pytest.param(("", "Event", {"involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"}, "reason": "Started"}), id="core event"),
    pytest.param(
        (
            "events.k8s.io",
            "Event",
            {
                "eventTime": EVENT_TIME, "type": "Normal", "reason": "Started", "action": "Start",
                "reportingController": "example.com/agent", "reportingInstance": "agent-1",
                "regarding": {"kind": "Pod", "namespace": "default", "name": "p"},
            },
        ),
        id="events event",
    ),
]


@pytest.mark.parametrize("case", VALID)
def test_kind_valid(case: tuple[str, str, dict[str, Any]]) -> None:
    group, kind, body = case
    assert validate_create(resource(group, kind), build(group, kind, **copy.deepcopy(body))) == []


INVALID = [
    pytest.param(("", "ConfigMap", {"data": {"bad key": "x"}}), [("data[bad key]", ErrorType.INVALID)], id="configmap key"),
    pytest.param(("", "ConfigMap", {"data": {"a": "x" * (1024 * 1024 + 1)}}), [("", ErrorType.TOO_LONG)], id="configmap size"),
    pytest.param(
        ("", "ConfigMap", {"data": {"a": "x"}, "binaryData": {"a": b64("x")}}),
        [("data[a]", ErrorType.INVALID)],
        id="configmap duplicate key",
    ),
    pytest.param(("", "Secret", {"data": {"a": "not base64!"}}), [("data[a]", ErrorType.INVALID)], id="secret base64"),
    pytest.param(("", "Secret", {"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}), [("data[tls.key]", ErrorType.REQUIRED)], id="tls key"),
    pytest.param(
        ("", "Secret", {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("{")}}),
        [("data[.dockerconfigjson]", ErrorType.INVALID)],
        id="docker config json",
    ),
    pytest.param(
        ("", "Secret", {"type": "kubernetes.io/service-account-token"}),
        [("metadata.annotations[kubernetes.io/service-account.name]", ErrorType.REQUIRED)],
        id="token annotation",
    ),
    pytest.param(("", "PersistentVolume", {"spec": {**PV_SPEC, "accessModes": []}}), [("spec.accessModes", ErrorType.REQUIRED)], id="pv access modes"),
    pytest.param(
        ("", "PersistentVolume", {"spec": {**PV_SPEC, "capacity": {"storage": "0"}}}),
        [("spec.capacity[storage]", ErrorType.INVALID)],
        id="pv zero capacity",
    ),
    pytest.param(
        ("", "PersistentVolume", {"spec": {**PV_SPEC, "persistentVolumeReclaimPolicy": "Keep"}}),
        [("spec.persistentVolumeReclaimPolicy", ErrorType.NOT_SUPPORTED)],
        id="pv reclaim policy",
    ),
    pytest.param(
        ("", "PersistentVolume", {"spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}),
        [("spec", ErrorType.REQUIRED)],
        id="pv no source",
    ),
    pytest.param(
        ("", "PersistentVolumeClaim", {"spec": {**PVC_SPEC, "accessModes": ["ReadSometimes"]}}),
        [("spec.accessModes", ErrorType.NOT_SUPPORTED)],
        id="pvc access mode",
    ),
    pytest.param(
        ("", "PersistentVolumeClaim", {"spec": {"accessModes": ["ReadWriteOnce"]}}),
        [("spec.resources[storage]", ErrorType.REQUIRED)],
        id="pvc storage missing",
    ),
    pytest.param(
        ("", "PersistentVolumeClaim", {"spec": {**PVC_SPEC, "volumeMode": "Raw"}}),
        [("spec.volumeMode", ErrorType.NOT_SUPPORTED)],
        id="pvc volume mode",
    ),
    pytest.param(("storage.k8s.io", "StorageClass", {}), [("provisioner", ErrorType.REQUIRED)], id="provisioner"),
    pytest.param(
        ("storage.k8s.io", "StorageClass", {"provisioner": "a", "reclaimPolicy": "Recycle"}),
        [("reclaimPolicy", ErrorType.NOT_SUPPORTED)],
        id="class reclaim policy",
    ),
    pytest.param(("", "ResourceQuota", {"spec": {"hard": {"widgets": "1"}}}), [("spec.hard[widgets]", ErrorType.INVALID)], id="quota resource"),
    pytest.param(("", "ResourceQuota", {"spec": {"hard": {"pods": "-1"}}}), [("spec.hard[pods]", ErrorType.INVALID)], id="quota negative"),
    pytest.param(
        ("", "LimitRange", {"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "2"}}]}}),
        # max defaults default and defaultRequest, so min is above those too.
        [
            ("spec.limits[0].min[cpu]", ErrorType.INVALID),
            ("spec.limits[0].defaultRequest[cpu]", ErrorType.INVALID),
            ("spec.limits[0].default[cpu]", ErrorType.INVALID),
        ],
        id="min above max",
    ),
    pytest.param(
        ("", "LimitRange", {"spec": {"limits": [{"type": "Container", "maxLimitRequestRatio": {"cpu": "500m"}}]}}),
        [("spec.limits[0].maxLimitRequestRatio[cpu]", ErrorType.INVALID)],
        id="ratio below one",
    ),
    pytest.param(
        ("", "LimitRange", {"spec": {"limits": [{"type": "Pod", "default": {"cpu": "1"}}]}}),
        [("spec.limits[0].default", ErrorType.FORBIDDEN)],
        id="pod default",
    ),
    pytest.param(("", "LimitRange", {"spec": {"limits": [{"type": "Volume"}]}}), [("spec.limits[0].type", ErrorType.INVALID)], id="limit type"),
    pytest.param(("networking.k8s.io", "Ingress", {"spec": {}}), [("spec", ErrorType.INVALID)], id="ingress empty"),
    pytest.param(
        ("networking.k8s.io", "Ingress", {"spec": {"rules": [{"http": {"paths": [{**INGRESS_PATH, "pathType": None}]}}]}}),
        [("spec.rules[0].http.paths[0].pathType", ErrorType.REQUIRED)],
        id="pathType missing",
    ),
    pytest.param(
        ("networking.k8s.io", "Ingress", {"spec": {"rules": [{"http": {"paths": [{**INGRESS_PATH, "pathType": "Regex"}]}}]}}),
        [("spec.rules[0].http.paths[0].pathType", ErrorType.NOT_SUPPORTED)],
        id="pathType unsupported",
    ),
    pytest.param(
        ("networking.k8s.io", "Ingress", {"spec": {"rules": [{"http": {"paths": [{**INGRESS_PATH, "path": "api"}]}}]}}),
        [("spec.rules[0].http.paths[0].path", ErrorType.INVALID)],
        id="relative path",
    ),
    pytest.param(
        ("networking.k8s.io", "Ingress", {"spec": {"rules": [{"http": {"paths": [{**INGRESS_PATH, "backend": {"service": {"name": "web", "port": {}}}}]}}]}}),
        [("spec.rules[0].http.paths[0].backend.service.port", ErrorType.REQUIRED)],
        id="backend port",
    ),
    pytest.param(
        ("networking.k8s.io", "Ingress", {"spec": {"rules": [{"host": "10.0.0.1", "http": {"paths": [INGRESS_PATH]}}]}}),
        [("spec.rules[0].host", ErrorType.INVALID)],
        id="host ip",
    ),
    pytest.param(("networking.k8s.io", "IngressClass", {"spec": {"controller": "nginx"}}), [("spec.controller", ErrorType.INVALID)], id="controller"),
    pytest.param(("scheduling.k8s.io", "PriorityClass", {"value": 2_000_000_000}), [("value", ErrorType.FORBIDDEN)], id="priority too high"),
    pytest.param(("scheduling.k8s.io", "PriorityClass", {"value": 1, "preemptionPolicy": "Always"}), [("preemptionPolicy", ErrorType.NOT_SUPPORTED)], id="preemption"),
    pytest.param(("", "Namespace", {"spec": {"finalizers": ["custom"]}}), [("spec.finalizers[0]", ErrorType.INVALID)], id="namespace finalizer"),
    pytest.param(("", "Node", {"spec": {"taints": [{"key": "a", "effect": "Evict"}]}}), [("spec.taints[0].effect", ErrorType.NOT_SUPPORTED)], id="taint effect"),
    pytest.param(("", "Node", {"spec": {"podCIDRs": ["10.244.1.0/33"]}}), [("spec.podCIDRs[0]", ErrorType.INVALID)], id="pod cidr"),
    pytest.param(("coordination.k8s.io", "Lease", {"spec": {"leaseDurationSeconds": 0}}), [("spec.leaseDurationSeconds", ErrorType.INVALID)], id="lease duration"),
    pytest.param(
        ("", "Endpoints", {"subsets": [{"addresses": [{"ip": "nope"}], "ports": [{"port": 80}]}]}),
        [("subsets[0].addresses[0].ip", ErrorType.INVALID)],
        id="endpoint ip",
    ),
    pytest.param(
        ("discovery.k8s.io", "EndpointSlice", {"addressType": "IPv4", "endpoints": [{"addresses": ["fd00::1"]}]}),
        [("endpoints[0].addresses[0]", ErrorType.INVALID)],
        id="slice address family",
    ),
    pytest.param(("discovery.k8s.io", "EndpointSlice", {"addressType": "IPX"}), [("addressType", ErrorType.NOT_SUPPORTED)], id="slice type"),
    pytest.param(
        ("", "Event", {"involvedObject": {"kind": "Pod", "namespace": "other", "name": "p"}}),
        [("involvedObject.namespace", ErrorType.INVALID)],
        id="core event namespace",
    ),
    pytest.param(
        (
            "events.k8s.io",
            "Event",
            {
                "eventTime": EVENT_TIME, "type": "Info", "reason": "Started", "action": "Start",
                "reportingController": "example.com/agent", "reportingInstance": "agent-1",
                "regarding": {"kind": "Pod", "namespace": "default", "name": "p"},
            },
        ),
        [("type", ErrorType.INVALID)],
        id="event type",
    ),
    pytest.param(
        ("events.k8s.io", "Event", {"type": "Normal", "regarding": {"namespace": "default"}}),
        [("eventTime", ErrorType.REQUIRED)],
        id="event time",
    ),
]


@pytest.mark.parametrize(("case", "expected"), INVALID)
def test_kind_invalid(case: tuple[str, str, dict[str, Any]], expected: list[tuple[str, ErrorType]]) -> None:
    group, kind, body = case
    assert pairs(validate_create(resource(group, kind), build(group, kind, **copy.deepcopy(body)))) == expected


# --- updates ---


def test_immutable_configmap_data() -> None:
    served = resource("", "ConfigMap")
    old = build("", "ConfigMap", data={"a": "1"}, immutable=True)
    new = build("", "ConfigMap", data={"a": "2"}, immutable=True)
    errors = validate_update(served, new, old)
    assert pairs(errors) == [("data", ErrorType.FORBIDDEN)]
    assert errors[0].detail == "field is immutable when `immutable` is set"


def test_mutable_configmap_data() -> None:
    served = resource("", "ConfigMap")
    old = build("", "ConfigMap", data={"a": "1"})
    assert validate_update(served, build("", "ConfigMap", data={"a": "2"}), old) == []


def test_secret_type_immutable() -> None:
    served = resource("", "Secret")
    old = build("", "Secret")
    new = build("", "Secret", type="example.com/custom")
    assert pairs(validate_update(served, new, old)) == [("type", ErrorType.INVALID)]


def bound_claim(storage: str) -> dict[str, Any]:
    spec = copy.deepcopy(PVC_SPEC)
    spec["resources"]["requests"]["storage"] = storage
    spec["volumeName"] = "pv-1"
    return build("", "PersistentVolumeClaim", spec=spec, status={"phase": "Bound"})


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        pytest.param("2Gi", [], id="grow"),
        pytest.param("512Mi", [("spec.resources.requests.storage", ErrorType.FORBIDDEN)], id="shrink"),
    ],
)
def test_claim_resize(storage: str, expected: list[tuple[str, ErrorType]]) -> None:
    served = resource("", "PersistentVolumeClaim")
    assert pairs(validate_update(served, bound_claim(storage), bound_claim("1Gi"))) == expected


def test_claim_spec_immutable() -> None:
    served = resource("", "PersistentVolumeClaim")
    old = bound_claim("1Gi")
    new = copy.deepcopy(old)
    new["spec"]["accessModes"] = ["ReadWriteMany"]
    assert pairs(validate_update(served, new, old)) == [("spec", ErrorType.FORBIDDEN)]


def test_claim_binding_allowed() -> None:
    served = resource("", "PersistentVolumeClaim")
    old = build("", "PersistentVolumeClaim", spec=copy.deepcopy(PVC_SPEC))
    new = copy.deepcopy(old)
    new["spec"]["volumeName"] = "pv-1"
    assert validate_update(served, new, old) == []


def test_storage_class_parameters_forbidden() -> None:
    served = resource("storage.k8s.io", "StorageClass")
    old = build("storage.k8s.io", "StorageClass", provisioner="a", parameters={"x": "1"})
    new = build("storage.k8s.io", "StorageClass", provisioner="a", parameters={"x": "2"})
    assert pairs(validate_update(served, new, old)) == [("parameters", ErrorType.FORBIDDEN)]


def test_priority_value_immutable() -> None:
    served = resource("scheduling.k8s.io", "PriorityClass")
    old = build("scheduling.k8s.io", "PriorityClass", value=1)
    new = build("scheduling.k8s.io", "PriorityClass", value=2)
    assert pairs(validate_update(served, new, old)) == [("value", ErrorType.FORBIDDEN)]


def test_pv_source_immutable() -> None:
    served = resource("", "PersistentVolume")
    old = build("", "PersistentVolume", spec=copy.deepcopy(PV_SPEC))
    new = copy.deepcopy(old)
    new["spec"]["hostPath"]["path"] = "/other"
    assert pairs(validate_update(served, new, old)) == [("spec.persistentvolumesource", ErrorType.FORBIDDEN)]


@pytest.mark.parametrize(
    ("deleting", "phase", "valid"),
    [
        pytest.param(False, "Active", True, id="active"),
        pytest.param(False, "Terminating", False, id="terminating without deletion"),
        pytest.param(True, "Terminating", True, id="terminating"),
    ],
)
def test_namespace_status(deleting: bool, phase: str, valid: bool) -> None:
    served = resource("", "Namespace")
    old = build("", "Namespace")
    new = copy.deepcopy(old)
    new["status"]["phase"] = phase
    if deleting:
        old["metadata"]["deletionTimestamp"] = new["metadata"]["deletionTimestamp"] = EVENT_TIME
    assert (validate_status_update(served, new, old) == []) is valid


def test_deployment_status_ready_above_replicas() -> None:
    served = resource("apps", "Deployment")
    old: dict[str, Any] = {"metadata": {"name": "x", "namespace": "default"}}
    new = {**old, "status": {"replicas": 1, "readyReplicas": 2, "availableReplicas": 1}}
    assert pairs(validate_status_update(served, new, old)) == [("status.readyReplicas", ErrorType.INVALID)]
