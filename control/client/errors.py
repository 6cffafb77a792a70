"""Exceptions of the API client, one class per Kubernetes Status reason.

The API server reports every failure as a ``Status`` object with a
``reason`` and a ``code``. ``error_from_status`` maps the reason first,
because one code carries several reasons (409 is both AlreadyExists and
Conflict), and falls back to the code for reasons it does not know. Each
exception keeps the whole Status, so callers can read ``details.causes``.
"""

from __future__ import annotations

from typing import Any

Status = dict[str, Any]


class ClientError(Exception):
    """Base of every error the client raises."""


class APIConnectionError(ClientError):
    """The API server could not be reached, or the connection broke before a response, after all retries."""


class APIError(ClientError):
    """The API server returned a failure Status."""

    def __init__(self, status: Status) -> None:
        self.status = status
        self.code = int(status.get("code") or 0)
        self.reason = str(status.get("reason") or "")
        self.message = str(status.get("message") or "")
        super().__init__(f"{self.code} {self.reason or 'Unknown'}: {self.message or '(no message)'}")

    @property
    def retry_after_seconds(self) -> int | None:
        """The server's ``details.retryAfterSeconds``, or None."""
        details = self.status.get("details") or {}
        value = details.get("retryAfterSeconds") if isinstance(details, dict) else None
        return int(value) if isinstance(value, int) else None


class BadRequest(APIError):
    pass


class Unauthorized(APIError):
    pass


class Forbidden(APIError):
    pass


class NotFound(APIError):
    pass


class MethodNotAllowed(APIError):
    pass


class AlreadyExists(APIError):
    pass


class Conflict(APIError):
    pass


class Gone(APIError):
    """410: the resourceVersion or continue token is older than the server keeps (reasons Gone and Expired)."""


class UnsupportedMediaType(APIError):
    pass


class Invalid(APIError):
    pass


class TooManyRequests(APIError):
    pass


class InternalError(APIError):
    pass


class ServiceUnavailable(APIError):
    pass


class ServerTimeout(APIError):
    """The server gave up on the request (reason ServerTimeout, or Timeout with code 504)."""


_BY_REASON: dict[str, type[APIError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Gone,
    "UnsupportedMediaType": UnsupportedMediaType,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "InternalError": InternalError,
    "ServiceUnavailable": ServiceUnavailable,
    "ServerTimeout": ServerTimeout,
    "Timeout": ServerTimeout,
}

_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    410: Gone,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
    500: InternalError,
    503: ServiceUnavailable,
    504: ServerTimeout,
}


def error_from_status(status: Status, http_status: int | None = None) -> APIError:
    """Return the exception for a failure ``status``; ``http_status`` fills in a Status without a code."""
    if not status.get("code") and http_status is not None:
        status = {**status, "code": http_status}
    cls = _BY_REASON.get(str(status.get("reason") or ""))
    if cls is None:
        cls = _BY_CODE.get(int(status.get("code") or 0), APIError)
    return cls(status)


def status_from_text(http_status: int, text: str) -> Status:
    """Build a Status for a failure response whose body is not a Status (a proxy's HTML page, say)."""
    message = text.strip()[:500] or f"HTTP {http_status} with an empty body"
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": http_status, "message": message}
