"""Tests of the OpenAPI v2 and v3 documents and the v2 protobuf encoding."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import yaml

from pykube_control.apiserver import openapi
from pykube_control.apiserver.openapi_proto import openapiv2_pb2 as pb

Document = dict[str, Any]

DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
POD_SPEC = "io.k8s.api.core.v1.PodSpec"
GROUP_VERSIONS = [pytest.param(group, version, id=openapi.v3_path(group, version)) for group, version in openapi.group_versions()]


def references(node: object) -> Iterator[str]:
    """Yield every "$ref" value anywhere in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def operations(document: Document) -> Iterator[tuple[str, str, Document]]:
    for path, item in document["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            if method in item:
                yield path, method, item[method]


def parameter_names(operation: Document) -> list[str]:
    return [parameter["name"] for parameter in operation["parameters"]]


def test_v3_index_lists_every_group_version() -> None:
    index = openapi.openapi_v3_index()

    assert set(index["paths"]) == {openapi.v3_path(g, v) for g, v in openapi.group_versions()}
    assert "api/v1" in index["paths"]
    assert "apis/apps/v1" in index["paths"]


def test_v3_index_url_carries_hash() -> None:
    url = openapi.openapi_v3_index()["paths"]["apis/apps/v1"]["serverRelativeURL"]

    assert re.fullmatch(r"/openapi/v3/apis/apps/v1\?hash=[0-9A-F]{128}", url)
    assert url.endswith(openapi.openapi_v3_hash("apps", "v1"))


def test_v3_deployment_schema() -> None:
    document = openapi.openapi_v3_document("apps", "v1")
    deployment = document["components"]["schemas"][DEPLOYMENT]

    assert document["openapi"] == "3.0.0"
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["description"].startswith("Deployment enables declarative updates")
    assert deployment["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]


def test_v3_patch_has_field_validation() -> None:
    document = openapi.openapi_v3_document("apps", "v1")
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]

    assert patch["x-kubernetes-action"] == "patch"
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= set(parameter_names(patch))


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_v3_every_patch_has_field_validation(group: str, version: str) -> None:
    document = openapi.openapi_v3_document(group, version)
    patches = [(path, operation) for path, method, operation in operations(document) if method == "patch"]

    assert patches
    for path, operation in patches:
        assert "fieldValidation" in parameter_names(operation), path


def test_v3_operations_of_namespaced_resource() -> None:
    paths = openapi.openapi_v3_document("apps", "v1")["paths"]
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]

    assert collection["get"]["x-kubernetes-action"] == "list"
    assert collection["post"]["x-kubernetes-action"] == "post"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert item["get"]["operationId"] == "readAppsV1NamespacedDeployment"
    assert item["put"]["x-kubernetes-action"] == "put"
    assert item["delete"]["x-kubernetes-action"] == "delete"
    assert "/apis/apps/v1/deployments" in paths


def test_v3_create_parameters() -> None:
    paths = openapi.openapi_v3_document("", "v1")["paths"]
    create = paths["/api/v1/namespaces/{namespace}/pods"]["post"]

    assert {"dryRun", "fieldManager", "fieldValidation"} <= set(parameter_names(create))
    assert create["requestBody"]["content"]["*/*"]["schema"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"}


def test_v3_cluster_scoped_paths() -> None:
    paths = openapi.openapi_v3_document("", "v1")["paths"]

    assert "/api/v1/nodes/{name}" in paths
    assert "/api/v1/namespaces/{namespace}/nodes" not in paths


def test_v3_scale_subresource() -> None:
    document = openapi.openapi_v3_document("apps", "v1")
    scale = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]

    assert scale["get"]["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert "io.k8s.api.autoscaling.v1.Scale" in document["components"]["schemas"]


@pytest.mark.parametrize(("group", "version"), GROUP_VERSIONS)
def test_v3_references_resolve(group: str, version: str) -> None:
    document = openapi.openapi_v3_document(group, version)
    schemas = document["components"]["schemas"]

    missing = {ref for ref in references(document) if ref.removeprefix("#/components/schemas/") not in schemas}

    assert missing == set()


def test_v3_int_or_string_and_quantity() -> None:
    schemas = openapi.openapi_v3_document("", "v1")["components"]["schemas"]
    int_or_string = schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    quantity = schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"]

    assert int_or_string["format"] == "int-or-string"
    assert int_or_string["x-kubernetes-int-or-string"] is True
    assert int_or_string["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert quantity["oneOf"] == [{"type": "string"}, {"type": "number"}]


def test_v3_patch_extensions() -> None:
    containers = openapi.openapi_v3_document("", "v1")["components"]["schemas"][POD_SPEC]["properties"]["containers"]

    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}


def test_v3_json_matches_document() -> None:
    assert orjson.loads(openapi.openapi_v3_json("batch", "v1")) == openapi.openapi_v3_document("batch", "v1")


def test_v3_unknown_group_version() -> None:
    with pytest.raises(LookupError, match="no OpenAPI v3 document for apis/example.com/v1"):
        openapi.openapi_v3_document("example.com", "v1")


def test_v2_document_definitions() -> None:
    document = openapi.openapi_v2_document()
    deployment = document["definitions"][DEPLOYMENT]

    assert document["swagger"] == "2.0"
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["properties"]["metadata"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert document["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"


def test_v2_references_resolve() -> None:
    document = openapi.openapi_v2_document()

    missing = {ref for ref in references(document) if ref.removeprefix("#/definitions/") not in document["definitions"]}

    assert missing == set()


def test_v2_paths_of_every_group() -> None:
    paths = openapi.openapi_v2_document()["paths"]

    assert "/api/v1/namespaces/{namespace}/pods/{name}" in paths
    assert "/apis/networking.k8s.io/v1/ingressclasses/{name}" in paths
    assert "/apis/events.k8s.io/v1/namespaces/{namespace}/events" in paths


def parsed_protobuf() -> Any:
    document = pb.Document()
    document.ParseFromString(openapi.openapi_v2_protobuf())
    return document


def named(entries: Any, name: str) -> Any:
    for entry in entries:
        if entry.name == name:
            return entry.value
    raise AssertionError(f"{name} not found")


def test_v2_protobuf_round_trip() -> None:
    document = parsed_protobuf()
    deployment = named(document.definitions.additional_properties, DEPLOYMENT)
    extension = named(deployment.vendor_extension, "x-kubernetes-group-version-kind")

    assert document.swagger == "2.0"
    assert deployment.description.startswith("Deployment enables declarative updates")
    assert list(deployment.type.value) == ["object"]
    assert yaml.safe_load(extension.yaml) == [{"group": "apps", "kind": "Deployment", "version": "v1"}]


def test_v2_protobuf_definition_count() -> None:
    document = parsed_protobuf()

    assert len(document.definitions.additional_properties) == len(openapi.openapi_v2_document()["definitions"])
    assert len(document.paths.path) == len(openapi.openapi_v2_document()["paths"])


def test_v2_protobuf_patch_extensions() -> None:
    pod_spec = named(parsed_protobuf().definitions.additional_properties, POD_SPEC)
    containers = named(pod_spec.properties.additional_properties, "containers")
    extensions = {entry.name: yaml.safe_load(entry.value.yaml) for entry in containers.vendor_extension}

    assert extensions == {"x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"}
    assert getattr(containers.items.schema[0], "_ref") == "#/definitions/io.k8s.api.core.v1.Container"


def test_v2_protobuf_operation() -> None:
    paths = parsed_protobuf().paths.path
    item = named(paths, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
    query = [
        parameter.parameter.non_body_parameter.query_parameter_sub_schema.name
        for parameter in item.patch.parameters
        if parameter.parameter.non_body_parameter.HasField("query_parameter_sub_schema")
    ]
    action = named(item.patch.vendor_extension, "x-kubernetes-action")

    assert item.patch.operation_id == "patchAppsV1NamespacedDeployment"
    assert "fieldValidation" in query
    assert yaml.safe_load(action.yaml) == "patch"


def test_documents_cached() -> None:
    assert openapi.openapi_v2_document() is openapi.openapi_v2_document()
    assert openapi.openapi_v3_document("apps", "v1") is openapi.openapi_v3_document("apps", "v1")
