"""Service validation: types, ports, nodePorts, headless and ExternalName, cluster IP updates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from pykube_core.errors import ErrorType
from pykube_control.apiserver.resources import ResourceType, by_kind
from pykube_control.apiserver.validation.registry import (
    apply_defaults,
    prepare_update,
    validate_create,
    validate_update,
)


def served(group: str, kind: str) -> ResourceType:
    """Return the served resource of ``kind``, failing the import when it is not served."""
    resource = by_kind(group, kind)
    assert resource is not None
    return resource


SERVICE = served("", "Service")


def service(**spec: Any) -> dict[str, Any]:
    body = {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}
    obj = {"metadata": {"name": "web", "namespace": "default"}, "spec": body}
    apply_defaults(SERVICE, obj)
    return obj


def pairs(errors: list[Any]) -> list[tuple[str, ErrorType]]:
    return [(error.field, error.error_type) for error in errors]


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({}, id="cluster ip"),
        pytest.param({"clusterIP": "None", "ports": []}, id="headless without ports"),
        pytest.param({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}, id="node port"),
        pytest.param({"type": "LoadBalancer"}, id="load balancer"),
        pytest.param({"type": "ExternalName", "externalName": "db.example.com.", "ports": []}, id="external name"),
        pytest.param({"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}, id="two named ports"),
    ],
)
def test_service_valid(spec: dict[str, Any]) -> None:
    assert validate_create(SERVICE, service(**spec)) == []


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"ports": []}, [("spec.ports", ErrorType.REQUIRED)], id="ports missing"),
        pytest.param(
            {"ports": [{"port": 0}]},
            # targetPort defaults to the port, so it is reported too, as in Kubernetes.
            [("spec.ports[0].port", ErrorType.INVALID), ("spec.ports[0].targetPort", ErrorType.INVALID)],
            id="port zero",
        ),
        pytest.param({"ports": [{"port": 80, "protocol": "ICMP"}]}, [("spec.ports[0].protocol", ErrorType.NOT_SUPPORTED)], id="protocol"),
        pytest.param(
            {"ports": [{"port": 80}, {"name": "b", "port": 81}]},
            [("spec.ports[0].name", ErrorType.REQUIRED)],
            id="unnamed of two",
        ),
        pytest.param(
            {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]},
            [("spec.ports[1].name", ErrorType.DUPLICATE)],
            id="duplicate names",
        ),
        pytest.param(
            {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]},
            [("spec.ports[1]", ErrorType.DUPLICATE)],
            id="duplicate port",
        ),
        pytest.param(
            {"ports": [{"port": 80, "targetPort": "http_x"}]},
            [("spec.ports[0].targetPort", ErrorType.INVALID)],
            id="target port name",
        ),
        pytest.param(
            {"type": "NodePort", "ports": [{"port": 80, "nodePort": 80}]},
            [("spec.ports[0].nodePort", ErrorType.INVALID)],
            id="node port range",
        ),
        pytest.param(
            {"ports": [{"port": 80, "nodePort": 30080}]},
            [("spec.ports[0].nodePort", ErrorType.FORBIDDEN)],
            id="node port on cluster ip",
        ),
        pytest.param({"type": "Magic"}, [("spec.type", ErrorType.NOT_SUPPORTED)], id="type"),
        pytest.param({"sessionAffinity": "Cookie"}, [("spec.sessionAffinity", ErrorType.NOT_SUPPORTED)], id="affinity"),
        pytest.param({"type": "ExternalName", "ports": []}, [("spec.externalName", ErrorType.REQUIRED)], id="externalName missing"),
        pytest.param(
            {"type": "ExternalName", "externalName": "Bad_Host", "ports": []},
            [("spec.externalName", ErrorType.INVALID)],
            id="externalName invalid",
        ),
        pytest.param(
            {"type": "NodePort", "clusterIP": "None"},
            [("spec.clusterIPs[0]", ErrorType.INVALID)],
            id="headless node port",
        ),
        pytest.param({"clusterIP": "10.0.0.300"}, [("spec.clusterIPs[0]", ErrorType.INVALID)], id="cluster ip syntax"),
        pytest.param({"selector": {"app": "-"}}, [("spec.selector", ErrorType.INVALID)], id="selector labels"),
    ],
)
def test_service_invalid(spec: dict[str, Any], expected: list[tuple[str, ErrorType]]) -> None:
    assert pairs(validate_create(SERVICE, service(**spec))) == expected


def test_node_port_message() -> None:
    errors = validate_create(SERVICE, service(type="NodePort", ports=[{"port": 80, "nodePort": 80}]))
    expected = (
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    )
    assert str(errors[0]) == expected


def test_cluster_ip_may_not_change() -> None:
    old = service(clusterIP="10.96.0.10")
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.11"
    new["spec"]["clusterIPs"] = ["10.96.0.11"]
    errors = validate_update(SERVICE, new, old)
    assert pairs(errors) == [("spec.clusterIPs[0]", ErrorType.INVALID)]
    assert errors[0].detail == "may not change once set"


def test_cluster_ip_unset_rejected() -> None:
    old = service(clusterIP="10.96.0.10")
    new = service()
    assert pairs(validate_update(SERVICE, new, old)) == [("spec.clusterIPs[0]", ErrorType.REQUIRED)]


def test_prepare_update_keeps_allocations() -> None:
    old = service(type="NodePort", clusterIP="10.96.0.10", ports=[{"port": 80, "nodePort": 30080}])
    new = service(type="NodePort")
    prepare_update(SERVICE, new, old)
    assert new["spec"]["clusterIP"] == "10.96.0.10"
    assert new["spec"]["ports"][0]["nodePort"] == 30080
    assert validate_update(SERVICE, new, old) == []


def test_change_to_external_name_allowed() -> None:
    old = service(clusterIP="10.96.0.10")
    new = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"},
    }
    apply_defaults(SERVICE, new)
    assert validate_update(SERVICE, new, old) == []
