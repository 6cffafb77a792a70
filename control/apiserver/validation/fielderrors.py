"""Constructors for Kubernetes' field error types, one per ``field.ErrorType``.

pykube_core.errors.FieldError carries the path, value, detail and type;
these helpers fix the detail and value conventions of each type the way
k8s.io/apimachinery/pkg/util/validation/field does, so that a message reads
``spec.replicas: Invalid value: -1: must be greater than or equal to 0``.
Validators return lists of these errors and never raise them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from pykube_core.errors import ErrorType, FieldError

IMMUTABLE_MESSAGE = "field is immutable"
NEGATIVE_MESSAGE = "must be greater than or equal to 0"


def required(path: str, detail: str = "") -> FieldError:
    """Return a "Required value" error; Kubernetes prints no value for this type."""
    return FieldError(path, "", detail, error_type=ErrorType.REQUIRED)


def invalid(path: str, value: object, detail: str) -> FieldError:
    return FieldError(path, value, detail, error_type=ErrorType.INVALID)


def invalid_each(path: str, value: object, messages: Iterable[str]) -> list[FieldError]:
    """Return one "Invalid value" error per message of a format check."""
    return [invalid(path, value, message) for message in messages]


def not_supported(path: str, value: object, supported: Iterable[str]) -> FieldError:
    """Return an "Unsupported value" error listing ``supported`` as Go's %q quotes them."""
    quoted = ", ".join(json.dumps(option) for option in supported)
    detail = f"supported values: {quoted}" if quoted else ""
    return FieldError(path, value, detail, error_type=ErrorType.NOT_SUPPORTED)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "", detail, error_type=ErrorType.FORBIDDEN)


def duplicate(path: str, value: object) -> FieldError:
    return FieldError(path, value, "", error_type=ErrorType.DUPLICATE)


def not_found(path: str, value: object) -> FieldError:
    return FieldError(path, value, "", error_type=ErrorType.NOT_FOUND)


def too_long(path: str, value: object, max_bytes: int) -> FieldError:
    return FieldError(path, value, f"must have at most {max_bytes} bytes", error_type=ErrorType.TOO_LONG)


def too_many(path: str, actual: int, max_items: int) -> FieldError:
    return FieldError(path, actual, f"must have at most {max_items} items", error_type=ErrorType.TOO_MANY)


def immutable(path: str, value: object) -> FieldError:
    """Return Kubernetes' ``Invalid value: <new>: field is immutable`` error."""
    return invalid(path, value, IMMUTABLE_MESSAGE)


def check_immutable(path: str, new: object, old: object) -> list[FieldError]:
    """Return an immutable-field error when ``new`` differs from ``old``, else nothing."""
    if new == old:
        return []
    return [immutable(path, new)]
