"""The structure check: JSON types and unknown fields of a decoded object.

Kubernetes decodes a request body into Go structs before any validation,
and that decode rejects wrong JSON types (a string where an int32
belongs) and, under fieldValidation=Strict, unknown fields. pykube keeps
objects as plain dicts, so this module walks an object along its schema
and reports both, with full paths such as
``spec.template.spec.containers[0].imagePullPolcy``. Map entries print as
``metadata.labels[app]``, list elements as ``containers[0]``.

Differences from Kubernetes:

- Type errors use the OpenAPI validator's wording
  (``spec.replicas in body must be of type integer: "3"``), not the Go
  decoder's (``cannot unmarshal string into Go struct field``).
- Every type error in the object is reported, where the Go decoder stops
  at the first one.
- JSON null is accepted everywhere, as Go decodes it to the zero value.
- Duplicate JSON keys cannot be seen here: the JSON parser has already
  kept the last one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime

from pykube_core.errors import FieldError, InvalidQuantityError, format_value
from pykube_core.quantity import parse_quantity

from pykube_control.apiserver.schema_model import Schema, SchemaType


@dataclasses.dataclass
class StructureResult:
    """Outcome of a structure check: type errors, and unknown fields by full path."""

    errors: list[FieldError] = dataclasses.field(default_factory=list)
    unknown_fields: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.unknown_fields


_JSON_TYPE_NAMES = {
    SchemaType.OBJECT: "object",
    SchemaType.MAP: "object",
    SchemaType.FREE_FORM: "object",
    SchemaType.ARRAY: "array",
    SchemaType.STRING: "string",
    SchemaType.BYTES: "string",
    SchemaType.DATE_TIME: "string",
    SchemaType.INTEGER: "integer",
    SchemaType.NUMBER: "number",
    SchemaType.BOOLEAN: "boolean",
    SchemaType.INT_OR_STRING: "integer or string",
    SchemaType.QUANTITY: "string or number",
}


def check_object(schema: Schema, obj: object) -> StructureResult:
    """Check ``obj`` against a top-level schema; an empty result means it decodes cleanly."""
    result = StructureResult()
    if not isinstance(obj, dict):
        result.errors.append(FieldError("", obj, "the request body must be a JSON object"))
        return result
    _check(schema, obj, "", result)
    return result


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_error(schema: Schema, value: object, path: str) -> FieldError:
    expected = _JSON_TYPE_NAMES[schema.type]
    return FieldError(path, value, f"{path} in body must be of type {expected}: {format_value(value)}")


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(schema: Schema, value: object, path: str, result: StructureResult) -> None:
    if value is None:
        return
    if schema.type is SchemaType.OBJECT:
        _check_properties(schema, value, path, result)
    elif schema.type is SchemaType.MAP:
        _check_map(schema, value, path, result)
    elif schema.type is SchemaType.ARRAY:
        _check_array(schema, value, path, result)
    else:
        error = _scalar_error(schema, value, path)
        if error is not None:
            result.errors.append(error)


def _check_properties(schema: Schema, value: object, path: str, result: StructureResult) -> None:
    if not isinstance(value, dict):
        result.errors.append(_type_error(schema, value, path))
        return
    for name, child in value.items():
        child_path = _join(path, name)
        known = schema.properties.get(name)
        if known is None:
            result.unknown_fields.append(child_path)
        else:
            _check(known.schema, child, child_path, result)


def _check_map(schema: Schema, value: object, path: str, result: StructureResult) -> None:
    if not isinstance(value, dict):
        result.errors.append(_type_error(schema, value, path))
        return
    assert schema.values is not None, f"map schema at {path} has no value schema"
    for key, child in value.items():
        _check(schema.values, child, f"{path}[{key}]", result)


def _check_array(schema: Schema, value: object, path: str, result: StructureResult) -> None:
    if not isinstance(value, list):
        result.errors.append(_type_error(schema, value, path))
        return
    assert schema.items is not None, f"array schema at {path} has no item schema"
    for index, child in enumerate(value):
        _check(schema.items, child, f"{path}[{index}]", result)


def _scalar_error(schema: Schema, value: object, path: str) -> FieldError | None:
    """Return the error of a scalar value against its schema, or None when it fits."""
    kind = schema.type
    if kind is SchemaType.STRING:
        return None if isinstance(value, str) else _type_error(schema, value, path)
    if kind is SchemaType.BOOLEAN:
        return None if isinstance(value, bool) else _type_error(schema, value, path)
    if kind is SchemaType.NUMBER:
        return None if _is_number(value) else _type_error(schema, value, path)
    if kind is SchemaType.FREE_FORM:
        return None if isinstance(value, dict) else _type_error(schema, value, path)
    if kind is SchemaType.INTEGER:
        return _integer_error(schema, value, path)
    if kind is SchemaType.INT_OR_STRING:
        if isinstance(value, str):
            return None
        return _integer_error(schema, value, path)
    if kind is SchemaType.QUANTITY:
        return _quantity_error(schema, value, path)
    if kind is SchemaType.DATE_TIME:
        return _date_time_error(schema, value, path)
    if kind is SchemaType.BYTES:
        return _bytes_error(schema, value, path)
    raise AssertionError(f"schema type {kind} at {path} is not a scalar")


def _integer_error(schema: Schema, value: object, path: str) -> FieldError | None:
    if not _is_integer(value):
        return _type_error(schema, value, path)
    assert isinstance(value, int)
    low, high = schema.integer_range()
    if low <= value <= high:
        return None
    width = "int64" if schema.format == "int64" else "int32"
    return FieldError(path, value, f"{path} in body must be an {width}, between {low} and {high}")


def _quantity_error(schema: Schema, value: object, path: str) -> FieldError | None:
    if isinstance(value, str):
        text = value
    elif _is_number(value):
        text = str(value)
    else:
        return _type_error(schema, value, path)
    try:
        parse_quantity(text)
    except InvalidQuantityError as error:
        return FieldError(path, value, error.detail)
    return None


def _date_time_error(schema: Schema, value: object, path: str) -> FieldError | None:
    if not isinstance(value, str):
        return _type_error(schema, value, path)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    # RFC 3339 needs the date, the time and an offset, which fromisoformat
    # alone does not insist on ("2024-01-02" parses there).
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        return FieldError(
            path, value, f"{path} in body must be of type date-time in RFC 3339 form, such as 2024-01-02T15:04:05Z"
        )
    return None


def _bytes_error(schema: Schema, value: object, path: str) -> FieldError | None:
    if not isinstance(value, str):
        return _type_error(schema, value, path)
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return FieldError(path, "<value omitted>", f"{path} in body must be base64-encoded data")
    return None
