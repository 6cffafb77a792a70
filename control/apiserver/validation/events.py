"""Events of core/v1 and events.k8s.io/v1.

Kubernetes stores both as one internal Event and validates core/v1 writes
loosely for old clients: only the namespace rules and, for events that set
eventTime, the reporting fields. events.k8s.io/v1 writes also need
eventTime, a Normal or Warning type, and no deprecated fields.

Differences from Kubernetes: errors on events.k8s.io/v1 objects name that
API's fields (``regarding``, ``note``, ``reportingController``,
``deprecatedCount``), where Kubernetes names the core/v1 fields of its
internal type.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pykube_core.errors import FieldError
from pykube_core.labels import validate_label_key

from pykube_control.apiserver.validation.fielderrors import check_immutable, invalid, invalid_each, required
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_str, dig

EVENT_TYPES = ("Normal", "Warning")
REPORTING_INSTANCE_MAX_LENGTH = 128
ACTION_MAX_LENGTH = 128
REASON_MAX_LENGTH = 128
NOTE_MAX_LENGTH = 1024
SYSTEM_NAMESPACE = "kube-system"
DEFAULT_NAMESPACE = "default"


class EventFields(NamedTuple):
    """The wire names of the fields that core/v1 and events.k8s.io/v1 name differently."""

    regarding: str
    note: str
    reporting_controller: str
    first_timestamp: str
    last_timestamp: str
    counter: str
    source: str


CORE_FIELDS = EventFields("involvedObject", "message", "reportingComponent", "firstTimestamp", "lastTimestamp", "count", "source")
EVENTS_FIELDS = EventFields(
    "regarding", "note", "reportingController", "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp", "deprecatedCount", "deprecatedSource",
)  # fmt: skip


def _legacy_errors(obj: dict[str, Any], fields: EventFields) -> list[FieldError]:
    namespace = as_str(dig(obj, "metadata", "namespace"))
    regarding_namespace = as_str(dig(obj, fields.regarding, "namespace"))
    namespace_path = f"{fields.regarding}.namespace"
    mismatch = "does not match event.namespace"
    errors: list[FieldError] = []
    if not obj.get("eventTime"):
        # An old-style event: its namespace must be the object's ("default" for cluster objects).
        if not regarding_namespace:
            if namespace not in ("", DEFAULT_NAMESPACE):
                errors.append(invalid(namespace_path, regarding_namespace, mismatch))
        elif namespace != regarding_namespace:
            errors.append(invalid(namespace_path, regarding_namespace, mismatch))
        return errors

    if not regarding_namespace and namespace not in (DEFAULT_NAMESPACE, SYSTEM_NAMESPACE):
        errors.append(invalid(namespace_path, regarding_namespace, mismatch))
    controller = as_str(obj.get(fields.reporting_controller))
    if not controller:
        errors.append(required(fields.reporting_controller))
    errors.extend(invalid_each(fields.reporting_controller, controller, validate_label_key(controller)))
    for key, limit in (("reportingInstance", REPORTING_INSTANCE_MAX_LENGTH), ("action", ACTION_MAX_LENGTH), ("reason", REASON_MAX_LENGTH)):
        value = as_str(obj.get(key))
        if not value:
            errors.append(required(key))
        if len(value) > limit:
            errors.append(invalid(key, "", f"can have at most {limit} characters"))
    if len(as_str(obj.get(fields.note))) > NOTE_MAX_LENGTH:
        errors.append(invalid(fields.note, "", f"can have at most {NOTE_MAX_LENGTH} characters"))
    return errors


def validate_core_event(obj: dict[str, Any]) -> list[FieldError]:
    return _legacy_errors(obj, CORE_FIELDS)


def validate_events_event(obj: dict[str, Any]) -> list[FieldError]:
    fields = EVENTS_FIELDS
    errors = _legacy_errors(obj, fields)
    errors.extend(_series_errors(obj))
    if not obj.get("eventTime"):
        errors.append(required("eventTime"))
    event_type = obj.get("type")
    if event_type not in EVENT_TYPES:
        errors.append(invalid("type", "", f"has invalid value: {as_str(event_type)}"))
    for key in (fields.first_timestamp, fields.last_timestamp):
        if obj.get(key):
            errors.append(invalid(key, "", "needs to be unset"))
    if as_int(obj.get(fields.counter)):
        errors.append(invalid(fields.counter, "", "needs to be unset"))
    source = as_dict(obj.get(fields.source))
    if as_str(source.get("component")) or as_str(source.get("host")):
        errors.append(invalid(fields.source, "", "needs to be unset"))
    return errors


def _series_errors(obj: dict[str, Any]) -> list[FieldError]:
    if obj.get("series") is None:
        return []
    series = as_dict(obj["series"])
    errors: list[FieldError] = []
    count = as_int(series.get("count"))
    if count is None or count < 2:
        errors.append(invalid("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errors.append(required("series.lastObservedTime"))
    return errors


def validate_events_event_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Reject changes to what an event reports; only its series may grow."""
    fields = EVENTS_FIELDS
    errors: list[FieldError] = []
    for key in (
        fields.regarding, "reason", fields.note, fields.source, fields.first_timestamp, fields.last_timestamp,
        fields.counter, "type", "eventTime", "action", "related", fields.reporting_controller, "reportingInstance",
    ):  # fmt: skip
        errors.extend(check_immutable(key, new.get(key), old.get(key)))
    return errors


CORE_EVENT = KindRules(validate=validate_core_event)
EVENT = KindRules(validate=validate_events_event, validate_update=validate_events_event_update)
