"""The schema tree written as OpenAPI definitions, in the v2 and v3 dialects.

Both dialects name definitions alike ("io.k8s.api.core.v1.Pod") and
differ where Kubernetes' own documents differ. v2 refers to
``#/definitions/...`` and places a description next to ``$ref``. v3 refers
to ``#/components/schemas/...`` and wraps the reference of a property in
``allOf``, because OpenAPI 3.0 ignores the siblings of ``$ref``. Quantity
and IntOrString are plain strings with a format in v2, and ``oneOf`` a
string and a number (or an integer) in v3.

NOTE: list types (``x-kubernetes-list-type``, ``x-kubernetes-list-map-keys``)
are not written; server-side apply would need them, kubectl's client-side
apply reads only the patch strategy and merge key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from pykube_control.apiserver.schema_build import INT_OR_STRING_NAME, META_PACKAGE, QUANTITY_NAME
from pykube_control.apiserver.schema_model import Property, Schema, SchemaType

JSON = dict[str, Any]

PATCH_NAME = f"{META_PACKAGE}.Patch"
PATCH_DESCRIPTION = "A patch document; its format follows the request's Content-Type."


class Dialect(enum.Enum):
    V2 = "v2"
    V3 = "v3"

    def ref(self, name: str) -> str:
        """Return the JSON reference to the definition ``name`` in this dialect."""
        prefix = "#/definitions/" if self is Dialect.V2 else "#/components/schemas/"
        return prefix + name


_INLINE_TYPES = {
    SchemaType.STRING: {"type": "string"},
    SchemaType.BOOLEAN: {"type": "boolean"},
    SchemaType.FREE_FORM: {"type": "object"},
}


def inline(schema: Schema, dialect: Dialect) -> JSON:
    """Return the schema of a value: a reference for a named schema, else the schema itself."""
    if schema.name:
        return {"$ref": dialect.ref(schema.name)}
    if schema.type is SchemaType.ARRAY:
        assert schema.items is not None
        return {"type": "array", "items": inline(schema.items, dialect)}
    if schema.type is SchemaType.MAP:
        assert schema.values is not None
        return {"type": "object", "additionalProperties": inline(schema.values, dialect)}
    if schema.type in (SchemaType.INTEGER, SchemaType.NUMBER):
        return {"type": schema.type.value, "format": schema.format}
    if schema.type is SchemaType.BYTES:
        return {"type": "string", "format": "byte"}
    if schema.type is SchemaType.DATE_TIME:
        return {"type": "string", "format": "date-time"}
    if schema.type in _INLINE_TYPES:
        return dict(_INLINE_TYPES[schema.type])
    # Quantity and IntOrString exist only as named schemas (schema_build.special).
    raise ValueError(f"schema type {schema.type.value} has no inline form; give it a definition name")


def property_schema(prop: Property, dialect: Dialect) -> JSON:
    """Return the OpenAPI schema of one property, with description and patch extensions."""
    value = inline(prop.schema, dialect)
    if "$ref" in value and dialect is Dialect.V3:
        value = {"allOf": [value]}
    if prop.description:
        value["description"] = prop.description
    if prop.patch_strategy:
        value["x-kubernetes-patch-strategy"] = prop.patch_strategy
    if prop.merge_key:
        value["x-kubernetes-patch-merge-key"] = prop.merge_key
    return value


def definition(schema: Schema, dialect: Dialect) -> JSON:
    """Return the OpenAPI definition of a named schema."""
    result: JSON = {}
    if schema.description:
        result["description"] = schema.description
    if schema.name == QUANTITY_NAME:
        if dialect is Dialect.V2:
            result["type"] = "string"
        else:
            result["oneOf"] = [{"type": "string"}, {"type": "number"}]
    elif schema.name == INT_OR_STRING_NAME:
        result["format"] = "int-or-string"
        if dialect is Dialect.V2:
            result["type"] = "string"
        else:
            result["oneOf"] = [{"type": "integer"}, {"type": "string"}]
            result["x-kubernetes-int-or-string"] = True
    elif schema.type is SchemaType.OBJECT:
        _write_object(schema, dialect, result)
    else:
        result.update(inline(_unnamed(schema), dialect))
    return result


def _write_object(schema: Schema, dialect: Dialect, result: JSON) -> None:
    result["type"] = "object"
    result["properties"] = {name: property_schema(prop, dialect) for name, prop in schema.properties.items()}
    if schema.required:
        result["required"] = list(schema.required)
    if schema.kinds:
        result["x-kubernetes-group-version-kind"] = [
            {"group": gvk.group, "kind": gvk.kind, "version": gvk.version} for gvk in schema.kinds
        ]


def _unnamed(schema: Schema) -> Schema:
    return Schema(schema.type, format=schema.format, items=schema.items, values=schema.values)


def reachable(roots: Iterable[Schema]) -> list[Schema]:
    """Return the named schemas that ``roots`` refer to, directly or not, roots included."""
    found: dict[str, Schema] = {}
    pending = list(roots)
    while pending:
        schema = pending.pop()
        if schema.name:
            if schema.name in found:
                continue
            found[schema.name] = schema
        pending.extend(prop.schema for prop in schema.properties.values())
        if schema.items is not None:
            pending.append(schema.items)
        if schema.values is not None:
            pending.append(schema.values)
    return [found[name] for name in sorted(found)]


def definitions(schemas: Iterable[Schema], dialect: Dialect) -> JSON:
    """Return the definitions of ``schemas`` by name, plus the Patch body definition."""
    result: JSON = {schema.name: definition(schema, dialect) for schema in schemas}
    result[PATCH_NAME] = {"description": PATCH_DESCRIPTION, "type": "object"}
    return dict(sorted(result.items()))
