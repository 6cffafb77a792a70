"""Pod validation: containers, ports, env, resources, volumes, probes, scheduling, updates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pykube_core.errors import ErrorType
from pykube_control.apiserver.resources import ResourceType, by_kind
from pykube_control.apiserver.validation.registry import apply_defaults, validate_create, validate_update


def served(group: str, kind: str) -> ResourceType:
    """Return the served resource of ``kind``, failing the import when it is not served."""
    resource = by_kind(group, kind)
    assert resource is not None
    return resource


POD = served("", "Pod")


def pod(**spec: Any) -> dict[str, Any]:
    """Build a defaulted, valid pod with ``spec`` members replaced."""
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}], **spec},
    }
    apply_defaults(POD, obj)
    return obj


def container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "nginx:1.27", **fields}


def pairs(errors: list[Any]) -> list[tuple[str, ErrorType]]:
    return [(error.field, error.error_type) for error in errors]


def test_pod_valid_passes() -> None:
    assert validate_create(POD, pod()) == []


CASES = [
    pytest.param({"containers": []}, [("spec.containers", ErrorType.REQUIRED)], id="no containers"),
    pytest.param(
        {"containers": [container(image="")]}, [("spec.containers[0].image", ErrorType.REQUIRED)], id="image missing"
    ),
    pytest.param(
        {"containers": [container(name="App")]}, [("spec.containers[0].name", ErrorType.INVALID)], id="name not label"
    ),
    pytest.param(
        {"containers": [container(), container()]}, [("spec.containers[1].name", ErrorType.DUPLICATE)], id="duplicate name"
    ),
    pytest.param(
        {"initContainers": [container()]}, [("spec.containers[0].name", ErrorType.DUPLICATE)], id="init app same name"
    ),
    pytest.param(
        {"containers": [container(ports=[{"containerPort": 0, "protocol": "TCP"}])]},
        [("spec.containers[0].ports[0].containerPort", ErrorType.REQUIRED)],
        id="containerPort missing",
    ),
    pytest.param(
        {"containers": [container(ports=[{"containerPort": 70000, "protocol": "TCP"}])]},
        [("spec.containers[0].ports[0].containerPort", ErrorType.INVALID)],
        id="containerPort range",
    ),
    pytest.param(
        {"containers": [container(ports=[{"containerPort": 80, "hostPort": -1, "protocol": "TCP"}])]},
        [("spec.containers[0].ports[0].hostPort", ErrorType.INVALID)],
        id="hostPort range",
    ),
    pytest.param(
        {"containers": [container(ports=[{"containerPort": 80, "protocol": "HTTP"}])]},
        [("spec.containers[0].ports[0].protocol", ErrorType.NOT_SUPPORTED)],
        id="protocol",
    ),
    pytest.param(
        {"containers": [container(ports=[{"name": "http_1", "containerPort": 80, "protocol": "TCP"}])]},
        [("spec.containers[0].ports[0].name", ErrorType.INVALID)],
        id="port name",
    ),
    pytest.param(
        {
            "containers": [
                container(
                    ports=[
                        {"name": "http", "containerPort": 80, "protocol": "TCP"},
                        {"name": "http", "containerPort": 81, "protocol": "TCP"},
                    ]
                )
            ]
        },
        [("spec.containers[0].ports[1].name", ErrorType.DUPLICATE)],
        id="duplicate port name",
    ),
    pytest.param(
        {
            "containers": [
                container(ports=[{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]),
                container(name="b", ports=[{"containerPort": 81, "hostPort": 8080, "protocol": "TCP"}]),
            ]
        },
        [("spec.containers[1].ports[0].hostPort", ErrorType.DUPLICATE)],
        id="hostPort conflict",
    ),
    pytest.param(
        {"containers": [container(env=[{"name": "A=B", "value": "x"}])]},
        [("spec.containers[0].env[0].name", ErrorType.INVALID)],
        id="env name",
    ),
    pytest.param(
        {"containers": [container(env=[{"name": "A", "valueFrom": {}}])]},
        [("spec.containers[0].env[0].valueFrom", ErrorType.INVALID)],
        id="valueFrom empty",
    ),
    pytest.param(
        {
            "containers": [
                container(
                    env=[
                        {
                            "name": "A",
                            "valueFrom": {
                                "configMapKeyRef": {"name": "c", "key": "k"},
                                "secretKeyRef": {"name": "s", "key": "k"},
                            },
                        }
                    ]
                )
            ]
        },
        [("spec.containers[0].env[0].valueFrom", ErrorType.INVALID)],
        id="valueFrom two sources",
    ),
    pytest.param(
        {"containers": [container(env=[{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.x"}}}])]},
        [("spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", ErrorType.NOT_SUPPORTED)],
        id="fieldRef path",
    ),
    pytest.param(
        {"containers": [container(resources={"requests": {"cpu": "-1"}})]},
        [("spec.containers[0].resources.requests[cpu]", ErrorType.INVALID)],
        id="negative request",
    ),
    pytest.param(
        {"containers": [container(resources={"limits": {"memory": "lots"}})]},
        # Defaulting copies the limit into requests, so both report it, as in Kubernetes.
        [
            ("spec.containers[0].resources.limits[memory]", ErrorType.INVALID),
            ("spec.containers[0].resources.requests[memory]", ErrorType.INVALID),
        ],
        id="quantity syntax",
    ),
    pytest.param(
        {"containers": [container(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}})]},
        [("spec.containers[0].resources.requests", ErrorType.INVALID)],
        id="request above limit",
    ),
    pytest.param(
        {"containers": [container(resources={"limits": {"gpus": "1"}})]},
        [
            ("spec.containers[0].resources.limits[gpus]", ErrorType.INVALID),
            ("spec.containers[0].resources.requests[gpus]", ErrorType.INVALID),
        ],
        id="nonstandard resource",
    ),
    pytest.param(
        {"volumes": [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]},
        [("spec.volumes[1].name", ErrorType.DUPLICATE)],
        id="duplicate volume",
    ),
    pytest.param(
        {"volumes": [{"name": "a", "emptyDir": {}, "hostPath": {"path": "/tmp"}}]},
        [("spec.volumes[0].hostPath", ErrorType.FORBIDDEN)],
        id="two volume sources",
    ),
    pytest.param(
        {"volumes": [{"name": "a", "persistentVolumeClaim": {}}]},
        [("spec.volumes[0].persistentVolumeClaim.claimName", ErrorType.REQUIRED)],
        id="pvc claimName",
    ),
    pytest.param(
        {"containers": [container(volumeMounts=[{"name": "missing", "mountPath": "/data"}])]},
        [("spec.containers[0].volumeMounts[0].name", ErrorType.NOT_FOUND)],
        id="mount unknown volume",
    ),
    pytest.param({"restartPolicy": "Sometimes"}, [("spec.restartPolicy", ErrorType.NOT_SUPPORTED)], id="restartPolicy"),
    pytest.param({"dnsPolicy": "Google"}, [("spec.dnsPolicy", ErrorType.NOT_SUPPORTED)], id="dnsPolicy"),
    pytest.param(
        {"containers": [container(livenessProbe={"periodSeconds": 10})]},
        [("spec.containers[0].livenessProbe", ErrorType.REQUIRED)],
        id="probe no handler",
    ),
    pytest.param(
        {"containers": [container(readinessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}})]},
        [("spec.containers[0].readinessProbe.tcpSocket", ErrorType.FORBIDDEN)],
        id="probe two handlers",
    ),
    pytest.param(
        {"containers": [container(livenessProbe={"tcpSocket": {"port": 80}, "periodSeconds": -1})]},
        [("spec.containers[0].livenessProbe.periodSeconds", ErrorType.INVALID)],
        id="probe negative period",
    ),
    pytest.param(
        {"containers": [container(livenessProbe={"tcpSocket": {"port": 80}, "successThreshold": 2})]},
        [("spec.containers[0].livenessProbe.successThreshold", ErrorType.INVALID)],
        id="liveness success threshold",
    ),
    pytest.param({"nodeSelector": {"disk": "-ssd"}}, [("spec.nodeSelector", ErrorType.INVALID)], id="nodeSelector"),
    pytest.param(
        {"tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]},
        [("spec.tolerations[0].operator", ErrorType.INVALID)],
        id="exists with value",
    ),
    pytest.param(
        {"tolerations": [{"key": "a", "operator": "Maybe"}]},
        [("spec.tolerations[0].operator", ErrorType.NOT_SUPPORTED)],
        id="toleration operator",
    ),
    pytest.param(
        {"tolerations": [{"key": "a", "operator": "Exists", "effect": "Evict"}]},
        [("spec.tolerations[0].effect", ErrorType.NOT_SUPPORTED)],
        id="toleration effect",
    ),
    pytest.param(
        {"tolerations": [{"operator": "Equal", "value": "x"}]},
        [("spec.tolerations[0].operator", ErrorType.INVALID)],
        id="empty key equal",
    ),
    pytest.param(
        {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}},
        [("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", ErrorType.REQUIRED)],
        id="affinity no terms",
    ),
    pytest.param(
        {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}}},
        [("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", ErrorType.REQUIRED)],
        id="pod affinity topologyKey",
    ),
    pytest.param(
        {"terminationGracePeriodSeconds": -5},
        [("spec.terminationGracePeriodSeconds", ErrorType.INVALID)],
        id="negative grace period",
    ),
    pytest.param(
        {"securityContext": {"runAsUser": -1}},
        [("spec.securityContext.runAsUser", ErrorType.INVALID)],
        id="negative runAsUser",
    ),
    pytest.param(
        {"containers": [container(securityContext={"privileged": True, "allowPrivilegeEscalation": False})]},
        [("spec.containers[0].securityContext", ErrorType.INVALID)],
        id="privileged without escalation",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), CASES)
def test_pod_invalid(spec: dict[str, Any], expected: list[tuple[str, ErrorType]]) -> None:
    assert pairs(validate_create(POD, pod(**spec))) == expected


def test_image_required_message() -> None:
    errors = validate_create(POD, pod(containers=[container(image="")]))
    assert [str(error) for error in errors] == ["spec.containers[0].image: Required value"]


def test_request_limit_message() -> None:
    errors = validate_create(POD, pod(containers=[container(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}})]))
    assert str(errors[0]) == 'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit'


def test_restart_policy_message() -> None:
    errors = validate_create(POD, pod(restartPolicy="Sometimes"))
    expected = 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    assert str(errors[0]) == expected


def test_sidecar_init_container_probe_allowed() -> None:
    sidecar = container(name="proxy", restartPolicy="Always", readinessProbe={"tcpSocket": {"port": 80}})
    assert validate_create(POD, pod(initContainers=[sidecar])) == []


def test_init_container_probe_forbidden() -> None:
    init = container(name="setup", readinessProbe={"tcpSocket": {"port": 80}})
    assert pairs(validate_create(POD, pod(initContainers=[init]))) == [
        ("spec.initContainers[0].readinessProbe", ErrorType.FORBIDDEN)
    ]


def test_volume_mount_existing_passes() -> None:
    spec = {
        "volumes": [{"name": "data", "configMap": {"name": "settings"}}],
        "containers": [container(volumeMounts=[{"name": "data", "mountPath": "/etc/app"}])],
    }
    assert validate_create(POD, pod(**spec)) == []


# --- updates ---


@pytest.mark.parametrize(
    ("change", "allowed"),
    [
        pytest.param(lambda spec: spec["containers"][0].update(image="nginx:1.28"), True, id="image"),
        pytest.param(lambda spec: spec.update(activeDeadlineSeconds=60), True, id="deadline set"),
        pytest.param(lambda spec: spec["tolerations"].append({"key": "x", "operator": "Exists"}), True, id="toleration added"),
        pytest.param(lambda spec: spec["tolerations"].pop(), False, id="toleration removed"),
        pytest.param(lambda spec: spec["containers"][0].update(name="other"), False, id="container name"),
        pytest.param(lambda spec: spec.update(nodeSelector={"a": "b"}), False, id="nodeSelector"),
        pytest.param(lambda spec: spec.update(restartPolicy="Never"), False, id="restartPolicy"),
        pytest.param(lambda spec: spec.update(terminationGracePeriodSeconds=10), False, id="grace period"),
    ],
)
def test_pod_update(change: Any, allowed: bool) -> None:
    old = pod()
    new = copy.deepcopy(old)
    change(new["spec"])
    errors = validate_update(POD, new, old)
    assert (errors == []) is allowed
    if not allowed:
        assert pairs(errors) == [("spec", ErrorType.FORBIDDEN)]
        assert errors[0].detail.startswith("pod updates may not change fields other than `spec.containers[*].image`")


def test_deadline_may_only_shrink() -> None:
    old = pod(activeDeadlineSeconds=60)
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 120
    assert pairs(validate_update(POD, new, old)) == [("spec.activeDeadlineSeconds", ErrorType.INVALID)]
