"""JSON merge patch (RFC 7386, application/merge-patch+json) and its diff.

A merge patch is a JSON object shaped like the target: its members replace
the target's, objects merge recursively, null deletes a member, and any
other value, lists included, replaces the old one whole. ``create_merge_patch``
computes the patch that turns one document into another, for clients and
tests. It cannot express a null member of an object, because RFC 7386
reads null as "delete".
"""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with the RFC 7386 ``patch`` applied; both stay unchanged."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """Apply ``patch`` to ``target`` in place; ``target`` must own every nested value."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            if not isinstance(current, dict):
                current = {}
                target[key] = current
            _merge_into(current, value)
        else:
            target[key] = copy.deepcopy(value)


def create_merge_patch(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """Return the merge patch that turns ``source`` into ``target``.

    Raises ValueError if ``target`` has a null member that ``source`` lacks
    or has another value for, because a merge patch cannot set a null.
    """
    patch: dict[str, Any] = {}
    for key in source:
        if key not in target:
            patch[key] = None
    for key, wanted in target.items():
        if wanted is None and (key not in source or source[key] is not None):
            raise ValueError(f"member {key!r} is null in the target, which a merge patch cannot express")
        if key not in source:
            patch[key] = copy.deepcopy(wanted)
            continue
        present = source[key]
        if isinstance(present, dict) and isinstance(wanted, dict):
            nested = create_merge_patch(present, wanted)
            if nested:
                patch[key] = nested
        elif not json_equal(present, wanted):
            patch[key] = copy.deepcopy(wanted)
    return patch


def json_equal(left: Any, right: Any) -> bool:
    """Compare two JSON values as JSON does: true is not 1, and 1 equals 1.0."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict):
        return (
            isinstance(right, dict)
            and left.keys() == right.keys()
            and all(json_equal(value, right[key]) for key, value in left.items())
        )
    if isinstance(left, list):
        return (
            isinstance(right, list)
            and len(left) == len(right)
            and all(json_equal(a, b) for a, b in zip(left, right))
        )
    if isinstance(left, (int, float)) and isinstance(right, (int, float)):
        return left == right
    # Strings and null: equal only to a value of the same type.
    return type(left) is type(right) and bool(left == right)
