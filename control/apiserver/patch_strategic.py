"""Kubernetes strategic merge patch (application/strategic-merge-patch+json).

A strategic merge patch is a JSON merge patch (RFC 7386) in which some lists
merge item by item instead of being replaced: containers by name, ports by
containerPort, conditions by type (patch_keys has the table). Maps merge
key by key, and null deletes a key. Keys that start with "$" are directives:

- ``"$patch": "replace"`` in a map replaces the map with the rest of the
  patch map. ``"$patch": "delete"`` empties it. ``"$patch": "merge"``
  merges as if the directive were absent.
- In a merging list, an item ``{"$patch": "delete", "name": "x"}`` deletes
  every item with that merge key value, and an item
  ``{"$patch": "replace"}`` makes the other patch items the whole list.
- ``"$retainKeys": [...]`` in a map clears every key of the original that
  the list does not name (kubectl sends it for one-of fields such as a
  Deployment's strategy and a volume's source).
- ``"$deleteFromPrimitiveList/<field>": [...]`` removes those values from a
  list of scalars, such as finalizers.
- ``"$setElementOrder/<field>": [...]`` gives the order of the merged list.
  Items that only the original has stay near their original neighbours.

The order of a merged list follows Kubernetes (apimachinery
strategicpatch, release 1.32): patch items keep the patch's order,
original-only items keep theirs, and the two runs are interleaved by the
items' positions in the original list. So a new container listed before
an existing one in the patch lands before it.

Differences from Kubernetes:

- ``$patch: merge`` is accepted on maps and list items as a no-op, where
  Kubernetes rejects it ("merging lists cannot yet be specified").
- Values taken from the patch without an original counterpart are cleaned:
  nulls and directives inside them are applied to an empty value, where
  Kubernetes stores them as sent and drops the nulls when it decodes the
  object. The stored object is the same either way.
- A field the Go types do not know merges as a plain map or an atomic list,
  where Kubernetes rejects the patch. The structure check of the API server
  reports unknown fields afterwards.
- ``$deleteFromPrimitiveList`` on a field without a list in the original is
  ignored, where Kubernetes (release 1.32) stores the deletion list there.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterable
from typing import Any

import orjson

from pykube_control.apiserver.patch_errors import InvalidPatch, render
from pykube_control.apiserver.patch_keys import PRIMITIVE_SET, merge_key

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"

REPLACE = "replace"
DELETE = "delete"
MERGE = "merge"

_ABSENT = object()


def strategic_merge(original: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Return ``original`` with the strategic merge ``patch`` applied; both stay unchanged.

    Raises InvalidPatch, with the field path, for a directive that is not
    well formed or a merging list item without its merge key.
    """
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), "")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
    """Merge ``patch`` into ``original`` in place and return the result, which may be new."""
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        body = {key: value for key, value in patch.items() if key != DIRECTIVE}
        if directive == REPLACE:
            return _merge_map({}, body, path)
        if directive == DELETE:
            return {}
        if directive != MERGE:
            raise InvalidPatch(
                f"unknown $patch directive {render(directive)} in a map; use replace, delete or merge",
                field=path,
            )
        patch = body

    _apply_retain_keys(original, patch, path)
    ordered = _apply_element_orders(original, patch, path)

    for key, value in patch.items():
        if key in ordered or key == RETAIN_KEYS:
            continue
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key, value, path)
        elif key.startswith("$"):
            raise InvalidPatch(
                f"unknown directive {key!r}; strategic merge patch directives are $patch, "
                "$retainKeys, $deleteFromPrimitiveList/<field> and $setElementOrder/<field>",
                field=path,
            )
        else:
            _merge_field(original, key, value, _child(path, key))
    return original


def _merge_field(original: dict[str, Any], key: str, value: Any, path: str) -> None:
    if value is None:
        original.pop(key, None)
        return

    current = original.get(key)
    if isinstance(current, dict) and isinstance(value, dict):
        original[key] = _merge_map(current, value, path)
    elif isinstance(current, list) and isinstance(value, list):
        original[key] = _merge_list_field(current, value, path)
    else:
        # Absent, null, or a different JSON type: the patch value wins.
        original[key] = _fresh(value, path)


def _fresh(value: Any, path: str) -> Any:
    """Return a patch value that has nothing to merge with, with its directives applied."""
    if isinstance(value, dict):
        return _merge_map({}, value, path)
    if isinstance(value, list):
        return _merge_list_field([], value, path)
    return value


def _merge_list_field(current: list[Any], patch: list[Any], path: str) -> list[Any]:
    key = merge_key(path)
    if key is None:
        return [_fresh(item, path) for item in patch]
    return _merge_list(current, patch, key, path)


# --- lists ------------------------------------------------------------------


def _identity(value: Any) -> Hashable:
    """Return a hashable stand-in for a JSON value that keeps true and 1 apart."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if value is None:
        return ("null", None)
    return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _item_id(item: Any, key: str) -> Hashable:
    """Return the identity of a list item: its merge key value, or itself for scalars."""
    if key == PRIMITIVE_SET:
        return _identity(item)
    if isinstance(item, dict) and key in item:
        return _identity(item[key])
    # An original item without its merge key matches nothing.
    return ("unmatched", id(item))


def _require_merge_key(item: Any, key: str, path: str) -> None:
    if not isinstance(item, dict) or key not in item:
        raise InvalidPatch(
            f"list item {render(item)} does not contain the merge key {key!r}; "
            f"every item of this list needs {key!r}",
            field=path,
        )


def _check_element_types(items: Iterable[Any], key: str, path: str) -> None:
    """Raise InvalidPatch unless every item is an object (merge key) or a scalar (set)."""
    want_objects = key != PRIMITIVE_SET
    for item in items:
        if isinstance(item, list):
            raise InvalidPatch("lists of lists are not supported", field=path)
        if isinstance(item, dict) != want_objects:
            expected = f"objects with the merge key {key!r}" if want_objects else "scalars"
            raise InvalidPatch(
                f"list item {render(item)} has the wrong type: this list contains {expected}",
                field=path,
            )


def _merge_list(original: list[Any], patch: list[Any], key: str, path: str) -> list[Any]:
    """Merge a patch list into a merging list: by merge key, or as a set of scalars."""
    if not original and not patch:
        return original
    _check_element_types(original, key, path)
    _check_element_types(patch, key, path)

    if key == PRIMITIVE_SET:
        merged = _unique(original + patch, key)
        return _restore_order(merged, patch, original, key)

    survivors, additions, replace = _split_item_directives(original, patch, key, path)
    if replace:
        return [_merge_map({}, item, path) for item in additions]

    merged = list(survivors)
    for item in additions:
        position = _find(merged, _identity(item[key]), key)
        if position is None:
            merged.append(_merge_map({}, item, path))
        else:
            merged[position] = _merge_map(merged[position], item, path)
    return _restore_order(merged, additions, survivors, key)


def _split_item_directives(
    original: list[Any], patch: list[Any], key: str, path: str
) -> tuple[list[Any], list[dict[str, Any]], bool]:
    """Apply the $patch items of a patch list.

    Returns the original items that survive deletion, the patch items left to
    merge, and whether a ``{"$patch": "replace"}`` item asked to replace the list.
    """
    survivors = list(original)
    additions: list[dict[str, Any]] = []
    replace = False
    for item in patch:
        directive = item.get(DIRECTIVE, _ABSENT)
        if directive is _ABSENT:
            _require_merge_key(item, key, path)
            additions.append(item)
        elif directive == DELETE:
            _require_merge_key(item, key, path)
            doomed = _identity(item[key])
            survivors = [entry for entry in survivors if _item_id(entry, key) != doomed]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            _require_merge_key(item, key, path)
            additions.append({name: value for name, value in item.items() if name != DIRECTIVE})
        else:
            raise InvalidPatch(
                f"unknown $patch directive {render(directive)} in list item {render(item)}; "
                "use delete, replace or merge",
                field=path,
            )
    return survivors, additions, replace


def _find(items: list[Any], identity: Hashable, key: str) -> int | None:
    for position, item in enumerate(items):
        if _item_id(item, key) == identity:
            return position
    return None


def _unique(items: list[Any], key: str) -> list[Any]:
    seen: set[Hashable] = set()
    result = []
    for item in items:
        identity = _item_id(item, key)
        if identity not in seen:
            seen.add(identity)
            result.append(item)
    return result


def _positions(order: list[Any], key: str) -> dict[Hashable, int]:
    positions: dict[Hashable, int] = {}
    for position, item in enumerate(order):
        positions.setdefault(_item_id(item, key), position)
    return positions


def _sorted_by(items: list[Any], order: list[Any], key: str) -> list[Any]:
    positions = _positions(order, key)
    return sorted(items, key=lambda item: positions.get(_item_id(item, key), len(order)))


def _restore_order(merged: list[Any], patch_order: list[Any], server_order: list[Any], key: str) -> list[Any]:
    """Order a merged list the way Kubernetes does.

    Items named in ``patch_order`` follow that order; the others keep their
    order in ``server_order`` (the original list). The two runs are then
    interleaved: an original-only item goes first only while it precedes the
    next patch item in the original list. Example: original [a, b], patch
    [c, b] gives [c, a, b], because c is new and so cannot be placed by the
    original order.
    """
    named = {_item_id(item, key) for item in patch_order}
    from_patch = _sorted_by([item for item in merged if _item_id(item, key) in named], patch_order, key)
    server_only = _sorted_by([item for item in merged if _item_id(item, key) not in named], server_order, key)

    positions = _positions(server_order, key)
    result = []
    left = right = 0
    while left < len(server_only) and right < len(from_patch):
        left_position = positions.get(_item_id(server_only[left], key))
        right_position = positions.get(_item_id(from_patch[right], key))
        if left_position is not None and right_position is not None and left_position < right_position:
            result.append(server_only[left])
            left += 1
        else:
            result.append(from_patch[right])
            right += 1
    result.extend(server_only[left:])
    result.extend(from_patch[right:])
    return result


# --- directives on maps -----------------------------------------------------


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    if RETAIN_KEYS not in patch:
        return
    retained = patch[RETAIN_KEYS]
    if not isinstance(retained, list) or not all(isinstance(name, str) for name in retained):
        raise InvalidPatch(
            f"invalid $retainKeys {render(retained)}: it must be a list of field names",
            field=path,
        )

    allowed = set(retained)
    for key, value in patch.items():
        if value is None or key.startswith("$"):
            continue
        if key not in allowed:
            raise InvalidPatch(
                f"the patch sets {key!r} but $retainKeys {render(retained)} does not list it; "
                f"add {key!r} to $retainKeys",
                field=path,
            )
    for key in [key for key in original if key not in allowed]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], directive: str, values: Any, path: str) -> None:
    field = directive[len(DELETE_FROM_PRIMITIVE_LIST) :]
    if not field or not isinstance(values, list):
        raise InvalidPatch(
            f"invalid {directive}: the directive needs a field name after the slash "
            f"and a list of values, got {render(values)}",
            field=path,
        )
    current = original.get(field)
    if not isinstance(current, list):
        return
    doomed = {_identity(value) for value in values}
    original[field] = [item for item in current if _identity(item) not in doomed]


def _apply_element_orders(original: dict[str, Any], patch: dict[str, Any], path: str) -> set[str]:
    """Merge and order every list that has a $setElementOrder directive.

    Returns the patch keys handled here (the directives and their lists), which
    the caller skips.
    """
    handled: set[str] = set()
    for directive in [key for key in patch if key.startswith(SET_ELEMENT_ORDER)]:
        handled.add(directive)
        field = directive[len(SET_ELEMENT_ORDER) :]
        order = patch[directive]
        if not field or not isinstance(order, list):
            raise InvalidPatch(
                f"invalid {directive}: the directive needs a field name after the slash "
                f"and a list, got {render(order)}",
                field=path,
            )
        if _order_list(original, patch, field, order, _child(path, field)):
            handled.add(field)
    return handled


def _order_list(original: dict[str, Any], patch: dict[str, Any], field: str, order: list[Any], path: str) -> bool:
    """Merge ``patch[field]`` into ``original[field]`` in the given order; False if left to the caller."""
    key = merge_key(path)
    patch_list = patch.get(field, _ABSENT)
    current = original.get(field)
    if key is None or patch_list is None:
        # The patch replaces an atomic list whatever the order, and null deletes the field.
        return False
    if patch_list is not _ABSENT and not isinstance(patch_list, list):
        raise InvalidPatch(
            f"{SET_ELEMENT_ORDER}{field} is set but the patch value of {field!r} is not a list: "
            f"{render(patch_list)}",
            field=path,
        )
    if not isinstance(current, list):
        current = None
    if patch_list is _ABSENT and current is None:
        return True

    if key != PRIMITIVE_SET:
        for item in order:
            _require_merge_key(item, key, path)
    if isinstance(patch_list, list):
        _check_order_agrees(patch_list, order, key, path)
        merged = _merge_list(current or [], patch_list, key, path)
    else:
        merged = list(current or [])
    original[field] = _restore_order(merged, order, current or [], key)
    return True


def _check_order_agrees(patch_items: list[Any], order: list[Any], key: str, path: str) -> None:
    """Raise InvalidPatch unless the patch items appear in ``order``, in the same relative order."""
    items = [item for item in patch_items if not _is_directive_item(item)]
    if not items or not order:
        return
    if key != PRIMITIVE_SET:
        for item in items:
            _require_merge_key(item, key, path)

    matched = 0
    for entry in order:
        if matched == len(items):
            break
        if _item_id(items[matched], key) == _item_id(entry, key):
            matched += 1
    if matched < len(items):
        raise InvalidPatch(
            f"the patch list {render(patch_items)} does not follow the order of "
            f"$setElementOrder {render(order)}; list every patch item in $setElementOrder, "
            "in the same order",
            field=path,
        )


def _is_directive_item(item: Any) -> bool:
    return isinstance(item, dict) and DIRECTIVE in item
