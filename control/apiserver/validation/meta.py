"""ObjectMeta checks shared by every kind: names, namespace, labels, annotations, owners.

Kubernetes checks names per kind: most kinds need a DNS-1123 subdomain,
Namespaces a DNS-1123 label, Services a DNS-1035 label, and core/v1 Events
only a URL path segment. ``NAME_RULES`` keeps that table and
``validate_meta`` applies it with the rest of ObjectMeta's rules from
k8s.io/apimachinery/pkg/api/validation (objectmeta.go, 1.32).

Differences from Kubernetes:

- Kubernetes skips every ObjectMeta check except the path-segment name for
  core/v1 Events; this module checks their labels and annotations too.
- On update, ``uid`` and ``creationTimestamp`` are compared only when the new
  object sets them, because the HTTP layer copies both from the stored object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import validate_label_key, validate_label_value
from pykube_core.names import name_is_dns_label, name_is_dns_subdomain

from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.validation.fielderrors import (
    NEGATIVE_MESSAGE,
    check_immutable,
    forbidden,
    invalid,
    required,
    too_long,
)
from pykube_control.apiserver.validation.formats import dns1035_label_messages, path_segment_messages
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str

NameCheck = Callable[[str, bool], list[str]]
"""Return the messages for an invalid name; ``prefix`` is true for a generateName."""

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
"""Bytes of all annotation keys and values together, as Kubernetes limits them."""

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"


def _dns1035_name(name: str, prefix: bool) -> list[str]:
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-2] + "a"
    return dns1035_label_messages(name)


def _path_segment_name(name: str, prefix: bool) -> list[str]:
    return path_segment_messages(name)


NAME_RULES: dict[tuple[str, str], NameCheck] = {
    ("", "Namespace"): name_is_dns_label,
    ("", "Service"): _dns1035_name,
    ("", "Event"): _path_segment_name,
}
"""Name rules that differ from the DNS-1123 subdomain most kinds use, by (group, kind)."""


def name_check(resource: ResourceType) -> NameCheck:
    return NAME_RULES.get((resource.group, resource.kind), name_is_dns_subdomain)


def validate_meta(resource: ResourceType, obj: dict[str, Any]) -> list[FieldError]:
    """Check ``obj["metadata"]`` of a new object of ``resource``."""
    meta = as_dict(obj.get("metadata"))
    check = name_check(resource)
    errors: list[FieldError] = []

    generate_name = as_str(meta.get("generateName"))
    if generate_name:
        errors.extend(invalid("metadata.generateName", generate_name, m) for m in check(generate_name, True))
    name = as_str(meta.get("name"))
    if not name:
        errors.append(required("metadata.name", "name or generateName is required"))
    else:
        errors.extend(invalid("metadata.name", name, message) for message in check(name, False))

    errors.extend(_namespace_errors(resource, as_str(meta.get("namespace"))))
    generation = as_int(meta.get("generation"))
    if generation is not None and generation < 0:
        errors.append(invalid("metadata.generation", generation, NEGATIVE_MESSAGE))
    errors.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    errors.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    errors.extend(validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences"))
    errors.extend(validate_finalizers(meta.get("finalizers"), "metadata.finalizers"))
    return errors


def _namespace_errors(resource: ResourceType, namespace: str) -> list[FieldError]:
    if not resource.namespaced:
        if namespace:
            return [forbidden("metadata.namespace", "not allowed on this type")]
        return []
    if not namespace:
        return [required("metadata.namespace")]
    return [invalid("metadata.namespace", namespace, m) for m in name_is_dns_label(namespace, False)]


def validate_meta_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Check the metadata fields an update may not change."""
    new_meta = as_dict(new.get("metadata"))
    old_meta = as_dict(old.get("metadata"))
    errors: list[FieldError] = []
    for key in ("name", "namespace"):
        errors.extend(check_immutable(f"metadata.{key}", new_meta.get(key, ""), old_meta.get(key, "")))
    for key in ("uid", "creationTimestamp"):
        if new_meta.get(key):
            errors.extend(check_immutable(f"metadata.{key}", new_meta.get(key), old_meta.get(key)))
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
        errors.extend(check_immutable(f"metadata.{key}", new_meta.get(key), old_meta.get(key)))

    new_finalizers = as_list(new_meta.get("finalizers"))
    old_finalizers = as_list(old_meta.get("finalizers"))
    if new_meta.get("deletionTimestamp") and any(f not in old_finalizers for f in new_finalizers):
        errors.append(
            forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted")
        )
    return errors


def validate_labels(labels: object, path: str) -> list[FieldError]:
    """Check a label map; Kubernetes reports every key and value at the map's path."""
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [invalid(path, labels, "must be a map of string keys to string values")]
    errors: list[FieldError] = []
    for key, value in sorted(labels.items()):
        errors.extend(invalid(path, key, message) for message in validate_label_key(key))
        if not isinstance(value, str):
            errors.append(invalid(path, value, "label values must be strings"))
            continue
        errors.extend(invalid(path, value, message) for message in validate_label_value(value))
    return errors


def validate_annotations(annotations: object, path: str) -> list[FieldError]:
    """Check annotation keys (qualified names, case-insensitive) and their total size."""
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return [invalid(path, annotations, "must be a map of string keys to string values")]
    errors: list[FieldError] = []
    total = 0
    for key, value in sorted(annotations.items()):
        # Kubernetes lowercases keys before the check, so "Example.com/A" passes.
        errors.extend(invalid(path, key, message) for message in validate_label_key(key.lower()))
        total += len(key.encode()) + len(as_str(value).encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errors.append(too_long(path, "", TOTAL_ANNOTATION_SIZE_LIMIT))
    return errors


def validate_owner_references(references: object, path: str) -> list[FieldError]:
    """Check each owner reference and that at most one has controller: true."""
    errors: list[FieldError] = []
    controllers: list[str] = []
    for reference in as_list(references):
        entry = as_dict(reference)
        errors.extend(_owner_reference_errors(entry, path))
        if entry.get("controller") is True:
            controllers.append(f"{as_str(entry.get('kind'))}/{as_str(entry.get('name'))}")
    if len(controllers) > 1:
        detail = (
            'Only one reference can have Controller set to true. Found "true" in references for '
            + " and ".join(controllers)
        )
        errors.append(invalid(path, controllers, detail))
    return errors


def _owner_reference_errors(reference: dict[str, Any], path: str) -> list[FieldError]:
    api_version = as_str(reference.get("apiVersion"))
    parts = api_version.split("/")
    # "v1" is the core group's version; "a/b/c" does not parse and has no version.
    version = parts[-1] if len(parts) <= 2 else ""
    errors: list[FieldError] = []
    if not version:
        errors.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
    for key, detail in (("kind", "kind must not be empty"), ("name", "name must not be empty"), ("uid", "uid must not be empty")):
        value = as_str(reference.get(key))
        if not value:
            errors.append(invalid(f"{path}.{key}", value, detail))
    return errors


def validate_finalizers(finalizers: object, path: str) -> list[FieldError]:
    """Check finalizer names (qualified names) and the orphan/foreground conflict."""
    names = [as_str(finalizer) for finalizer in as_list(finalizers)]
    errors: list[FieldError] = []
    for index, name in enumerate(names):
        errors.extend(invalid(f"{path}[{index}]", name, message) for message in validate_label_key(name))
    if ORPHAN_FINALIZER in names and FOREGROUND_FINALIZER in names:
        detail = f"finalizer {ORPHAN_FINALIZER} and {FOREGROUND_FINALIZER} cannot be both set"
        errors.append(invalid(path, names, detail))
    return errors
