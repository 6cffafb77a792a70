"""Metadata that the server, not the client, owns.

On create the server assigns uid, creationTimestamp and generation 1, fills
the name from generateName and clears fields a client may not set. On
update it keeps those fields from the stored object, bumps generation only
when something other than metadata and status changed, and keeps the
deletion fields. This mirrors Kubernetes' ObjectMeta handling in its
generic registry.
"""

from __future__ import annotations

import copy
import datetime
import secrets
import uuid
from typing import Any

Object = dict[str, Any]

GENERATE_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""Characters of generated name suffixes: Kubernetes leaves out vowels and
look-alike digits so a suffix never spells a word or misreads."""

GENERATE_NAME_SUFFIX = 5
MAX_NAME_LENGTH = 253
SERVER_OWNED_METADATA = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(prefix: str) -> str:
    """Return ``prefix`` plus a random suffix, trimming the prefix to keep 253 characters."""
    suffix = "".join(secrets.choice(GENERATE_NAME_ALPHABET) for _ in range(GENERATE_NAME_SUFFIX))
    return prefix[: MAX_NAME_LENGTH - GENERATE_NAME_SUFFIX] + suffix


def metadata_of(obj: Object) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
        obj["metadata"] = metadata
    return metadata


def prepare_create(obj: Object) -> None:
    """Stamp server-owned metadata on a new object, in place."""
    metadata = metadata_of(obj)
    for field in SERVER_OWNED_METADATA:
        metadata.pop(field, None)
    metadata.pop("resourceVersion", None)
    metadata.pop("selfLink", None)
    metadata["uid"] = str(uuid.uuid4())
    metadata["creationTimestamp"] = now_rfc3339()
    metadata["generation"] = 1


def spec_changed(new: Object, old: Object) -> bool:
    """Return whether anything outside metadata and status differs."""
    ignored = {"metadata", "status", "apiVersion", "kind"}
    keys = (set(new) | set(old)) - ignored
    return any(new.get(k) != old.get(k) for k in keys)


def prepare_update(new: Object, old: Object, *, status_only: bool, has_status: bool) -> Object:
    """Return the object to store for an update of ``old`` by ``new``.

    A main-resource update of a kind with a status subresource keeps the old
    status. A status update takes status from ``new`` and everything else
    from ``old``, except labels, annotations, finalizers and ownerReferences,
    which Kubernetes lets a status writer change too.
    """
    old_meta = old.get("metadata", {})
    if status_only:
        result = copy.deepcopy(old)
        result["status"] = copy.deepcopy(new.get("status", {}))
        new_meta = new.get("metadata", {})
        result_meta = metadata_of(result)
        for field in ("labels", "annotations", "finalizers", "ownerReferences"):
            if field in new_meta:
                result_meta[field] = copy.deepcopy(new_meta[field])
        return result
    result = copy.deepcopy(new)
    meta = metadata_of(result)
    for field in SERVER_OWNED_METADATA:
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    meta["name"] = old_meta.get("name")
    if "namespace" in old_meta:
        meta["namespace"] = old_meta["namespace"]
    meta.pop("selfLink", None)
    if has_status:
        if "status" in old:
            result["status"] = copy.deepcopy(old["status"])
        else:
            result.pop("status", None)
    if spec_changed(result, old):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    return result
