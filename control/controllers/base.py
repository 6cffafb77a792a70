"""What every controller is given and must provide.

A controller is a level-triggered loop: informers tell it which objects
changed, it queues their keys, and workers reconcile each key from the
current state in the informers' caches, so a restart at any point
converges again. Controllers share one informer per resource
(``SharedInformers``), as kube-controller-manager's shared informer
factory does, so ten controllers watching pods cost one watch.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.informer import Informer
from pykube_control.client.resource import ResourceLike


class SharedInformers:
    """One informer per resource, created on first request and started together."""

    def __init__(self, client: APIClient, *, resync_period: float | None = None) -> None:
        self._client = client
        self._resync_period = resync_period
        self._informers: dict[tuple[str, str, str], Informer] = {}
        self._started = False

    def get(self, resource: ResourceLike) -> Informer:
        """Return the shared informer of ``resource``; request informers before ``start``."""
        key = (resource.group, resource.version, resource.plural)
        informer = self._informers.get(key)
        if informer is None:
            if self._started:
                raise RuntimeError(
                    f"informer for {resource.plural} requested after start; request it in the controller's constructor"
                )
            informer = Informer(self._client, resource, resync_period=self._resync_period)
            self._informers[key] = informer
        return informer

    def start(self) -> None:
        self._started = True
        for informer in self._informers.values():
            informer.start()

    async def wait_for_sync(self, timeout: float | None = None) -> bool:
        results = await asyncio.gather(*(i.wait_for_sync(timeout) for i in self._informers.values()))
        return all(results)

    async def stop(self) -> None:
        await asyncio.gather(*(i.stop() for i in self._informers.values()))


@dataclasses.dataclass
class ControllerContext:
    client: APIClient
    informers: SharedInformers
    recorder: Callable[[str], EventRecorder]
    """Returns the event recorder of a component name, such as "deployment-controller"."""
    cluster_signing_files: tuple[Path, Path] | None = None
    """The CA certificate and key files the csrsigning controller signs with; None disables signing."""


class Controller(Protocol):
    name: str
    """The controller's name in --controllers and logs, such as "deployment"."""

    async def run(self, workers: int) -> None:
        """Reconcile until cancelled; informers are synced when this is called."""
        ...


ControllerFactory = Callable[[ControllerContext], Controller]
"""Builds a controller; it must request its informers here, before they start."""

ControllerRunner = Callable[[int], Awaitable[None]]
