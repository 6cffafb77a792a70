"""The operations of each served resource, as OpenAPI paths in both dialects.

Operations are first listed in one neutral form (``Operation``) from the
resources table, then written as Swagger 2.0 or OpenAPI 3.0 operations.
Clients read more than documentation here. kubectl 1.27 and later looks
for the ``fieldValidation`` query parameter on a kind's PATCH operations
(found by ``x-kubernetes-group-version-kind``) to decide whether the server
validates fields itself. It stops at the first PATCH of the kind it finds,
so every PATCH of a kind, status included, must list the parameter.

NOTE: only the status and scale subresources get paths; binding, log,
eviction and finalize are served but not described, and there are no
deprecated /watch/ paths.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pykube_control.apiserver.openapi_schemas import PATCH_NAME, Dialect
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.schema_build import META_PACKAGE, go_package
from pykube_control.apiserver.schema_model import GroupVersionKind, Schema

JSON = dict[str, Any]

STATUS_NAME = f"{META_PACKAGE}.Status"
DELETE_OPTIONS_NAME = f"{META_PACKAGE}.DeleteOptions"
WATCH_EVENT_NAME = f"{META_PACKAGE}.WatchEvent"
SCALE_GVK = GroupVersionKind("autoscaling", "v1", "Scale")

RESPONSE_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
LIST_RESPONSE_TYPES = RESPONSE_TYPES + [
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
]
PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]

# name -> (JSON type, description)
QUERY_PARAMETERS: dict[str, tuple[str, str]] = {
    "pretty": ("string", "If 'true', the output is indented."),
    "allowWatchBookmarks": ("boolean", "Ask for BOOKMARK events in a watch; servers may ignore it."),
    "continue": ("string", "The continue token of the previous page of a paginated list."),
    "fieldSelector": ("string", "Return only objects whose fields match, such as spec.nodeName=node-1."),
    "labelSelector": ("string", "Return only objects whose labels match, such as app=web,tier!=db."),
    "limit": ("integer", "The maximum number of objects in one page of a list."),
    "resourceVersion": ("string", "The resource version the list or watch starts from; see resourceVersionMatch."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    "sendInitialEvents": ("boolean", "Start a watch with ADDED events for the current objects."),
    "timeoutSeconds": ("integer", "The maximum duration of a list or watch call, in seconds."),
    "watch": ("boolean", "Watch for changes instead of listing; the response is a stream of WatchEvents."),
    "dryRun": ("string", "When All, run every stage of the request except storing the result."),
    "fieldManager": ("string", "The name of the actor making the change, recorded in managedFields."),
    "fieldValidation": (
        "string",
        "How to treat unknown and duplicate fields in the body: Ignore drops them, Warn drops "
        "them and returns a warning for each, Strict rejects the request.",
    ),
    "force": ("boolean", "Take over conflicting fields in an apply patch; only for apply requests."),
    "gracePeriodSeconds": ("integer", "Seconds to wait before deleting; 0 deletes at once."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy. If true, dependents are orphaned."),
    "propagationPolicy": ("string", "Whether and how to delete dependents: Orphan, Background or Foreground."),
}
LIST_QUERY = (
    "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
    "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch",
)  # fmt: skip
WRITE_QUERY = ("dryRun", "fieldManager", "fieldValidation")
PATCH_QUERY = WRITE_QUERY + ("force",)
DELETE_QUERY = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")


@dataclasses.dataclass(frozen=True)
class Operation:
    """One HTTP method on one path, in a form neither dialect-specific."""

    method: str
    action: str
    """x-kubernetes-action: get, list, post, put, patch, delete, deletecollection."""
    operation_id: str
    description: str
    gvk: GroupVersionKind
    response: str
    """Definition name of the 200 response body."""
    body: str = ""
    """Definition name of the request body; "" for no body."""
    query: tuple[str, ...] = ()
    created: bool = False
    """Whether the operation may also return 201 Created (create, replace, patch)."""


@dataclasses.dataclass(frozen=True)
class PathSpec:
    path: str
    tag: str
    """Operation tag of the resource's group-version, such as "apps_v1"."""
    parameters: tuple[str, ...]
    """Path parameters: "name", "namespace"."""
    operations: tuple[Operation, ...]


def _id_part(resource: ResourceType) -> str:
    """Return "CoreV1", "AppsV1", "NetworkingV1": the group-version part of operation ids."""
    return go_package(resource.group).capitalize() + resource.version.capitalize()


def _collection_operations(resource: ResourceType, schema: Schema, list_schema: Schema, scoped: str) -> list[Operation]:
    gvk = GroupVersionKind(resource.group, resource.version, resource.kind)
    part = _id_part(resource)
    operations: list[Operation] = []
    if "list" in resource.verbs:
        operations.append(Operation(
            "get", "list", f"list{part}{scoped}{resource.kind}", f"list or watch objects of kind {resource.kind}",
            gvk, list_schema.name, query=LIST_QUERY,
        ))  # fmt: skip
    if "create" in resource.verbs:
        operations.append(Operation(
            "post", "post", f"create{part}{scoped}{resource.kind}", f"create a {resource.kind}",
            gvk, schema.name, body=schema.name, query=WRITE_QUERY, created=True,
        ))  # fmt: skip
    if "deletecollection" in resource.verbs:
        operations.append(Operation(
            "delete", "deletecollection", f"delete{part}Collection{scoped}{resource.kind}",
            f"delete collection of {resource.kind}", gvk, STATUS_NAME, body=DELETE_OPTIONS_NAME,
            query=LIST_QUERY + DELETE_QUERY,
        ))  # fmt: skip
    return operations


def _object_operations(resource: ResourceType, schema: Schema, gvk: GroupVersionKind, suffix: str, scoped: str) -> list[Operation]:
    """Return get, replace, patch (and delete, for the object itself) of one object or subresource."""
    part = _id_part(resource)
    target = f"{scoped}{resource.kind}{suffix}"
    what = f"{suffix.lower()} of the specified {resource.kind}" if suffix else f"the specified {resource.kind}"
    operations: list[Operation] = []
    if "get" in resource.verbs:
        operations.append(Operation("get", "get", f"read{part}{target}", f"read {what}", gvk, schema.name))
    if "update" in resource.verbs:
        operations.append(Operation(
            "put", "put", f"replace{part}{target}", f"replace {what}", gvk, schema.name,
            body=schema.name, query=WRITE_QUERY, created=True,
        ))  # fmt: skip
    if "patch" in resource.verbs:
        operations.append(Operation(
            "patch", "patch", f"patch{part}{target}", f"partially update {what}", gvk, schema.name,
            body=PATCH_NAME, query=PATCH_QUERY, created=True,
        ))  # fmt: skip
    if "delete" in resource.verbs and not suffix:
        operations.append(Operation(
            "delete", "delete", f"delete{part}{target}", f"delete {what}", gvk, STATUS_NAME,
            body=DELETE_OPTIONS_NAME, query=DELETE_QUERY,
        ))  # fmt: skip
    return operations


def resource_paths(resource: ResourceType, schema: Schema, list_schema: Schema, scale: Schema) -> list[PathSpec]:
    """Return the paths of one resource: collection, object, all-namespaces list, subresources."""
    root = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
    gvk = GroupVersionKind(resource.group, resource.version, resource.kind)
    if resource.namespaced:
        collection = f"{root}/namespaces/{{namespace}}/{resource.plural}"
        scope: tuple[str, ...] = ("namespace",)
        scoped = "Namespaced"
    else:
        collection = f"{root}/{resource.plural}"
        scope = ()
        scoped = ""

    tag = f"{go_package(resource.group)}_{resource.version}"
    object_path = f"{collection}/{{name}}"
    paths = [
        PathSpec(collection, tag, scope, tuple(_collection_operations(resource, schema, list_schema, scoped))),
        PathSpec(object_path, tag, ("name",) + scope, tuple(_object_operations(resource, schema, gvk, "", scoped))),
    ]
    if resource.namespaced and "list" in resource.verbs:
        everywhere = Operation(
            "get", "list", f"list{_id_part(resource)}{resource.kind}ForAllNamespaces",
            f"list or watch objects of kind {resource.kind} in all namespaces", gvk, list_schema.name,
            query=LIST_QUERY,
        )  # fmt: skip
        paths.append(PathSpec(f"{root}/{resource.plural}", tag, (), (everywhere,)))
    if "status" in resource.subresources:
        operations = _object_operations(resource, schema, gvk, "Status", scoped)
        paths.append(PathSpec(f"{object_path}/status", tag, ("name",) + scope, tuple(operations)))
    if "scale" in resource.subresources:
        operations = _object_operations(resource, scale, SCALE_GVK, "Scale", scoped)
        paths.append(PathSpec(f"{object_path}/scale", tag, ("name",) + scope, tuple(operations)))
    return paths


def _path_parameter(name: str, dialect: Dialect) -> JSON:
    description = "name of the object" if name == "name" else "object name and auth scope, such as for teams and projects"
    parameter: JSON = {"name": name, "in": "path", "required": True, "description": description}
    if dialect is Dialect.V2:
        parameter["type"] = "string"
        parameter["uniqueItems"] = True
    else:
        parameter["schema"] = {"type": "string", "uniqueItems": True}
    return parameter


def _query_parameter(name: str, dialect: Dialect) -> JSON:
    json_type, description = QUERY_PARAMETERS[name]
    parameter: JSON = {"name": name, "in": "query", "description": description}
    if dialect is Dialect.V2:
        parameter["type"] = json_type
        parameter["uniqueItems"] = True
    else:
        parameter["schema"] = {"type": json_type, "uniqueItems": True}
    return parameter


def _v2_operation(operation: Operation, tag: str) -> JSON:
    parameters: list[JSON] = []
    if operation.body:
        parameters.append({"name": "body", "in": "body", "required": operation.method != "delete",
                           "schema": {"$ref": Dialect.V2.ref(operation.body)}})
    parameters += [_query_parameter(name, Dialect.V2) for name in operation.query]
    response = {"description": "OK", "schema": {"$ref": Dialect.V2.ref(operation.response)}}
    responses: JSON = {"200": response}
    if operation.created:
        responses["201"] = {"description": "Created", "schema": {"$ref": Dialect.V2.ref(operation.response)}}
    responses["401"] = {"description": "Unauthorized"}
    result: JSON = {
        "description": operation.description,
        "consumes": PATCH_TYPES if operation.method == "patch" else ["*/*"],
        "produces": LIST_RESPONSE_TYPES if operation.action == "list" else RESPONSE_TYPES,
        "schemes": ["https"],
        "tags": [tag],
        "operationId": operation.operation_id,
        "parameters": parameters,
        "responses": responses,
    }
    return result


def _v3_operation(operation: Operation, tag: str) -> JSON:
    media_types = LIST_RESPONSE_TYPES if operation.action == "list" else RESPONSE_TYPES
    content = {media: {"schema": {"$ref": Dialect.V3.ref(operation.response)}} for media in media_types}
    responses: JSON = {"200": {"description": "OK", "content": content}}
    if operation.created:
        responses["201"] = {"description": "Created", "content": content}
    responses["401"] = {"description": "Unauthorized"}
    result: JSON = {
        "tags": [tag],
        "description": operation.description,
        "operationId": operation.operation_id,
        "parameters": [_query_parameter(name, Dialect.V3) for name in operation.query],
        "responses": responses,
    }
    if operation.body:
        body_types = PATCH_TYPES if operation.method == "patch" else ["*/*"]
        result["requestBody"] = {
            "content": {media: {"schema": {"$ref": Dialect.V3.ref(operation.body)}} for media in body_types},
            "required": operation.method != "delete",
        }
    return result


def path_item(spec: PathSpec, dialect: Dialect) -> JSON:
    """Return the OpenAPI path item of ``spec`` in ``dialect``."""
    item: JSON = {}
    for operation in spec.operations:
        if dialect is Dialect.V2:
            written = _v2_operation(operation, spec.tag)
        else:
            written = _v3_operation(operation, spec.tag)
        written["x-kubernetes-action"] = operation.action
        written["x-kubernetes-group-version-kind"] = {
            "group": operation.gvk.group, "kind": operation.gvk.kind, "version": operation.gvk.version,
        }  # fmt: skip
        item[operation.method] = written
    parameters = [_path_parameter(name, dialect) for name in spec.parameters]
    parameters.append(_query_parameter("pretty", dialect))
    item["parameters"] = parameters
    return item
