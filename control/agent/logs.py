"""Container logs in the CRI log format: writing lines, and reading them with the options of ``kubectl logs``.

The runtime (containerd) writes one line per chunk of container output::

    2026-12-04T22:40:01.123456789Z stdout F hello world
    <RFC 3339 time, nanoseconds> <stdout|stderr> <P: partial, F: full> <text>

A "P" line is a piece of a longer line whose rest follows; only "F" ends a
line, so the reader adds the newline after "F" text alone. The reader
implements the kubelet's options: the last N lines (``tail_lines``),
entries at or after a time (``since_ns``), a byte budget (``limit_bytes``),
time prefixes (``timestamps``) and ``follow``, which polls the file and
moves on to the new file when the log is rotated (``log_rotation``).

Files live where the kubelet keeps them, so that ``--previous`` finds the
log of the last run: ``<logs_dir>/<namespace>_<pod>_<uid>/<container>/<restart count>.log``.

Differences from Kubernetes: ``tail_lines`` counts the lines of the
current file only, and a line that fails to parse is skipped.
"""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, Literal

log = logging.getLogger("pykube.agent.logs")

Stream = Literal["stdout", "stderr"]

POLL_INTERVAL = 0.25
"""Seconds between checks for new output in follow mode; kubectl users notice delays above about a second."""

READ_BLOCK = 64 * 1024
"""Bytes read per call, both forward and when scanning back for ``tail_lines``."""

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


@dataclasses.dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of a CRI log file."""

    timestamp: str
    """The time as written, in RFC 3339 with up to nine fraction digits."""
    stream: Stream
    partial: bool
    content: bytes
    """The text without the line's final newline."""


@dataclasses.dataclass(frozen=True, slots=True)
class LogOptions:
    """Reader options from the pods/log query parameters; None means no limit."""

    tail_lines: int | None = None
    since_ns: int | None = None
    """Unix time in nanoseconds; earlier entries are skipped."""
    limit_bytes: int | None = None
    timestamps: bool = False
    follow: bool = False


def format_timestamp(unix_ns: int) -> str:
    """Format Unix nanoseconds as RFC 3339 in UTC with trailing fraction zeros trimmed, as Go's RFC3339Nano does."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def parse_timestamp(text: str) -> int:
    """Parse an RFC 3339 time into Unix nanoseconds; raise ValueError naming the text when invalid."""
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(f"invalid RFC 3339 time {text!r}; expected such as 2026-12-04T22:40:01.5Z")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    nanos = int((match.group(7) or "0").ljust(9, "0"))
    zone = match.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 1_000_000_000 + nanos


def format_entry(unix_ns: int, stream: Stream, content: bytes, *, partial: bool = False) -> bytes:
    """Format one CRI log line, newline included; ``content`` must not contain a newline."""
    if b"\n" in content:
        raise ValueError("content of one CRI log line must not contain a newline; split it into entries")
    tag = b"P" if partial else b"F"
    return b"%s %s %s %s\n" % (format_timestamp(unix_ns).encode(), stream.encode(), tag, content)


def parse_entry(line: bytes) -> LogEntry:
    """Parse one CRI log line (with or without its newline); raise ValueError when it is malformed."""
    fields = line.rstrip(b"\n").split(b" ", 3)
    if len(fields) < 3:
        raise ValueError(f"invalid CRI log line {line[:80]!r}: expected '<time> <stream> <P|F> <text>'")
    timestamp, stream, tag = fields[0].decode(errors="replace"), fields[1], fields[2]
    if stream not in (b"stdout", b"stderr") or tag not in (b"P", b"F"):
        raise ValueError(f"invalid CRI log line {line[:80]!r}: stream must be stdout or stderr and the tag P or F")
    content = fields[3] if len(fields) == 4 else b""
    return LogEntry(timestamp, "stdout" if stream == b"stdout" else "stderr", tag == b"P", content)


def render_entry(entry: LogEntry, timestamps: bool) -> bytes:
    """Return the bytes ``kubectl logs`` shows for ``entry``."""
    text = entry.content if entry.partial else entry.content + b"\n"
    return f"{entry.timestamp} ".encode() + text if timestamps else text


def tail_offset(file: BinaryIO, lines: int, *, block_size: int = READ_BLOCK) -> int:
    """Return the offset where the last ``lines`` lines of ``file`` start (0 when it has fewer)."""
    end = file.seek(0, os.SEEK_END)
    if lines <= 0:
        return end
    position, newlines = end, 0
    # The final newline ends the last line rather than starting another one.
    if end > 0:
        file.seek(end - 1)
        if file.read(1) == b"\n":
            newlines = -1
    while position > 0:
        start = max(0, position - block_size)
        file.seek(start)
        block = file.read(position - start)
        for index in range(len(block) - 1, -1, -1):
            if block[index] == 0x0A:
                newlines += 1
                if newlines == lines:
                    return start + index + 1
        position = start
    return 0


async def read_log(
    path: Path,
    options: LogOptions,
    *,
    running: Callable[[], bool] = lambda: False,
    poll_interval: float = POLL_INTERVAL,
) -> AsyncIterator[bytes]:
    """Yield the rendered output of the log at ``path`` in chunks of whole entries.

    In follow mode, the reader waits for more output while ``running()``
    returns True, and when ``path`` is replaced by a new file (rotation) it
    finishes the old file and continues with the new one from its start.
    Raise FileNotFoundError when ``path`` does not exist.
    """
    budget = options.limit_bytes
    file: BinaryIO = open(path, "rb")
    try:
        if options.tail_lines is not None:
            file.seek(tail_offset(file, options.tail_lines))
        pending = b""
        while True:
            block = file.read(READ_BLOCK)
            if block:
                pending += block
                lines = pending.split(b"\n")
                pending = lines.pop()
                # One chunk per block read: a yield per line costs more than parsing it.
                chunk = b"".join(filter(None, (_render(line, options) for line in lines)))
                if budget is not None:
                    chunk = chunk[:budget]
                    budget -= len(chunk)
                if chunk:
                    yield chunk
                if budget == 0:
                    return
                continue
            if not options.follow:
                break
            replacement = _rotated_file(path, file)
            if replacement is not None:
                file.close()
                file = replacement
                continue
            if not running():
                break
            await asyncio.sleep(poll_interval)
        last = _render(pending, options) if pending else None
        if last is not None:
            yield last if budget is None else last[:budget]
    finally:
        file.close()


def _render(line: bytes, options: LogOptions) -> bytes | None:
    try:
        entry = parse_entry(line)
    except ValueError as error:
        log.debug("skipped log line error=%s", error)
        return None
    if options.since_ns is not None:
        try:
            if parse_timestamp(entry.timestamp) < options.since_ns:
                return None
        except ValueError:
            return None
    return render_entry(entry, options.timestamps)


def _rotated_file(path: Path, current: BinaryIO) -> BinaryIO | None:
    """Open the file now at ``path`` when it is not the one ``current`` reads; else return None."""
    try:
        new = os.stat(path)
    except FileNotFoundError:
        return None  # between the rename and the runtime's reopen
    old = os.fstat(current.fileno())
    if (new.st_dev, new.st_ino) == (old.st_dev, old.st_ino):
        return None
    return open(path, "rb")


def container_log_dir(logs_dir: Path, namespace: str, pod: str, uid: str, container: str) -> Path:
    """Return the kubelet's directory of one container's logs: <logs_dir>/<namespace>_<pod>_<uid>/<container>."""
    return logs_dir / f"{namespace}_{pod}_{uid}" / container


def log_files(directory: Path) -> list[Path]:
    """Return the ``<restart count>.log`` files in ``directory``, oldest run first."""
    if not directory.is_dir():
        return []
    runs = [(int(entry.name[:-4]), entry) for entry in directory.iterdir() if re.fullmatch(r"\d+\.log", entry.name)]
    return [entry for _, entry in sorted(runs)]
