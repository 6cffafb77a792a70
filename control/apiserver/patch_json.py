"""JSON patch (RFC 6902, application/json-patch+json) on a stored object.

The operations run through the ``jsonpatch`` package one at a time, so an
error names the index of the operation that failed and its path. Each
operation is checked for shape first (400 BadRequest, as Kubernetes returns
for a patch it cannot decode); an operation that does not fit the object, such
as removing a missing member or a failing ``test``, is a 422.

Differences from the ``jsonpatch`` package: ``test`` compares as JSON does,
so true does not equal 1. Error messages never quote the object, because
it may be a Secret.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from pykube_control.apiserver.patch_errors import InvalidPatch, render
from pykube_control.apiserver.patch_merge import json_equal

MAX_OPERATIONS = 10_000
"""Operations per JSON patch; Kubernetes (1.32) rejects longer patches with 413."""

_NEEDS_VALUE = frozenset({"add", "replace", "test"})
_NEEDS_FROM = frozenset({"move", "copy"})
_OPERATIONS = _NEEDS_VALUE | _NEEDS_FROM | {"remove"}

UNPROCESSABLE = 422
TOO_LARGE = 413


def json_patch(original: dict[str, Any], operations: Any) -> Any:
    """Return ``original`` with the RFC 6902 ``operations`` applied; ``original`` stays unchanged.

    The result is whatever JSON value the operations leave, not always an
    object (``{"op": "replace", "path": ""}`` can replace the root).
    """
    if not isinstance(operations, list):
        raise InvalidPatch(f"a JSON patch must be a JSON array of operations, got {render(operations, 80)}")
    if len(operations) > MAX_OPERATIONS:
        raise InvalidPatch(
            f"the JSON patch has {len(operations)} operations, more than the maximum "
            f"{MAX_OPERATIONS}; split it into several requests",
            status=TOO_LARGE,
        )
    for index, operation in enumerate(operations):
        _check_shape(index, operation)

    document: Any = copy.deepcopy(original)
    for index, operation in enumerate(operations):
        document = _apply_one(document, index, operation)
    return document


def _check_shape(index: int, operation: Any) -> None:
    if not isinstance(operation, dict):
        raise InvalidPatch(f"JSON patch operation {index} is {render(operation, 80)}, not a JSON object")

    name = operation.get("op")
    if name not in _OPERATIONS:
        raise InvalidPatch(
            f"JSON patch operation {index} has op {render(name, 80)}; "
            "use add, remove, replace, move, copy or test"
        )
    _check_pointer(index, name, "path", operation.get("path"))
    if name in _NEEDS_VALUE and "value" not in operation:
        raise InvalidPatch(f'JSON patch operation {index} ({name}) is missing "value"')
    if name in _NEEDS_FROM:
        _check_pointer(index, name, "from", operation.get("from"))


def _check_pointer(index: int, name: str, member: str, pointer: Any) -> None:
    if not isinstance(pointer, str):
        raise InvalidPatch(f'JSON patch operation {index} ({name}) needs "{member}" as a JSON pointer string')
    if pointer and not pointer.startswith("/"):
        raise InvalidPatch(
            f'JSON patch operation {index} ({name}) has {member} {pointer!r}, which is not a JSON '
            f'pointer; write it as "/{pointer}"'
        )


def _apply_one(document: Any, index: int, operation: dict[str, Any]) -> Any:
    name = operation["op"]
    path = operation["path"]
    if name == "test":
        _test(document, index, path, operation["value"])
        return document
    try:
        return jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
    except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException) as error:
        raise InvalidPatch(
            f"JSON patch operation {index} ({name} {path!r}) failed: {_reason(operation, error)}",
            status=UNPROCESSABLE,
        ) from error
    except jsonpatch.InvalidJsonPatch as error:
        raise InvalidPatch(f"JSON patch operation {index} ({name} {path!r}) is invalid: {error}") from error


def _test(document: Any, index: int, path: str, expected: Any) -> None:
    try:
        actual = jsonpointer.resolve_pointer(document, path)
    except jsonpointer.JsonPointerException as error:
        raise InvalidPatch(
            f"JSON patch operation {index} (test {path!r}) failed: the path does not exist",
            status=UNPROCESSABLE,
        ) from error
    if not json_equal(actual, expected):
        raise InvalidPatch(
            f"JSON patch operation {index} (test {path!r}) failed: the value is not equal to "
            f"{render(expected, 80)}",
            status=UNPROCESSABLE,
        )


def _reason(operation: dict[str, Any], error: Exception) -> str:
    """Return why an operation failed, without the document text the library quotes."""
    if isinstance(error, jsonpointer.JsonPointerException):
        if operation["op"] in _NEEDS_FROM:
            return f"the path or the source {operation['from']!r} does not exist"
        return "the path does not exist"
    text = str(error)
    if "outside of list" in text:
        return "the list index is out of range"
    if "non-existent" in text:
        return "the path does not exist"
    if operation["op"] in _NEEDS_FROM:
        return f"the source {operation['from']!r} does not exist or cannot move there"
    return "the path does not exist"
