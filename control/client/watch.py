"""Parsing a watch stream: newline-delimited ``{"type", "object"}`` frames.

Frames are split as bytes arrive, so an event is delivered as soon as its
newline is read, and a frame split across network chunks is joined first.
aiohttp's ``readline`` is not used because it limits the line length, and a
watch frame is as long as its object.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import orjson

from pykube_control.client.errors import ClientError

Object = dict[str, Any]
WatchEvent = tuple[str, Object]
"""(type, object): type is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR (object is then a Status)."""

EVENT_TYPES = frozenset({"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"})


class WatchFrameError(ClientError):
    """A watch stream carried a frame that is not a ``{"type", "object"}`` JSON object."""


async def parse_frames(chunks: AsyncIterable[bytes]) -> AsyncIterator[WatchEvent]:
    """Yield the events in ``chunks``; a last frame without a newline is still parsed."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buffer[start:end])
            start = end + 1
            if line.strip():
                yield decode_frame(line)
        del buffer[:start]
    if bytes(buffer).strip():
        yield decode_frame(bytes(buffer))


def decode_frame(line: bytes) -> WatchEvent:
    """Decode one frame; raise WatchFrameError quoting its start when it is malformed."""
    try:
        frame = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise WatchFrameError(f"watch frame is not JSON ({error}): {line[:200]!r}") from error
    if not isinstance(frame, dict):
        raise WatchFrameError(f"watch frame is not a JSON object: {line[:200]!r}")
    event_type = frame.get("type")
    obj = frame.get("object")
    if event_type not in EVENT_TYPES or not isinstance(obj, dict):
        raise WatchFrameError(
            f"watch frame has type {event_type!r} and an object of type {type(obj).__name__}; "
            f"expected a type in {sorted(EVENT_TYPES)} and an object: {line[:200]!r}"
        )
    return str(event_type), obj
