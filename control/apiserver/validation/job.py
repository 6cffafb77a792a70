"""Job: defaults, the generated selector, and validation.

Unless ``spec.manualSelector`` is true, Kubernetes generates a Job's
selector from its uid, so two Jobs never adopt each other's pods. The
template gets ``controller-uid``/``batch.kubernetes.io/controller-uid`` and
``job-name``/``batch.kubernetes.io/job-name`` labels, and the selector
matches ``batch.kubernetes.io/controller-uid``. The HTTP layer sets
metadata.uid before calling ``apply_defaults``; without a uid no selector
is generated and validation reports the missing selector.

Differences from Kubernetes (1.32):

- ``spec.template`` is fully immutable; Kubernetes lets a suspended Job that
  never started change the template's scheduling fields.
- podFailurePolicy rules are not checked.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.controllers import (
    non_negative_errors,
    parse_selector,
    selector_match_errors,
)
from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    invalid,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.pod import pod_template_errors
from pykube_control.apiserver.validation.pod_defaults import default_pod_spec
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_str, child_dict, dig, set_default

CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"

DEFAULT_BACKOFF_LIMIT = 6
MAX_INT32 = 2**31 - 1
MAX_INDEXED_COMPLETIONS = 100_000
COMPLETION_MODES = ("NonIndexed", "Indexed")
JOB_RESTART_POLICIES = ("OnFailure", "Never")


def default_job(obj: dict[str, Any]) -> None:
    spec = child_dict(obj, "spec")
    meta = child_dict(obj, "metadata")
    if spec is None or meta is None:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    set_default(spec, "parallelism", 1)
    backoff = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else DEFAULT_BACKOFF_LIMIT
    set_default(spec, "backoffLimit", backoff)
    set_default(spec, "completionMode", "NonIndexed")
    set_default(spec, "suspend", False)
    replacement = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"
    set_default(spec, "podReplacementPolicy", replacement)

    template = child_dict(spec, "template")
    if template is None:
        return
    template_meta = child_dict(template, "metadata")
    if template_meta is None:
        return
    # When the Job has no labels, Kubernetes' defaulting makes them the same
    # Go map as the template's labels. The generated labels then show up in
    # both, so they are copied after generation here.
    shares_labels = isinstance(template_meta.get("labels"), dict) and not meta.get("labels")
    if spec.get("manualSelector") is not True and as_str(meta.get("uid")):
        _generate_selector(spec, template_meta, as_str(meta.get("name")), as_str(meta["uid"]))
    if shares_labels:
        meta["labels"] = dict(template_meta["labels"])
    pod_spec = child_dict(template, "spec")
    if pod_spec is not None:
        default_pod_spec(pod_spec)


def _generate_selector(spec: dict[str, Any], template_meta: dict[str, Any], name: str, uid: str) -> None:
    labels = child_dict(template_meta, "labels")
    selector = child_dict(spec, "selector")
    if labels is None or selector is None:
        return
    # A label the user already set is kept; a conflicting value fails validation.
    for key in (LEGACY_JOB_NAME_LABEL, JOB_NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_CONTROLLER_UID_LABEL, CONTROLLER_UID_LABEL):
        labels.setdefault(key, uid)
    match_labels = child_dict(selector, "matchLabels")
    if match_labels is not None:
        match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def validate_job(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors: list[FieldError] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit", "ttlSecondsAfterFinished"):
        errors.extend(non_negative_errors(f"spec.{key}", spec.get(key)))
    errors.extend(_completion_mode_errors(spec))
    errors.extend(_selector_errors(obj))
    errors.extend(pod_template_errors("spec.template", spec.get("template")))
    restart = dig(spec, "template", "spec", "restartPolicy")
    if restart not in JOB_RESTART_POLICIES:
        errors.append(not_supported("spec.template.spec.restartPolicy", restart, JOB_RESTART_POLICIES))
    return errors


def _completion_mode_errors(spec: dict[str, Any]) -> list[FieldError]:
    mode = spec.get("completionMode")
    if mode is None:
        return []
    if mode not in COMPLETION_MODES:
        return [not_supported("spec.completionMode", mode, COMPLETION_MODES)]
    if mode != "Indexed":
        return []
    completions = as_int(spec.get("completions"))
    if completions is None:
        return [required("spec.completions", "when completion mode is Indexed")]
    if completions > MAX_INDEXED_COMPLETIONS:
        return [invalid("spec.completions", completions, f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when completion mode is Indexed")]
    return []


def _selector_errors(obj: dict[str, Any]) -> list[FieldError]:
    raw = dig(obj, "spec", "selector")
    if raw is None:
        return [required("spec.selector")]
    selector, errors = parse_selector("spec.selector", raw)
    if selector is None:
        return errors
    errors.extend(selector_match_errors(obj, selector))
    if dig(obj, "spec", "manualSelector") is not True:
        uid = as_str(dig(obj, "metadata", "uid"))
        if not uid:
            errors.append(required("metadata.uid"))
        elif not selector.matches({CONTROLLER_UID_LABEL: uid}):
            errors.append(invalid("spec.selector", raw, "`selector` not auto-generated"))
    return errors


def validate_job_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Reject changes to the selector, template, completion mode and (NonIndexed) completions."""
    new_spec = as_dict(new.get("spec"))
    old_spec = as_dict(old.get("spec"))
    errors: list[FieldError] = []
    for key in ("selector", "template", "completionMode", "podFailurePolicy", "backoffLimitPerIndex"):
        errors.extend(check_immutable(f"spec.{key}", new_spec.get(key), old_spec.get(key)))
    # Indexed Jobs may scale completions together with parallelism.
    elastic = new_spec.get("completionMode") == "Indexed" and new_spec.get("completions") == new_spec.get("parallelism")
    if not elastic:
        errors.extend(check_immutable("spec.completions", new_spec.get("completions"), old_spec.get("completions")))
    return errors


def validate_job_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    status = as_dict(new.get("status"))
    errors: list[FieldError] = []
    for key in ("active", "succeeded", "failed", "ready", "terminating"):
        errors.extend(non_negative_errors(f"status.{key}", status.get(key)))
    return errors


JOB = KindRules(
    defaults=default_job,
    validate=validate_job,
    validate_update=validate_job_update,
    validate_status=validate_job_status,
)
