"""The static token file ``<data-dir>/tokens.csv`` and bearer token lookup.

The format is Kubernetes' ``--token-auth-file``: CSV rows of
``token,user,uid`` and an optional fourth column of comma-separated groups,
quoted when it contains more than one (``t0k3n,alice,1001,"dev,ops"``). The
first start writes one row for the admin user in group system:masters with
a random token.

Tokens are kept only as SHA-256 digests, so lookup hashes the presented
token and finds the digest in a dict: the time taken does not depend on how
many leading characters of the token match a stored one.

Differences from Kubernetes' tokenfile authenticator (1.32):

- Empty group names (``"dev,,ops"`` or a present but empty fourth column)
  are dropped; Kubernetes keeps them as a group named "".
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import secrets
import uuid
from pathlib import Path

from pykube_control.apiserver.auth.files import PRIVATE_MODE, write_file_atomic
from pykube_control.apiserver.auth.identity import MASTERS_GROUP, UserInfo

logger = logging.getLogger("pykube.apiserver")

TOKEN_FILE = "tokens.csv"
ADMIN_USER = "admin"

ADMIN_TOKEN_BYTES = 32
"""Random bytes in a generated admin token (43 URL-safe characters), as strong as a 256-bit key."""


class TokenFileError(Exception):
    """The token file cannot be read or has a malformed row."""


@dataclasses.dataclass(frozen=True, slots=True)
class TokenEntry:
    """One row of the token file."""

    token: str
    user: UserInfo


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenFile:
    """The users of the token file by token; implements identity.TokenAuthenticator."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._users: dict[bytes, UserInfo] = {}
        self._admin_token: str | None = None
        for entry in entries:
            self._users[_digest(entry.token)] = entry.user
            if self._admin_token is None and _is_admin(entry.user):
                self._admin_token = entry.token

    def lookup(self, token: str) -> UserInfo | None:
        return self._users.get(_digest(token))

    @property
    def admin_token(self) -> str | None:
        """The first token of user "admin" in group system:masters, or None when there is none."""
        return self._admin_token

    def __len__(self) -> int:
        return len(self._users)


def _is_admin(user: UserInfo) -> bool:
    return user.name == ADMIN_USER and MASTERS_GROUP in user.groups


def parse_token_file(text: str, source: str = TOKEN_FILE) -> list[TokenEntry]:
    """Parse token file rows; ``source`` names the file in errors and warnings.

    Blank lines and rows with an empty token are skipped (the latter with a
    warning, as Kubernetes does); a repeated token keeps its last row. Raise
    TokenFileError for a row with fewer than three columns or bad quoting.
    """
    entries: list[TokenEntry] = []
    reader = csv.reader(io.StringIO(text), skipinitialspace=True, strict=True)
    try:
        for row in reader:
            entry = _parse_row(row, reader.line_num, source)
            if entry is not None:
                entries.append(entry)
    except csv.Error as error:
        raise TokenFileError(
            f"{source}: line {reader.line_num}: invalid CSV ({error}); "
            'quote a column holding commas, as in t0k3n,alice,1001,"dev,ops"'
        ) from error
    return entries


def _parse_row(row: list[str], line: int, source: str) -> TokenEntry | None:
    if not row:
        return None
    if len(row) < 3:
        raise TokenFileError(
            f"{source}: line {line}: has {len(row)} columns, expected at least 3 "
            "(token, user name, user uid) and optionally a fourth with groups"
        )
    token, name, uid = row[0], row[1], row[2]
    if not token:
        logger.warning("skipped token file row with an empty token path=%s line=%d", source, line)
        return None
    groups = tuple(group for group in row[3].split(",") if group) if len(row) >= 4 else ()
    return TokenEntry(token, UserInfo(name, uid, groups))


def format_token_row(entry: TokenEntry) -> str:
    """Format one row, quoting columns as needed, with a trailing newline."""
    stream = io.StringIO()
    user = entry.user
    csv.writer(stream, lineterminator="\n").writerow(
        [entry.token, user.name, user.uid, ",".join(user.groups)]
    )
    return stream.getvalue()


def load_token_file(path: Path) -> TokenFile:
    """Read and parse the token file; raise TokenFileError naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TokenFileError(f"{path}: cannot be read ({error})") from error
    entries = parse_token_file(text, str(path))
    _warn_duplicates(entries, path)
    return TokenFile(entries)


def _warn_duplicates(entries: list[TokenEntry], path: Path) -> None:
    seen: set[bytes] = set()
    for entry in entries:
        digest = _digest(entry.token)
        if digest in seen:
            # Never log the token itself; the user name identifies the row.
            logger.warning("duplicate token in token file, the last row wins path=%s user=%s", path, entry.user.name)
        seen.add(digest)


def ensure_token_file(path: Path) -> TokenFile:
    """Load the token file, first creating it or adding an admin row when it has none.

    The admin row is user "admin" with a random token, a random UID and group
    system:masters. Other rows are kept as they are.
    """
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    tokens = load_token_file(path) if path.exists() else TokenFile([])
    if tokens.admin_token is not None:
        return tokens

    admin = TokenEntry(
        secrets.token_urlsafe(ADMIN_TOKEN_BYTES),
        UserInfo(ADMIN_USER, str(uuid.uuid4()), (MASTERS_GROUP,)),
    )
    if existing and not existing.endswith("\n"):
        existing += "\n"
    write_file_atomic(path, (existing + format_token_row(admin)).encode(), PRIVATE_MODE)
    logger.info("added admin token to token file path=%s user=%s", path, ADMIN_USER)
    return load_token_file(path)
