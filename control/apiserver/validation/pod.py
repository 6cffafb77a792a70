"""Pod and pod template validation, including which pod fields an update may change.

``pod_spec_errors`` is the core: the Pod kind, and every workload's
``spec.template``, run it with their own field-path prefix. Checks follow
ValidatePodSpec in k8s.io/kubernetes/pkg/apis/core/validation (1.32).

Differences from Kubernetes:

- The "pod updates may not change fields" error omits the object diff that
  Kubernetes appends after the message.
- Status updates check IPs and the phase only, not conditions or
  container statuses.
"""

from __future__ import annotations

import copy
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_label, name_is_dns_subdomain

from pykube_control.apiserver.validation.containers import containers_errors, id_errors
from pykube_control.apiserver.validation.fielderrors import (
    NEGATIVE_MESSAGE,
    duplicate,
    forbidden,
    invalid,
    invalid_each,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import inclusive_range_message, ip_messages
from pykube_control.apiserver.validation.meta import validate_annotations, validate_labels
from pykube_control.apiserver.validation.pod_defaults import default_pod
from pykube_control.apiserver.validation.ports import host_port_conflicts
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.scheduling import (
    affinity_errors,
    node_selector_errors,
    tolerations_errors,
)
from pykube_control.apiserver.validation.volumes import volumes_errors
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
MAX_INT32 = 2**31 - 1

POD_UPDATE_MESSAGE = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
    "`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def pod_spec_errors(path: str, value: object) -> list[FieldError]:
    """Check a PodSpec found at ``path`` ("spec" or "spec.template.spec")."""
    spec = as_dict(value)
    host_network = spec.get("hostNetwork") is True
    volumes, errors = volumes_errors(f"{path}.volumes", spec.get("volumes"))

    containers = as_list(spec.get("containers"))
    if not containers:
        errors.append(required(f"{path}.containers"))
    errors.extend(containers_errors(f"{path}.containers", containers, volumes, init=False, host_network=host_network))
    init_containers = spec.get("initContainers")
    errors.extend(
        containers_errors(f"{path}.initContainers", init_containers, volumes, init=True, host_network=host_network)
    )
    errors.extend(_container_name_errors(path, as_list(init_containers), containers))
    errors.extend(_host_port_errors(path, as_list(init_containers), containers))

    errors.extend(_policy_errors(path, spec))
    errors.extend(node_selector_errors(f"{path}.nodeSelector", spec.get("nodeSelector")))
    errors.extend(tolerations_errors(f"{path}.tolerations", spec.get("tolerations")))
    errors.extend(affinity_errors(f"{path}.affinity", spec.get("affinity")))
    errors.extend(id_errors(f"{path}.securityContext", as_dict(spec.get("securityContext"))))
    errors.extend(_name_field_errors(path, spec))
    errors.extend(_duration_errors(path, spec))
    return errors


def _container_name_errors(path: str, init: list[Any], app: list[Any]) -> list[FieldError]:
    # Init and app containers share one name space: "kubectl logs -c" and
    # status entries identify a container by name alone.
    seen: set[str] = set()
    errors: list[FieldError] = []
    for prefix, containers in ((f"{path}.initContainers", init), (f"{path}.containers", app)):
        for index, raw in enumerate(containers):
            name = as_str(as_dict(raw).get("name"))
            if name and name in seen:
                errors.append(duplicate(f"{prefix}[{index}].name", name))
            seen.add(name)
    return errors


def _host_port_errors(path: str, init: list[Any], app: list[Any]) -> list[FieldError]:
    pairs = [(f"{path}.containers[{i}]", as_dict(c)) for i, c in enumerate(app)]
    init_pairs = [(f"{path}.initContainers[{i}]", as_dict(c)) for i, c in enumerate(init)]
    return host_port_conflicts(pairs) + host_port_conflicts(init_pairs)


def _policy_errors(path: str, spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    restart = spec.get("restartPolicy")
    if not restart:
        errors.append(required(f"{path}.restartPolicy"))
    elif restart not in RESTART_POLICIES:
        errors.append(not_supported(f"{path}.restartPolicy", restart, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if not dns:
        errors.append(required(f"{path}.dnsPolicy"))
    elif dns not in DNS_POLICIES:
        errors.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    elif dns == "None" and not as_list(as_dict(spec.get("dnsConfig")).get("nameservers")):
        errors.append(required(f"{path}.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None"))
    return errors


def _name_field_errors(path: str, spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for key in ("serviceAccountName", "schedulerName", "priorityClassName", "nodeName", "runtimeClassName"):
        name = as_str(spec.get(key))
        if name:
            errors.extend(invalid_each(f"{path}.{key}", name, name_is_dns_subdomain(name, False)))
    for key in ("hostname", "subdomain"):
        name = as_str(spec.get(key))
        if name:
            errors.extend(invalid_each(f"{path}.{key}", name, name_is_dns_label(name, False)))
    return errors


def _duration_errors(path: str, spec: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    grace = spec.get("terminationGracePeriodSeconds")
    grace_seconds = as_int(grace)
    if grace is not None and (grace_seconds is None or grace_seconds < 0):
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, NEGATIVE_MESSAGE))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None:
        seconds = as_int(deadline)
        if seconds is None or not 1 <= seconds <= MAX_INT32:
            errors.append(invalid(f"{path}.activeDeadlineSeconds", deadline, inclusive_range_message(1, MAX_INT32)))
    return errors


def pod_template_errors(path: str, value: object) -> list[FieldError]:
    """Check a PodTemplateSpec at ``path`` ("spec.template"): its labels, annotations and spec."""
    template = as_dict(value)
    meta = as_dict(template.get("metadata"))
    errors = validate_labels(meta.get("labels"), f"{path}.metadata.labels")
    errors.extend(validate_annotations(meta.get("annotations"), f"{path}.metadata.annotations"))
    errors.extend(pod_spec_errors(f"{path}.spec", template.get("spec")))
    return errors


# --- the Pod kind ---


def validate_pod(obj: dict[str, Any]) -> list[FieldError]:
    return pod_spec_errors("spec", obj.get("spec"))


def validate_pod_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Allow only images, a shorter activeDeadlineSeconds and added tolerations to change."""
    new_spec = as_dict(new.get("spec"))
    old_spec = as_dict(old.get("spec"))
    errors = _deadline_update_errors(new_spec, old_spec)

    old_tolerations = as_list(old_spec.get("tolerations"))
    new_tolerations = as_list(new_spec.get("tolerations"))
    tolerations_added_only = all(toleration in new_tolerations for toleration in old_tolerations)

    # Compare the specs with every mutable field copied from the old spec.
    masked = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        new_list = as_list(masked.get(key))
        old_list = as_list(old_spec.get(key))
        if len(new_list) == len(old_list):
            for new_container, old_container in zip(new_list, old_list):
                if isinstance(new_container, dict) and isinstance(old_container, dict):
                    new_container["image"] = old_container.get("image")
    for key in ("activeDeadlineSeconds", "terminationGracePeriodSeconds"):
        _copy_member(masked, old_spec, key)
    if tolerations_added_only:
        _copy_member(masked, old_spec, "tolerations")
    old_grace = as_int(old_spec.get("terminationGracePeriodSeconds"))
    new_grace = new_spec.get("terminationGracePeriodSeconds")
    grace_ok = new_grace == old_spec.get("terminationGracePeriodSeconds") or (
        old_grace is not None and old_grace < 0 and new_grace == 1
    )
    if masked != old_spec or not grace_ok:
        errors.append(forbidden("spec", POD_UPDATE_MESSAGE))
    return errors


def _copy_member(target: dict[str, Any], source: dict[str, Any], key: str) -> None:
    if key in source:
        target[key] = source[key]
    else:
        target.pop(key, None)


def _deadline_update_errors(new_spec: dict[str, Any], old_spec: dict[str, Any]) -> list[FieldError]:
    path = "spec.activeDeadlineSeconds"
    new_value = new_spec.get("activeDeadlineSeconds")
    old_value = as_int(old_spec.get("activeDeadlineSeconds"))
    if new_value is None:
        if old_value is not None:
            return [invalid(path, None, "must not update from a positive integer to nil value")]
        return []
    seconds = as_int(new_value)
    if seconds is None or not 0 <= seconds <= MAX_INT32:
        return [invalid(path, new_value, inclusive_range_message(0, MAX_INT32))]
    if old_value is not None and old_value < seconds:
        return [invalid(path, seconds, "must be less than or equal to previous value")]
    return []


def validate_pod_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    status = as_dict(new.get("status"))
    errors: list[FieldError] = []
    phase = status.get("phase")
    if phase is not None and phase not in POD_PHASES:
        errors.append(not_supported("status.phase", phase, POD_PHASES))
    for key in ("hostIP", "podIP"):
        address = as_str(status.get(key))
        if address:
            errors.extend(invalid_each(f"status.{key}", address, ip_messages(address)))
    for key in ("hostIPs", "podIPs"):
        for index, raw in enumerate(as_list(status.get(key))):
            address = as_str(as_dict(raw).get("ip"))
            errors.extend(invalid_each(f"status.{key}[{index}].ip", address, ip_messages(address)))
    nominated = as_str(status.get("nominatedNodeName"))
    if nominated:
        errors.extend(invalid_each("status.nominatedNodeName", nominated, name_is_dns_subdomain(nominated, False)))
    return errors


POD = KindRules(
    defaults=default_pod,
    validate=validate_pod,
    validate_update=validate_pod_update,
    validate_status=validate_pod_status,
)
