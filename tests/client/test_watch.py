"""Watch frames: incremental parsing of split chunks, and a live watch against a real server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykube_control.client.api import APIClient
from pykube_control.client.resource import CONFIGMAPS
from pykube_control.client.watch import WatchEvent, WatchFrameError, parse_frames
from tests.client.conftest import configmap


async def chunks_of(parts: Sequence[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def parse(parts: Sequence[bytes]) -> list[WatchEvent]:
    async def collect() -> list[WatchEvent]:
        return [event async for event in parse_frames(chunks_of(parts))]

    return asyncio.run(collect())


def frame(event_type: str, name: str) -> bytes:
    return orjson.dumps({"type": event_type, "object": {"metadata": {"name": name}}}) + b"\n"


STREAM = frame("ADDED", "a") + frame("MODIFIED", "a") + frame("BOOKMARK", "") + frame("DELETED", "a")
EXPECTED = [
    ("ADDED", {"metadata": {"name": "a"}}),
    ("MODIFIED", {"metadata": {"name": "a"}}),
    ("BOOKMARK", {"metadata": {"name": ""}}),
    ("DELETED", {"metadata": {"name": "a"}}),
]


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param([STREAM], id="one chunk"),
        pytest.param([STREAM[:7], STREAM[7:50], STREAM[50:]], id="split inside frames"),
        pytest.param([bytes([byte]) for byte in STREAM], id="byte by byte"),
        pytest.param([STREAM.replace(b"\n", b"\n\n")], id="blank lines"),
        pytest.param([STREAM.rstrip(b"\n")], id="last frame without newline"),
    ],
)
def test_parse_frames_chunking(parts: list[bytes]) -> None:
    assert parse(parts) == EXPECTED


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=20))
def test_parse_frames_any_split(cuts: list[int]) -> None:
    points = sorted(set(cuts))
    parts = [STREAM[start:end] for start, end in zip([0, *points], [*points, len(STREAM)])]
    assert parse(parts) == EXPECTED


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(b"not json\n", "not JSON", id="not json"),
        pytest.param(b"[1, 2]\n", "not a JSON object", id="array"),
        pytest.param(b'{"type": "UPSERT", "object": {}}\n', "type 'UPSERT'", id="unknown type"),
        pytest.param(b'{"type": "ADDED"}\n', "object of type NoneType", id="no object"),
    ],
)
def test_parse_frames_malformed(line: bytes, expected: str) -> None:
    with pytest.raises(WatchFrameError, match=expected):
        parse([line])


async def test_watch_live_events(plain_client: APIClient) -> None:
    start = await plain_client.list(CONFIGMAPS, namespace="default")
    events = plain_client.watch(
        CONFIGMAPS, namespace="default", resource_version=start["metadata"]["resourceVersion"], timeout_seconds=10
    )
    seen: list[tuple[str, str]] = []

    async def change() -> None:
        await plain_client.create(CONFIGMAPS, configmap("watched", a="1"))
        await plain_client.patch(CONFIGMAPS, "watched", {"data": {"a": "2"}})
        await plain_client.delete(CONFIGMAPS, "watched")

    writer = asyncio.create_task(change())
    async for event_type, obj in events:
        seen.append((event_type, obj["metadata"]["name"]))
        if event_type == "DELETED":
            break
    await writer
    assert seen == [("ADDED", "watched"), ("MODIFIED", "watched"), ("DELETED", "watched")]


async def test_watch_initial_objects(plain_client: APIClient) -> None:
    await plain_client.create(CONFIGMAPS, configmap("present"))
    events = plain_client.watch(CONFIGMAPS, namespace="default", timeout_seconds=10)
    event_type, obj = await anext(aiter(events))
    await events.aclose()
    assert (event_type, obj["metadata"]["name"]) == ("ADDED", "present")


async def test_watch_one_name(plain_client: APIClient) -> None:
    await plain_client.create(CONFIGMAPS, configmap("other"))
    await plain_client.create(CONFIGMAPS, configmap("target"))
    events = plain_client.watch(CONFIGMAPS, namespace="default", name="target", timeout_seconds=10)
    event_type, obj = await anext(aiter(events))
    await events.aclose()
    assert obj["metadata"]["name"] == "target"


async def test_watch_ends_at_timeout(plain_client: APIClient) -> None:
    events = [event async for event in plain_client.watch(CONFIGMAPS, namespace="empty", timeout_seconds=1)]
    assert events == []

