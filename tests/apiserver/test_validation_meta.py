"""ObjectMeta validation shared by every kind: names per kind, namespace scope, labels, owners."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.errors import ErrorType
from pykube_control.apiserver.resources import ResourceType, by_kind
from pykube_control.apiserver.validation.meta import TOTAL_ANNOTATION_SIZE_LIMIT
from pykube_control.apiserver.validation.registry import validate_create, validate_update


def served(group: str, kind: str) -> ResourceType:
    """Return the served resource of ``kind``, failing the import when it is not served."""
    resource = by_kind(group, kind)
    assert resource is not None
    return resource


CONFIG_MAP = served("", "ConfigMap")
NAMESPACE = served("", "Namespace")
SERVICE = served("", "Service")
NODE = served("", "Node")
EVENT = served("", "Event")

OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u-1", "controller": True}


def config_map(**meta: Any) -> dict[str, Any]:
    metadata = {"name": "settings", "namespace": "default", **meta}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


def pairs(errors: list[Any]) -> list[tuple[str, ErrorType]]:
    return [(error.field, error.error_type) for error in errors]


def test_meta_valid_passes() -> None:
    obj = config_map(labels={"app": "web"}, annotations={"example.com/a": "b"}, ownerReferences=[OWNER])
    assert validate_create(CONFIG_MAP, obj) == []


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        pytest.param({"name": ""}, [("metadata.name", ErrorType.REQUIRED)], id="name missing"),
        pytest.param({"name": "Bad_Name"}, [("metadata.name", ErrorType.INVALID)], id="name not subdomain"),
        pytest.param({"name": "a" * 254}, [("metadata.name", ErrorType.INVALID)], id="name too long"),
        pytest.param({"namespace": ""}, [("metadata.namespace", ErrorType.REQUIRED)], id="namespace missing"),
        pytest.param({"namespace": "Default"}, [("metadata.namespace", ErrorType.INVALID)], id="namespace invalid"),
        pytest.param({"generateName": "Web-"}, [("metadata.generateName", ErrorType.INVALID)], id="generateName upper"),
        pytest.param({"labels": {"a/b/c": "x"}}, [("metadata.labels", ErrorType.INVALID)], id="label key"),
        pytest.param({"labels": {"app": "-x"}}, [("metadata.labels", ErrorType.INVALID)], id="label value"),
        pytest.param({"annotations": {"bad key": "x"}}, [("metadata.annotations", ErrorType.INVALID)], id="annotation key"),
        pytest.param(
            {"annotations": {"a": "x" * TOTAL_ANNOTATION_SIZE_LIMIT}},
            [("metadata.annotations", ErrorType.TOO_LONG)],
            id="annotations too large",
        ),
        pytest.param(
            {"ownerReferences": [{**OWNER, "uid": ""}]},
            [("metadata.ownerReferences.uid", ErrorType.INVALID)],
            id="owner uid missing",
        ),
        pytest.param(
            {"ownerReferences": [{**OWNER, "apiVersion": "apps/"}]},
            [("metadata.ownerReferences.apiVersion", ErrorType.INVALID)],
            id="owner version empty",
        ),
        pytest.param(
            {"ownerReferences": [OWNER, {**OWNER, "name": "web-2"}]},
            [("metadata.ownerReferences", ErrorType.INVALID)],
            id="two controllers",
        ),
        pytest.param({"finalizers": ["bad finalizer"]}, [("metadata.finalizers[0]", ErrorType.INVALID)], id="finalizer"),
        pytest.param({"generation": -1}, [("metadata.generation", ErrorType.INVALID)], id="negative generation"),
    ],
)
def test_meta_invalid(meta: dict[str, Any], expected: list[tuple[str, ErrorType]]) -> None:
    assert pairs(validate_create(CONFIG_MAP, config_map(**meta))) == expected


def test_name_required_message() -> None:
    errors = validate_create(CONFIG_MAP, config_map(name=""))
    assert str(errors[0]) == "metadata.name: Required value: name or generateName is required"


def test_annotation_size_message() -> None:
    errors = validate_create(CONFIG_MAP, config_map(annotations={"a": "x" * TOTAL_ANNOTATION_SIZE_LIMIT}))
    assert str(errors[0]) == "metadata.annotations: Too long: must have at most 262144 bytes"


def test_cluster_scoped_namespace_forbidden() -> None:
    node = {"metadata": {"name": "n1", "namespace": "default"}}
    errors = validate_create(NODE, node)
    assert pairs(errors) == [("metadata.namespace", ErrorType.FORBIDDEN)]
    assert str(errors[0]) == "metadata.namespace: Forbidden: not allowed on this type"


@pytest.mark.parametrize(
    ("resource_name", "name", "valid"),
    [
        pytest.param("Namespace", "a.b", False, id="namespace rejects dots"),
        pytest.param("Namespace", "team-a", True, id="namespace label"),
        pytest.param("Service", "1web", False, id="service needs leading letter"),
        pytest.param("Service", "web-1", True, id="service dns1035"),
        pytest.param("Node", "node.example.com", True, id="node subdomain"),
        pytest.param("Event", "pod.17a3Bc", True, id="core event path segment"),
        pytest.param("Event", "a/b", False, id="core event slash"),
    ],
)
def test_name_rule_per_kind(resource_name: str, name: str, valid: bool) -> None:
    resource = by_kind("", resource_name)
    assert resource is not None
    meta: dict[str, Any] = {"name": name}
    if resource.namespaced:
        meta["namespace"] = "default"
    errors = [error for error in validate_create(resource, {"metadata": meta}) if error.field == "metadata.name"]
    assert (errors == []) is valid


def test_service_name_message() -> None:
    errors = validate_create(SERVICE, {"metadata": {"name": "1web", "namespace": "default"}, "spec": {}})
    names = [str(error) for error in errors if error.field == "metadata.name"]
    assert names == [
        'metadata.name: Invalid value: "1web": a DNS-1035 label must consist of lower case alphanumeric '
        "characters or '-', start with an alphabetic character, and end with an alphanumeric character "
        "(e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
    ]


@pytest.mark.parametrize(
    ("field", "old", "new"),
    [
        pytest.param("name", "a", "b", id="name"),
        pytest.param("namespace", "default", "other", id="namespace"),
        pytest.param("uid", "u-1", "u-2", id="uid"),
        pytest.param("creationTimestamp", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z", id="creation"),
    ],
)
def test_meta_update_immutable(field: str, old: str, new: str) -> None:
    before = config_map(**{field: old})
    after = config_map(**{field: new})
    errors = [error for error in validate_update(CONFIG_MAP, after, before) if error.field == f"metadata.{field}"]
    assert pairs(errors) == [(f"metadata.{field}", ErrorType.INVALID)]
    assert errors[0].detail == "field is immutable"


def test_finalizer_added_while_deleting() -> None:
    before = config_map(deletionTimestamp="2025-01-01T00:00:00Z", finalizers=["example.com/a"])
    after = config_map(deletionTimestamp="2025-01-01T00:00:00Z", finalizers=["example.com/a", "example.com/b"])
    assert pairs(validate_update(CONFIG_MAP, after, before)) == [("metadata.finalizers", ErrorType.FORBIDDEN)]


def test_update_without_uid_passes() -> None:
    before = config_map(uid="u-1")
    assert validate_update(CONFIG_MAP, config_map(), before) == []
