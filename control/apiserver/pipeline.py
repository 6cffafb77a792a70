"""The checks every written object goes through, in Kubernetes' order.

decode -> type and version (converting old versions) -> structural check
against the schema (wrong types are 422 Invalid; unknown fields are
rejected, warned about or dropped per ``fieldValidation``) -> defaults ->
validation. Admission and the store write follow in the handlers.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver import conversion, schema
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.status import APIError, bad_request, invalid
from pykube_control.apiserver.validation import registry as validation

Object = dict[str, Any]

FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")


@dataclasses.dataclass
class Prepared:
    obj: Object
    warnings: list[str]


def field_validation_mode(value: str | None) -> str:
    """Return the fieldValidation mode; Kubernetes defaults to Warn."""
    if not value:
        return "Warn"
    if value not in FIELD_VALIDATION_MODES:
        raise bad_request(
            f'fieldValidation must be one of "Ignore", "Warn" or "Strict", not "{value}"'
        )
    return value


def name_of(obj: Object) -> str:
    metadata = obj.get("metadata") or {}
    name = metadata.get("name") or metadata.get("generateName") or ""
    return name if isinstance(name, str) else ""


def check_type(resource: ResourceType, obj: Object) -> list[str]:
    """Check apiVersion and kind against the URL's resource, converting old versions.

    Missing apiVersion or kind are filled in from the URL. Return warnings.
    """
    warnings: list[str] = []
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if kind is None:
        obj["kind"] = kind = resource.kind
    if api_version is None:
        obj["apiVersion"] = api_version = resource.group_version
    if not isinstance(api_version, str) or not isinstance(kind, str):
        raise bad_request("apiVersion and kind must be strings")
    if kind != resource.kind:
        raise bad_request(
            f"the kind of the object ({kind}) does not match the resource of the request "
            f"({resource.kind}, {resource.plural}); send it to the {kind} endpoint"
        )
    if api_version == resource.group_version:
        return warnings
    if conversion.is_deprecated_version(api_version, kind):
        converted, warning = conversion.convert_to_current(obj)
        obj.clear()
        obj.update(converted)
        if warning:
            warnings.append(warning)
        if obj.get("apiVersion") == resource.group_version:
            return warnings
    raise bad_request(
        f"the API version in the data ({api_version}) does not match the expected API version "
        f"({resource.group_version})"
    )


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def prune(obj: Object, path: str) -> None:
    """Remove the field at a path such as ``spec.containers[0].foo`` (a no-op if absent)."""
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(path):
        parts.append(int(index) if index else name)
    current: Any = obj
    for part in parts[:-1]:
        if isinstance(part, int):
            if not isinstance(current, list) or part >= len(current):
                return
        elif not isinstance(current, dict) or part not in current:
            return
        current = current[part]
    last = parts[-1] if parts else None
    if isinstance(current, dict) and isinstance(last, str):
        current.pop(last, None)


def check_structure(resource: ResourceType, obj: Object, mode: str) -> list[str]:
    """Apply the schema's type check; handle unknown fields per ``mode``; return warnings."""
    result = schema.check_structure(resource, obj)
    if result.errors:
        raise invalid(resource, name_of(obj), list(result.errors))
    if not result.unknown_fields:
        return []
    if mode == "Strict":
        listed = ", ".join(f'unknown field "{path}"' for path in result.unknown_fields)
        raise bad_request(f"strict decoding error: {listed}")
    for path in result.unknown_fields:
        prune(obj, path)
    if mode == "Warn":
        return [f'unknown field "{path}"' for path in result.unknown_fields]
    return []


def prepare_input(resource: ResourceType, obj: Object, mode: str) -> list[str]:
    """Run the type, version and structure checks on a decoded body; return warnings."""
    warnings = check_type(resource, obj)
    warnings += check_structure(resource, obj, mode)
    return warnings


def defaults_and_validate_create(resource: ResourceType, obj: Object) -> None:
    validation.apply_defaults(resource, obj)
    raise_invalid(resource, obj, validation.validate_create(resource, obj))


def defaults_and_validate_update(resource: ResourceType, obj: Object, old: Object, *, status: bool) -> None:
    # Keep what the server allocated (a Service's cluster IPs, node ports)
    # when the client's update leaves it out, as Kubernetes does.
    validation.prepare_update(resource, obj, old)
    validation.apply_defaults(resource, obj)
    if status:
        errors = validation.validate_status_update(resource, obj, old)
    else:
        errors = validation.validate_update(resource, obj, old)
    raise_invalid(resource, obj, errors)


def raise_invalid(resource: ResourceType, obj: Object, errors: list[FieldError]) -> None:
    if errors:
        raise invalid(resource, name_of(obj), errors)


__all__ = ["APIError", "Prepared", "field_validation_mode", "prepare_input"]
