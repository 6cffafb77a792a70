"""Tests of the schema tree and the structure check (JSON types, unknown fields)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from pykube_control.apiserver import schema
from pykube_control.apiserver.resources import RESOURCES, ResourceType, by_kind

Object = dict[str, Any]


def resource(group: str, kind: str) -> ResourceType:
    found = by_kind(group, kind)
    assert found is not None, f"{kind} is not in the resources table"
    return found


DEPLOYMENT = resource("apps", "Deployment")
POD = resource("", "Pod")
SERVICE = resource("", "Service")
SECRET = resource("", "Secret")
LEASE = resource("coordination.k8s.io", "Lease")


def container() -> Object:
    return {
        "name": "web",
        "image": "nginx:1.27",
        "ports": [{"containerPort": 80, "name": "http"}],
        "env": [{"name": "MODE", "value": "prod"}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.25}},
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
    }


def pod_spec() -> Object:
    return {"containers": [container()], "terminationGracePeriodSeconds": 30, "restartPolicy": "Always"}


def deployment() -> Object:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()},
        },
        "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]},
    }


def pod() -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-0", "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": pod_spec(),
        "status": {"phase": "Running", "startTime": "2024-05-01T10:00:01Z"},
    }


def service() -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    }


def secret() -> Object:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"token": "aGVsbG8="}}


def lease() -> Object:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "a", "renewTime": "2024-05-01T10:00:00.123456Z", "leaseDurationSeconds": 15},
    }


_PATH_PART = re.compile(r"([^.\[\]]+)|\[([^\]]+)\]")


def with_value(obj: Object, path: str, value: object) -> Object:
    """Return a copy of ``obj`` with ``value`` at ``path`` ("spec.ports[0].port", "labels[app]")."""
    result = copy.deepcopy(obj)
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(path):
        parts.append(int(index) if index.isdigit() else index or name)
    current: Any = result
    for part in parts[:-1]:
        current = current[part]
    current[parts[-1]] = value
    return result


@pytest.mark.parametrize(
    ("served", "obj"),
    [
        pytest.param(DEPLOYMENT, deployment(), id="deployment"),
        pytest.param(POD, pod(), id="pod"),
        pytest.param(SERVICE, service(), id="service"),
        pytest.param(SECRET, secret(), id="secret with base64 data"),
        pytest.param(LEASE, lease(), id="lease with micro time"),
    ],
)
def test_check_valid_objects(served: ResourceType, obj: Object) -> None:
    result = schema.check_structure(served, obj)

    assert result.errors == []
    assert result.unknown_fields == []
    assert result.ok


@pytest.mark.parametrize(
    ("served", "obj", "path", "value", "message"),
    [
        pytest.param(
            DEPLOYMENT, deployment(), "spec.replicas", "3",
            'spec.replicas: Invalid value: "3": spec.replicas in body must be of type integer: "3"',
            id="string for int32",
        ),
        pytest.param(
            DEPLOYMENT, deployment(), "spec.replicas", True,
            "spec.replicas: Invalid value: true: spec.replicas in body must be of type integer: true",
            id="bool for int32",
        ),
        pytest.param(
            DEPLOYMENT, deployment(), "spec.replicas", 1.5,
            "spec.replicas: Invalid value: 1.5: spec.replicas in body must be of type integer: 1.5",
            id="float for int32",
        ),
        pytest.param(
            DEPLOYMENT, deployment(), "spec.template.spec.containers", {"name": "web"},
            'spec.template.spec.containers: Invalid value: {"name": "web"}: '
            'spec.template.spec.containers in body must be of type array: {"name": "web"}',
            id="map for list",
        ),
        pytest.param(
            DEPLOYMENT, deployment(), "spec.selector", ["app"],
            'spec.selector: Invalid value: ["app"]: spec.selector in body must be of type object: ["app"]',
            id="list for struct",
        ),
        pytest.param(
            DEPLOYMENT, deployment(), "spec.template.spec.containers[0].ports[0].containerPort", "80",
            'spec.template.spec.containers[0].ports[0].containerPort: Invalid value: "80": '
            'spec.template.spec.containers[0].ports[0].containerPort in body must be of type integer: "80"',
            id="string in list element",
        ),
        pytest.param(
            POD, pod(), "spec.containers[0].ports[0].containerPort", 2**31,
            "spec.containers[0].ports[0].containerPort: Invalid value: 2147483648: "
            "spec.containers[0].ports[0].containerPort in body must be an int32, "
            "between -2147483648 and 2147483647",
            id="int32 out of range",
        ),
        pytest.param(
            POD, pod(), "spec.terminationGracePeriodSeconds", 2**63,
            "spec.terminationGracePeriodSeconds: Invalid value: 9223372036854775808: "
            "spec.terminationGracePeriodSeconds in body must be an int64, "
            "between -9223372036854775808 and 9223372036854775807",
            id="int64 out of range",
        ),
        pytest.param(
            POD, pod(), "spec.hostNetwork", "true",
            'spec.hostNetwork: Invalid value: "true": spec.hostNetwork in body must be of type boolean: "true"',
            id="string for bool",
        ),
        pytest.param(
            POD, pod(), "metadata.labels", {"app": 5},
            "metadata.labels[app]: Invalid value: 5: metadata.labels[app] in body must be of type string: 5",
            id="int in string map",
        ),
        pytest.param(
            POD, pod(), "spec.containers[0].resources.limits[cpu]", "1x",
            'spec.containers[0].resources.limits[cpu]: Invalid value: "1x": quantities must match the '
            "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            id="bad quantity string",
        ),
        pytest.param(
            POD, pod(), "spec.containers[0].resources.limits[cpu]", [1],
            "spec.containers[0].resources.limits[cpu]: Invalid value: [1]: "
            "spec.containers[0].resources.limits[cpu] in body must be of type string or number: [1]",
            id="list for quantity",
        ),
        pytest.param(
            SERVICE, service(), "spec.ports[0].targetPort", 1.5,
            "spec.ports[0].targetPort: Invalid value: 1.5: "
            "spec.ports[0].targetPort in body must be of type integer or string: 1.5",
            id="float for int-or-string",
        ),
        pytest.param(
            SERVICE, service(), "spec.ports[0].targetPort", 2**40,
            "spec.ports[0].targetPort: Invalid value: 1099511627776: "
            "spec.ports[0].targetPort in body must be an int32, between -2147483648 and 2147483647",
            id="int-or-string out of range",
        ),
        pytest.param(
            POD, pod(), "metadata.creationTimestamp", "yesterday",
            'metadata.creationTimestamp: Invalid value: "yesterday": metadata.creationTimestamp in body '
            "must be of type date-time in RFC 3339 form, such as 2024-01-02T15:04:05Z",
            id="bad time",
        ),
        pytest.param(
            POD, pod(), "metadata.creationTimestamp", "2024-05-01",
            'metadata.creationTimestamp: Invalid value: "2024-05-01": metadata.creationTimestamp in body '
            "must be of type date-time in RFC 3339 form, such as 2024-01-02T15:04:05Z",
            id="date without time",
        ),
        pytest.param(
            SECRET, secret(), "data[token]", "not base64!",
            'data[token]: Invalid value: "<value omitted>": data[token] in body must be base64-encoded data',
            id="secret data not base64",
        ),
        pytest.param(
            DEPLOYMENT, deployment(), "status.conditions[0].status", False,
            "status.conditions[0].status: Invalid value: false: "
            "status.conditions[0].status in body must be of type string: false",
            id="wrong type in status",
        ),
    ],
)  # fmt: skip
def test_check_wrong_type(served: ResourceType, obj: Object, path: str, value: object, message: str) -> None:
    result = schema.check_structure(served, with_value(obj, path, value))

    assert [str(error) for error in result.errors] == [message]
    assert result.unknown_fields == []


def test_check_error_field_path() -> None:
    obj = with_value(deployment(), "spec.template.spec.containers[0].ports[0].containerPort", "80")

    result = schema.check_structure(DEPLOYMENT, obj)

    assert [error.field for error in result.errors] == ["spec.template.spec.containers[0].ports[0].containerPort"]
    assert result.errors[0].as_cause()["reason"] == "FieldValueInvalid"


def test_check_reports_every_error() -> None:
    obj = with_value(deployment(), "spec.replicas", "3")
    obj = with_value(obj, "spec.paused", "no")

    result = schema.check_structure(DEPLOYMENT, obj)

    assert [error.field for error in result.errors] == ["spec.replicas", "spec.paused"]


@pytest.mark.parametrize(
    ("served", "obj", "path", "expected"),
    [
        pytest.param(
            DEPLOYMENT, deployment(), "spec.template.spec.containers[0].imagePullPolcy", "spec.template.spec.containers[0].imagePullPolcy",
            id="typo in container",
        ),
        pytest.param(DEPLOYMENT, deployment(), "metadata.labelz", "metadata.labelz", id="typo in metadata"),
        pytest.param(DEPLOYMENT, deployment(), "spec.replica", "spec.replica", id="typo in spec"),
        pytest.param(DEPLOYMENT, deployment(), "extra", "extra", id="top level"),
        pytest.param(DEPLOYMENT, deployment(), "status.ready", "status.ready", id="in status"),
        pytest.param(
            SERVICE, service(), "spec.ports[0].nodeport", "spec.ports[0].nodeport", id="in list element",
        ),
        pytest.param(
            POD, pod(), "spec.containers[0].resources.limit", "spec.containers[0].resources.limit",
            id="next to quantity maps",
        ),
    ],
)  # fmt: skip
def test_check_unknown_field(served: ResourceType, obj: Object, path: str, expected: str) -> None:
    result = schema.check_structure(served, with_value(obj, path, "x"))

    assert result.unknown_fields == [expected]
    assert result.errors == []
    assert not result.ok


def test_check_unknown_fields_in_document_order() -> None:
    obj = with_value(pod(), "spec.nodename", "n1")
    obj = with_value(obj, "spec.containers[0].imagePullPolcy", "Always")

    result = schema.check_structure(POD, obj)

    assert result.unknown_fields == ["spec.containers[0].imagePullPolcy", "spec.nodename"]


def test_check_no_descent_into_unknown_field() -> None:
    obj = with_value(pod(), "spec.extra", {"deep": {"deeper": 1}})

    result = schema.check_structure(POD, obj)

    assert result.unknown_fields == ["spec.extra"]


@pytest.mark.parametrize(
    ("served", "obj", "path", "value"),
    [
        pytest.param(SERVICE, service(), "spec.ports[0].targetPort", 8080, id="target port number"),
        pytest.param(SERVICE, service(), "spec.ports[0].targetPort", "http", id="target port name"),
        pytest.param(DEPLOYMENT, deployment(), "spec.strategy.rollingUpdate.maxSurge", 2, id="max surge number"),
        pytest.param(DEPLOYMENT, deployment(), "spec.strategy.rollingUpdate.maxSurge", "50%", id="max surge percent"),
        pytest.param(POD, pod(), "spec.containers[0].readinessProbe.httpGet.port", 8080, id="probe port number"),
        pytest.param(POD, pod(), "spec.containers[0].resources.limits[cpu]", "250m", id="quantity milli"),
        pytest.param(POD, pod(), "spec.containers[0].resources.limits[cpu]", 2, id="quantity integer"),
        pytest.param(POD, pod(), "spec.containers[0].resources.limits[cpu]", 0.5, id="quantity float"),
        pytest.param(POD, pod(), "spec.containers[0].resources.limits[memory]", "1Gi", id="quantity binary"),
        pytest.param(POD, pod(), "spec.containers[0].resources.limits[memory]", "129e6", id="quantity exponent"),
        pytest.param(POD, pod(), "spec.terminationGracePeriodSeconds", 2**40, id="int64 beyond int32"),
        pytest.param(POD, pod(), "spec.nodeSelector", None, id="null field"),
        pytest.param(POD, pod(), "metadata.creationTimestamp", "2024-05-01T10:00:00+02:00", id="time with offset"),
        pytest.param(POD, pod(), "metadata.managedFields", [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                     id="managed fields"),
    ],
)  # fmt: skip
def test_check_accepted_value(served: ResourceType, obj: Object, path: str, value: object) -> None:
    result = schema.check_structure(served, with_value(obj, path, value))

    assert result.errors == []
    assert result.unknown_fields == []


def test_check_body_not_object() -> None:
    result = schema.check_structure(POD, ["not", "an", "object"])

    assert [str(error) for error in result.errors] == [
        'Invalid value: ["not", "an", "object"]: the request body must be a JSON object'
    ]


@pytest.mark.parametrize("served", [pytest.param(r, id=f"{r.group_version} {r.kind}") for r in RESOURCES])
def test_schema_for_every_resource(served: ResourceType) -> None:
    found = schema.schema_for(served)

    assert found.kinds == (schema.GroupVersionKind(served.group, served.version, served.kind),)
    assert "metadata" in found.properties
    assert "apiVersion" in found.properties
    assert "kind" in found.properties


def test_schema_for_names_definitions() -> None:
    found = schema.schema_for(DEPLOYMENT)
    spec = found.properties["spec"].schema

    assert found.name == "io.k8s.api.apps.v1.Deployment"
    assert found.properties["metadata"].schema.name == "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert spec.properties["template"].schema.name == "io.k8s.api.core.v1.PodTemplateSpec"
    assert spec.properties["selector"].schema.name == "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"


def test_schema_for_events_of_both_groups() -> None:
    core = schema.schema_for(resource("", "Event"))
    events = schema.schema_for(resource("events.k8s.io", "Event"))

    assert core.name == "io.k8s.api.core.v1.Event"
    assert events.name == "io.k8s.api.events.v1.Event"


def test_schema_patch_strategies() -> None:
    pod_spec_schema = schema.schema_for(POD).properties["spec"].schema
    containers = pod_spec_schema.properties["containers"]
    ports = containers.schema.items.properties["ports"] if containers.schema.items else None

    assert (containers.patch_strategy, containers.merge_key) == ("merge", "name")
    assert ports is not None
    assert (ports.patch_strategy, ports.merge_key) == ("merge", "containerPort")
    assert pod_spec_schema.properties["tolerations"].patch_strategy == ""


def test_schema_descriptions() -> None:
    spec = schema.schema_for(DEPLOYMENT).properties["spec"].schema

    assert spec.description.startswith("DeploymentSpec is the specification")
    assert spec.properties["replicas"].description.startswith("Number of desired pods.")
    assert spec.properties["replicas"].schema.format == "int32"


def test_schema_required_fields() -> None:
    spec = schema.schema_for(DEPLOYMENT).properties["spec"].schema

    assert set(spec.required) == {"selector", "template"}


def test_registry_built_once() -> None:
    assert schema.registry() is schema.registry()


def test_schema_for_unknown_resource() -> None:
    unknown = ResourceType("example.com", "v1", "Widget", "widgets", True)

    with pytest.raises(KeyError, match="no schema for kind Widget in example.com/v1"):
        schema.schema_for(unknown)
