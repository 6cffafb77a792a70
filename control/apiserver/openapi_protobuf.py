"""Encoding of the Swagger 2.0 document as gnostic's ``openapi.v2.Document``.

kubectl 1.20 requests /openapi/v2 as protobuf only, and parses the
response with gnostic's OpenAPI v2 model. This module writes the JSON document
(openapi.openapi_v2_document) into that model, field by field; the
message classes come from openapi_proto/openapiv2.proto, a subset of
gnostic's with the same field numbers.

Vendor extensions travel as ``Any.yaml`` text, which is how Kubernetes
sends them and how kubectl reads them back. The text is JSON, a subset of
YAML, so the values round-trip exactly.

A document key this module does not know raises ValueError rather than
disappear silently from the protobuf form.
"""

from __future__ import annotations

from typing import Any

import orjson

from pykube_control.apiserver.openapi_proto import openapiv2_pb2 as pb

JSON = dict[str, Any]

_SCHEMA_KEYS = frozenset(
    {"$ref", "format", "title", "description", "type", "items", "additionalProperties", "properties", "required", "allOf"}
)
_OPERATION_KEYS = frozenset(
    {"tags", "summary", "description", "operationId", "produces", "consumes", "schemes", "parameters", "responses"}
)
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def _reject_unknown(kind: str, document: JSON, known: frozenset[str]) -> None:
    unknown = sorted(key for key in document if key not in known and not key.startswith("x-"))
    if unknown:
        raise ValueError(f"cannot encode {kind} keys {unknown} as OpenAPI v2 protobuf; add them to openapi_protobuf")


def _extensions(document: JSON, target: Any) -> None:
    """Append every "x-" key of ``document`` to ``target`` (a repeated NamedAny field)."""
    for key, value in document.items():
        if key.startswith("x-"):
            target.add(name=key, value=pb.Any(yaml=orjson.dumps(value).decode()))


def encode_schema(document: JSON) -> Any:
    """Return an ``openapi.v2.Schema`` message holding the JSON schema ``document``."""
    _reject_unknown("schema", document, _SCHEMA_KEYS)
    schema = pb.Schema()
    setattr(schema, "_ref", document.get("$ref", ""))
    schema.format = document.get("format", "")
    schema.title = document.get("title", "")
    schema.description = document.get("description", "")
    if "type" in document:
        schema.type.value.append(document["type"])
    if "items" in document:
        schema.items.schema.append(encode_schema(document["items"]))
    if "additionalProperties" in document:
        additional = document["additionalProperties"]
        if isinstance(additional, bool):
            schema.additional_properties.boolean = additional
        else:
            schema.additional_properties.schema.CopyFrom(encode_schema(additional))
    for name, child in document.get("properties", {}).items():
        schema.properties.additional_properties.add(name=name, value=encode_schema(child))
    schema.required.extend(document.get("required", ()))
    schema.all_of.extend(encode_schema(part) for part in document.get("allOf", ()))
    _extensions(document, schema.vendor_extension)
    return schema


def _encode_parameter(document: JSON) -> Any:
    item = pb.ParametersItem()
    where = document["in"]
    if where == "body":
        body = item.parameter.body_parameter
        body.name = document["name"]
        setattr(body, "in", where)
        body.required = document.get("required", False)
        body.description = document.get("description", "")
        body.schema.CopyFrom(encode_schema(document["schema"]))
        return item
    if where == "query":
        target = item.parameter.non_body_parameter.query_parameter_sub_schema
    elif where == "path":
        target = item.parameter.non_body_parameter.path_parameter_sub_schema
    else:
        raise ValueError(f"cannot encode a parameter in {where!r} as OpenAPI v2 protobuf; use query, path or body")
    target.name = document["name"]
    setattr(target, "in", where)
    target.required = document.get("required", False)
    target.description = document.get("description", "")
    target.type = document.get("type", "")
    target.format = document.get("format", "")
    target.unique_items = document.get("uniqueItems", False)
    return item


def _encode_operation(document: JSON) -> Any:
    _reject_unknown("operation", document, _OPERATION_KEYS)
    operation = pb.Operation()
    operation.tags.extend(document.get("tags", ()))
    operation.summary = document.get("summary", "")
    operation.description = document.get("description", "")
    operation.operation_id = document.get("operationId", "")
    operation.produces.extend(document.get("produces", ()))
    operation.consumes.extend(document.get("consumes", ()))
    operation.schemes.extend(document.get("schemes", ()))
    operation.parameters.extend(_encode_parameter(parameter) for parameter in document.get("parameters", ()))
    for code, response in document.get("responses", {}).items():
        named = operation.responses.response_code.add(name=code)
        named.value.response.description = response.get("description", "")
        if "schema" in response:
            named.value.response.schema.schema.CopyFrom(encode_schema(response["schema"]))
    _extensions(document, operation.vendor_extension)
    return operation


def _encode_path_item(document: JSON) -> Any:
    item = pb.PathItem()
    for method in _METHODS:
        if method in document:
            getattr(item, method).CopyFrom(_encode_operation(document[method]))
    item.parameters.extend(_encode_parameter(parameter) for parameter in document.get("parameters", ()))
    _extensions(document, item.vendor_extension)
    return item


def encode_document(document: JSON) -> bytes:
    """Return the Swagger 2.0 ``document`` serialized as an ``openapi.v2.Document`` message."""
    message = pb.Document()
    message.swagger = document["swagger"]
    info = document.get("info", {})
    message.info.title = info.get("title", "")
    message.info.version = info.get("version", "")
    message.info.description = info.get("description", "")
    for path, item in document.get("paths", {}).items():
        message.paths.path.add(name=path, value=_encode_path_item(item))
    for name, schema in document.get("definitions", {}).items():
        message.definitions.additional_properties.add(name=name, value=encode_schema(schema))
    _extensions(document, message.vendor_extension)
    result: bytes = message.SerializeToString(deterministic=True)
    return result
