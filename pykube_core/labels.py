"""Labels and label selectors with Kubernetes' syntax, semantics and messages.

A Selector is an AND of Requirements (key, operator, sorted values). Three
ways build one, and all three give the same Selector for the same meaning:

- ``parse_selector("app=web,tier in (a,b)")``: the string syntax of
  ``?labelSelector=`` and ``kubectl -l``, parsed by a lexer and a recursive
  descent parser that reproduce Kubernetes' grammar and error messages;
- ``selector_from_label_selector({"matchLabels": ..., "matchExpressions": ...})``:
  the object form in Deployment, ReplicaSet and Service-like specs, checked
  with the API server's field-path messages;
- the ``Selector``/``Requirement`` constructors, for code and native kernels.
  The Requirement and Operator shapes are fixed because the native selector
  kernel consumes them.

Label keys and values are checked with Kubernetes' qualified-name and
label-value rules; ``validate_labels`` checks a whole ``metadata.labels`` map.

Differences from Kubernetes (k8s.io/apimachinery/pkg/labels, 2025):

- The ``gt`` and ``lt`` operators (``a>1``) are rejected with an error that
  names them, because Operator has no member for them. Kubernetes accepts
  them in string selectors.
- Parse errors carry the 0-based position of the rejected token and render
  as FieldErrors: ``Invalid value: "<selector>": <Kubernetes' message>
  (position N)``. A nested key error prints without Kubernetes' "<nil>: ".
- Requirements with equal keys keep their input order; Kubernetes' sort
  does not promise an order for them.
- Messages keep the released wording ("a qualified name", "63 characters")
  rather than the newest "a valid label key" and "63 bytes".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from pykube_core.errors import ErrorType, FieldError, InvalidSelectorError, raise_if_any
from pykube_core.names import (
    empty_message,
    max_length_message,
    regex_message,
    validate_dns1123_subdomain,
)

LABEL_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63

QUALIFIED_NAME_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FORMAT = "(" + QUALIFIED_NAME_FORMAT + ")?"

_QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_QUALIFIED_NAME_PATTERN = re.compile(QUALIFIED_NAME_FORMAT)
_LABEL_VALUE_PATTERN = re.compile(LABEL_VALUE_FORMAT)


class Operator(enum.Enum):
    """A requirement's operator; the values are Kubernetes' selection.Operator strings."""

    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="


_POSITIVE = frozenset({Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS})
_NEGATIVE = frozenset({Operator.NOT_IN, Operator.NOT_EQUALS})
_EXACT = frozenset({Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS})
_SET = frozenset({Operator.IN, Operator.NOT_IN})
_UNARY = frozenset({Operator.EXISTS, Operator.DOES_NOT_EXIST})


class Requirement(NamedTuple):
    """One condition on one label key; ``values`` are sorted and de-duplicated."""

    key: str
    operator: Operator
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Tell whether ``labels`` satisfy this requirement.

        In and the equality operators need the key with one of the values;
        NotIn and != accept a missing key or any other value.
        """
        present = self.key in labels
        if self.operator in _POSITIVE:
            return present and labels[self.key] in self.values
        if self.operator in _NEGATIVE:
            return not present or labels[self.key] not in self.values
        if self.operator is Operator.EXISTS:
            return present
        return not present

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        if self.operator in _SET:
            return f"{self.key} {self.operator.value} ({','.join(sorted(self.values))})"
        return f"{self.key}{self.operator.value}{','.join(sorted(self.values))}"


@dataclass(frozen=True)
class Selector:
    """An AND of requirements sorted by key, or the selector that matches nothing.

    ``Selector()`` matches everything; ``Selector.nothing()`` matches no
    labels at all (Kubernetes' labels.Nothing, the meaning of a nil selector).
    """

    requirements: tuple[Requirement, ...] = ()
    matches_nothing: bool = False

    @classmethod
    def nothing(cls) -> Selector:
        return cls(matches_nothing=True)

    @classmethod
    def everything(cls) -> Selector:
        return cls()

    @classmethod
    def from_requirements(cls, requirements: Iterable[Requirement]) -> Selector:
        """Build a selector, sorting the requirements by key as Kubernetes does."""
        return cls(tuple(sorted(requirements, key=lambda requirement: requirement.key)))

    @property
    def empty(self) -> bool:
        """True for the selector that matches everything."""
        return not self.matches_nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.matches_nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """Return the one value this selector requires for ``key``, or None."""
        for requirement in self.requirements:
            if requirement.key != key:
                continue
            if requirement.operator in _POSITIVE and len(requirement.values) == 1:
                return requirement.values[0]
            return None
        return None

    def __str__(self) -> str:
        # Kubernetes prints the nothing selector as "" too; check matches_nothing.
        return ",".join(str(requirement) for requirement in self.requirements)


# --- validation of keys, values and label maps ---


def validate_label_key(key: str) -> list[str]:
    """Return why ``key`` is not a qualified name ("prefix/name"); empty means valid."""
    errors: list[str] = []
    parts = key.split("/")
    if len(parts) > 2:
        return [
            "a qualified name "
            + regex_message(_QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FORMAT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part " + empty_message())
        else:
            errors.extend("prefix part " + message for message in validate_dns1123_subdomain(prefix))

    if not name:
        errors.append("name part " + empty_message())
    elif len(name) > LABEL_NAME_MAX_LENGTH:
        errors.append("name part " + max_length_message(LABEL_NAME_MAX_LENGTH))
    if not _QUALIFIED_NAME_PATTERN.fullmatch(name):
        errors.append(
            "name part "
            + regex_message(_QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FORMAT, "MyName", "my.name", "123-abc")
        )
    return errors


def validate_label_value(value: str) -> list[str]:
    """Return why ``value`` is not a label value; empty means valid ("" is valid)."""
    errors: list[str] = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_length_message(LABEL_VALUE_MAX_LENGTH))
    if not _LABEL_VALUE_PATTERN.fullmatch(value):
        errors.append(regex_message(_LABEL_VALUE_MESSAGE, LABEL_VALUE_FORMAT, "MyValue", "my_value", "12345"))
    return errors


def _label_map_errors(labels: object, field: str) -> list[FieldError]:
    # Kubernetes reports every key and value error at the map's own path.
    if not isinstance(labels, Mapping):
        return [FieldError(field, labels, "must be an object of string keys to string values")]
    errors: list[FieldError] = []
    for key in sorted(labels, key=str):
        value = labels[key]
        if not isinstance(key, str) or not isinstance(value, str):
            errors.append(FieldError(field, {str(key): value}, "label keys and values must be strings"))
            continue
        errors.extend(FieldError(field, key, message) for message in validate_label_key(key))
        errors.extend(FieldError(field, value, message) for message in validate_label_value(value))
    return errors


def validate_labels(labels: Mapping[str, str], field: str = "metadata.labels") -> None:
    """Raise FieldError (FieldErrors for several) unless every key and value is valid."""
    raise_if_any(_label_map_errors(labels, field))


# --- requirements built from code ---


def new_requirement(key: str, operator: Operator, values: Iterable[str] = ()) -> Requirement:
    """Build a validated Requirement, checking what Kubernetes' NewRequirement checks.

    Raises FieldError (FieldErrors for several problems) with Kubernetes'
    relative paths "key" and "values[i][key]".
    """
    given = list(values)
    errors: list[FieldError] = []
    key_messages = validate_label_key(key)
    if key_messages:
        errors.append(FieldError("key", key, "; ".join(key_messages)))
    if operator in _SET and not given:
        errors.append(FieldError("values", given, "for 'in', 'notin' operators, values set can't be empty"))
    if operator in _EXACT and len(given) != 1:
        errors.append(FieldError("values", given, "exact-match compatibility requires one single value"))
    if operator in _UNARY and given:
        errors.append(
            FieldError("values", given, "values set must be empty for exists and does not exist")
        )
    for index, value in enumerate(given):
        value_messages = validate_label_value(value)
        if value_messages:
            errors.append(FieldError(f"values[{index}][{key}]", value, "; ".join(value_messages)))
    raise_if_any(errors)
    return Requirement(key, operator, tuple(sorted(set(given))))


# --- the string syntax ---


class _Token(enum.Enum):
    END = "end of string"
    CLOSE = ")"
    COMMA = ","
    NOT = "!"
    DOUBLE_EQUALS = "=="
    EQUALS = "="
    GREATER = ">"
    IDENTIFIER = "identifier"
    IN = "in"
    LESS = "<"
    NOT_EQUALS = "!="
    NOT_IN = "notin"
    OPEN = "("


class _Lexeme(NamedTuple):
    token: _Token
    literal: str
    position: int


_SYMBOLS = {
    ")": _Token.CLOSE, ",": _Token.COMMA, "!": _Token.NOT, "==": _Token.DOUBLE_EQUALS,
    "=": _Token.EQUALS, ">": _Token.GREATER, "<": _Token.LESS, "!=": _Token.NOT_EQUALS,
    "(": _Token.OPEN,
}  # fmt: skip
_KEYWORDS = {"in": _Token.IN, "notin": _Token.NOT_IN}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_LIST = "in, notin, =, ==, !="


def _lex(text: str) -> list[_Lexeme]:
    """Split a selector into tokens; the list always ends with one END token."""
    lexemes: list[_Lexeme] = []
    index = 0
    while True:
        while index < len(text) and text[index] in _WHITESPACE:
            index += 1
        if index == len(text):
            lexemes.append(_Lexeme(_Token.END, "", index))
            return lexemes
        start = index
        if text[index] in _SPECIAL:
            # Longest match: "!=" and "==" are the only two-character symbols.
            symbol = text[index : index + 2]
            if symbol not in _SYMBOLS:
                symbol = text[index]
            index += len(symbol)
            lexemes.append(_Lexeme(_SYMBOLS[symbol], symbol, start))
            continue
        while index < len(text) and text[index] not in _SPECIAL and text[index] not in _WHITESPACE:
            index += 1
        word = text[start:index]
        lexemes.append(_Lexeme(_KEYWORDS.get(word, _Token.IDENTIFIER), word, start))


class _ParseError(Exception):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class _Parser:
    """Kubernetes' selector grammar, one method per rule.

    Where a value may stand (after an operator, inside parentheses, at the
    start of a requirement), the words "in" and "notin" are identifiers, so
    "in in (in)" is a valid selector.
    """

    def __init__(self, text: str) -> None:
        self.lexemes = _lex(text)
        self.index = 0

    def peek(self, as_value: bool = True) -> _Lexeme:
        return self._as_value(self.lexemes[self.index], as_value)

    def take(self, as_value: bool = True) -> _Lexeme:
        lexeme = self.lexemes[self.index]
        self.index += 1
        return self._as_value(lexeme, as_value)

    @staticmethod
    def _as_value(lexeme: _Lexeme, as_value: bool) -> _Lexeme:
        if as_value and lexeme.token in (_Token.IN, _Token.NOT_IN):
            return lexeme._replace(token=_Token.IDENTIFIER)
        return lexeme

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            lexeme = self.peek()
            if lexeme.token is _Token.END:
                return requirements
            if lexeme.token not in (_Token.IDENTIFIER, _Token.NOT):
                raise _ParseError(
                    f"found '{lexeme.literal}', expected: !, identifier, or 'end of string'",
                    lexeme.position,
                )
            requirements.append(self.requirement())
            after = self.take()
            if after.token is _Token.END:
                return requirements
            if after.token is not _Token.COMMA:
                raise _ParseError(
                    f"found '{after.literal}', expected: ',' or 'end of string'", after.position
                )
            following = self.peek()
            if following.token not in (_Token.IDENTIFIER, _Token.NOT):
                raise _ParseError(
                    f"found '{following.literal}', expected: identifier after ','",
                    following.position,
                )

    def requirement(self) -> Requirement:
        start = self.peek().position
        try:
            key, operator = self.key_and_inferred_operator()
            if operator is None:
                operator = self.operator()
                values = self.values() if operator in _SET else self.exact_value()
            else:
                values = []
        except _ParseError as error:
            raise _ParseError("unable to parse requirement: " + error.message, error.position) from None
        try:
            return new_requirement(key, operator, values)
        except FieldError as error:
            raise _ParseError(f"unable to parse requirement: {error}", start) from None

    def key_and_inferred_operator(self) -> tuple[str, Operator | None]:
        """Parse "[!]key"; return the operator when no operator follows the key, else None."""
        lexeme = self.take()
        negated = lexeme.token is _Token.NOT
        if negated:
            lexeme = self.take()
        if lexeme.token is not _Token.IDENTIFIER:
            raise _ParseError(f"found '{lexeme.literal}', expected: identifier", lexeme.position)
        messages = validate_label_key(lexeme.literal)
        if messages:
            detail = FieldError("", lexeme.literal, "; ".join(messages))
            raise _ParseError(str(detail), lexeme.position)
        if negated:
            return lexeme.literal, Operator.DOES_NOT_EXIST
        if self.peek().token in (_Token.END, _Token.COMMA):
            return lexeme.literal, Operator.EXISTS
        return lexeme.literal, None

    def operator(self) -> Operator:
        lexeme = self.take(as_value=False)
        operators = {
            _Token.IN: Operator.IN,
            _Token.NOT_IN: Operator.NOT_IN,
            _Token.EQUALS: Operator.EQUALS,
            _Token.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
            _Token.NOT_EQUALS: Operator.NOT_EQUALS,
        }
        if lexeme.token in operators:
            return operators[lexeme.token]
        # NOTE: Kubernetes accepts "a>1" and "a<1" here; Operator has no gt or lt.
        if lexeme.token in (_Token.GREATER, _Token.LESS):
            raise _ParseError(
                f"found '{lexeme.literal}', expected: {_OPERATOR_LIST} (the gt and lt operators "
                "are not supported)",
                lexeme.position,
            )
        raise _ParseError(f"found '{lexeme.literal}', expected: {_OPERATOR_LIST}", lexeme.position)

    def values(self) -> list[str]:
        """Parse "(v1,v2,...)"; empty entries such as "(a,)" or "()" stand for ""."""
        opening = self.take()
        if opening.token is not _Token.OPEN:
            raise _ParseError(f"found '{opening.literal}' expected: '('", opening.position)
        first = self.peek()
        if first.token is _Token.CLOSE:
            self.take()
            return [""]
        if first.token not in (_Token.IDENTIFIER, _Token.COMMA):
            raise _ParseError(
                f"found '{first.literal}', expected: ',', ')' or identifier", first.position
            )
        values = self.identifier_list()
        self.take()  # identifier_list returns only with ")" next
        return values

    def identifier_list(self) -> list[str]:
        values: list[str] = []
        while True:
            lexeme = self.take()
            if lexeme.token is _Token.IDENTIFIER:
                values.append(lexeme.literal)
                following = self.peek()
                if following.token is _Token.CLOSE:
                    return values
                if following.token is not _Token.COMMA:
                    raise _ParseError(
                        f"found '{following.literal}', expected: ',' or ')'", following.position
                    )
            elif lexeme.token is _Token.COMMA:
                if not values:
                    values.append("")  # "(,": an empty first value
                if self.peek().token is _Token.CLOSE:
                    values.append("")  # ",)": an empty last value
                    return values
                if self.peek().token is _Token.COMMA:
                    values.append("")  # ",,": an empty value between
            else:
                raise _ParseError(
                    f"found '{lexeme.literal}', expected: ',', or identifier", lexeme.position
                )

    def exact_value(self) -> list[str]:
        """Parse the value after =, == or !=; a missing value is ""."""
        if self.peek().token in (_Token.END, _Token.COMMA):
            return [""]
        lexeme = self.take()
        if lexeme.token is _Token.IDENTIFIER:
            return [lexeme.literal]
        raise _ParseError(f"found '{lexeme.literal}', expected: identifier", lexeme.position)


def parse_selector(text: str, field: str = "") -> Selector:
    """Parse the string form of a label selector, such as "app=web,tier notin (db)".

    "" gives the selector that matches everything. Raises InvalidSelectorError
    with Kubernetes' message, the text, and the position of the bad token;
    ``field`` (for example "labelSelector") becomes the error's field path.
    """
    try:
        requirements = _Parser(text).parse()
    except _ParseError as error:
        raise InvalidSelectorError(
            field, text, f"{error.message} (position {error.position})", position=error.position
        ) from None
    return Selector.from_requirements(requirements)


# --- the object form (metav1.LabelSelector) ---

_EXPRESSION_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def selector_from_label_selector(obj: Mapping[str, object] | None, field: str = "spec.selector") -> Selector:
    """Convert a LabelSelector object to a Selector, validating it as the API server does.

    None gives ``Selector.nothing()`` and an object without matchLabels and
    matchExpressions gives the selector that matches everything, as in
    Kubernetes' LabelSelectorAsSelector. Raises FieldError (FieldErrors for
    several) with paths such as "spec.selector.matchExpressions[0].values".
    """
    if obj is None:
        return Selector.nothing()
    if not isinstance(obj, Mapping):
        raise FieldError(field, obj, "must be an object with matchLabels and/or matchExpressions")
    match_labels = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    if not isinstance(expressions, Sequence) or isinstance(expressions, str):
        raise FieldError(f"{field}.matchExpressions", expressions, "must be a list of requirements")
    if not match_labels and not expressions:
        return Selector.everything()

    errors = _label_map_errors(match_labels, f"{field}.matchLabels")
    for index, expression in enumerate(expressions):
        errors.extend(_expression_errors(expression, f"{field}.matchExpressions[{index}]"))
    raise_if_any(errors)

    assert isinstance(match_labels, Mapping)  # _label_map_errors rejected anything else
    requirements = [Requirement(key, Operator.EQUALS, (value,)) for key, value in match_labels.items()]
    for expression in expressions:
        # _expression_errors accepted it, so key, operator and values are well typed.
        key = str(expression["key"])
        operator = _EXPRESSION_OPERATORS[str(expression["operator"])]
        values = tuple(sorted(set(expression.get("values") or ())))
        requirements.append(Requirement(key, operator, values))
    return Selector.from_requirements(requirements)


def _expression_errors(expression: object, path: str) -> list[FieldError]:
    if not isinstance(expression, Mapping):
        return [FieldError(path, expression, "must be an object with key, operator and values")]
    errors: list[FieldError] = []
    operator = expression.get("operator")
    values = expression.get("values") or []
    key = expression.get("key")

    if not isinstance(values, Sequence) or isinstance(values, str) or not all(isinstance(v, str) for v in values):
        errors.append(FieldError(f"{path}.values", values, "must be a list of strings"))
        values = []
    if operator in ("In", "NotIn"):
        if not values:
            errors.append(
                FieldError(
                    f"{path}.values",
                    "",
                    "must be specified when `operator` is 'In' or 'NotIn'",
                    error_type=ErrorType.REQUIRED,
                )
            )
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            errors.append(
                FieldError(
                    f"{path}.values",
                    "",
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    error_type=ErrorType.FORBIDDEN,
                )
            )
    else:
        errors.append(FieldError(f"{path}.operator", operator, "not a valid selector operator"))

    if not isinstance(key, str):
        errors.append(FieldError(f"{path}.key", key, "must be a string label key"))
    else:
        errors.extend(FieldError(f"{path}.key", key, message) for message in validate_label_key(key))
    for index, value in enumerate(values):
        errors.extend(
            FieldError(f"{path}.values[{index}]", value, message) for message in validate_label_value(value)
        )
    return errors


__all__ = [
    "LABEL_NAME_MAX_LENGTH",
    "LABEL_VALUE_MAX_LENGTH",
    "Operator",
    "Requirement",
    "Selector",
    "new_requirement",
    "parse_selector",
    "selector_from_label_selector",
    "validate_label_key",
    "validate_label_value",
    "validate_labels",
]
