"""Several bearer token authenticators tried in order, as one identity.TokenAuthenticator."""

from __future__ import annotations

from collections.abc import Sequence

from pykube_control.apiserver.auth.identity import TokenAuthenticator, UserInfo


class TokenChain:
    """Returns the user of the first authenticator that accepts the token (static file first, then bootstrap tokens)."""

    def __init__(self, authenticators: Sequence[TokenAuthenticator]) -> None:
        self._authenticators = tuple(authenticators)

    def lookup(self, token: str) -> UserInfo | None:
        for authenticator in self._authenticators:
            user = authenticator.lookup(token)
            if user is not None:
                return user
        return None
