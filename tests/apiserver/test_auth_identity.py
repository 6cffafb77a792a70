"""authenticate(): bearer tokens, client certificates in both ssl forms, anonymous and failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pykube_control.apiserver.auth import certs
from pykube_control.apiserver.auth.identity import (
    AuthenticationError,
    PeerCertificate,
    UserInfo,
    authenticate,
)
from pykube_control.apiserver.auth.tokens import TokenEntry, TokenFile

ALICE = UserInfo("alice", "1001", ("dev",))
TOKENS = TokenFile([TokenEntry("good-token", ALICE)])

ALICE_AUTHENTICATED = UserInfo("alice", "1001", ("dev", "system:authenticated"))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, None, id="no header"),
        pytest.param({"Authorization": "   "}, None, id="blank header"),
        pytest.param({"Authorization": "Bearer good-token"}, ALICE_AUTHENTICATED, id="bearer"),
        pytest.param({"authorization": "bearer good-token"}, ALICE_AUTHENTICATED, id="lower case"),
        pytest.param({"Authorization": "Bearer  good-token "}, ALICE_AUTHENTICATED, id="extra spaces"),
    ],
)
def test_token(headers: dict[str, str], expected: UserInfo | None) -> None:
    assert authenticate(headers, None, tokens=TOKENS) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param("Bearer other-token", "not in the token file", id="unknown token"),
        pytest.param("Bearer", "one token", id="no token"),
        pytest.param("Bearer a b", "one token", id="two tokens"),
        pytest.param("Basic YWxpY2U6cHc=", "scheme 'Basic'", id="basic scheme"),
        pytest.param("good-token", "scheme 'good-token'", id="no scheme"),
    ],
)
def test_token_failure(header: str, message: str) -> None:
    with pytest.raises(AuthenticationError, match=message):
        authenticate({"Authorization": header}, None, tokens=TOKENS)


def test_masters_group_kept() -> None:
    admin = UserInfo("admin", "1", ("system:masters",))
    token_file = TokenFile([TokenEntry("admin-token", admin)])

    user = authenticate({"Authorization": "Bearer admin-token"}, None, tokens=token_file)

    assert user == UserInfo("admin", "1", ("system:masters", "system:authenticated"))


def _der(tmp_path: Path, user: str, groups: list[str]) -> bytes:
    ca = certs.ensure_ca(certs.PKI(tmp_path))
    certificate_pem, _ = ca.issue_client_certificate(user, groups)
    return x509.load_pem_x509_certificate(certificate_pem).public_bytes(serialization.Encoding.DER)


def test_certificate_der(tmp_path: Path) -> None:
    der = _der(tmp_path, "system:node:n1", ["system:nodes"])

    user = authenticate({}, der, tokens=TOKENS)

    assert user == UserInfo("system:node:n1", "", ("system:nodes", "system:authenticated"))


@pytest.mark.parametrize(
    ("decoded", "expected"),
    [
        pytest.param(
            {"subject": ((("commonName", "bob"),), (("organizationName", "a"),), (("organizationName", "b"),))},
            UserInfo("bob", "", ("a", "b", "system:authenticated")),
            id="cn and two orgs",
        ),
        pytest.param(
            {"subject": ((("organizationName", "a"),),)},
            None,
            id="no common name",
        ),
        pytest.param({}, None, id="empty dict"),
    ],
)
def test_certificate_decoded(decoded: PeerCertificate, expected: UserInfo | None) -> None:
    assert authenticate({}, decoded, tokens=TOKENS) == expected


def test_certificate_before_token(tmp_path: Path) -> None:
    der = _der(tmp_path, "bob", [])

    user = authenticate({"Authorization": "Bearer wrong"}, der, tokens=TOKENS)

    assert user is not None
    assert user.name == "bob"


def test_certificate_without_name_falls_back(tmp_path: Path) -> None:
    decoded: PeerCertificate = {"subject": ()}

    user = authenticate({"Authorization": "Bearer good-token"}, decoded, tokens=TOKENS)

    assert user == ALICE_AUTHENTICATED
