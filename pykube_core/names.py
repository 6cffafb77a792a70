"""Object names: DNS-1123 labels and subdomains with Kubernetes' messages.

Most object names (Pods, ConfigMaps, Deployments) must be DNS-1123
subdomains; some (Namespaces, Services) must be DNS-1123 labels. The
``validate_*`` functions return Kubernetes' message strings, an empty list
meaning valid, so callers can attach them to any field; ``check_name`` raises
them as FieldErrors at a field path.

The messages follow k8s.io/apimachinery/pkg/util/validation. NOTE: the newest
apimachinery (package api/validate/content) says "must be no more than 63
bytes"; this module keeps the released wording "63 characters". Lengths are
counted in characters, which equals bytes for every valid name because valid
names are ASCII.
"""

from __future__ import annotations

import re
from typing import Literal

from pykube_core.errors import ErrorType, FieldError, raise_if_any

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253

DNS1123_LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FORMAT = DNS1123_LABEL_FORMAT + "(\\." + DNS1123_LABEL_FORMAT + ")*"

_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)

# fullmatch with an ASCII class: "$" would accept a trailing newline.
_LABEL_PATTERN = re.compile(DNS1123_LABEL_FORMAT)
_SUBDOMAIN_PATTERN = re.compile(DNS1123_SUBDOMAIN_FORMAT)

NameKind = Literal["subdomain", "label"]


def max_length_message(length: int) -> str:
    """Return Kubernetes' message for a string longer than ``length`` characters."""
    return f"must be no more than {length} characters"


def empty_message() -> str:
    """Return Kubernetes' message for a string that must not be empty."""
    return "must be non-empty"


def regex_message(message: str, pattern: str, *examples: str) -> str:
    """Return Kubernetes' message for a string that does not match ``pattern``.

    The example list keeps Kubernetes' exact punctuation, including the double
    space in "'my-name',  or '123-abc'".
    """
    if not examples:
        return f"{message} (regex used for validation is '{pattern}')"
    quoted = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {quoted}regex used for validation is '{pattern}')"


def validate_dns1123_label(value: str) -> list[str]:
    """Return why ``value`` is not a DNS-1123 label; an empty list means valid."""
    errors: list[str] = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_length_message(DNS1123_LABEL_MAX_LENGTH))
    if not _LABEL_PATTERN.fullmatch(value):
        if _SUBDOMAIN_PATTERN.fullmatch(value):
            # A valid subdomain that is no valid label can only have dots.
            errors.append("must not contain dots")
        else:
            errors.append(
                regex_message(_LABEL_MESSAGE, DNS1123_LABEL_FORMAT, "my-name", "123-abc")
            )
    return errors


def validate_dns1123_subdomain(value: str) -> list[str]:
    """Return why ``value`` is not a DNS-1123 subdomain; an empty list means valid."""
    errors: list[str] = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_length_message(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _SUBDOMAIN_PATTERN.fullmatch(value):
        errors.append(regex_message(_SUBDOMAIN_MESSAGE, DNS1123_SUBDOMAIN_FORMAT, "example.com"))
    return errors


def _mask_trailing_dash(name: str) -> str:
    # Kubernetes replaces the last two characters with "a" so that a
    # generateName prefix such as "web-" passes the end-character rule; the
    # server appends random characters after the dash.
    if len(name) > 1 and name.endswith("-"):
        return name[:-2] + "a"
    return name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    """Validate an object name, or a generateName prefix when ``prefix`` is true."""
    if prefix:
        name = _mask_trailing_dash(name)
    return validate_dns1123_subdomain(name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    """Validate a label-style name, or a generateName prefix when ``prefix`` is true."""
    if prefix:
        name = _mask_trailing_dash(name)
    return validate_dns1123_label(name)


def check_name(
    value: str,
    field: str = "metadata.name",
    kind: NameKind = "subdomain",
    *,
    prefix: bool = False,
) -> None:
    """Raise FieldError (or FieldErrors) unless ``value`` is a valid name of ``kind``.

    An empty value raises a "Required value" error; at "metadata.name" its
    detail is Kubernetes' "name or generateName is required".
    """
    if kind not in ("subdomain", "label"):
        raise ValueError(f"invalid name kind {kind!r}: use 'subdomain' or 'label'")
    if value == "":
        detail = "name or generateName is required" if field == "metadata.name" else ""
        raise FieldError(field, value, detail, error_type=ErrorType.REQUIRED)
    validate = name_is_dns_subdomain if kind == "subdomain" else name_is_dns_label
    raise_if_any(FieldError(field, value, message) for message in validate(value, prefix))
