"""Certificate signing requests: build one, read one, and check one against the kubelet client signer's rules.

The CertificateSigningRequest API carries a PKCS#10 request as PEM in
``spec.request``. The API server only checks that the PEM parses and its
signature verifies. The approving and signing controllers then check the
subject against what the signer ``kubernetes.io/kube-apiserver-client-kubelet``
allows: CN ``system:node:<name>``, O exactly ``system:nodes``, no subject
alternative names, and the usages "digital signature" and "client auth"
with "key encipherment" optional. Everything here is pure: PEM in, PEM or
lists of problems out, so every component may import it.
"""

from __future__ import annotations

import dataclasses

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
"""The signer of node agents' client certificates for the API server."""

NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"

KUBELET_CLIENT_USAGES = frozenset({"digital signature", "client auth"})
"""Usages a kubelet client CSR must request; "key encipherment" may be added (RSA keys need it)."""

OPTIONAL_KUBELET_CLIENT_USAGES = frozenset({"key encipherment"})

PEM_REQUEST_MARKER = b"-----BEGIN CERTIFICATE REQUEST-----"


class InvalidRequestError(ValueError):
    """``spec.request`` is not a PEM certificate request with a valid signature."""


@dataclasses.dataclass(frozen=True, slots=True)
class RequestSubject:
    """What a certificate request asks to be: subject CN and O values, and whether it names any SAN."""

    common_name: str
    organizations: tuple[str, ...]
    has_alternative_names: bool


def new_node_key() -> ec.EllipticCurvePrivateKey:
    """Generate the node's ECDSA P-256 key, the curve the cluster CA uses too."""
    return ec.generate_private_key(ec.SECP256R1())


def build_node_request(node_name: str, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return the PEM request for CN=system:node:<node_name>, O=system:nodes, signed by ``key``."""
    if not node_name:
        raise ValueError("node name is empty; pass the name the Node object will have")
    subject = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, NODES_GROUP)]),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(NameOID.COMMON_NAME, NODE_USER_PREFIX + node_name)]
            ),
        ]
    )
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def load_request(pem: bytes) -> x509.CertificateSigningRequest:
    """Parse a PEM request and verify its self-signature; raise InvalidRequestError saying what is wrong."""
    if PEM_REQUEST_MARKER not in pem:
        raise InvalidRequestError("must contain a PEM block of type CERTIFICATE REQUEST")
    try:
        request = x509.load_pem_x509_csr(pem)
    except ValueError as error:
        raise InvalidRequestError(f"invalid PEM certificate request ({error})") from error
    if not request.is_signature_valid:
        raise InvalidRequestError("the certificate request's signature does not verify against its public key")
    return request


def subject_of(request: x509.CertificateSigningRequest) -> RequestSubject:
    """Return the CN, O values and SAN presence of a parsed request."""
    subject = request.subject
    common_names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    organizations = subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    try:
        names = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        has_names = len(names) > 0
    except x509.ExtensionNotFound:
        has_names = False
    return RequestSubject(
        str(common_names[0].value) if common_names else "",
        tuple(str(attribute.value) for attribute in organizations),
        has_names,
    )


def kubelet_client_problems(request: x509.CertificateSigningRequest, usages: list[str]) -> list[str]:
    """Return why a request does not fit the kubelet client signer; an empty list means it fits."""
    subject = subject_of(request)
    problems: list[str] = []
    if subject.organizations != (NODES_GROUP,):
        problems.append(f"subject organization must be exactly {NODES_GROUP!r}, not {list(subject.organizations)}")
    if not subject.common_name.startswith(NODE_USER_PREFIX) or subject.common_name == NODE_USER_PREFIX:
        problems.append(f"subject common name must be {NODE_USER_PREFIX}<node name>, not {subject.common_name!r}")
    if subject.has_alternative_names:
        problems.append("subject alternative names are not allowed in a client certificate request")
    requested = set(usages)
    if not KUBELET_CLIENT_USAGES <= requested or requested - KUBELET_CLIENT_USAGES - OPTIONAL_KUBELET_CLIENT_USAGES:
        problems.append(
            f"usages must be {sorted(KUBELET_CLIENT_USAGES)} with optional {sorted(OPTIONAL_KUBELET_CLIENT_USAGES)}, "
            f"not {sorted(requested)}"
        )
    return problems
