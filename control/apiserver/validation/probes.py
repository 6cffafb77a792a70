"""Probe and lifecycle handler checks: exactly one handler, well-formed ports, sane periods."""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.fielderrors import (
    NEGATIVE_MESSAGE,
    forbidden,
    invalid,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.formats import port_number_messages
from pykube_control.apiserver.validation.ports import port_number_or_name_errors
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list

PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
HTTP_SCHEMES = ("HTTP", "HTTPS")
PROBE_COUNTERS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold")


def handler_errors(path: str, handler: dict[str, Any], kinds: tuple[str, ...]) -> list[FieldError]:
    """Check that exactly one handler of ``kinds`` is set and that it is well formed."""
    present = [kind for kind in kinds if handler.get(kind) is not None]
    if not present:
        return [required(path, "must specify a handler type")]
    errors = [forbidden(f"{path}.{kind}", "may not specify more than 1 handler type") for kind in present[1:]]
    kind = present[0]
    action = as_dict(handler.get(kind))
    if kind == "exec" and not as_list(action.get("command")):
        errors.append(required(f"{path}.exec.command"))
    elif kind in ("httpGet", "tcpSocket"):
        errors.extend(port_number_or_name_errors(f"{path}.{kind}.port", action.get("port")))
        if kind == "httpGet":
            errors.extend(_http_get_errors(f"{path}.httpGet", action))
    elif kind == "grpc":
        port = as_int(action.get("port")) or 0
        errors.extend(invalid(f"{path}.grpc.port", port, m) for m in port_number_messages(port))
    elif kind == "sleep":
        seconds = as_int(action.get("seconds"))
        if seconds is None or seconds < 0:
            errors.append(invalid(f"{path}.sleep.seconds", action.get("seconds"), NEGATIVE_MESSAGE))
    return errors


def _http_get_errors(path: str, action: dict[str, Any]) -> list[FieldError]:
    scheme = action.get("scheme")
    if scheme not in HTTP_SCHEMES:
        return [not_supported(f"{path}.scheme", scheme, HTTP_SCHEMES)]
    return []


def probe_errors(path: str, value: object, *, single_success: bool) -> list[FieldError]:
    """Check a probe; ``single_success`` requires successThreshold 1 (liveness, startup)."""
    if value is None:
        return []
    probe = as_dict(value)
    errors = handler_errors(path, probe, PROBE_HANDLERS)
    for key in PROBE_COUNTERS:
        number = as_int(probe.get(key))
        if number is not None and number < 0:
            errors.append(invalid(f"{path}.{key}", number, NEGATIVE_MESSAGE))
    success = as_int(probe.get("successThreshold"))
    if single_success and success is not None and success != 1:
        errors.append(invalid(f"{path}.successThreshold", success, "must be 1"))
    grace = as_int(probe.get("terminationGracePeriodSeconds"))
    if grace is not None and grace <= 0:
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than 0"))
    return errors


def lifecycle_errors(path: str, value: object) -> list[FieldError]:
    """Check postStart and preStop hooks, each with exactly one handler."""
    lifecycle = as_dict(value)
    errors: list[FieldError] = []
    for hook in ("postStart", "preStop"):
        if lifecycle.get(hook) is not None:
            errors.extend(handler_errors(f"{path}.{hook}", as_dict(lifecycle[hook]), LIFECYCLE_HANDLERS))
    return errors
