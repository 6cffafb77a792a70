"""Container checks: name, image, ports, env, resources, mounts, probes, security context.

One function checks one container list (``spec.containers`` or
``spec.initContainers``); the pod-level rules that span both lists (unique
names, host port conflicts) live in pod.py.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_label, name_is_dns_subdomain

from pykube_control.apiserver.validation.fielderrors import (
    forbidden,
    invalid,
    invalid_each,
    not_found,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import env_var_name_messages, inclusive_range_message
from pykube_control.apiserver.validation.ports import container_ports_errors
from pykube_control.apiserver.validation.probes import lifecycle_errors, probe_errors
from pykube_control.apiserver.validation.quantities import resource_list
from pykube_control.apiserver.validation.volumes import config_key_errors, relative_path_errors
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
MOUNT_PROPAGATIONS = ("Bidirectional", "HostToContainer", "None")
MAX_ID = 2**31 - 1

# fieldRef paths the downward API resolves in env vars (Kubernetes 1.32).
ENV_FIELD_PATHS = (
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
    "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)  # fmt: skip
ENV_RESOURCE_FIELDS = (
    "limits.cpu", "limits.ephemeral-storage", "limits.memory",
    "requests.cpu", "requests.ephemeral-storage", "requests.memory",
)  # fmt: skip


def containers_errors(
    path: str, containers: object, volumes: set[str], *, init: bool, host_network: bool
) -> list[FieldError]:
    """Check every container of one list; names are checked here, uniqueness in pod.py."""
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(containers)):
        errors.extend(container_errors(f"{path}[{index}]", as_dict(raw), volumes, init=init, host_network=host_network))
    return errors


def container_errors(
    path: str, container: dict[str, Any], volumes: set[str], *, init: bool, host_network: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    name = as_str(container.get("name"))
    if not name:
        errors.append(required(f"{path}.name"))
    else:
        errors.extend(invalid_each(f"{path}.name", name, name_is_dns_label(name, False)))

    image = as_str(container.get("image"))
    if not image:
        errors.append(required(f"{path}.image"))
    elif image != image.strip():
        errors.append(invalid(f"{path}.image", image, "must not have leading or trailing whitespace"))

    errors.extend(_choice_errors(f"{path}.imagePullPolicy", container.get("imagePullPolicy"), PULL_POLICIES))
    errors.extend(
        _choice_errors(
            f"{path}.terminationMessagePolicy", container.get("terminationMessagePolicy"), TERMINATION_MESSAGE_POLICIES
        )
    )
    errors.extend(container_ports_errors(f"{path}.ports", container.get("ports"), host_network))
    errors.extend(env_errors(f"{path}.env", container.get("env")))
    errors.extend(env_from_errors(f"{path}.envFrom", container.get("envFrom")))
    errors.extend(resources_errors(f"{path}.resources", container.get("resources")))
    errors.extend(volume_mounts_errors(f"{path}.volumeMounts", container.get("volumeMounts"), volumes))
    errors.extend(security_context_errors(f"{path}.securityContext", container.get("securityContext")))
    errors.extend(_probe_and_restart_errors(path, container, init))
    return errors


def _choice_errors(path: str, value: object, choices: tuple[str, ...]) -> list[FieldError]:
    # Defaulting fills these fields, so "" only reaches validation when a
    # client sends an explicit empty string after defaults ran.
    if value is None or value == "":
        return [required(path)]
    if value not in choices:
        return [not_supported(path, value, choices)]
    return []


def _probe_and_restart_errors(path: str, container: dict[str, Any], init: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    restart = container.get("restartPolicy")
    sidecar = init and restart == "Always"
    if restart is not None:
        if not init:
            errors.append(forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
        elif restart != "Always":
            errors.append(not_supported(f"{path}.restartPolicy", restart, ("Always",)))

    probes = (("livenessProbe", True), ("readinessProbe", False), ("startupProbe", True))
    for key, single_success in probes:
        if container.get(key) is None:
            continue
        if init and not sidecar:
            errors.append(forbidden(f"{path}.{key}", "may not be set for init containers without restartPolicy=Always"))
            continue
        errors.extend(probe_errors(f"{path}.{key}", container[key], single_success=single_success))
    if container.get("lifecycle") is not None:
        if init and not sidecar:
            errors.append(forbidden(f"{path}.lifecycle", "may not be set for init containers without restartPolicy=Always"))
        else:
            errors.extend(lifecycle_errors(f"{path}.lifecycle", container["lifecycle"]))
    return errors


def env_errors(path: str, env: object) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(env)):
        variable = as_dict(raw)
        entry = f"{path}[{index}]"
        name = as_str(variable.get("name"))
        if not name:
            errors.append(required(f"{entry}.name"))
        else:
            errors.extend(invalid_each(f"{entry}.name", name, env_var_name_messages(name)))
        if variable.get("valueFrom") is not None:
            errors.extend(_value_from_errors(f"{entry}.valueFrom", as_dict(variable["valueFrom"]), variable.get("value")))
    return errors


def _value_from_errors(path: str, source: dict[str, Any], value: object) -> list[FieldError]:
    kinds = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")
    present = [kind for kind in kinds if source.get(kind) is not None]
    errors: list[FieldError] = []
    if not present:
        detail = "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
        return [invalid(path, "", detail)]
    if as_str(value):
        errors.append(invalid(path, "", "may not be specified when `value` is not empty"))
    elif len(present) > 1:
        errors.append(invalid(path, "", "may not have more than one field specified at a time"))

    for kind in present:
        body = as_dict(source[kind])
        entry = f"{path}.{kind}"
        if kind == "fieldRef":
            errors.extend(field_ref_errors(entry, body, ENV_FIELD_PATHS))
        elif kind == "resourceFieldRef":
            errors.extend(_resource_field_ref_errors(entry, body))
        else:
            errors.extend(_key_selector_errors(entry, body))
    return errors


def field_ref_errors(path: str, ref: dict[str, Any], allowed: tuple[str, ...]) -> list[FieldError]:
    """Check a downward-API fieldRef: apiVersion set and a supported fieldPath."""
    errors: list[FieldError] = []
    if not as_str(ref.get("apiVersion")):
        errors.append(required(f"{path}.apiVersion"))
    field_path = as_str(ref.get("fieldPath"))
    if not field_path:
        errors.append(required(f"{path}.fieldPath"))
    elif field_path.startswith(("metadata.labels['", "metadata.annotations['")) and field_path.endswith("']"):
        pass
    elif field_path not in allowed:
        errors.append(not_supported(f"{path}.fieldPath", field_path, allowed))
    return errors


def _resource_field_ref_errors(path: str, ref: dict[str, Any]) -> list[FieldError]:
    resource = as_str(ref.get("resource"))
    if not resource:
        return [required(f"{path}.resource")]
    if resource not in ENV_RESOURCE_FIELDS and not resource.startswith(("limits.hugepages-", "requests.hugepages-")):
        return [not_supported(f"{path}.resource", resource, ENV_RESOURCE_FIELDS)]
    return []


def _key_selector_errors(path: str, selector: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    name = as_str(selector.get("name"))
    if not name:
        errors.append(required(f"{path}.name"))
    else:
        errors.extend(invalid_each(f"{path}.name", name, name_is_dns_subdomain(name, False)))
    errors.extend(config_key_errors(f"{path}.key", as_str(selector.get("key"))))
    return errors


def env_from_errors(path: str, sources: object) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, raw in enumerate(as_list(sources)):
        source = as_dict(raw)
        entry = f"{path}[{index}]"
        prefix = as_str(source.get("prefix"))
        if prefix:
            errors.extend(invalid_each(f"{entry}.prefix", prefix, env_var_name_messages(prefix)))
        present = [kind for kind in ("configMapRef", "secretRef") if source.get(kind) is not None]
        if not present:
            errors.append(invalid(entry, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif len(present) > 1:
            errors.append(invalid(entry, "", "may not have more than one field specified at a time"))
        for kind in present:
            name = as_str(as_dict(source[kind]).get("name"))
            if not name:
                errors.append(required(f"{entry}.{kind}.name"))
            else:
                errors.extend(invalid_each(f"{entry}.{kind}.name", name, name_is_dns_subdomain(name, False)))
    return errors


def resources_errors(path: str, value: object) -> list[FieldError]:
    """Check requests and limits: names, non-negative quantities, request <= limit.

    Extended resources (a domain prefix outside kubernetes.io) cannot be
    overcommitted, so their request must equal the limit.
    """
    resources = as_dict(value)
    limits, errors = resource_list(f"{path}.limits", resources.get("limits"))
    requests, request_errors = resource_list(f"{path}.requests", resources.get("requests"))
    errors.extend(request_errors)
    for name, request in requests.items():
        limit = limits.get(name)
        if limit is None:
            continue
        overcommit = "/" not in name or name.split("/", 1)[0].endswith("kubernetes.io")
        if request != limit and not overcommit:
            errors.append(invalid(f"{path}.requests", str(request), f"must be equal to {name} limit"))
        elif request > limit:
            # NOTE: Kubernetes 1.32 appends " of <limit>" to this message; the
            # older wording is kept because kubectl users and tests match on it.
            errors.append(invalid(f"{path}.requests", str(request), f"must be less than or equal to {name} limit"))
    return errors


def volume_mounts_errors(path: str, mounts: object, volumes: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []
    mount_paths: set[str] = set()
    for index, raw in enumerate(as_list(mounts)):
        mount = as_dict(raw)
        entry = f"{path}[{index}]"
        name = as_str(mount.get("name"))
        if not name:
            errors.append(required(f"{entry}.name"))
        elif name not in volumes:
            errors.append(not_found(f"{entry}.name", name))
        mount_path = as_str(mount.get("mountPath"))
        if not mount_path:
            errors.append(required(f"{entry}.mountPath"))
        elif mount_path in mount_paths:
            errors.append(invalid(f"{entry}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
        if as_str(mount.get("subPath")):
            errors.extend(relative_path_errors(f"{entry}.subPath", mount["subPath"]))
        propagation = mount.get("mountPropagation")
        if propagation is not None and propagation not in MOUNT_PROPAGATIONS:
            errors.append(not_supported(f"{entry}.mountPropagation", propagation, MOUNT_PROPAGATIONS))
    return errors


def security_context_errors(path: str, value: object) -> list[FieldError]:
    """Check the user and group ids and the privileged/allowPrivilegeEscalation conflict."""
    context = as_dict(value)
    errors = id_errors(path, context)
    if context.get("privileged") is True and context.get("allowPrivilegeEscalation") is False:
        errors.append(invalid(path, context, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
    return errors


def id_errors(path: str, context: dict[str, Any]) -> list[FieldError]:
    """Check runAsUser, runAsGroup and fsGroup: 0 to 2147483647."""
    errors: list[FieldError] = []
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        if context.get(key) is None:
            continue
        number = as_int(context[key])
        if number is None or not 0 <= number <= MAX_ID:
            errors.append(invalid(f"{path}.{key}", context[key], inclusive_range_message(0, MAX_ID)))
    return errors
