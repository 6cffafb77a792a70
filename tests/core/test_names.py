"""Object name validation and the FieldError rendering it relies on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykube_core.errors import ErrorType, FieldError, FieldErrors, raise_if_any
from pykube_core.names import (
    check_name,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_dns1123_label,
    validate_dns1123_subdomain,
)

LABEL_REGEX = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
SUBDOMAIN_REGEX = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        pytest.param("a", [], id="one letter"),
        pytest.param("my-name", [], id="dash inside"),
        pytest.param("123-abc", [], id="leading digit"),
        pytest.param("a" * 63, [], id="max length"),
        pytest.param("a" * 64, ["must be no more than 63 characters"], id="too long"),
        pytest.param("-" * 64, ["must be no more than 63 characters", LABEL_REGEX], id="too long and bad"),
        pytest.param("", [LABEL_REGEX], id="empty"),
        pytest.param("Foo", [LABEL_REGEX], id="upper case"),
        pytest.param("-a", [LABEL_REGEX], id="leading dash"),
        pytest.param("a-", [LABEL_REGEX], id="trailing dash"),
        pytest.param("a_b", [LABEL_REGEX], id="underscore"),
        pytest.param("a.b", ["must not contain dots"], id="dots"),
        pytest.param("a\n", [LABEL_REGEX], id="trailing newline"),
    ],
)
def test_dns1123_label(value: str, messages: list[str]) -> None:
    assert validate_dns1123_label(value) == messages


@pytest.mark.parametrize(
    ("value", "messages"),
    [
        pytest.param("example.com", [], id="domain"),
        pytest.param("a", [], id="one letter"),
        pytest.param("web-0.shop", [], id="dotted"),
        pytest.param("a" * 253, [], id="max length"),
        pytest.param("a" * 254, ["must be no more than 253 characters"], id="too long"),
        pytest.param("", [SUBDOMAIN_REGEX], id="empty"),
        pytest.param("Example.com", [SUBDOMAIN_REGEX], id="upper case"),
        pytest.param("a..b", [SUBDOMAIN_REGEX], id="empty label"),
        pytest.param(".a", [SUBDOMAIN_REGEX], id="leading dot"),
        pytest.param("a.-b", [SUBDOMAIN_REGEX], id="label starting with dash"),
    ],
)
def test_dns1123_subdomain(value: str, messages: list[str]) -> None:
    assert validate_dns1123_subdomain(value) == messages


@pytest.mark.parametrize(
    ("prefix", "valid"),
    [
        pytest.param("web-", True, id="trailing dash"),
        pytest.param("a-", True, id="two characters"),
        pytest.param("web", True, id="no dash"),
        pytest.param("-", False, id="dash alone"),
        pytest.param("Web-", False, id="upper case"),
        pytest.param("web--", True, id="double dash"),
    ],
)
def test_generate_name_prefix(prefix: str, valid: bool) -> None:
    assert (name_is_dns_subdomain(prefix, prefix=True) == []) is valid
    assert (name_is_dns_label(prefix, prefix=True) == []) is valid


def test_prefix_only_with_flag() -> None:
    assert name_is_dns_subdomain("web-") == [SUBDOMAIN_REGEX]


def test_check_name_message_exact() -> None:
    with pytest.raises(FieldError) as caught:
        check_name("Foo")
    assert str(caught.value) == f'metadata.name: Invalid value: "Foo": {SUBDOMAIN_REGEX}'


def test_check_name_label_kind() -> None:
    with pytest.raises(FieldError) as caught:
        check_name("a.b", field="metadata.namespace", kind="label")
    assert str(caught.value) == 'metadata.namespace: Invalid value: "a.b": must not contain dots'


def test_check_name_empty() -> None:
    with pytest.raises(FieldError) as caught:
        check_name("")
    assert caught.value.error_type is ErrorType.REQUIRED
    assert str(caught.value) == "metadata.name: Required value: name or generateName is required"


def test_check_name_empty_other_field() -> None:
    with pytest.raises(FieldError) as caught:
        check_name("", field="spec.nodeName")
    assert str(caught.value) == "spec.nodeName: Required value"


def test_check_name_several_errors() -> None:
    with pytest.raises(FieldErrors) as caught:
        check_name("-" * 254)
    assert [error.detail for error in caught.value.errors] == [
        "must be no more than 253 characters",
        SUBDOMAIN_REGEX,
    ]


def test_check_name_valid() -> None:
    check_name("web-0")
    check_name("web-", field="metadata.generateName", prefix=True)


def test_check_name_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="invalid name kind 'zone'"):
        check_name("a", kind="zone")  # type: ignore[arg-type]


# --- FieldError rendering, shared by every module ---


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(FieldError("spec.replicas", -1, "must be greater than or equal to 0"), "spec.replicas: Invalid value: -1: must be greater than or equal to 0", id="integer"),
        pytest.param(FieldError("spec.paused", True, "bad"), "spec.paused: Invalid value: true: bad", id="boolean"),
        pytest.param(FieldError("a", ["x"], "bad"), 'a: Invalid value: ["x"]: bad', id="list as json"),
        pytest.param(FieldError("a", 'q"x', "bad"), 'a: Invalid value: "q\\"x": bad', id="quote escaped"),
        pytest.param(FieldError("a", "", "", error_type=ErrorType.REQUIRED), "a: Required value", id="required without detail"),
        pytest.param(FieldError("a", "x", "no", error_type=ErrorType.FORBIDDEN), "a: Forbidden: no", id="forbidden omits value"),
        pytest.param(FieldError("a", "x", 'supported values: "y"', error_type=ErrorType.NOT_SUPPORTED), 'a: Unsupported value: "x": supported values: "y"', id="not supported"),
        pytest.param(FieldError("", "x", "bad"), 'Invalid value: "x": bad', id="no field"),
    ],
)
def test_field_error_str(error: FieldError, text: str) -> None:
    assert str(error) == text


def test_field_error_as_cause() -> None:
    error = FieldError("metadata.name", "Foo", "bad")
    assert error.as_cause() == {"reason": "FieldValueInvalid", "message": 'Invalid value: "Foo": bad', "field": "metadata.name"}


def test_field_errors_dedup_messages() -> None:
    same = FieldError("a", "x", "bad")
    assert str(FieldErrors([same, FieldError("a", "x", "bad")])) == 'a: Invalid value: "x": bad'


def test_field_errors_flatten_nested() -> None:
    inner = FieldErrors([FieldError("a", 1, "x"), FieldError("b", 2, "y")])
    outer = FieldErrors([inner, FieldError("c", 3, "z")])
    assert [error.field for error in outer.errors] == ["a", "b", "c"]
    assert str(outer) == "[a: Invalid value: 1: x, b: Invalid value: 2: y, c: Invalid value: 3: z]"


def test_raise_if_any() -> None:
    raise_if_any([])
    single = FieldError("a", 1, "x")
    with pytest.raises(FieldError) as caught:
        raise_if_any([single])
    assert caught.value is single


def test_field_errors_needs_errors() -> None:
    with pytest.raises(ValueError, match="at least one error"):
        FieldErrors([])


@given(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z"))
def test_generated_labels_valid(value: str) -> None:
    assert validate_dns1123_label(value) == []
    assert validate_dns1123_subdomain(value) == []
