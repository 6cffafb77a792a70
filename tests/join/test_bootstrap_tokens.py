"""Bootstrap token authentication against Secrets given directly, with a fixed clock."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

import pytest

from pykube_control.apiserver.auth.bootstrap_tokens import BootstrapTokens
from tests.join.conftest import TOKEN, encoded, token_secret

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def tokens_of(*secrets: dict[str, Any], now: datetime.datetime = NOW) -> BootstrapTokens:
    by_name: dict[str, Mapping[str, Any]] = {s["metadata"]["name"]: s for s in secrets}

    def lookup(name: str) -> tuple[Mapping[str, Any], str] | None:
        secret = by_name.get(name)
        return None if secret is None else (secret, str(secret["metadata"].get("resourceVersion", "1")))

    return BootstrapTokens(lookup, clock=lambda: now)


def expiring(offset: datetime.timedelta) -> dict[str, Any]:
    secret = token_secret(expires_in=None)
    secret["data"]["expiration"] = encoded((NOW + offset).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return secret


def test_valid_token_user() -> None:
    user = tokens_of(token_secret(expires_in=None)).lookup(TOKEN)
    assert user is not None
    assert user.name == "system:bootstrap:abcdef"
    assert user.groups == ("system:bootstrappers",)


def test_extra_groups_added() -> None:
    user = tokens_of(token_secret(extra_groups=["system:bootstrappers:workers"], expires_in=None)).lookup(TOKEN)
    assert user is not None
    assert user.groups == ("system:bootstrappers", "system:bootstrappers:workers")


def with_data(key: str, value: str) -> dict[str, Any]:
    secret = token_secret(expires_in=None)
    secret["data"][key] = encoded(value)
    return secret


def with_field(field: str, value: object) -> dict[str, Any]:
    secret = token_secret(expires_in=None)
    if field == "deletionTimestamp":
        secret["metadata"][field] = value
    else:
        secret[field] = value
    return secret


@pytest.mark.parametrize(
    ("secret", "token"),
    [
        pytest.param(token_secret(expires_in=None), "abcdef.0123456789abcdee", id="wrong secret"),
        pytest.param(token_secret(expires_in=None), "abcdeg.0123456789abcdef", id="unknown id"),
        pytest.param(token_secret(expires_in=None), "ABCDEF.0123456789abcdef", id="upper case"),
        pytest.param(token_secret(expires_in=None), "abcdef0123456789abcdef", id="no dot"),
        pytest.param(expiring(datetime.timedelta(seconds=-1)), TOKEN, id="expired"),
        pytest.param(expiring(datetime.timedelta(0)), TOKEN, id="expires now"),
        pytest.param(with_data("expiration", "tomorrow"), TOKEN, id="unparsable expiration"),
        pytest.param(with_data("usage-bootstrap-authentication", "false"), TOKEN, id="not for authentication"),
        pytest.param(with_data("token-id", "zzzzzz"), TOKEN, id="token-id differs from name"),
        pytest.param(with_data("auth-extra-groups", "system:masters"), TOKEN, id="extra group outside bootstrappers"),
        pytest.param(with_field("type", "Opaque"), TOKEN, id="wrong secret type"),
        pytest.param(with_field("deletionTimestamp", "2026-01-01T00:00:00Z"), TOKEN, id="being deleted"),
    ],
)
def test_rejected_token(secret: dict[str, Any], token: str) -> None:
    assert tokens_of(secret).lookup(token) is None


def test_unexpired_token_accepted() -> None:
    assert tokens_of(expiring(datetime.timedelta(seconds=1))).lookup(TOKEN) is not None


def test_secret_change_seen() -> None:
    secret = token_secret(expires_in=None)
    tokens = tokens_of(secret)
    assert tokens.lookup(TOKEN) is not None
    secret["data"]["usage-bootstrap-authentication"] = encoded("false")
    secret["metadata"]["resourceVersion"] = "2"
    assert tokens.lookup(TOKEN) is None
