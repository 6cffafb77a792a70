"""Field errors: the exception every object-model check raises.

A Kubernetes client shows validation failures as field errors such as
``metadata.name: Invalid value: "Foo": a lowercase RFC 1123 subdomain must
consist of ...``. FieldError renders exactly that form, and the API server
turns one into a cause of a ``Status`` object through ``as_cause()``.

Several errors found in one pass travel together as a FieldErrors, which is a
FieldError itself, so ``except FieldError`` catches both. Its str() is
Kubernetes' aggregate form: one message alone, or ``[first, second]``.

Differences from Kubernetes (k8s.io/apimachinery/pkg/util/validation/field):

- An error without a field path renders without the ``field: `` prefix,
  where Kubernetes prints ``<nil>: `` or ``: ``.
- Values are quoted as JSON strings, which differs from Go's %q only for
  control and non-printable characters.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from typing import TypedDict


class ErrorType(enum.Enum):
    """The kind of a field error; the value is Kubernetes' cause type."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"

    @property
    def label(self) -> str:
        """The words Kubernetes prints for this type, such as "Invalid value"."""
        return _LABELS[self]


_LABELS = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
}

# Kubernetes prints the type alone, without the bad value, for these types.
_VALUE_OMITTED = frozenset(
    {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}
)


class StatusCause(TypedDict):
    """One entry of ``Status.details.causes`` in the Kubernetes API."""

    reason: str
    message: str
    field: str


def format_value(value: object) -> str:
    """Format a bad value as Kubernetes does: strings quoted, numbers bare, rest as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


class FieldError(ValueError):
    """An invalid value at one field path, such as "metadata.name".

    ``field`` is "" when the check ran on a bare value; ``with_field`` adds the
    path once the caller knows where the value came from.
    """

    def __init__(
        self,
        field: str,
        value: object,
        detail: str,
        *,
        error_type: ErrorType = ErrorType.INVALID,
    ) -> None:
        self.field = field
        self.value = value
        self.detail = detail
        self.error_type = error_type
        super().__init__(field, value, detail)

    def body(self) -> str:
        """Return the message without the field path, like Kubernetes' ErrorBody."""
        text = self.error_type.label
        if self.error_type not in _VALUE_OMITTED:
            text = f"{text}: {format_value(self.value)}"
        if self.detail:
            text = f"{text}: {self.detail}"
        return text

    def __str__(self) -> str:
        if not self.field:
            return self.body()
        return f"{self.field}: {self.body()}"

    def with_field(self, field: str) -> FieldError:
        """Return a copy of this error of the same class at another field path."""
        copy = self.__class__.__new__(self.__class__)
        copy.__dict__.update(self.__dict__)
        copy.field = field
        copy.args = (field, self.value, self.detail)
        return copy

    def as_cause(self) -> StatusCause:
        """Return this error as a Status cause: reason, message without path, field."""
        return {"reason": self.error_type.value, "message": self.body(), "field": self.field}

    def flatten(self) -> tuple[FieldError, ...]:
        """Return the single errors this one carries: itself, for a single error."""
        return (self,)


class FieldErrors(FieldError):
    """Several field errors raised together; field, value and detail are the first one's."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        flat = tuple(single for error in errors for single in error.flatten())
        if not flat:
            raise ValueError("FieldErrors needs at least one error; raise nothing instead")
        first = flat[0]
        super().__init__(first.field, first.value, first.detail, error_type=first.error_type)
        self.errors = flat

    def __str__(self) -> str:
        # Kubernetes' aggregate drops repeated messages and brackets a list.
        messages: list[str] = []
        for error in self.errors:
            message = str(error)
            if message not in messages:
                messages.append(message)
        if len(messages) == 1:
            return messages[0]
        return "[" + ", ".join(messages) + "]"

    def flatten(self) -> tuple[FieldError, ...]:
        return self.errors

    def as_causes(self) -> list[StatusCause]:
        """Return every error as a Status cause, in the order found."""
        return [error.as_cause() for error in self.errors]


def raise_if_any(errors: Iterable[FieldError]) -> None:
    """Raise nothing for no errors, the error itself for one, FieldErrors for more."""
    collected = list(errors)
    if len(collected) == 1:
        raise collected[0]
    if collected:
        raise FieldErrors(collected)


class InvalidQuantityError(FieldError):
    """A string that is not a Kubernetes resource quantity."""


class InvalidSelectorError(FieldError):
    """A label or field selector that does not parse or names an unsupported field.

    ``position`` is the 0-based offset in the selector text of the token the
    parser rejected, or None when the error concerns the whole selector.
    """

    def __init__(
        self,
        field: str,
        value: object,
        detail: str,
        *,
        position: int | None = None,
        error_type: ErrorType = ErrorType.INVALID,
    ) -> None:
        super().__init__(field, value, detail, error_type=error_type)
        self.position = position
