"""Rules shared by the pod controllers: selectors against templates, replicas, percentages.

Deployment, ReplicaSet, ReplicationController, DaemonSet and Job all own
pods through a label selector and a pod template; the selector must select
the template's labels, or the controller would create pods it cannot see.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import Selector, selector_from_label_selector

from pykube_control.apiserver.validation.fielderrors import (
    NEGATIVE_MESSAGE,
    forbidden,
    invalid,
    invalid_each,
    not_supported,
)
from pykube_control.apiserver.validation.formats import percent_messages
from pykube_control.apiserver.validation.pod import pod_template_errors
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_str, dig, string_map

SELECTOR_MISMATCH = "`selector` does not match template `labels`"


def non_negative_errors(path: str, value: object) -> list[FieldError]:
    """Check an optional integer field that must be >= 0."""
    if value is None:
        return []
    number = as_int(value)
    if number is None or number < 0:
        return [invalid(path, value, NEGATIVE_MESSAGE)]
    return []


def parse_selector(path: str, value: object) -> tuple[Selector | None, list[FieldError]]:
    """Parse a LabelSelector object; None with errors when it is invalid."""
    try:
        return selector_from_label_selector(as_dict(value), path), []
    except FieldError as error:
        return None, list(error.flatten())


def is_empty_selector(value: object) -> bool:
    selector = as_dict(value)
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def template_labels(obj: dict[str, Any]) -> dict[str, str]:
    return string_map(dig(obj, "spec", "template", "metadata", "labels"))


def selector_match_errors(obj: dict[str, Any], selector: Selector) -> list[FieldError]:
    """Report a selector that does not select the template's labels."""
    labels = template_labels(obj)
    if selector.empty or selector.matches(labels):
        return []
    raw = dig(obj, "spec", "template", "metadata", "labels")
    return [invalid("spec.template.metadata.labels", raw, SELECTOR_MISMATCH)]


def long_running_template_errors(obj: dict[str, Any], kind: str) -> list[FieldError]:
    """Check the template of a controller whose pods run forever: restartPolicy Always, no deadline."""
    errors = pod_template_errors("spec.template", dig(obj, "spec", "template"))
    spec = as_dict(dig(obj, "spec", "template", "spec"))
    restart = spec.get("restartPolicy")
    if restart and restart != "Always":
        errors.append(not_supported("spec.template.spec.restartPolicy", restart, ("Always",)))
    if spec.get("activeDeadlineSeconds") is not None:
        detail = f"activeDeadlineSeconds in {kind} is not Supported"
        errors.append(forbidden("spec.template.spec.activeDeadlineSeconds", detail))
    return errors


def int_or_percent_value(value: object) -> int:
    """Return the number in an IntOrString such as 3 or "25%"; 0 when it does not parse."""
    number = as_int(value)
    if number is not None:
        return number
    text = as_str(value)
    if text.endswith("%") and text[:-1].isdigit():
        return int(text[:-1])
    return 0


def int_or_percent_errors(path: str, value: object) -> list[FieldError]:
    """Check an IntOrString that must be a non-negative integer or a percentage up to 100%."""
    if value is None:
        return []
    if isinstance(value, str):
        errors = invalid_each(path, value, percent_messages(value))
        if not errors and int_or_percent_value(value) > 100:
            errors.append(invalid(path, value, "must not be greater than 100%"))
        return errors
    return non_negative_errors(path, value)
