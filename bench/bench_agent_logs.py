"""Container log reads and volume file writes of the node agent.

Run with `python -m bench.run bench/bench_agent_logs.py`. The log is a
CRI-format file of 100,000 lines of 100 bytes of text (about 13 MiB with the
time, stream and tag), in a temporary directory on the machine's disk,
read through ``read_log`` as the agent serves ``kubectl logs``.

- read all: every line, no options (the file stays in the page cache after the
  first round). The figure per operation is one whole read.
- tail 100: ``--tail 100``, which scans back from the end of the file. Its
  cost should not grow with the file, and the ratio to "read all" shows it.
- configMap write: ``write_payload`` of 100 keys of 1 KiB into a volume
  directory under pytest's tmp_path, alternating between two contents so that every round writes a
  new version and swaps ``..data``.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pykube_control.agent.logs import LogOptions, format_entry, read_log
from pykube_control.agent.volumes.atomic_writer import write_payload

LINE_COUNT = 100_000
LINE_TEXT = b"x" * 100


@pytest.fixture(scope="module")
def log_file() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pykube-bench-logs-") as directory:
        path = Path(directory) / "0.log"
        with open(path, "wb") as file:
            for index in range(LINE_COUNT):
                file.write(format_entry(1_796_424_001_000_000_000 + index * 1000, "stdout", LINE_TEXT))
        yield path


def read_bytes(loop: asyncio.AbstractEventLoop, path: Path, options: LogOptions) -> int:
    async def consume() -> int:
        return sum([len(chunk) async for chunk in read_log(path, options)])

    return loop.run_until_complete(consume())


VARIANTS = {
    "read all": (LogOptions(), LINE_COUNT * (len(LINE_TEXT) + 1)),
    "tail 100": (LogOptions(tail_lines=100), 100 * (len(LINE_TEXT) + 1)),
}


@pytest.mark.benchmark(group="log read 100k lines")
@pytest.mark.parametrize("variant", list(VARIANTS))
def bench_log_read(benchmark: Any, loop: asyncio.AbstractEventLoop, log_file: Path, variant: str) -> None:
    options, expected_bytes = VARIANTS[variant]
    benchmark.extra_info["ops"] = 1
    result = benchmark(read_bytes, loop, log_file, options)
    assert result == expected_bytes


@pytest.mark.benchmark(group="configMap volume write")
def bench_payload_write(benchmark: Any, tmp_path: Path) -> None:
    payloads = [
        {f"key-{index}": (bytes([65 + version]) * 1024, 0o644) for index in range(100)} for version in range(2)
    ]
    rounds = iter(range(10**9))

    def write() -> bool:
        return write_payload("bench", tmp_path / "volume", payloads[next(rounds) % 2])

    benchmark.extra_info["ops"] = 1
    assert benchmark(write)
