"""Property tests of the log reader's arithmetic against obvious implementations."""

from __future__ import annotations

import io

from hypothesis import given
from hypothesis import strategies as st

from pykube_control.agent.logs import format_timestamp, parse_timestamp, tail_offset

LINES = st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=30)


def naive_tail_offset(data: bytes, lines: int) -> int:
    """Return the start of the last ``lines`` lines from the list of every line's start offset."""
    if lines <= 0:
        return len(data)
    starts = [0] + [index + 1 for index, byte in enumerate(data) if byte == 0x0A and index + 1 < len(data)]
    return starts[-lines] if lines <= len(starts) else 0


@given(LINES, st.booleans(), st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=16))
def test_tail_offset_matches_split(lines: list[bytes], final_newline: bool, count: int, block_size: int) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    assert tail_offset(io.BytesIO(data), count, block_size=block_size) == naive_tail_offset(data, count)


@given(st.integers(min_value=0, max_value=4_102_444_800 * 1_000_000_000))
def test_timestamp_round_trip_any(unix_ns: int) -> None:
    assert parse_timestamp(format_timestamp(unix_ns)) == unix_ns
