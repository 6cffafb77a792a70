"""The two ways a PATCH request can fail before validation runs.

The HTTP layer maps them to Kubernetes' Status responses. UnsupportedPatchType
becomes 415 (UnsupportedMediaType). InvalidPatch becomes the code in its
``status`` field: 400 BadRequest for a body that does not parse or breaks the
patch format, 422 Invalid for a well-formed patch that cannot be applied,
and 413 RequestEntityTooLarge for a JSON patch with too many operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson


class UnsupportedPatchType(Exception):
    """A Content-Type that names no patch format this server applies."""

    def __init__(self, content_type: str, supported: Sequence[str], *, reason: str = "") -> None:
        self.content_type = content_type
        self.supported = tuple(supported)
        self.reason = reason
        super().__init__(content_type)

    def __str__(self) -> str:
        # The first clause is Kubernetes' wording for a 415, which clients print.
        text = (
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(self.supported)
        )
        if self.reason:
            return f"{text} ({self.content_type}: {self.reason})"
        return f"{text} (got {self.content_type!r})"


class InvalidPatch(ValueError):
    """A patch body that does not parse or cannot be applied to the object.

    ``status`` is the HTTP status code the API server returns, and
    ``field`` the path inside the object ("spec.containers") where the patch
    went wrong, or "" when the fault is in the body as a whole.
    """

    def __init__(self, message: str, *, field: str = "", status: int = 400) -> None:
        self.message = message
        self.field = field
        self.status = status
        super().__init__(message)

    def __str__(self) -> str:
        if self.field:
            return f"{self.field}: {self.message}"
        return self.message


def render(value: Any, limit: int = 200) -> str:
    """Render a JSON value for an error message, cut to ``limit`` characters."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        text = repr(value)
    if len(text) > limit:
        return text[: limit - 3] + "..."
    return text
