"""HTTP transport to the API server: one aiohttp session, authentication and retries.

All requests of one ``APIClient`` share one ``aiohttp.ClientSession`` and
so one connection pool, created on first use inside the running loop.

Retry policy, with exponential back-off and the server's Retry-After when
it is longer:

- a connection that could not be opened is retried for every method,
  because the request never reached the server;
- a connection error after sending, a client-side timeout, and the status
  codes 429, 503 and 504 are retried only for the idempotent methods of RFC 9110
  (GET, HEAD, PUT, DELETE, OPTIONS).

NOTE: a retried PUT or DELETE whose first attempt took effect before the
connection broke fails the second time with Conflict or NotFound, as it
does with client-go.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from pykube_control.client.errors import APIConnectionError, APIError, error_from_status, status_from_text
from pykube_control.client.keepalive import ConnectionNotUsed, KeepAlivePool
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.tls import ssl_context

log = logging.getLogger("pykube.client")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 503, 504})

REQUEST_TIMEOUT = 30.0
"""Seconds one attempt of a request other than a watch may take, connecting included.
Controllers need a bound so a stuck request cannot stall a worker forever."""
CONNECT_TIMEOUT = 10.0
"""Seconds to open a connection, TLS handshake included."""
POOL_SIZE = 100
"""Maximum open connections per client; each running watch keeps one open."""
USER_AGENT = "pykube-client/0.1"
WATCH_GRACE = 30.0
"""Seconds a watch with timeoutSeconds may run past it before the client gives up on the stream."""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    """Tries in total, the first included; 1 disables retries."""
    initial_delay: float = 0.2
    """Seconds before the second try; doubles for each later one, with up to 10 % jitter."""
    max_delay: float = 5.0
    """Seconds; the cap of one delay, also applied to Retry-After."""

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the seconds to wait after failed try number ``attempt`` (1-based)."""
        backoff = min(self.max_delay, self.initial_delay * 2.0 ** (attempt - 1))
        backoff *= 1.0 + random.uniform(0.0, 0.1)
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, self.max_delay))
        return backoff


Params = Mapping[str, str]


class Transport:
    """Sends requests to ``config.server`` and turns failure responses into ``APIError``."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        pool_size: int = POOL_SIZE,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._pool_size = pool_size
        self._retry = retry
        self._sleep = sleep
        self._ssl = ssl_context(config)
        self._session: aiohttp.ClientSession | None = None
        self._keepalive: KeepAlivePool | None = None
        self._file_token: tuple[float, str] | None = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size, ssl=self._ssl if self._ssl is not None else False)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._request_timeout, connect=self._connect_timeout),
                json_serialize=lambda value: orjson.dumps(value).decode(),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._keepalive is not None:
            await self._keepalive.close()
            self._keepalive = None

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {}
        token = self._token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _token(self) -> str | None:
        path = self.config.token_file
        if path is None:
            return self.config.token
        try:
            modified = path.stat().st_mtime
            if self._file_token is None or self._file_token[0] != modified:
                self._file_token = (modified, path.read_text(encoding="utf-8").strip())
        except OSError as error:
            if self._file_token is None:
                raise APIConnectionError(f"token file {path} cannot be read ({error.strerror}); check tokenFile") from error
            log.warning("token file unreadable, using the last token path=%s error=%s", path, error.strerror)
        return self._file_token[1]

    async def request(
        self, method: str, path: str, *, params: Params | None = None, body: Any = None, content_type: str | None = None
    ) -> Any:
        """Send one request and return the decoded JSON body; raise APIError or APIConnectionError."""
        data = None if body is None else orjson.dumps(body)
        if data is not None and content_type is None:
            content_type = "application/json"
        raw = b""
        async with self._open(method, path, params, data, content_type, read_body=True) as response:
            raw = response.body
        return orjson.loads(raw) if raw else None

    async def request_small(self, method: str, path: str, body: Any) -> Any:
        """Send a request with a small JSON body through the KeepAlivePool; same results and errors as ``request``.

        It suits frequent writes whose cost is mostly the HTTP client's own,
        such as bindings. Connecting is retried as in ``request``; statuses
        429, 503 and 504 are retried only for idempotent methods.
        """
        data = orjson.dumps(body)
        if self._keepalive is None:
            self._keepalive = KeepAlivePool(self.config.server, self._ssl)
        attempt = 0
        while True:
            attempt += 1
            headers = self._headers("application/json")
            headers["Accept"] = "application/json"
            headers["User-Agent"] = USER_AGENT
            try:
                async with asyncio.timeout(self._request_timeout):
                    response = await self._keepalive.send(method, path, headers, data)
            except ConnectionNotUsed as error:
                if attempt >= self._retry.attempts:
                    raise APIConnectionError(
                        f"{method} {self.config.server}{path} failed after {attempt} attempt(s): {error}; "
                        "check that the API server is running and reachable"
                    ) from error
                delay = self._retry.delay(attempt)
                log.info("request retry method=%s path=%s attempt=%d delay=%.3f error=%s",
                         method, path, attempt, delay, error)  # fmt: skip
                await self._sleep(delay)
                continue
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as error:
                raise APIConnectionError(
                    f"{method} {self.config.server}{path} failed: {_describe(error)}; "
                    "the request may or may not have taken effect"
                ) from error
            if response.status < 400:
                return orjson.loads(response.body) if response.body else None
            failure = _failure(response.status, response.body)
            if response.status in RETRY_STATUSES and method in IDEMPOTENT_METHODS and attempt < self._retry.attempts:
                delay = self._retry.delay(attempt, _retry_after_header(response.headers.get("retry-after"), failure))
                log.info("request retry method=%s path=%s attempt=%d delay=%.3f status=%d",
                         method, path, attempt, delay, response.status)  # fmt: skip
                await self._sleep(delay)
                continue
            raise failure

    @contextlib.asynccontextmanager
    async def stream(self, path: str, params: Params, total_timeout: float | None) -> AsyncIterator[aiohttp.ClientResponse]:
        """Open a GET whose body the caller reads incrementally (a watch); ``total_timeout`` None waits forever."""
        timeout = aiohttp.ClientTimeout(total=total_timeout, connect=self._connect_timeout)
        async with self._open("GET", path, params, None, None, read_body=False, timeout=timeout) as response:
            yield response.response

    @contextlib.asynccontextmanager
    async def _open(
        self,
        method: str,
        path: str,
        params: Params | None,
        data: bytes | None,
        content_type: str | None,
        *,
        read_body: bool,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[_Exchange]:
        session = self._ensure_session()
        url = self.config.server + path
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await session.request(
                    method, url, params=params, data=data, headers=self._headers(content_type), timeout=timeout
                )
                try:
                    body = await response.read() if read_body or response.status >= 400 else b""
                except BaseException:
                    response.release()
                    raise
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError) as error:
                if not self._may_retry_error(method, error, attempt):
                    raise APIConnectionError(
                        f"{method} {url} failed after {attempt} attempt(s): {_describe(error)}; "
                        "check that the API server is running and reachable"
                    ) from error
                delay = self._retry.delay(attempt)
                log.info("request retry method=%s path=%s attempt=%d delay=%.3f error=%s",
                         method, path, attempt, delay, _describe(error))  # fmt: skip
                await self._sleep(delay)
                continue
            try:
                if response.status < 400:
                    yield _Exchange(response, body)
                    return
            finally:
                response.release()
            failure = _failure(response.status, body)
            if response.status in RETRY_STATUSES and method in IDEMPOTENT_METHODS and attempt < self._retry.attempts:
                delay = self._retry.delay(attempt, _retry_after(response, failure))
                log.info("request retry method=%s path=%s attempt=%d delay=%.3f status=%d",
                         method, path, attempt, delay, response.status)  # fmt: skip
                await self._sleep(delay)
                continue
            raise failure

    def _may_retry_error(self, method: str, error: BaseException, attempt: int) -> bool:
        if attempt >= self._retry.attempts:
            return False
        # The request was never sent, so any method is safe to send again.
        never_sent = isinstance(error, aiohttp.ClientConnectorError)
        return never_sent or method in IDEMPOTENT_METHODS


@dataclasses.dataclass(frozen=True, slots=True)
class _Exchange:
    response: aiohttp.ClientResponse
    body: bytes
    """The whole body when it was read before returning, else b"" (a stream)."""


def _failure(status: int, raw: bytes) -> APIError:
    try:
        decoded = orjson.loads(raw)
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and decoded.get("kind") == "Status":
        return error_from_status(decoded, status)
    return error_from_status(status_from_text(status, raw.decode("utf-8", errors="replace")))


def _retry_after(response: aiohttp.ClientResponse, failure: APIError) -> float | None:
    return _retry_after_header(response.headers.get("Retry-After"), failure)


def _retry_after_header(header: str | None, failure: APIError) -> float | None:
    if header is not None and header.strip().isdigit():
        return float(header)
    seconds = failure.retry_after_seconds
    return float(seconds) if seconds is not None else None


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
