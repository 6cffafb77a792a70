"""PATCH: apply a request body to a stored object, by the body's Content-Type.

The HTTP layer reads the stored object, calls ``apply_patch`` and then
validates and writes the result as it would an update. Three formats are
applied here, each in its own module:

- application/json-patch+json: RFC 6902 operations (patch_json),
- application/merge-patch+json: RFC 7386 merge (patch_merge),
- application/strategic-merge-patch+json: Kubernetes' strategic merge
  (patch_strategic, with the merge keys in patch_keys), which is what
  ``kubectl apply``, ``kubectl edit`` and ``kubectl patch`` send by default.

Everything here is pure: no I/O, no store access, and the stored object
passed in is never modified.

Differences from Kubernetes:

- Server-side apply (application/apply-patch+yaml) is not supported and
  raises UnsupportedPatchType, so ``kubectl apply --server-side`` fails
  with 415 while client-side ``kubectl apply`` works.
- A patch that changes apiVersion or kind is rejected with 400, where
  Kubernetes ignores the change for a strategic merge patch.
"""

from __future__ import annotations

from typing import Any

import orjson

from pykube_control.apiserver.patch_errors import InvalidPatch, UnsupportedPatchType, render
from pykube_control.apiserver.patch_json import UNPROCESSABLE, json_patch
from pykube_control.apiserver.patch_merge import create_merge_patch, merge_patch
from pykube_control.apiserver.patch_strategic import strategic_merge
from pykube_control.apiserver.resources import ResourceType

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGE_PATCH",
    "STRATEGIC_MERGE_PATCH",
    "SUPPORTED_PATCH_TYPES",
    "InvalidPatch",
    "UnsupportedPatchType",
    "apply_patch",
    "create_merge_patch",
]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

SUPPORTED_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)
"""Content types ``apply_patch`` accepts, in the order Kubernetes lists them."""


def apply_patch(
    content_type: str, original: dict[str, Any], patch: bytes, resource: ResourceType
) -> dict[str, Any]:
    """Return ``original`` with the ``patch`` body applied in the format ``content_type`` names.

    ``content_type`` is the request's Content-Type header; parameters such as
    ``; charset=utf-8`` are ignored. Raises UnsupportedPatchType for any other
    type and InvalidPatch for a body that does not parse, cannot be applied,
    or leaves something other than a ``resource`` object.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == APPLY_PATCH:
        # TODO: server-side apply (field managers in metadata.managedFields, conflicts).
        raise UnsupportedPatchType(
            content_type,
            SUPPORTED_PATCH_TYPES,
            reason="server-side apply is not supported; use client-side kubectl apply",
        )
    if media_type not in SUPPORTED_PATCH_TYPES:
        raise UnsupportedPatchType(content_type, SUPPORTED_PATCH_TYPES)

    body = _parse(patch)
    if media_type == JSON_PATCH:
        result = json_patch(original, body)
    elif not isinstance(body, dict):
        raise InvalidPatch(f"a {media_type} body must be a JSON object, got {render(body, 80)}")
    elif media_type == MERGE_PATCH:
        result = merge_patch(original, body)
    else:
        result = strategic_merge(original, body)

    if not isinstance(result, dict):
        raise InvalidPatch(
            f"the patched {resource.kind} is {render(result, 80)}, not a JSON object",
            status=UNPROCESSABLE,
        )
    _check_type_kept(original, result)
    return result


def _parse(patch: bytes) -> Any:
    if not patch.strip():
        raise InvalidPatch("the patch body is empty")
    try:
        return orjson.loads(patch)
    except orjson.JSONDecodeError as error:
        raise InvalidPatch(f"the patch body is not valid JSON: {error}") from error


def _check_type_kept(original: dict[str, Any], result: dict[str, Any]) -> None:
    """Raise InvalidPatch if the patch changed apiVersion or kind."""
    for field in ("apiVersion", "kind"):
        before = original.get(field)
        after = result.get(field)
        if before is not None and after != before:
            raise InvalidPatch(
                f"Invalid value: {render(after, 80)}: a patch cannot change {field} "
                f"(the object is {render(before, 80)}); remove {field} from the patch",
                field=field,
            )
