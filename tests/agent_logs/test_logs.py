"""CRI log format, the reader's options, follow across rotation, and rotation itself."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pykube_control.agent.log_rotation import rotate, rotate_all, rotated_files
from pykube_control.agent.logs import (
    LogOptions,
    format_entry,
    format_timestamp,
    log_files,
    parse_entry,
    parse_timestamp,
    read_log,
)

BASE_NS = 1_796_424_001_000_000_000  # 2026-12-04T22:40:01Z


def write_lines(path: Path, count: int, start: int = 0) -> None:
    with open(path, "ab") as file:
        for index in range(start, start + count):
            file.write(format_entry(BASE_NS + index * 1_000_000_000, "stdout", b"line %d" % index))


async def collect(path: Path, options: LogOptions) -> bytes:
    return b"".join([chunk async for chunk in read_log(path, options)])


@pytest.mark.parametrize(
    ("unix_ns", "text"),
    [
        pytest.param(BASE_NS, "2026-12-04T22:40:01Z", id="whole second"),
        pytest.param(BASE_NS + 123_000_000, "2026-12-04T22:40:01.123Z", id="trimmed zeros"),
        pytest.param(BASE_NS + 1, "2026-12-04T22:40:01.000000001Z", id="nanosecond"),
    ],
)
def test_timestamp_round_trip(unix_ns: int, text: str) -> None:
    assert format_timestamp(unix_ns) == text
    assert parse_timestamp(text) == unix_ns


def test_timestamp_offset() -> None:
    assert parse_timestamp("2026-12-04T23:40:01+01:00") == BASE_NS


def test_timestamp_invalid() -> None:
    with pytest.raises(ValueError, match="invalid RFC 3339 time"):
        parse_timestamp("yesterday")


def test_entry_round_trip() -> None:
    entry = parse_entry(format_entry(BASE_NS, "stderr", b"a b  c", partial=True))
    assert entry.stream == "stderr"
    assert entry.partial
    assert entry.content == b"a b  c"


def test_entry_empty_content() -> None:
    assert parse_entry(b"2026-12-04T22:40:01Z stdout F\n").content == b""


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"garbage", id="one field"),
        pytest.param(b"2026-12-04T22:40:01Z stdin F x", id="bad stream"),
        pytest.param(b"2026-12-04T22:40:01Z stdout X x", id="bad tag"),
    ],
)
def test_entry_invalid(line: bytes) -> None:
    with pytest.raises(ValueError, match="invalid CRI log line"):
        parse_entry(line)


def test_entry_rejects_newline() -> None:
    with pytest.raises(ValueError, match="must not contain a newline"):
        format_entry(BASE_NS, "stdout", b"a\nb")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(LogOptions(), b"line 0\nline 1\nline 2\nline 3\n", id="all"),
        pytest.param(LogOptions(tail_lines=2), b"line 2\nline 3\n", id="tail"),
        pytest.param(LogOptions(tail_lines=0), b"", id="tail zero"),
        pytest.param(LogOptions(tail_lines=10), b"line 0\nline 1\nline 2\nline 3\n", id="tail beyond"),
        pytest.param(LogOptions(since_ns=BASE_NS + 2_000_000_000), b"line 2\nline 3\n", id="since"),
        pytest.param(LogOptions(limit_bytes=10), b"line 0\nlin", id="limit bytes"),
        pytest.param(
            LogOptions(tail_lines=1, timestamps=True), b"2026-12-04T22:40:04Z line 3\n", id="timestamps"
        ),
    ],
)
async def test_read_options(tmp_path: Path, options: LogOptions, expected: bytes) -> None:
    path = tmp_path / "0.log"
    write_lines(path, 4)
    assert await collect(path, options) == expected


async def test_read_joins_partial(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(
        format_entry(BASE_NS, "stdout", b"hel", partial=True) + format_entry(BASE_NS, "stdout", b"lo") + b"broken\n"
    )
    assert await collect(path, LogOptions()) == b"hello\n"


async def test_read_tail_large(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write_lines(path, 5000)
    assert await collect(path, LogOptions(tail_lines=1)) == b"line 4999\n"


async def test_follow_across_rotation(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write_lines(path, 2)
    running = True
    reader = read_log(path, LogOptions(follow=True), running=lambda: running, poll_interval=0.01)
    assert await anext(reader) == b"line 0\nline 1\n"

    write_lines(path, 1, start=2)
    os.rename(path, tmp_path / "0.log.20261204-224001")
    write_lines(path, 1, start=3)
    assert await anext(reader) == b"line 2\n"
    assert await anext(reader) == b"line 3\n"

    running = False
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(reader), 5)


async def test_follow_stops_when_exited(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write_lines(path, 1)
    output = await asyncio.wait_for(collect_following(path, running=False), 5)
    assert output == b"line 0\n"


async def collect_following(path: Path, running: bool) -> bytes:
    reader = read_log(path, LogOptions(follow=True), running=lambda: running, poll_interval=0.01)
    return b"".join([chunk async for chunk in reader])


def test_log_files_order(tmp_path: Path) -> None:
    for name in ("10.log", "2.log", "0.log", "notes.txt", "1.log.20261204-224001"):
        (tmp_path / name).write_text("")
    assert [p.name for p in log_files(tmp_path)] == ["0.log", "2.log", "10.log"]


async def test_rotate_below_limit(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write_lines(path, 1)

    async def reopen() -> None:
        raise AssertionError("reopen called below the size limit")

    assert not await rotate(path, 1024, 3, reopen)


async def test_rotate_keeps_max_files(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    reopened = 0

    async def reopen() -> None:
        nonlocal reopened
        reopened += 1
        path.touch()

    start = datetime.datetime(2026, 12, 4, 22, 40, tzinfo=datetime.timezone.utc)
    for minute in range(4):
        write_lines(path, 10)
        assert await rotate(path, 100, 3, reopen, now=start + datetime.timedelta(minutes=minute))
    names = [p.name for p in rotated_files(path)]
    assert reopened == 4
    assert names == ["0.log.20261204-224200.gz", "0.log.20261204-224300"]
    assert path.exists()
    with gzip.open(tmp_path / names[0]) as compressed:
        assert compressed.read().startswith(b"2026-12-04T22:40:01Z stdout F line 0\n")


async def test_rotate_undone_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    write_lines(path, 10)

    async def reopen() -> None:
        raise RuntimeError("runtime unavailable")

    with pytest.raises(RuntimeError, match="runtime unavailable"):
        await rotate(path, 10, 3, reopen)
    assert path.stat().st_size > 10
    assert rotated_files(path) == []


async def test_rotate_all_running_only(tmp_path: Path) -> None:
    running_log = tmp_path / "default_web_u1" / "app" / "0.log"
    exited_log = tmp_path / "default_web_u1" / "old" / "0.log"
    for path in (running_log, exited_log):
        path.parent.mkdir(parents=True)
        write_lines(path, 10)

    async def reopen() -> None:
        running_log.touch()

    def reopen_for(path: Path) -> Callable[[], Awaitable[None]] | None:
        return reopen if path == running_log else None

    assert await rotate_all(tmp_path, 100, 3, reopen_for) == [running_log]
    assert len(rotated_files(running_log)) == 1
    assert rotated_files(exited_log) == []
