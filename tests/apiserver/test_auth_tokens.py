"""The static token file: parsing, lookup, and the admin row written at first start."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pykube_control.apiserver.auth import tokens
from pykube_control.apiserver.auth.identity import UserInfo
from pykube_control.apiserver.auth.tokens import TokenEntry, TokenFile, TokenFileError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("t1,alice,1001\n", [TokenEntry("t1", UserInfo("alice", "1001"))], id="three columns"),
        pytest.param(
            't1,alice,1001,"dev,ops"\n',
            [TokenEntry("t1", UserInfo("alice", "1001", ("dev", "ops")))],
            id="quoted groups",
        ),
        pytest.param(
            "t1,alice,1001,dev\n",
            [TokenEntry("t1", UserInfo("alice", "1001", ("dev",)))],
            id="one unquoted group",
        ),
        pytest.param(
            't1, alice, 1001, "dev,ops"\n',
            [TokenEntry("t1", UserInfo("alice", "1001", ("dev", "ops")))],
            id="spaces after commas",
        ),
        pytest.param(
            't1,alice,1001,"dev,,ops",ignored\n',
            [TokenEntry("t1", UserInfo("alice", "1001", ("dev", "ops")))],
            id="empty group and extra column",
        ),
        pytest.param(
            "\nt1,alice,1001\n\nt2,bob,1002\n",
            [TokenEntry("t1", UserInfo("alice", "1001")), TokenEntry("t2", UserInfo("bob", "1002"))],
            id="blank lines",
        ),
        pytest.param(",alice,1001\nt2,bob,1002", [TokenEntry("t2", UserInfo("bob", "1002"))], id="empty token"),
        pytest.param('t1,"a,b",1001\n', [TokenEntry("t1", UserInfo("a,b", "1001"))], id="quoted user"),
    ],
)
def test_parse(text: str, expected: list[TokenEntry]) -> None:
    assert tokens.parse_token_file(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("t1,alice\n", "line 1: has 2 columns, expected at least 3", id="two columns"),
        pytest.param("t1,alice,1\nt2\n", "line 2: has 1 columns", id="second row short"),
        pytest.param('t1,alice,1,"dev\n', "invalid CSV", id="unclosed quote"),
    ],
)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(TokenFileError, match=message):
        tokens.parse_token_file(text, "tokens.csv")


def test_lookup() -> None:
    alice = UserInfo("alice", "1001", ("dev",))
    token_file = TokenFile([TokenEntry("t1", alice)])

    assert token_file.lookup("t1") == alice
    assert token_file.lookup("t2") is None
    assert token_file.lookup("t1 ") is None


def test_duplicate_token_last_wins(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("t1,alice,1\nt1,bob,2\n")

    token_file = tokens.load_token_file(path)

    assert token_file.lookup("t1") == UserInfo("bob", "2")


def test_format_round_trip() -> None:
    entry = TokenEntry("t1", UserInfo("alice", "1001", ("dev", "ops")))
    row = tokens.format_token_row(entry)

    assert row == 't1,alice,1001,"dev,ops"\n'
    assert tokens.parse_token_file(row) == [entry]


def test_admin_created(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"

    token_file = tokens.ensure_token_file(path)

    admin_token = token_file.admin_token
    assert admin_token is not None
    assert len(admin_token) >= 43
    user = token_file.lookup(admin_token)
    assert user is not None
    assert user.name == "admin"
    assert user.groups == ("system:masters",)
    assert user.uid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_admin_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    first = tokens.ensure_token_file(path)
    content = path.read_text()

    second = tokens.ensure_token_file(path)

    assert second.admin_token == first.admin_token
    assert path.read_text() == content


def test_admin_added_to_existing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("t1,alice,1001")

    token_file = tokens.ensure_token_file(path)

    assert token_file.lookup("t1") == UserInfo("alice", "1001")
    assert token_file.admin_token is not None
    assert len(path.read_text().splitlines()) == 2


def test_corrupt_file_named(tmp_path: Path) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("only-a-token\n")

    with pytest.raises(TokenFileError, match=str(path)):
        tokens.ensure_token_file(path)
