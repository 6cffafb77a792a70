"""Validation of certificates.k8s.io/v1 CertificateSigningRequest.

On create: ``spec.request`` must be base64 of a PEM certificate request
whose signature verifies, ``spec.signerName`` a qualified name such as
kubernetes.io/kube-apiserver-client-kubelet, ``spec.usages`` a non-empty
list of known usages without repeats, and ``spec.expirationSeconds`` at
least 600 when set. The spec never changes after create.

Status: conditions need a type and a status of True, False or Unknown, at
most one of each type; Approved and Denied exclude each other and, once
added, may not be removed. ``status.certificate`` may be set only on an
approved request that has not failed, must be base64 of PEM certificates,
and never changes once set.

Differences from Kubernetes 1.32: the request's PEM is not checked for
trailing garbage, and a certificate's PEM blocks are only parsed, not
compared with the request's public key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509

from pykube_core.errors import FieldError

from pykube_control.apiserver.validation.fielderrors import (
    check_immutable,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
)
from pykube_control.apiserver.validation.rules import KindRules
from pykube_control.apiserver.validation.wire import as_dict, as_int, as_list, as_str
from pykube_control.pki.csr import InvalidRequestError, load_request

KNOWN_USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime",
    "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing",
    "microsoft sgc", "netscape sgc",
)  # fmt: skip
"""Kubernetes' KeyUsage values, in its order."""

MIN_EXPIRATION_SECONDS = 600
"""Kubernetes' lower bound on spec.expirationSeconds: ten minutes."""

APPROVAL_CONDITIONS = ("Approved", "Denied")
CONDITION_STATUSES = ("True", "False", "Unknown")


def validate_csr(obj: dict[str, Any]) -> list[FieldError]:
    spec = as_dict(obj.get("spec"))
    errors = _request_errors(spec.get("request"))
    errors += _signer_errors(spec.get("signerName"))
    errors += _usage_errors(spec.get("usages"))
    expiration = spec.get("expirationSeconds")
    if expiration is not None:
        seconds = as_int(expiration)
        if seconds is None or seconds < MIN_EXPIRATION_SECONDS:
            errors.append(
                invalid("spec.expirationSeconds", expiration, "may not specify a duration less than 600 seconds (10 minutes)")
            )
    return errors


def _decoded(value: object) -> bytes | None:
    text = as_str(value)
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _request_errors(value: object) -> list[FieldError]:
    if not as_str(value):
        return [required("spec.request")]
    pem = _decoded(value)
    if pem is None:
        return [invalid("spec.request", "<bytes>", "must be base64 of a PEM certificate request")]
    try:
        load_request(pem)
    except InvalidRequestError as error:
        return [invalid("spec.request", "<bytes>", str(error))]
    return []


def _signer_errors(value: object) -> list[FieldError]:
    signer = as_str(value)
    if not signer:
        return [required("spec.signerName")]
    domain, slash, path = signer.partition("/")
    if not slash or not path or "." not in domain or any(not label for label in domain.split(".")):
        return [
            invalid(
                "spec.signerName",
                signer,
                "must be a fully qualified domain and path of the form 'example.com/signer-name'",
            )
        ]
    return []


def _usage_errors(value: object) -> list[FieldError]:
    usages = as_list(value)
    if not usages:
        return [required("spec.usages")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, usage in enumerate(usages):
        path = f"spec.usages[{index}]"
        if usage not in KNOWN_USAGES:
            errors.append(not_supported(path, usage, KNOWN_USAGES))
        elif usage in seen:
            errors.append(duplicate(path, usage))
        seen.add(as_str(usage))
    return errors


def validate_csr_update(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    """Reject any change to the spec after create."""
    new_spec, old_spec = as_dict(new.get("spec")), as_dict(old.get("spec"))
    errors: list[FieldError] = []
    for field in sorted(set(new_spec) | set(old_spec)):
        errors += check_immutable(f"spec.{field}", new_spec.get(field), old_spec.get(field))
    return errors


def validate_csr_status(new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
    status, old_status = as_dict(new.get("status")), as_dict(old.get("status"))
    errors = _condition_errors(as_list(status.get("conditions")))
    errors += _removed_approval_errors(status, old_status)
    errors += _certificate_errors(status, old_status)
    return errors


def condition_types(status: dict[str, Any], state: str = "True") -> set[str]:
    """Return the types of the conditions whose status is ``state``."""
    return {
        as_str(condition.get("type"))
        for condition in (as_dict(item) for item in as_list(status.get("conditions")))
        if condition.get("status") == state
    }


def _condition_errors(conditions: list[Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, item in enumerate(conditions):
        condition = as_dict(item)
        path = f"status.conditions[{index}]"
        kind = as_str(condition.get("type"))
        if not kind:
            errors.append(required(f"{path}.type"))
        elif kind in seen:
            errors.append(duplicate(f"{path}.type", kind))
        seen.add(kind)
        state = condition.get("status")
        if not state:
            errors.append(required(f"{path}.status"))
        elif state not in CONDITION_STATUSES:
            errors.append(not_supported(f"{path}.status", state, CONDITION_STATUSES))
        elif kind in APPROVAL_CONDITIONS and state != "True":
            errors.append(not_supported(f"{path}.status", state, ("True",)))
    if {"Approved", "Denied"} <= seen:
        errors.append(invalid("status.conditions", "Approved, Denied", "Approved and Denied conditions are mutually exclusive"))
    return errors


def _removed_approval_errors(status: dict[str, Any], old_status: dict[str, Any]) -> list[FieldError]:
    removed = (condition_types(old_status) - condition_types(status)) & set(APPROVAL_CONDITIONS)
    return [forbidden("status.conditions", f"updates may not remove a condition of type {kind!r}") for kind in sorted(removed)]


def _certificate_errors(status: dict[str, Any], old_status: dict[str, Any]) -> list[FieldError]:
    certificate = status.get("certificate")
    old_certificate = old_status.get("certificate")
    if old_certificate and certificate != old_certificate:
        return [invalid("status.certificate", "<bytes>", "updates may not modify existing certificate content")]
    if not certificate:
        return []
    states = condition_types(status)
    if "Approved" not in states or "Failed" in states:
        return [invalid("status.certificate", "<bytes>", "may only be set on an approved request that has not failed")]
    pem = _decoded(certificate)
    if pem is None:
        return [invalid("status.certificate", "<bytes>", "must be base64 of PEM certificates")]
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        return [invalid("status.certificate", "<bytes>", f"must contain only valid PEM certificates ({error})")]
    if not certificates:
        return [invalid("status.certificate", "<bytes>", "must contain at least one PEM certificate")]
    return []


CERTIFICATE_SIGNING_REQUEST = KindRules(
    validate=validate_csr,
    validate_update=validate_csr_update,
    validate_status=validate_csr_status,
)
