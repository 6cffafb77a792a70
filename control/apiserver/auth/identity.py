"""Authentication: who sent a request, from its client certificate or bearer token.

``authenticate`` returns a UserInfo for valid credentials, None for a
request without credentials (the caller treats it as ``ANONYMOUS``), and
raises AuthenticationError for credentials that are present but wrong. The
HTTP layer turns that into 401 with Kubernetes' fixed message
"Unauthorized" and keeps the error's own text for the log.

The client certificate was already verified against the cluster CA by the
TLS handshake (see certs.ssl_context), so here it is only read: the subject
CN is the user name and each O is a group.

Differences from Kubernetes' authenticators (k8s.io/apiserver, 1.32):

- An Authorization header with a scheme other than Bearer (such as Basic)
  fails with 401, where Kubernetes ignores it and goes on as anonymous.
- Only the static token file, bootstrap tokens and client certificates
  are supported: no service account tokens, OIDC, webhook or front-proxy
  headers yet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from aiohttp import web
from cryptography import x509

from pykube_control.apiserver.auth import signing

AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
MASTERS_GROUP = "system:masters"
ANONYMOUS_USER = "system:anonymous"

# A peer certificate as the ssl module returns it: getpeercert() gives a dict
# of decoded fields, getpeercert(binary_form=True) the DER bytes. Both must
# come from a handshake that verified the certificate against the cluster CA.
PeerCertificate = Mapping[str, object] | bytes


@dataclasses.dataclass(frozen=True, slots=True)
class UserInfo:
    """An authenticated (or anonymous) user, as Kubernetes' user.Info."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()


ANONYMOUS = UserInfo(ANONYMOUS_USER, "", (UNAUTHENTICATED_GROUP,))
"""The user of a request without credentials."""


class AuthenticationError(Exception):
    """Credentials were sent but are invalid; the request gets 401 Unauthorized."""


class TokenAuthenticator(Protocol):
    def lookup(self, token: str) -> UserInfo | None:
        """Return the user of a bearer token, or None when the token is unknown."""
        ...


def authenticate(
    headers: Mapping[str, str],
    peer_certificate: PeerCertificate | None,
    *,
    tokens: TokenAuthenticator,
) -> UserInfo | None:
    """Return the request's user; None means no credentials were sent.

    A verified client certificate with a CN wins over the Authorization
    header, in Kubernetes' order (x509 before tokens), so a bad token next
    to a good certificate is not checked. Otherwise the header must be
    ``Bearer <token>`` with a token from ``tokens``. Raise
    AuthenticationError for a malformed header or an unknown token.
    Authenticated users get the group system:authenticated added.
    """
    if peer_certificate is not None:
        user = _certificate_user(peer_certificate)
        if user is not None:
            return _with_authenticated_group(user)

    header = _authorization_header(headers)
    if header is None:
        return None
    user = tokens.lookup(_bearer_token(header))
    if user is None:
        raise AuthenticationError("invalid bearer token: not in the token file and not a valid bootstrap token")
    return _with_authenticated_group(user)


def _authorization_header(headers: Mapping[str, str]) -> str | None:
    """Return the stripped Authorization header, or None when absent or blank."""
    value = headers.get("Authorization")
    if value is None:
        # A plain dict is case-sensitive, unlike aiohttp's headers.
        value = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
    if value is None or not value.strip():
        return None
    return value.strip()


def _bearer_token(header: str) -> str:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise AuthenticationError(
            f"invalid Authorization header: scheme {scheme!r} is not supported; send 'Bearer <token>'"
        )
    token = token.strip()
    if not token or any(character.isspace() for character in token):
        raise AuthenticationError(
            "invalid bearer token: the Authorization header must be 'Bearer <token>' with one token"
        )
    return token


def _certificate_user(peer_certificate: PeerCertificate) -> UserInfo | None:
    """Read CN and O values; None when the certificate has no CN, as Kubernetes skips it then."""
    if isinstance(peer_certificate, bytes):
        name, groups = signing.identity_of(x509.load_der_x509_certificate(peer_certificate))
    else:
        name, groups = _decoded_subject(peer_certificate)
    if not name:
        return None
    return UserInfo(name, "", groups)


def _decoded_subject(decoded: Mapping[str, object]) -> tuple[str, tuple[str, ...]]:
    """Read CN and O values from getpeercert()'s dict: subject is a tuple of RDNs of (key, value) pairs."""
    name = ""
    groups: list[str] = []
    subject = decoded.get("subject", ())
    if not isinstance(subject, tuple):
        return "", ()
    for relative_name in subject:
        for key, value in relative_name:
            if key == "commonName" and not name:
                name = value
            elif key == "organizationName":
                groups.append(value)
    return name, tuple(groups)


def _with_authenticated_group(user: UserInfo) -> UserInfo:
    if AUTHENTICATED_GROUP in user.groups:
        return user
    return dataclasses.replace(user, groups=(*user.groups, AUTHENTICATED_GROUP))


def request_peer_certificate(request: web.BaseRequest) -> Mapping[str, object] | None:
    """Return the verified client certificate of an aiohttp request over TLS, or None.

    None means plain HTTP, no certificate sent, or a connection already
    closed. The decoded form of getpeercert() is used, not the DER bytes,
    because the ssl module fills it only for a certificate the handshake
    verified, so a context built with CERT_NONE cannot slip an unverified
    identity through.
    """
    transport = request.transport
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    decoded = ssl_object.getpeercert()
    return decoded if decoded else None
