"""Field selectors: parsing, escaping, allowed fields and matching object dicts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykube_core.errors import InvalidSelectorError
from pykube_core.fields import (
    DEFAULT_FIELDS,
    FieldRequirement,
    FieldSelector,
    escape_value,
    fields_of,
    parse_field_selector,
)
from pykube_core.labels import Operator

EQ = Operator.EQUALS
NE = Operator.NOT_EQUALS

PARSED = [
    pytest.param("", (), "", id="empty"),
    pytest.param("spec.nodeName=node-1", (FieldRequirement("spec.nodeName", EQ, "node-1"),), "spec.nodeName=node-1", id="equals"),
    pytest.param("spec.nodeName==node-1", (FieldRequirement("spec.nodeName", EQ, "node-1"),), "spec.nodeName=node-1", id="double equals prints single"),
    pytest.param("status.phase!=Failed", (FieldRequirement("status.phase", NE, "Failed"),), "status.phase!=Failed", id="not equals"),
    pytest.param("spec.nodeName=", (FieldRequirement("spec.nodeName", EQ, ""),), "spec.nodeName=", id="empty value"),
    pytest.param(
        "status.phase=Running,metadata.name=web",
        (FieldRequirement("metadata.name", EQ, "web"), FieldRequirement("status.phase", EQ, "Running")),
        "metadata.name=web,status.phase=Running",
        id="terms sorted",
    ),
    pytest.param(",metadata.name=a,,", (FieldRequirement("metadata.name", EQ, "a"),), "metadata.name=a", id="empty terms skipped"),
    pytest.param(r"metadata.name=a\,b", (FieldRequirement("metadata.name", EQ, "a,b"),), r"metadata.name=a\,b", id="escaped comma"),
    pytest.param(r"metadata.name=a\=b", (FieldRequirement("metadata.name", EQ, "a=b"),), r"metadata.name=a\=b", id="escaped equals"),
    pytest.param(r"metadata.name=a\\b", (FieldRequirement("metadata.name", EQ, "a\\b"),), r"metadata.name=a\\b", id="escaped backslash"),
    pytest.param(r"metadata.name=a\!b", (FieldRequirement("metadata.name", EQ, "a!b"),), "metadata.name=a!b", id="escaped bang"),
    pytest.param("metadata.name=a!b", (FieldRequirement("metadata.name", EQ, "a!b"),), "metadata.name=a!b", id="plain bang"),
    pytest.param(r"metadata.name=a!\=b", (FieldRequirement("metadata.name", EQ, "a!=b"),), r"metadata.name=a!\=b", id="first operator wins"),
]


@pytest.mark.parametrize(("text", "requirements", "printed"), PARSED)
def test_parse_field_selector(text: str, requirements: tuple[FieldRequirement, ...], printed: str) -> None:
    selector = parse_field_selector(text)
    assert selector.requirements == requirements
    assert str(selector) == printed


@pytest.mark.parametrize(
    ("text", "detail", "position"),
    [
        pytest.param("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name' (position 0)", 0, id="no operator"),
        pytest.param(
            "metadata.name=a,spec.foo=x",
            "field label not supported: spec.foo (supported: metadata.name, metadata.namespace, spec.nodeName, status.phase)",
            16,
            id="unknown field",
        ),
        pytest.param(
            "metadata.name =a",
            "field label not supported: metadata.name  (supported: metadata.name, metadata.namespace, spec.nodeName, status.phase)",
            0,
            id="space before operator",
        ),
        pytest.param("metadata.name=a!=b", "invalid field selector: unescaped character in value: '=' (write it as '\\=') (position 16)", 16, id="not equals inside value"),
        pytest.param("metadata.name=a=b", "invalid field selector: unescaped character in value: '=' (write it as '\\=') (position 15)", 15, id="unescaped equals"),
        pytest.param(r"metadata.name=a\x", "invalid field selector: invalid escape sequence: \\x (position 15)", 15, id="unknown escape"),
        pytest.param("metadata.name=a\\", "invalid field selector: invalid escape sequence: \\ (position 15)", 15, id="trailing backslash"),
    ],
)
def test_parse_field_selector_invalid(text: str, detail: str, position: int) -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        parse_field_selector(text)
    assert caught.value.detail == detail
    assert caught.value.position == position


def test_unsupported_field_message_exact() -> None:
    with pytest.raises(InvalidSelectorError) as caught:
        parse_field_selector("spec.host=x", allowed_fields=("metadata.name",), field="fieldSelector")
    assert str(caught.value) == (
        'fieldSelector: Invalid value: "spec.host=x": field label not supported: spec.host '
        "(supported: metadata.name)"
    )


def test_custom_allowed_fields() -> None:
    selector = parse_field_selector("spec.restartPolicy=Never", allowed_fields=("spec.restartPolicy",))
    assert selector.matches({"spec.restartPolicy": "Never"})


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        pytest.param("", {}, True, id="empty matches all"),
        pytest.param("spec.nodeName=n1", {"spec.nodeName": "n1"}, True, id="equal"),
        pytest.param("spec.nodeName=n1", {"spec.nodeName": "n2"}, False, id="other value"),
        pytest.param("spec.nodeName=", {}, True, id="missing is empty"),
        pytest.param("spec.nodeName!=", {"spec.nodeName": "n1"}, True, id="bound pods"),
        pytest.param("spec.nodeName!=", {"spec.nodeName": ""}, False, id="unbound pod"),
        pytest.param("spec.nodeName=n1,status.phase!=Failed", {"spec.nodeName": "n1", "status.phase": "Running"}, True, id="and both"),
        pytest.param("spec.nodeName=n1,status.phase!=Failed", {"spec.nodeName": "n1", "status.phase": "Failed"}, False, id="and one fails"),
    ],
)
def test_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is expected


def test_requires_exact_match() -> None:
    selector = parse_field_selector("spec.nodeName=n1,status.phase!=Failed")
    assert selector.requires_exact_match("spec.nodeName") == "n1"
    assert selector.requires_exact_match("status.phase") is None
    assert selector.requires_exact_match("metadata.name") is None


def test_fields_of_pod() -> None:
    pod = {
        "metadata": {"name": "web-0", "namespace": "shop"},
        "spec": {"nodeName": "n1"},
        "status": {"phase": "Running"},
    }
    assert fields_of(pod) == {
        "metadata.name": "web-0",
        "metadata.namespace": "shop",
        "spec.nodeName": "n1",
        "status.phase": "Running",
    }


def test_fields_of_missing_and_null() -> None:
    assert fields_of({"metadata": {"name": "x"}, "spec": None, "status": {"phase": 3}}) == {
        "metadata.name": "x",
        "metadata.namespace": "",
        "spec.nodeName": "",
        "status.phase": "",
    }


def test_fields_of_custom_paths() -> None:
    assert fields_of({"spec": {"restartPolicy": "Never"}}, ["spec.restartPolicy"]) == {"spec.restartPolicy": "Never"}


def test_escape_value() -> None:
    assert escape_value("a\\b,c=d!e") == "a\\\\b\\,c\\=d!e"


_text_values = st.text(alphabet=st.sampled_from("ab1-.,=!\\ "), max_size=6)
_terms = st.tuples(st.sampled_from(DEFAULT_FIELDS), st.sampled_from([EQ, NE]), _text_values)


@given(terms=st.lists(_terms, max_size=4), objects=st.lists(st.dictionaries(st.sampled_from(DEFAULT_FIELDS), _text_values), max_size=5))
def test_field_selector_roundtrip(
    terms: list[tuple[str, Operator, str]], objects: list[dict[str, str]]
) -> None:
    requirements = tuple(sorted((FieldRequirement(*term) for term in terms), key=str))
    selector = FieldSelector(requirements)
    reparsed = parse_field_selector(str(selector))
    assert reparsed == selector
    for fields in objects:
        assert reparsed.matches(fields) == selector.matches(fields)
