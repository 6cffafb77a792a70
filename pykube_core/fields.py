"""Field selectors (``?fieldSelector=spec.nodeName=node-1``) with Kubernetes' syntax.

A field selector is an AND of terms ``field=value``, ``field==value`` or
``field!=value`` separated by commas. Values escape ``\\``, ``,`` and ``=``
with a backslash. Only a few fields per resource are selectable, so the
parser takes the allowed field names and rejects others with Kubernetes'
"field label not supported" message. ``fields_of`` pulls those fields out of
an object dict so that ``FieldSelector.matches`` can test it.

Terms are sorted by their text before parsing, as Kubernetes does, so str()
of a parsed selector is canonical: "==" prints as "=" and values are
re-escaped.

Differences from Kubernetes (k8s.io/apimachinery/pkg/fields, 2025):

- ``\\!`` is accepted as an escaped "!"; Kubernetes rejects it as an invalid
  escape sequence. An unescaped "!" in a value is valid in both.
- An unescaped "," or "=" in a value is reported as the character itself
  with its position, where Kubernetes prints the character's code point.
- Errors are InvalidSelectorError FieldErrors: ``Invalid value:
  "<selector>": <Kubernetes' message>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from pykube_core.errors import InvalidSelectorError
from pykube_core.labels import Operator

DEFAULT_FIELDS = ("metadata.name", "metadata.namespace", "spec.nodeName", "status.phase")

# Kubernetes tries "!=" before "==" before "=" at each position of a term.
_TERM_OPERATORS = (("!=", Operator.NOT_EQUALS), ("==", Operator.EQUALS), ("=", Operator.EQUALS))
_ESCAPABLE = frozenset("\\,=!")


class FieldRequirement(NamedTuple):
    """One term: ``field`` compared with ``value`` by EQUALS or NOT_EQUALS."""

    field: str
    operator: Operator
    value: str

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Test the term; a field missing from ``fields`` counts as ""."""
        equal = fields.get(self.field, "") == self.value
        return equal if self.operator is Operator.EQUALS else not equal

    def __str__(self) -> str:
        symbol = "!=" if self.operator is Operator.NOT_EQUALS else "="
        return f"{self.field}{symbol}{escape_value(self.value)}"


@dataclass(frozen=True)
class FieldSelector:
    """An AND of field requirements; no requirements matches everything."""

    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(requirement.matches(fields) for requirement in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        """Return the value this selector requires ``field`` to equal, or None.

        The node agent uses this to watch only its own pods
        (``spec.nodeName=<node>``).
        """
        for requirement in self.requirements:
            if requirement.field == field and requirement.operator is Operator.EQUALS:
                return requirement.value
        return None

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def escape_value(value: str) -> str:
    """Escape ``\\``, ``,`` and ``=`` in a value, as Kubernetes' EscapeValue does."""
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(text: str) -> list[tuple[str, int]]:
    """Split at commas not escaped by a backslash; return (term, offset in text)."""
    terms: list[tuple[str, int]] = []
    start = 0
    escaped = False
    for index, character in enumerate(text):
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == ",":
            terms.append((text[start:index], start))
            start = index + 1
    terms.append((text[start:], start))
    return terms


def _split_term(term: str) -> tuple[str, Operator, str, int] | None:
    """Split a term at its first operator; return (field, operator, raw value, value offset)."""
    for index in range(len(term)):
        for symbol, operator in _TERM_OPERATORS:
            if term.startswith(symbol, index):
                return term[:index], operator, term[index + len(symbol) :], index + len(symbol)
    return None


class _UnescapeError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


def _unescape_value(raw: str) -> str:
    characters: list[str] = []
    escaped = False
    for index, character in enumerate(raw):
        if escaped:
            if character not in _ESCAPABLE:
                raise _UnescapeError(
                    f"invalid field selector: invalid escape sequence: \\{character}", index - 1
                )
            characters.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        elif character in ",=":
            raise _UnescapeError(
                f"invalid field selector: unescaped character in value: '{character}' "
                f"(write it as '\\{character}')",
                index,
            )
        else:
            characters.append(character)
    if escaped:
        raise _UnescapeError("invalid field selector: invalid escape sequence: \\", len(raw) - 1)
    return "".join(characters)


def parse_field_selector(
    text: str, allowed_fields: Iterable[str] = DEFAULT_FIELDS, field: str = ""
) -> FieldSelector:
    """Parse a field selector such as "spec.nodeName=node-1,status.phase!=Failed".

    "" (and empty terms between commas) select everything. Raises
    InvalidSelectorError for a term without an operator, a bad escape, or a
    field outside ``allowed_fields``; ``field`` (for example "fieldSelector")
    becomes the error's field path.
    """
    allowed = tuple(allowed_fields)
    requirements: list[FieldRequirement] = []
    terms = sorted(term for term in _split_terms(text) if term[0]) if text else []
    for term, offset in terms:
        parts = _split_term(term)
        if parts is None:
            raise InvalidSelectorError(
                field,
                text,
                f"invalid selector: '{text}'; can't understand '{term}' (position {offset})",
                position=offset,
            )
        name, operator, raw_value, value_offset = parts
        try:
            value = _unescape_value(raw_value)
        except _UnescapeError as error:
            position = offset + value_offset + error.offset
            raise InvalidSelectorError(
                field, text, f"{error.message} (position {position})", position=position
            ) from None
        if name not in allowed:
            raise InvalidSelectorError(
                field,
                text,
                f"field label not supported: {name} (supported: {', '.join(allowed)})",
                position=offset,
            )
        requirements.append(FieldRequirement(name, operator, value))
    return FieldSelector(tuple(requirements))


def fields_of(obj: Mapping[str, object], paths: Iterable[str] = DEFAULT_FIELDS) -> dict[str, str]:
    """Return each dotted ``path`` of an object dict as a string, "" when missing.

    A value that is not a string (a missing section, null) also becomes "",
    which is what a field selector compares against for an unset field.
    """
    result: dict[str, str] = {}
    for path in paths:
        current: object = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        result[path] = current if isinstance(current, str) else ""
    return result
