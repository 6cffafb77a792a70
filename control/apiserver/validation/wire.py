"""Tolerant readers for objects decoded from JSON.

A validator may see any JSON value where a schema promises an object: the
schema checker runs first, but validators must still never raise on odd
input. These readers turn a value of the wrong JSON type into the empty
value of the right type, so the checks that follow report "Required value"
or nothing, and never raise KeyError, TypeError or AttributeError.
"""

from __future__ import annotations

from typing import Any

JSONObject = dict[str, Any]


def as_dict(value: object) -> JSONObject:
    """Return ``value`` when it is a JSON object, else a new empty dict."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """Return ``value`` when it is a JSON array, else a new empty list."""
    return value if isinstance(value, list) else []


def as_str(value: object) -> str:
    """Return ``value`` when it is a string, else ""."""
    return value if isinstance(value, str) else ""


def as_int(value: object) -> int | None:
    """Return ``value`` when it is an integer (booleans excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def dig(obj: object, *keys: str) -> Any:
    """Return ``obj[k1][k2]...``, or None as soon as a step is missing or not an object."""
    current: Any = obj
    for key in keys:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def child_dict(parent: JSONObject, key: str) -> JSONObject | None:
    """Return ``parent[key]`` for defaulting, creating {} when it is missing or null.

    Returns None when the member has another JSON type, so defaulting leaves
    it for validation to report.
    """
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else None


def string_map(value: object) -> dict[str, str]:
    """Return the string-to-string members of a JSON object, dropping the rest."""
    return {key: item for key, item in as_dict(value).items() if isinstance(item, str)}


def set_default(obj: JSONObject, key: str, value: object) -> None:
    """Set ``obj[key]`` to ``value`` when it is missing, null or "".

    Kubernetes defaults a string field when it has Go's zero value "" and a
    pointer field when it is nil, so "" and null both count as unset here.
    """
    if obj.get(key) is None or obj.get(key) == "":
        obj[key] = value


def set_default_if_zero(obj: JSONObject, key: str, value: int) -> None:
    """Set ``obj[key]`` to ``value`` when it is missing, null or 0.

    For Kubernetes' non-pointer integer fields (probe periods, thresholds),
    where 0 means "not set" and is defaulted.
    """
    current = obj.get(key)
    if current is None or (as_int(current) == 0):
        obj[key] = value
