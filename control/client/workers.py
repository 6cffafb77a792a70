"""Worker tasks that drain a work queue through a handler, retrying failures with back-off.

This is the loop every controller runs: take a key, call the handler, and
``forget`` the key on success. On an exception the key goes back through
``add_rate_limited``, so it is retried with its own growing delay. With
``max_retries`` a key is dropped, and logged as an error, after that many
failed retries. ``done`` is always called, so the key can be handed out
again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from pykube_control.client.errors import APIError, Conflict
from pykube_control.client.workqueue import QueueShutDown, WorkQueue

log = logging.getLogger("pykube.client")

K = TypeVar("K", bound=Hashable)


async def run_workers(
    queue: WorkQueue[K], workers: int, handler: Callable[[K], Awaitable[None]], *, max_retries: int | None = None
) -> None:
    """Run ``workers`` tasks over ``queue`` until it is shut down and empty; cancelling stops them all."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    log.info("workers started queue=%s workers=%d", queue.name, workers)
    try:
        await asyncio.gather(*(_work(queue, handler, max_retries) for _ in range(workers)))
    finally:
        log.info("workers stopped queue=%s", queue.name)


async def _work(queue: WorkQueue[K], handler: Callable[[K], Awaitable[None]], max_retries: int | None) -> None:
    while True:
        try:
            key = await queue.get()
        except QueueShutDown:
            return
        try:
            await _process(queue, handler, key, max_retries)
        finally:
            queue.done(key)


async def _process(
    queue: WorkQueue[K], handler: Callable[[K], Awaitable[None]], key: K, max_retries: int | None
) -> None:
    try:
        await handler(key)
    except Exception as error:
        retries = queue.num_requeues(key)
        if max_retries is not None and retries >= max_retries:
            log.error("work dropped after retries queue=%s key=%s retries=%d error=%s",
                      queue.name, key, retries, error, exc_info=True)  # fmt: skip
            queue.forget(key)
            return
        if isinstance(error, Conflict):
            # A write that lost to a newer version is routine under optimistic
            # concurrency: the retry reads fresh state, so no traceback.
            log.info("work conflicted, retrying queue=%s key=%s retries=%d error=%s",
                     queue.name, key, retries, error)  # fmt: skip
        else:
            # The API server's refusals (quota, validation, a missing object)
            # are explained by their message; only unexpected errors need the traceback.
            log.warning("work failed, retrying queue=%s key=%s retries=%d error=%s",
                        queue.name, key, retries, error, exc_info=not isinstance(error, APIError))  # fmt: skip
        queue.add_rate_limited(key)
        return
    queue.forget(key)
