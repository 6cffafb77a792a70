"""Continue tokens for paged lists.

A token records the revision the first page was read at and the last key
returned, so the next page reads the same snapshot from just after that
key. It is URL-safe base64 of a small JSON object, opaque to callers, and
shared by every backend so the API server can hand it to clients as the
list's ``metadata.continue``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import orjson

TOKEN_VERSION = 1


@dataclasses.dataclass(frozen=True, slots=True)
class Continuation:
    revision: int
    prefix: str
    last_key: str


def encode_continue(cont: Continuation) -> str:
    payload = {"v": TOKEN_VERSION, "rev": cont.revision, "prefix": cont.prefix, "last": cont.last_key}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode("ascii").rstrip("=")


def decode_continue(token: str, prefix: str) -> Continuation:
    """Parse ``token`` and check that it belongs to a list of ``prefix``.

    Raise InvalidContinueError for anything else.
    """
    from pykube_control.store.errors import InvalidContinueError

    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidContinueError(f"not a pykube continue token ({exc})") from None
    if not isinstance(payload, dict) or payload.get("v") != TOKEN_VERSION:
        raise InvalidContinueError("unknown token version")
    revision, token_prefix, last = payload.get("rev"), payload.get("prefix"), payload.get("last")
    if not isinstance(revision, int) or revision < 1:
        raise InvalidContinueError(f"bad revision {revision!r}")
    if not isinstance(token_prefix, str) or not isinstance(last, str):
        raise InvalidContinueError("missing prefix or key")
    if token_prefix != prefix:
        raise InvalidContinueError(f"token was issued for prefix {token_prefix!r}, not {prefix!r}")
    if not last.startswith(prefix):
        raise InvalidContinueError(f"key {last!r} is outside prefix {prefix!r}")
    return Continuation(revision=revision, prefix=token_prefix, last_key=last)
