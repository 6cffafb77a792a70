"""Bootstrap token authentication: ``<token-id>.<token-secret>`` bearer tokens stored as Secrets.

A bootstrap token is a Secret of type ``bootstrap.kubernetes.io/token``
named ``bootstrap-token-<token-id>`` in kube-system, with data keys
token-id, token-secret, expiration (RFC 3339, optional),
usage-bootstrap-authentication ("true" to allow authentication) and
auth-extra-groups (comma-separated, each starting with
``system:bootstrappers:``). A valid token authenticates as user
``system:bootstrap:<token-id>`` in group system:bootstrappers plus the
extra groups. A joining machine uses it once, to request its client
certificate.

Lookups are synchronous, because authentication sits on every request.
They never read the store. The Secret comes from the API server's watch
cache of secrets (``SecretLookup``), which the store watch keeps current.
Its parsed form is kept per resourceVersion, so a token is decoded once
per change of its Secret.

As in Kubernetes 1.32, a token is rejected when any auth-extra-groups
entry does not start with ``system:bootstrappers:``, and a Secret whose
expiration does not parse counts as expired.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from pykube_control.apiserver.auth.identity import UserInfo

logger = logging.getLogger("pykube.apiserver")

SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
USER_PREFIX = "system:bootstrap:"

TOKEN_PATTERN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
"""A bootstrap token: a 6-character id, a dot, a 16-character secret."""

EXTRA_GROUP_PATTERN = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")

SecretLookup = Callable[[str], tuple[Mapping[str, Any], str] | None]
"""Return (Secret, resourceVersion) of a kube-system Secret by name, or None when there is none."""

Clock = Callable[[], datetime.datetime]


@dataclasses.dataclass(frozen=True, slots=True)
class BootstrapToken:
    """The fields of a bootstrap token Secret that authentication reads."""

    token_id: str
    secret: str
    expiration: datetime.datetime | None
    """None: never expires. An unparsable expiration is stored as the minimum date, so it is expired."""
    usable_for_authentication: bool
    extra_groups: tuple[str, ...]
    deleting: bool


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class BootstrapTokens:
    """Authenticates bootstrap tokens; implements identity.TokenAuthenticator."""

    def __init__(self, secrets: SecretLookup, clock: Clock = _utc_now) -> None:
        self._secrets = secrets
        self._clock = clock
        self._parsed: dict[str, tuple[str, BootstrapToken | None]] = {}

    def lookup(self, token: str) -> UserInfo | None:
        match = TOKEN_PATTERN.match(token)
        if match is None:
            return None
        token_id, secret = match.group(1), match.group(2)
        parsed = self._token(token_id)
        if parsed is None or not hmac.compare_digest(parsed.secret.encode(), secret.encode()):
            return None
        if parsed.token_id != token_id or parsed.deleting or not parsed.usable_for_authentication:
            return None
        if parsed.expiration is not None and parsed.expiration <= self._clock():
            logger.info("rejected expired bootstrap token token_id=%s", token_id)
            return None
        return UserInfo(USER_PREFIX + token_id, "", (BOOTSTRAPPERS_GROUP, *parsed.extra_groups))

    def _token(self, token_id: str) -> BootstrapToken | None:
        name = SECRET_PREFIX + token_id
        found = self._secrets(name)
        if found is None:
            self._parsed.pop(name, None)
            return None
        secret, revision = found
        cached = self._parsed.get(name)
        if cached is not None and cached[0] == revision:
            return cached[1]
        parsed = parse_token_secret(secret)
        self._parsed[name] = (revision, parsed)
        return parsed


def parse_token_secret(secret: Mapping[str, Any]) -> BootstrapToken | None:
    """Read a bootstrap token Secret; None when it is not a usable one (wrong type, missing or bad data)."""
    if secret.get("type") != SECRET_TYPE:
        return None
    data = secret.get("data")
    if not isinstance(data, Mapping):
        return None
    token_id, token_secret = _data_string(data, "token-id"), _data_string(data, "token-secret")
    if not token_id or not token_secret:
        return None
    groups = tuple(group.strip() for group in _data_string(data, "auth-extra-groups").split(",") if group.strip())
    if any(EXTRA_GROUP_PATTERN.match(group) is None for group in groups):
        logger.warning("rejected bootstrap token with an invalid auth-extra-groups entry token_id=%s", token_id)
        return None
    metadata = secret.get("metadata") if isinstance(secret.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    return BootstrapToken(
        token_id=token_id,
        secret=token_secret,
        expiration=_expiration(_data_string(data, "expiration")),
        usable_for_authentication=_data_string(data, "usage-bootstrap-authentication") == "true",
        extra_groups=groups,
        deleting=bool(metadata.get("deletionTimestamp")),
    )


def _data_string(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        return ""
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ""


def _expiration(text: str) -> datetime.datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    if parsed.tzinfo is None:
        return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return parsed
