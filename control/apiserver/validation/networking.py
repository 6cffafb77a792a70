"""Ingress and IngressClass: rules, paths, backends and controllers.

Checks follow k8s.io/kubernetes/pkg/apis/networking/validation (1.32) for
networking.k8s.io/v1, where every path needs a pathType.
"""

from __future__ import annotations

import re
from typing import Any

from pykube_core.errors import FieldError
from pykube_core.names import name_is_dns_subdomain, validate_dns1123_subdomain

from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    invalid,
    invalid_each,
    not_supported,
    required,
    too_long,
)
from pykube_control.apiserver.validation.formats import (
    dns1035_label_messages,
    ip_messages,
    port_name_messages,
    port_number_messages,
)
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str, child_dict, set_default

PATH_TYPES = ("Exact", "ImplementationSpecific", "Prefix")
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
PARAMETER_SCOPES = ("Cluster", "Namespace")
MAX_CONTROLLER_LENGTH = 250
_WILDCARD_HOST = re.compile(r"\*\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_WILDCARD_MESSAGE = (
    "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
    "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character "
    "(e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def host_messages(host: str) -> list[str]:
    """Check an Ingress host: a DNS subdomain or "*.subdomain", never an IP address."""
    messages: list[str] = []
    if not ip_messages(host):
        messages.append("must be a DNS name, not an IP address")
    if "*" in host:
        if not _WILDCARD_HOST.fullmatch(host):
            messages.append(_WILDCARD_MESSAGE)
    else:
        messages.extend(validate_dns1123_subdomain(host))
    return messages


def validate_ingress(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    rules = as_list(spec.get("rules"))
    errors: list[FieldError] = []
    if not rules and spec.get("defaultBackend") is None:
        errors.append(invalid("spec", rules, "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errors.extend(_backend_errors("spec.defaultBackend", as_dict(spec["defaultBackend"])))
    for index, raw in enumerate(rules):
        errors.extend(_rule_errors(f"spec.rules[{index}]", as_dict(raw)))
    for index, raw in enumerate(as_list(spec.get("tls"))):
        for position, host in enumerate(as_list(as_dict(raw).get("hosts"))):
            text = as_str(host)
            errors.extend(invalid_each(f"spec.tls[{index}].hosts[{position}]", text, host_messages(text)))
    class_name = as_str(spec.get("ingressClassName"))
    if class_name:
        errors.extend(invalid_each("spec.ingressClassName", class_name, name_is_dns_subdomain(class_name, False)))
    return errors


def _rule_errors(path: str, rule: dict[str, Any]) -> list[FieldError]:
    host = as_str(rule.get("host"))
    errors = invalid_each(f"{path}.host", host, host_messages(host)) if host else []
    if rule.get("http") is None:
        return errors
    paths = as_list(as_dict(rule["http"]).get("paths"))
    if not paths:
        errors.append(required(f"{path}.http.paths"))
    for index, raw in enumerate(paths):
        errors.extend(_path_errors(f"{path}.http.paths[{index}]", as_dict(raw)))
    return errors


def _path_errors(path: str, entry: dict[str, Any]) -> list[FieldError]:
    path_type = entry.get("pathType")
    if path_type is None:
        return [required(f"{path}.pathType", "pathType must be specified")]
    value = as_str(entry.get("path"))
    errors: list[FieldError] = []
    if path_type in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errors.append(invalid(f"{path}.path", value, "must be an absolute path"))
        errors.extend(invalid(f"{path}.path", value, f"must not contain '{bad}'") for bad in INVALID_PATH_SEQUENCES if bad in value)
        errors.extend(invalid(f"{path}.path", value, f"cannot end with '{bad}'") for bad in INVALID_PATH_SUFFIXES if value.endswith(bad))
    elif path_type == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errors.append(invalid(f"{path}.path", value, "must be an absolute path"))
    else:
        errors.append(not_supported(f"{path}.pathType", path_type, PATH_TYPES))
    errors.extend(_backend_errors(f"{path}.backend", as_dict(entry.get("backend"))))
    return errors


def _backend_errors(path: str, backend: dict[str, Any]) -> list[FieldError]:
    has_resource = backend.get("resource") is not None
    has_service = backend.get("service") is not None
    if has_resource and has_service:
        return [invalid(path, "", "cannot set both resource and service backends")]
    if has_resource:
        resource = as_dict(backend["resource"])
        return [required(f"{path}.resource.{key}") for key in ("kind", "name") if not as_str(resource.get(key))]
    if not has_service:
        return [invalid(path, "", "resource or service backend is required")]

    service = as_dict(backend["service"])
    errors: list[FieldError] = []
    name = as_str(service.get("name"))
    if not name:
        errors.append(required(f"{path}.service.name"))
    else:
        errors.extend(invalid_each(f"{path}.service.name", name, dns1035_label_messages(name)))
    port = as_dict(service.get("port"))
    port_name = as_str(port.get("name"))
    port_number = as_int(port.get("number")) or 0
    if port_name and port_number:
        errors.append(invalid(f"{path}.service.port", "", "cannot set both port name & port number"))
    elif port_name:
        errors.extend(invalid_each(f"{path}.service.port.name", port_name, port_name_messages(port_name)))
    elif port_number:
        errors.extend(invalid_each(f"{path}.service.port.number", port_number, port_number_messages(port_number)))
    else:
        errors.append(required(f"{path}.service.port", "port name or number is required"))
    return errors


def validate_ingress_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    ingress = as_list(as_dict(as_dict(new.get("status")).get("loadBalancer")).get("ingress"))
    errors: list[FieldError] = []
    for index, raw in enumerate(ingress):
        address = as_str(as_dict(raw).get("ip"))
        if address:
            errors.extend(invalid_each(f"status.loadBalancer.ingress[{index}].ip", address, ip_messages(address)))
    return errors


# --- IngressClass ---


def default_ingress_class(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
        parameters = child_dict(spec, "parameters")
        if parameters is not None:
            set_default(parameters, "scope", "Cluster")


def validate_ingress_class(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    controller = as_str(spec.get("controller"))
    errors: list[FieldError] = []
    if not controller:
        errors.append(required("spec.controller"))
    elif len(controller) > MAX_CONTROLLER_LENGTH:
        errors.append(too_long("spec.controller", controller, MAX_CONTROLLER_LENGTH))
    elif "/" not in controller or validate_dns1123_subdomain(controller.split("/", 1)[0]):
        errors.append(invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")'))
    if spec.get("parameters") is not None:
        errors.extend(_parameters_errors("spec.parameters", as_dict(spec["parameters"])))
    return errors


def _parameters_errors(path: str, parameters: dict[str, Any]) -> list[FieldError]:
    errors = [required(f"{path}.{key}") for key in ("kind", "name") if not as_str(parameters.get(key))]
    scope = parameters.get("scope")
    if scope not in PARAMETER_SCOPES:
        errors.append(not_supported(f"{path}.scope", scope, PARAMETER_SCOPES))
    elif scope == "Namespace" and not as_str(parameters.get("namespace")):
        errors.append(required(f"{path}.namespace", "`parameters.scope` is set to 'Namespace'"))
    return errors


def validate_ingress_class_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    return check_immutable("spec.controller", as_dict(new.get("spec")).get("controller"), as_dict(old.get("spec")).get("controller"))


INGRESS = KindRules(validate=validate_ingress, validate_status=validate_ingress_status)
INGRESS_CLASS = KindRules(
    defaults=default_ingress_class,
    validate=validate_ingress_class,
    validate_update=validate_ingress_class_update,
)
