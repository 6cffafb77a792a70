"""Reading verbs: get, list and watch, with Kubernetes' resourceVersion semantics.

list:
    no resourceVersion       the latest state, read from the store (consistent)
    resourceVersion=0        any recent state: the watch cache
    resourceVersion=N        state no older than N (the cache once it has reached N)
    resourceVersionMatch=Exact  the state exactly at N, from the store's history
    limit / continue         pages of one consistent snapshot; selectors are applied
                             before the limit, so a page holds up to ``limit`` matches
watch:
    no resourceVersion or 0  ADDED events for every current object, then changes
    resourceVersion=N        every change after N (410 Gone if N is compacted away)
    sendInitialEvents=true   the current objects, a BOOKMARK marking their end, then changes
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from pykube_control.apiserver import storage
from pykube_control.apiserver.context import APIContext
from pykube_control.apiserver.request_info import RequestInfo
from pykube_control.apiserver.resources import ResourceType
from pykube_control.apiserver.responses import json_response, list_body
from pykube_control.apiserver.selection import Filter, parse_filter
from pykube_control.apiserver.status import APIError, bad_request, gone, status_body, timeout
from pykube_control.apiserver.tables import table_requested, to_table
from pykube_control.apiserver.watchcache import Subscriber, follow_store_history, frame_for
from pykube_control.store.errors import CompactedError, FutureRevisionError, InvalidContinueError

log = logging.getLogger("pykube.apiserver")

Object = dict[str, Any]

CACHE_WAIT_SECONDS = 3.0
"""How long a request for a resourceVersion the watch cache has not reached
yet waits before failing with 504, as Kubernetes does."""

BOOKMARK_INTERVAL = 30.0
"""Seconds between BOOKMARK events on watches that allow them."""

MIN_WATCH_TIMEOUT = 1800
"""Watches without timeoutSeconds end after 30 to 60 minutes (randomized so
reconnects spread out), like Kubernetes' --min-request-timeout."""

LIST_PAGE = 500
"""Objects read from the store per round when filtering a limited list."""


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer, not {value!r}") from None
    if number < 0:
        raise bad_request(f"{name} must not be negative, not {number}")
    return number


def _resource_version(request: web.Request) -> int | None:
    value = request.query.get("resourceVersion")
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'Invalid value: "{value}": resourceVersion must be an integer') from None


def selection_of(info: RequestInfo, request: web.Request) -> Filter:
    return parse_filter(
        info.resource, info.namespace, request.query.get("labelSelector", ""), request.query.get("fieldSelector", "")
    )


# --- get ----------------------------------------------------------------------------


async def get(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    assert info.name is not None
    if info.subresource == "scale":
        from pykube_control.apiserver.subresources import get_scale

        return await get_scale(ctx, info)
    if info.subresource == "log":
        raise APIError(503, "ServiceUnavailable", f'logs of pod "{info.name}" are not available: no node agent serves them yet')
    if info.subresource not in (None, "status"):
        raise APIError(405, "MethodNotAllowed", f"GET is not supported on the {info.subresource} subresource")
    obj, _ = await ctx.read(info.resource, info.namespace, info.name)
    if table_requested(request):
        return json_response(to_table(info.resource, [obj], obj["metadata"]["resourceVersion"], request))
    return json_response(obj)


# --- list -----------------------------------------------------------------------------


async def list_objects(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    resource = info.resource
    selection = selection_of(info, request)
    limit = _int_param(request, "limit") or 0
    token = request.query.get("continue") or None
    revision = _resource_version(request)
    match = request.query.get("resourceVersionMatch") or None
    if match is not None and match not in ("Exact", "NotOlderThan"):
        raise bad_request(f'resourceVersionMatch must be "Exact" or "NotOlderThan", not "{match}"')
    if match is not None and revision is None:
        raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    if match == "Exact" and revision == 0:
        raise bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
    if token and revision is not None and revision != 0:
        raise bad_request("specifying resource version is not allowed when using continue")

    if token is None and revision is not None and match != "Exact":
        body = await _list_from_cache(ctx, resource, selection, revision)
    else:
        body = await _list_from_store(ctx, resource, info.namespace, selection, limit, token, revision if match == "Exact" else None)
    if table_requested(request):
        return json_response(
            to_table(resource, body["items"], body["metadata"]["resourceVersion"], request, body["metadata"].get("continue"))
        )
    return json_response(body)


async def _list_from_cache(ctx: APIContext, resource: ResourceType, selection: Filter, revision: int) -> Object:
    cache = ctx.cache(resource)
    if revision > cache.revision and not await cache.wait_for_revision(revision, CACHE_WAIT_SECONDS):
        raise timeout(f"Too large resource version: {revision}, current: {cache.revision}")
    items, at = cache.snapshot(selection)
    return list_body(resource, items, str(at))


async def _list_from_store(
    ctx: APIContext,
    resource: ResourceType,
    namespace: str | None,
    selection: Filter,
    limit: int,
    token: str | None,
    revision: int | None,
) -> Object:
    prefix = storage.list_prefix(resource, namespace)
    items: list[Object] = []
    filtered = not (selection.labels.empty and selection.fields.empty)
    page = LIST_PAGE if (filtered and limit) else limit
    while True:
        try:
            result = await ctx.store.list(prefix, limit=page, continue_token=token, revision=revision)
        except CompactedError:
            if token:
                raise gone(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter."
                ) from None
            raise gone(f"The resourceVersion for the provided list is too old: {revision}") from None
        except FutureRevisionError:
            raise timeout(f"Too large resource version: {revision}") from None
        except InvalidContinueError as exc:
            raise bad_request(str(exc)) from None
        for kv in result.items:
            obj = storage.decode_kv(kv)
            if selection.matches(obj):
                items.append(obj)
        token = result.continue_token
        revision = result.revision
        if token is None or not limit or len(items) >= limit:
            break
    next_token = token
    if limit and len(items) > limit:
        # The last round read past the limit: continue after the last item returned.
        from pykube_control.store.continuation import Continuation, encode_continue

        items = items[:limit]
        last_key = storage.object_key(resource, items[-1]["metadata"].get("namespace"), items[-1]["metadata"]["name"])
        next_token = encode_continue(Continuation(revision=result.revision, prefix=prefix, last_key=last_key))
    remaining = result.remaining if next_token and not filtered else None
    return list_body(resource, items, str(result.revision), continue_token=next_token, remaining=remaining)


# --- watch ------------------------------------------------------------------------------


def _watch_timeout(request: web.Request) -> float:
    requested = _int_param(request, "timeoutSeconds")
    if requested is not None:
        return float(requested)
    return float(random.randint(MIN_WATCH_TIMEOUT, 2 * MIN_WATCH_TIMEOUT))


def _bool_param(request: web.Request, name: str) -> bool | None:
    value = request.query.get(name)
    if value is None:
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0", ""):
        return False
    raise bad_request(f"{name} must be true or false, not {value!r}")


async def watch(ctx: APIContext, info: RequestInfo, request: web.Request) -> web.StreamResponse:
    resource = info.resource
    selection = selection_of(info, request)
    if info.name is not None:
        # A watch on one object is a watch with a metadata.name field selector.
        selection = parse_filter(
            resource, info.namespace, request.query.get("labelSelector", ""),
            ",".join(filter(None, [request.query.get("fieldSelector", ""), f"metadata.name={info.name}"])),
        )
    revision = _resource_version(request)
    bookmarks = bool(_bool_param(request, "allowWatchBookmarks"))
    initial = _bool_param(request, "sendInitialEvents")
    match = request.query.get("resourceVersionMatch") or None
    if initial is not None:
        if match != "NotOlderThan" and initial:
            raise bad_request('sendInitialEvents=true requires resourceVersionMatch "NotOlderThan"')
        if initial and not bookmarks:
            raise bad_request("sendInitialEvents=true requires allowWatchBookmarks=true")
    elif match is not None:
        raise bad_request("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
    deadline = asyncio.get_running_loop().time() + _watch_timeout(request)

    cache = ctx.cache(resource)
    if initial and revision:
        if revision > cache.revision and not await cache.wait_for_revision(revision, CACHE_WAIT_SECONDS):
            raise timeout(f"Too large resource version: {revision}, current: {cache.revision}")
    if initial and not revision:
        current = await ctx.store.current_revision()
        await cache.wait_for_revision(current, CACHE_WAIT_SECONDS)
    send_initial = bool(initial) or (initial is None and not revision)
    subscriber = cache.subscribe(selection, None if send_initial else revision, initial_events=send_initial)
    history_task: asyncio.Task[None] | None = None
    if subscriber is None:
        assert revision is not None
        subscriber = Subscriber(selection, revision)
        history_task = asyncio.create_task(follow_store_history(ctx.store, resource, subscriber, revision))
    if initial:
        subscriber.push(_initial_events_end(resource, subscriber.revision))

    response = web.StreamResponse(headers={"Content-Type": "application/json", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    transform = _table_frames(resource, request) if table_requested(request) else None
    if transform is None and request.transport is not None:
        # aiohttp holds the headers back until the first body write; send
        # them now, so that frames the cache writes directly follow them.
        await response.write(b"")
        subscriber.sink = _direct_sink(request.transport)
    try:
        await _stream(response, cache.bookmark_frame, subscriber, deadline, bookmarks, transform)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    except Exception:
        # The status line is already sent, so no error response is possible:
        # end the stream and let the client resume from its last revision.
        log.exception("watch stream failed resource=%s revision=%d", resource.qualified, subscriber.revision)
    finally:
        cache.unsubscribe(subscriber)
        subscriber.close()
        if history_task is not None:
            history_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await history_task
    return response


DIRECT_WRITE_LIMIT = 256 * 1024
"""Bytes a watch connection may have waiting in its send buffer before the
cache stops writing to it directly and leaves the frames to the stream
task, which waits for the buffer to drain."""


def _direct_sink(transport: Any) -> Callable[[bytes], bool]:
    """Return a writer of HTTP chunks straight to ``transport`` (see Subscriber.sink).

    ``transport`` is the connection's asyncio transport: a plain one for
    HTTP, uvloop's or asyncio's SSL transport for HTTPS. Both provide
    write, is_closing and get_write_buffer_size, though the SSL ones are
    not asyncio.WriteTransport subclasses.
    """

    def sink(data: bytes) -> bool:
        if transport.is_closing() or transport.get_write_buffer_size() > DIRECT_WRITE_LIMIT:
            return False
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    return sink


def _initial_events_end(resource: ResourceType, revision: int) -> bytes:
    obj = {
        "kind": resource.kind,
        "apiVersion": resource.group_version,
        "metadata": {"resourceVersion": str(revision), "annotations": {"k8s.io/initial-events-end": "true"}},
    }
    return frame_for("BOOKMARK", obj)


async def _stream(
    response: web.StreamResponse,
    bookmark_frame: Any,
    subscriber: Subscriber,
    deadline: float,
    bookmarks: bool,
    transform: Callable[[list[bytes]], list[bytes]] | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    while True:
        frames = subscriber.take()
        if frames and transform is not None:
            frames = transform(frames)
        if frames:
            await response.write(b"".join(frames))
            last_sent = loop.time()
        if subscriber.error is not None:
            await response.write(b'{"type":"ERROR","object":' + orjson.dumps(subscriber.error) + b"}\n")
            return
        if subscriber.closed:
            return
        now = loop.time()
        if now >= deadline:
            return
        wait = deadline - now
        if bookmarks:
            wait = min(wait, max(0.0, last_sent + BOOKMARK_INTERVAL - now))
        try:
            # asyncio.timeout, unlike wait_for, creates no task per wake-up,
            # which matters with thousands of watchers.
            async with asyncio.timeout(wait):
                await subscriber.wakeup.wait()
        except TimeoutError:
            if bookmarks and loop.time() < deadline and not subscriber.frames:
                await response.write(bookmark_frame(subscriber.revision))
                last_sent = loop.time()


def _table_frames(resource: ResourceType, request: web.Request) -> Callable[[list[bytes]], list[bytes]]:
    """Return a converter of watch frames into frames carrying one-row Tables (``kubectl get -w``)."""

    def convert(frames: list[bytes]) -> list[bytes]:
        converted = []
        for frame in frames:
            event = orjson.loads(frame)
            obj = event["object"]
            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                version = obj.get("metadata", {}).get("resourceVersion", "")
                event["object"] = to_table(resource, [obj], version, request)
            converted.append(orjson.dumps(event) + b"\n")
        return converted

    return convert


def error_frame(code: int, reason: str, message: str) -> bytes:
    return b'{"type":"ERROR","object":' + orjson.dumps(status_body(code, reason, message)) + b"}\n"
