"""API errors as Kubernetes Status objects.

Handlers raise ``APIError``, and the server's error middleware turns it into a
``Status`` body with the HTTP code, ``reason`` and ``details`` that
kubectl and client libraries switch on (NotFound, AlreadyExists, Conflict,
Invalid, Gone, ...). The constructors below produce Kubernetes' messages
word for word where clients or users match on them.
"""

from __future__ import annotations

from typing import Any

from pykube_core.errors import FieldError, FieldErrors

from pykube_control.apiserver.resources import ResourceType


class APIError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    if code < 400:
        body.pop("reason")
        body.pop("message")
    return body


def _details(resource: ResourceType, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: ResourceType, name: str) -> APIError:
    return APIError(404, "NotFound", f'{resource.qualified} "{name}" not found', details=_details(resource, name))


def already_exists(resource: ResourceType, name: str) -> APIError:
    return APIError(
        409, "AlreadyExists", f'{resource.qualified} "{name}" already exists', details=_details(resource, name)
    )


def conflict(resource: ResourceType, name: str, detail: str | None = None) -> APIError:
    detail = detail or "the object has been modified; please apply your changes to the latest version and try again"
    return APIError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": {detail}',
        details=_details(resource, name),
    )


def invalid(resource: ResourceType, name: str, errors: list[FieldError]) -> APIError:
    """422 Invalid listing every field error as a cause, as kubectl prints them."""
    flat = [single for error in errors for single in error.flatten()]
    qualified_kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    summary = str(FieldErrors(flat)) if flat else "invalid object"
    details = _details(resource, name)
    details["kind"] = resource.kind
    details["causes"] = [error.as_cause() for error in flat]
    return APIError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details=details)


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def gone(message: str) -> APIError:
    return APIError(410, "Expired", message)


def method_not_allowed(verb: str, what: str) -> APIError:
    return APIError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource ({verb} {what})")


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str, resource: ResourceType | None = None, name: str = "") -> APIError:
    details = _details(resource, name) if resource else None
    return APIError(403, "Forbidden", message, details=details)


def unavailable(message: str) -> APIError:
    return APIError(503, "ServiceUnavailable", message)


def timeout(message: str) -> APIError:
    return APIError(504, "Timeout", message)


def unsupported_media_type(content_type: str, supported: list[str]) -> APIError:
    return APIError(
        415,
        "UnsupportedMediaType",
        f'the body of the request was in an unknown format - accepted media types include: {", ".join(supported)}'
        + (f" (got {content_type!r})" if content_type else ""),
    )


def too_large(limit: int) -> APIError:
    return APIError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")
