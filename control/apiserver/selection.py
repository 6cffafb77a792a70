"""Which objects a list or watch request selects.

A request narrows by namespace (from the path), by label selector and by
field selector. Field selectors accept only the fields Kubernetes indexes
for each kind; every kind supports metadata.name and metadata.namespace.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pykube_core.errors import InvalidSelectorError
from pykube_core.fields import FieldSelector, parse_field_selector
from pykube_core.labels import Selector, parse_selector

from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.status import APIError, bad_request

COMMON_FIELDS = ("metadata.name", "metadata.namespace")

EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
    "secrets": ("type",),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "events.events.k8s.io": (
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "reason",
        "type",
        "reportingController",
    ),
    "replicationcontrollers": ("status.replicas",),
    "replicasets.apps": ("status.replicas",),
    "jobs.batch": ("status.successful",),
    "persistentvolumeclaims": ("spec.volumeName",),
}


def field_names(resource: ResourceType) -> tuple[str, ...]:
    return COMMON_FIELDS + EXTRA_FIELDS.get(resource.qualified, ())


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if current is None:
        # Kubernetes compares an unset source field as "" except for the
        # event "source" field, which is source.component.
        if path == "source":
            return _field_value(obj, "source.component")
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, (int, float)):
        return str(current)
    return current if isinstance(current, str) else ""


def object_fields(resource: ResourceType, obj: Mapping[str, Any]) -> dict[str, str]:
    return {path: _field_value(obj, path) for path in field_names(resource)}


def object_labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    labels = obj.get("metadata", {}).get("labels")
    return labels if isinstance(labels, dict) else {}


@dataclasses.dataclass(frozen=True, slots=True)
class Filter:
    resource: ResourceType
    namespace: str | None
    labels: Selector
    fields: FieldSelector

    @property
    def everything(self) -> bool:
        return self.labels.empty and self.fields.empty and self.namespace is None

    def matches(self, obj: Mapping[str, Any]) -> bool:
        metadata = obj.get("metadata", {})
        if self.namespace is not None and metadata.get("namespace") != self.namespace:
            return False
        if not self.labels.empty and not self.labels.matches(object_labels(obj)):
            return False
        if not self.fields.empty and not self.fields.matches(object_fields(self.resource, obj)):
            return False
        return True


def parse_filter(
    resource: ResourceType, namespace: str | None, label_selector: str, field_selector: str
) -> Filter:
    """Build a Filter from request parameters; raise APIError 400 for a bad selector."""
    try:
        labels = parse_selector(label_selector) if label_selector else Selector.everything()
    except InvalidSelectorError as exc:
        raise bad_request(f"unable to parse requirement: {exc.detail}") from None
    try:
        fields = parse_field_selector(field_selector, field_names(resource)) if field_selector else FieldSelector(())
    except InvalidSelectorError as exc:
        raise _field_selector_error(exc) from None
    return Filter(resource, namespace, labels, fields)


def _field_selector_error(exc: InvalidSelectorError) -> APIError:
    return bad_request(exc.detail)


def _selector_text_for_scale(obj: Mapping[str, Any]) -> str:
    """Return a scalable object's selector as label-selector text (Scale's status.selector)."""
    selector = (obj.get("spec") or {}).get("selector")
    if not isinstance(selector, dict):
        return ""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        # ReplicationController selectors are plain label maps.
        return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    from pykube_core.labels import selector_from_label_selector

    try:
        return str(selector_from_label_selector(selector))
    except ValueError:
        return ""
