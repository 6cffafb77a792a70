"""Label validation and label selectors: string syntax, object form and matching."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykube_core.errors import ErrorType, FieldError, FieldErrors, InvalidSelectorError
from pykube_core.labels import (
    Operator,
    Requirement,
    Selector,
    new_requirement,
    parse_selector,
    selector_from_label_selector,
    validate_label_key,
    validate_label_value,
    validate_labels,
)

NAME_PART_REGEX = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
    "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
    "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_REGEX = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


def req(key: str, operator: Operator, *values: str) -> Requirement:
    return Requirement(key, operator, tuple(values))


# --- keys and values ---


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("app", id="simple"),
        pytest.param("App.Name_1-x", id="mixed characters"),
        pytest.param("example.com/app", id="prefixed"),
        pytest.param("kubernetes.io/hostname", id="kubernetes prefix"),
        pytest.param("a" * 63, id="name at max length"),
        pytest.param("a" * 253 + "/b", id="prefix at max length"),
        pytest.param("1", id="digit"),
    ],
)
def test_label_key_valid(key: str) -> None:
    assert validate_label_key(key) == []


@pytest.mark.parametrize(
    ("key", "messages"),
    [
        pytest.param("", ["name part must be non-empty", NAME_PART_REGEX], id="empty"),
        pytest.param("-app", [NAME_PART_REGEX], id="leading dash"),
        pytest.param("app_", [NAME_PART_REGEX], id="trailing underscore"),
        pytest.param("a b", [NAME_PART_REGEX], id="space"),
        pytest.param("a" * 64, ["name part must be no more than 63 characters"], id="name too long"),
        pytest.param("/app", ["prefix part must be non-empty"], id="empty prefix"),
        pytest.param("example.com/", ["name part must be non-empty", NAME_PART_REGEX], id="empty name"),
    ],
)
def test_label_key_invalid(key: str, messages: list[str]) -> None:
    assert validate_label_key(key) == messages


def test_label_key_bad_prefix() -> None:
    messages = validate_label_key("Example.com/app")
    assert len(messages) == 1
    assert messages[0].startswith("prefix part a lowercase RFC 1123 subdomain must consist of")


def test_label_key_two_slashes() -> None:
    assert validate_label_key("a/b/c") == [
        "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
        "'123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') "
        "with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    ]


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        pytest.param("", [], id="empty is valid"),
        pytest.param("web", [], id="simple"),
        pytest.param("v1.2_3-x", [], id="mixed"),
        pytest.param("a" * 63, [], id="max length"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too long"),
        pytest.param("-x", [VALUE_REGEX], id="leading dash"),
        pytest.param("a/b", [VALUE_REGEX], id="slash"),
        pytest.param("x\n", [VALUE_REGEX], id="trailing newline"),
    ],
)
def test_label_value(value: str, messages: list[str]) -> None:
    assert validate_label_value(value) == messages


def test_validate_labels_valid() -> None:
    validate_labels({"app": "web", "example.com/tier": ""})


def test_validate_labels_one_error() -> None:
    with pytest.raises(FieldError) as caught:
        validate_labels({"app": "-web"})
    assert str(caught.value) == f'metadata.labels: Invalid value: "-web": {VALUE_REGEX}'


def test_validate_labels_aggregates() -> None:
    with pytest.raises(FieldErrors) as caught:
        validate_labels({"-a": "ok", "b": "-x"}, field="spec.template.metadata.labels")
    errors = caught.value.errors
    assert [error.value for error in errors] == ["-a", "-x"]
    assert {error.field for error in errors} == {"spec.template.metadata.labels"}
    assert str(caught.value).startswith('[spec.template.metadata.labels: Invalid value: "-a": ')


# --- requirements and matching ---

MATCHES = [
    pytest.param(req("a", Operator.EQUALS, "b"), {"a": "b"}, True, id="equals match"),
    pytest.param(req("a", Operator.EQUALS, "b"), {"a": "c"}, False, id="equals other value"),
    pytest.param(req("a", Operator.EQUALS, "b"), {}, False, id="equals missing"),
    pytest.param(req("a", Operator.DOUBLE_EQUALS, "b"), {"a": "b"}, True, id="double equals"),
    pytest.param(req("a", Operator.IN, "b", "c"), {"a": "c"}, True, id="in match"),
    pytest.param(req("a", Operator.IN, "b", "c"), {"a": "d"}, False, id="in other value"),
    pytest.param(req("a", Operator.IN, "b"), {}, False, id="in missing"),
    pytest.param(req("a", Operator.IN, ""), {"a": ""}, True, id="in empty value"),
    pytest.param(req("a", Operator.NOT_EQUALS, "b"), {"a": "c"}, True, id="not equals other"),
    pytest.param(req("a", Operator.NOT_EQUALS, "b"), {"a": "b"}, False, id="not equals same"),
    pytest.param(req("a", Operator.NOT_EQUALS, "b"), {}, True, id="not equals missing"),
    pytest.param(req("a", Operator.NOT_IN, "b", "c"), {"a": "b"}, False, id="notin listed"),
    pytest.param(req("a", Operator.NOT_IN, "b", "c"), {"a": "d"}, True, id="notin other"),
    pytest.param(req("a", Operator.NOT_IN, "b"), {}, True, id="notin missing"),
    pytest.param(req("a", Operator.EXISTS), {"a": ""}, True, id="exists"),
    pytest.param(req("a", Operator.EXISTS), {"b": "a"}, False, id="exists missing"),
    pytest.param(req("a", Operator.DOES_NOT_EXIST), {}, True, id="does not exist"),
    pytest.param(req("a", Operator.DOES_NOT_EXIST), {"a": "x"}, False, id="does not exist present"),
]


@pytest.mark.parametrize(("requirement", "labels", "expected"), MATCHES)
def test_requirement_matches(requirement: Requirement, labels: dict[str, str], expected: bool) -> None:
    assert requirement.matches(labels) is expected


def test_selector_everything_and_nothing() -> None:
    assert Selector().matches({"a": "b"})
    assert Selector().empty
    assert not Selector.nothing().matches({})
    assert not Selector.nothing().empty
    assert Selector.nothing().requirements == ()


def test_new_requirement_sorts_and_dedups() -> None:
    assert new_requirement("a", Operator.IN, ["y", "x", "y"]) == req("a", Operator.IN, "x", "y")


@pytest.mark.parametrize(
    ("key", "operator", "values", "message"),
    [
        pytest.param("a", Operator.IN, [], "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty", id="in without values"),
        pytest.param("a", Operator.EQUALS, ["x", "y"], 'values: Invalid value: ["x", "y"]: exact-match compatibility requires one single value', id="equals two values"),
        pytest.param("a", Operator.EXISTS, ["x"], 'values: Invalid value: ["x"]: values set must be empty for exists and does not exist', id="exists with value"),
        pytest.param("a", Operator.EQUALS, ["-x"], f'values[0][a]: Invalid value: "-x": {VALUE_REGEX}', id="bad value"),
    ],
)
def test_new_requirement_invalid(key: str, operator: Operator, values: list[str], message: str) -> None:
    with pytest.raises(FieldError) as caught:
        new_requirement(key, operator, values)
    assert str(caught.value) == message


# --- string selectors ---

PARSED = [
    pytest.param("", (), "", id="empty"),
    pytest.param("   ", (), "", id="whitespace only"),
    pytest.param("a=b", (req("a", Operator.EQUALS, "b"),), "a=b", id="equals"),
    pytest.param("a==b", (req("a", Operator.DOUBLE_EQUALS, "b"),), "a==b", id="double equals"),
    pytest.param("a!=b", (req("a", Operator.NOT_EQUALS, "b"),), "a!=b", id="not equals"),
    pytest.param("a=", (req("a", Operator.EQUALS, ""),), "a=", id="equals empty"),
    pytest.param("a", (req("a", Operator.EXISTS),), "a", id="exists"),
    pytest.param("!a", (req("a", Operator.DOES_NOT_EXIST),), "!a", id="does not exist"),
    pytest.param("a in (y,x)", (req("a", Operator.IN, "x", "y"),), "a in (x,y)", id="in sorted"),
    pytest.param("a notin (x)", (req("a", Operator.NOT_IN, "x"),), "a notin (x)", id="notin"),
    pytest.param("a in ()", (req("a", Operator.IN, ""),), "a in ()", id="in empty parens"),
    pytest.param("a in (x,)", (req("a", Operator.IN, "", "x"),), "a in (,x)", id="in trailing comma"),
    pytest.param("a in (x,,y)", (req("a", Operator.IN, "", "x", "y"),), "a in (,x,y)", id="in double comma"),
    pytest.param("a in (x,x)", (req("a", Operator.IN, "x"),), "a in (x)", id="in duplicate"),
    pytest.param("in in (in)", (req("in", Operator.IN, "in"),), "in in (in)", id="keywords as identifiers"),
    pytest.param(
        "c=1, b in (2) ,!a",
        (req("a", Operator.DOES_NOT_EXIST), req("b", Operator.IN, "2"), req("c", Operator.EQUALS, "1")),
        "!a,b in (2),c=1",
        id="sorted by key",
    ),
    pytest.param(
        "\ta\t=\tb\n,\rc",
        (req("a", Operator.EQUALS, "b"), req("c", Operator.EXISTS)),
        "a=b,c",
        id="tabs and newlines",
    ),
    pytest.param("x/y=z", (req("x/y", Operator.EQUALS, "z"),), "x/y=z", id="prefixed key"),
    pytest.param(
        "a=1,a!=2",
        (req("a", Operator.EQUALS, "1"), req("a", Operator.NOT_EQUALS, "2")),
        "a=1,a!=2",
        id="same key twice",
    ),
]


@pytest.mark.parametrize(("text", "requirements", "printed"), PARSED)
def test_parse_selector(text: str, requirements: tuple[Requirement, ...], printed: str) -> None:
    selector = parse_selector(text)
    assert selector.requirements == requirements
    assert str(selector) == printed
    assert not selector.matches_nothing


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        pytest.param("a=b,", "found '', expected: identifier after ','", 4, id="trailing comma"),
        pytest.param(",a", "found ',', expected: !, identifier, or 'end of string'", 0, id="leading comma"),
        pytest.param("a=b c", "found 'c', expected: ',' or 'end of string'", 4, id="missing comma"),
        pytest.param("a=b=c", "found '=', expected: ',' or 'end of string'", 3, id="two operators"),
        pytest.param("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=", 2, id="missing operator"),
        pytest.param("a in x", "unable to parse requirement: found 'x' expected: '('", 5, id="in without parens"),
        pytest.param("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'", 8, id="values without comma"),
        pytest.param("a in (x", "unable to parse requirement: found '', expected: ',' or ')'", 7, id="unclosed parens"),
        pytest.param("a in (x,", "unable to parse requirement: found '', expected: ',', or identifier", 8, id="unclosed after comma"),
        pytest.param("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier", 6, id="operator in values"),
        pytest.param("a=(", "unable to parse requirement: found '(', expected: identifier", 2, id="paren as value"),
        pytest.param("!", "unable to parse requirement: found '', expected: identifier", 1, id="bang alone"),
        pytest.param("!a=b", "found '=', expected: ',' or 'end of string'", 2, id="bang with operator"),
        pytest.param("a>1", "unable to parse requirement: found '>', expected: in, notin, =, ==, != (the gt and lt operators are not supported)", 1, id="greater than"),
    ],
)
def test_parse_selector_invalid(text: str, message: str, position: int) -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        parse_selector(text)
    assert caught.value.detail == f"{message} (position {position})"
    assert caught.value.position == position
    assert caught.value.value == text


def test_parse_selector_message_exact() -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        parse_selector("a=b,", field="labelSelector")
    assert str(caught.value) == (
        "labelSelector: Invalid value: \"a=b,\": found '', expected: identifier after ',' (position 4)"
    )


def test_parse_selector_bad_key() -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        parse_selector("a,-b=x")
    assert caught.value.detail == (
        f'unable to parse requirement: Invalid value: "-b": {NAME_PART_REGEX} (position 2)'
    )


def test_parse_selector_bad_values() -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        parse_selector("a in (-x,-y)")
    assert caught.value.detail == (
        f'unable to parse requirement: [values[0][a]: Invalid value: "-x": {VALUE_REGEX}, '
        f'values[1][a]: Invalid value: "-y": {VALUE_REGEX}] (position 0)'
    )


def test_selector_requires_exact_match() -> None:
    selector = parse_selector("a=1,b in (2),c in (3,4),d!=5")
    assert selector.requires_exact_match("a") == "1"
    assert selector.requires_exact_match("b") == "2"
    assert selector.requires_exact_match("c") is None
    assert selector.requires_exact_match("d") is None
    assert selector.requires_exact_match("e") is None


# --- object selectors ---


def test_object_selector_none_matches_nothing() -> None:
    selector = selector_from_label_selector(None)
    assert selector.matches_nothing
    assert not selector.matches({})


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param({}, id="empty object"),
        pytest.param({"matchLabels": {}, "matchExpressions": []}, id="empty lists"),
        pytest.param({"matchLabels": None}, id="null labels"),
    ],
)
def test_object_selector_empty_matches_everything(obj: Mapping[str, object]) -> None:
    selector = selector_from_label_selector(obj)
    assert selector.empty
    assert selector.matches({"x": "y"})


def test_object_selector_converts() -> None:
    selector = selector_from_label_selector(
        {
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "dev", "prod"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["a"]},
                {"key": "gpu", "operator": "Exists", "values": []},
            ],
        }
    )
    assert selector.requirements == (
        req("app", Operator.EQUALS, "shop"),
        req("canary", Operator.DOES_NOT_EXIST),
        req("env", Operator.IN, "dev", "prod"),
        req("gpu", Operator.EXISTS),
        req("tier", Operator.EQUALS, "web"),
        req("zone", Operator.NOT_IN, "a"),
    )
    assert str(selector) == "app=shop,!canary,env in (dev,prod),gpu,tier=web,zone notin (a)"


@pytest.mark.parametrize(
    ("expression", "field", "error_type", "message"),
    [
        pytest.param(
            {"key": "a", "operator": "In"},
            "spec.selector.matchExpressions[0].values",
            ErrorType.REQUIRED,
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            id="in without values",
        ),
        pytest.param(
            {"key": "a", "operator": "Exists", "values": ["x"]},
            "spec.selector.matchExpressions[0].values",
            ErrorType.FORBIDDEN,
            "spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            id="exists with values",
        ),
        pytest.param(
            {"key": "a", "operator": "Gt", "values": ["1"]},
            "spec.selector.matchExpressions[0].operator",
            ErrorType.INVALID,
            'spec.selector.matchExpressions[0].operator: Invalid value: "Gt": not a valid selector operator',
            id="unknown operator",
        ),
        pytest.param(
            {"key": "-a", "operator": "Exists"},
            "spec.selector.matchExpressions[0].key",
            ErrorType.INVALID,
            f'spec.selector.matchExpressions[0].key: Invalid value: "-a": {NAME_PART_REGEX}',
            id="bad key",
        ),
        pytest.param(
            {"key": "a", "operator": "In", "values": ["-x"]},
            "spec.selector.matchExpressions[0].values[0]",
            ErrorType.INVALID,
            f'spec.selector.matchExpressions[0].values[0]: Invalid value: "-x": {VALUE_REGEX}',
            id="bad value",
        ),
    ],
)
def test_object_selector_invalid_expression(
    expression: dict[str, object], field: str, error_type: ErrorType, message: str
) -> None:
    with pytest.raises(FieldError) as caught:
        selector_from_label_selector({"matchExpressions": [expression]})
    assert caught.value.field == field
    assert caught.value.error_type is error_type
    assert str(caught.value) == message


def test_object_selector_collects_errors() -> None:
    with pytest.raises(FieldErrors) as caught:
        selector_from_label_selector(
            {
                "matchLabels": {"app": "-web"},
                "matchExpressions": [{"key": "a", "operator": "In"}, {"key": "b", "operator": "Foo"}],
            },
            field="spec.template.spec.affinity",
        )
    assert [error.field for error in caught.value.errors] == [
        "spec.template.spec.affinity.matchLabels",
        "spec.template.spec.affinity.matchExpressions[0].values",
        "spec.template.spec.affinity.matchExpressions[1].operator",
    ]
    assert [cause["reason"] for cause in caught.value.as_causes()] == [
        "FieldValueInvalid",
        "FieldValueRequired",
        "FieldValueInvalid",
    ]


def test_object_selector_rejects_non_object() -> None:
    with pytest.raises(FieldError) as caught:
        selector_from_label_selector(["app"])  # type: ignore[arg-type]
    assert caught.value.field == "spec.selector"


# --- properties: string form round trip ---

_keys = st.sampled_from(["a", "b", "app", "example.com/tier", "in", "x.y_z-1"])
_values = st.sampled_from(["", "1", "web", "v1.2", "in", "notin", "A_b-c"])


@st.composite
def _requirements(draw: st.DrawFn) -> Requirement:
    operator = draw(st.sampled_from(list(Operator)))
    key = draw(_keys)
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST):
        return Requirement(key, operator, ())
    if operator in (Operator.IN, Operator.NOT_IN):
        values = draw(st.lists(_values, min_size=1, max_size=4))
        return Requirement(key, operator, tuple(sorted(set(values))))
    return Requirement(key, operator, (draw(_values),))


_label_sets = st.dictionaries(_keys, _values, max_size=4)


@given(requirements=st.lists(_requirements(), max_size=4), labels=st.lists(_label_sets, max_size=6))
def test_selector_string_roundtrip(requirements: list[Requirement], labels: list[dict[str, str]]) -> None:
    selector = Selector.from_requirements(requirements)
    reparsed = parse_selector(str(selector))
    assert reparsed == selector
    for label_set in labels:
        assert reparsed.matches(label_set) == selector.matches(label_set)


@given(requirements=st.lists(_requirements(), max_size=4), labels=_label_sets)
def test_selector_matches_is_and(requirements: list[Requirement], labels: dict[str, str]) -> None:
    selector = Selector.from_requirements(requirements)
    assert selector.matches(labels) == all(requirement.matches(labels) for requirement in requirements)
