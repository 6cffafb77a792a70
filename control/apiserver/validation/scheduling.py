"""Pod placement checks: nodeSelector, tolerations and node/pod affinity."""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError
from pykube_core.labels import selector_from_label_selector, validate_label_key, validate_label_value

from pykube_control.apiserver.validation.fielderrors import (
    forbidden,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.meta import validate_labels
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATION_OPERATORS = ("Equal", "Exists")
NODE_SELECTOR_OPERATORS = ("DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn")
MIN_WEIGHT = 1
MAX_WEIGHT = 100


def node_selector_errors(path: str, value: object) -> list[FieldError]:
    return validate_labels(value, path)


def tolerations_errors(path: str, tolerations: object) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(tolerations)):
        errors.extend(_toleration_errors(f"{path}[{index}]", as_dict(raw)))
    return errors


def _toleration_errors(path: str, toleration: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    key = as_str(toleration.get("key"))
    operator = as_str(toleration.get("operator"))
    value = as_str(toleration.get("value"))
    effect = as_str(toleration.get("effect"))
    if key:
        errors.extend(invalid_each(f"{path}.key", key, validate_label_key(key)))
    elif operator != "Exists":
        detail = 'operator must be Exists when `key` is empty, which means "match all values and all keys"'
        errors.append(invalid(f"{path}.operator", operator, detail))
    if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
        errors.append(invalid(f"{path}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))

    if operator in ("Equal", ""):
        messages = validate_label_value(value)
        if messages:
            errors.append(invalid(f"{path}.operator", value, ";".join(messages)))
    elif operator == "Exists":
        if value:
            errors.append(invalid(f"{path}.operator", toleration, "value must be empty when `operator` is 'Exists'"))
    else:
        errors.append(not_supported(f"{path}.operator", operator, TOLERATION_OPERATORS))
    if effect and effect not in TAINT_EFFECTS:
        errors.append(not_supported(f"{path}.effect", effect, TAINT_EFFECTS))
    return errors


def affinity_errors(path: str, value: object) -> list[FieldError]:
    affinity = as_dict(value)
    errors: list[FieldError] = []
    if affinity.get("nodeAffinity") is not None:
        errors.extend(_node_affinity_errors(f"{path}.nodeAffinity", as_dict(affinity["nodeAffinity"])))
    for kind in ("podAffinity", "podAntiAffinity"):
        if affinity.get(kind) is not None:
            errors.extend(_pod_affinity_errors(f"{path}.{kind}", as_dict(affinity[kind])))
    return errors


def _node_affinity_errors(path: str, affinity: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    required_terms = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required_terms is not None:
        terms_path = f"{path}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
        terms = as_list(as_dict(required_terms).get("nodeSelectorTerms"))
        if not terms:
            errors.append(required(terms_path, "must have at least one node selector term"))
        for index, term in enumerate(terms):
            errors.extend(_node_selector_term_errors(f"{terms_path}[{index}]", as_dict(term)))
    preferred_path = f"{path}.preferredDuringSchedulingIgnoredDuringExecution"
    for index, raw in enumerate(as_list(affinity.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        preference = as_dict(raw)
        entry = f"{preferred_path}[{index}]"
        errors.extend(_weight_errors(f"{entry}.weight", preference.get("weight")))
        errors.extend(_node_selector_term_errors(f"{entry}.preference", as_dict(preference.get("preference"))))
    return errors


def _node_selector_term_errors(path: str, term: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(term.get("matchExpressions"))):
        errors.extend(_node_requirement_errors(f"{path}.matchExpressions[{index}]", as_dict(raw)))
    for index, raw in enumerate(as_list(term.get("matchFields"))):
        requirement = as_dict(raw)
        entry = f"{path}.matchFields[{index}]"
        if requirement.get("key") != "metadata.name":
            errors.append(not_supported(f"{entry}.key", requirement.get("key"), ("metadata.name",)))
        errors.extend(_node_requirement_errors(entry, requirement, check_key=False))
    return errors


def _node_requirement_errors(path: str, requirement: dict[str, Any], check_key: bool = True) -> list[FieldError]:
    errors: list[FieldError] = []
    operator = as_str(requirement.get("operator"))
    values = as_list(requirement.get("values"))
    if operator in ("In", "NotIn"):
        if not values:
            errors.append(required(f"{path}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errors.append(forbidden(f"{path}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif operator in ("Gt", "Lt"):
        if len(values) != 1:
            errors.append(required(f"{path}.values", "must be specified single value when `operator` is 'Lt' or 'Gt'"))
    else:
        errors.append(not_supported(f"{path}.operator", operator, NODE_SELECTOR_OPERATORS))
    if check_key:
        key = as_str(requirement.get("key"))
        errors.extend(invalid_each(f"{path}.key", key, validate_label_key(key)))
    return errors


def _pod_affinity_errors(path: str, affinity: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    required_path = f"{path}.requiredDuringSchedulingIgnoredDuringExecution"
    for index, raw in enumerate(as_list(affinity.get("requiredDuringSchedulingIgnoredDuringExecution"))):
        errors.extend(_pod_affinity_term_errors(f"{required_path}[{index}]", as_dict(raw)))
    preferred_path = f"{path}.preferredDuringSchedulingIgnoredDuringExecution"
    for index, raw in enumerate(as_list(affinity.get("preferredDuringSchedulingIgnoredDuringExecution"))):
        weighted = as_dict(raw)
        entry = f"{preferred_path}[{index}]"
        errors.extend(_weight_errors(f"{entry}.weight", weighted.get("weight")))
        errors.extend(_pod_affinity_term_errors(f"{entry}.podAffinityTerm", as_dict(weighted.get("podAffinityTerm"))))
    return errors


def _pod_affinity_term_errors(path: str, term: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    topology_key = as_str(term.get("topologyKey"))
    if not topology_key:
        errors.append(required(f"{path}.topologyKey", "can not be empty"))
    else:
        errors.extend(invalid_each(f"{path}.topologyKey", topology_key, validate_label_key(topology_key)))
    for key in ("labelSelector", "namespaceSelector"):
        if term.get(key) is not None:
            errors.extend(label_selector_errors(f"{path}.{key}", term[key]))
    return errors


def _weight_errors(path: str, value: object) -> list[FieldError]:
    weight = as_int(value)
    if weight is None or not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        return [invalid(path, value, "must be in the range 1-100")]
    return []


def label_selector_errors(path: str, value: object) -> list[FieldError]:
    """Check a metav1.LabelSelector object with pykube_core's selector rules."""
    try:
        selector_from_label_selector(as_dict(value), path)
    except FieldError as error:
        return list(error.flatten())
    return []
