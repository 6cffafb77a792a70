"""Running a set of controllers: shared informers, leader election, clean stop.

The manager builds every selected controller (which requests its
informers), starts the informers, waits until they have synced, then runs
each controller's workers. With leader election on, all of this happens
only while this process holds the kube-controller-manager Lease, and
losing the Lease stops every loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.leader import LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD, LeaderElector
from pykube_control.controllers import registry
from pykube_control.controllers.base import Controller, ControllerContext, SharedInformers

log = logging.getLogger("pykube.controllers")

SYNC_TIMEOUT = 60.0
"""Seconds to wait for the informers' first lists before giving up and exiting."""

LEASE_NAME = "kube-controller-manager"
LEASE_NAMESPACE = "kube-system"


async def run_controllers(
    client: APIClient,
    names: Sequence[str],
    *,
    workers: int = 5,
    resync_period: float | None = None,
    cluster_signing_files: tuple[Path, Path] | None = None,
) -> None:
    """Run the named controllers until cancelled; ``cluster_signing_files`` are the CA files csrsigning uses."""
    informers = SharedInformers(client, resync_period=resync_period)
    recorders: dict[str, EventRecorder] = {}

    def recorder(component: str) -> EventRecorder:
        if component not in recorders:
            recorders[component] = EventRecorder(client, component)
        return recorders[component]

    context = ControllerContext(
        client=client, informers=informers, recorder=recorder, cluster_signing_files=cluster_signing_files
    )
    controllers: list[Controller] = [registry.load(name)(context) for name in names]
    informers.start()
    try:
        if not await informers.wait_for_sync(SYNC_TIMEOUT):
            raise TimeoutError(f"informers did not sync within {SYNC_TIMEOUT:.0f} s; is the API server reachable?")
        log.info("controllers started names=%s workers=%d", ",".join(names), workers)
        await asyncio.gather(*(controller.run(workers) for controller in controllers))
    finally:
        await informers.stop()
        log.info("controllers stopped names=%s", ",".join(names))


async def run_with_leader_election(
    client: APIClient,
    names: Sequence[str],
    identity: str,
    *,
    workers: int = 5,
    resync_period: float | None = None,
    lease_duration: float = LEASE_DURATION,
    renew_deadline: float = RENEW_DEADLINE,
    retry_period: float = RETRY_PERIOD,
    cluster_signing_files: tuple[Path, Path] | None = None,
) -> None:
    """Run the controllers only while holding the controller manager's Lease.

    Returns when the Lease is lost, so the caller (the CLI) exits and a
    supervisor restarts it as a fresh candidate, as kube-controller-manager
    does. The three durations, in seconds, are LeaderElector's.
    """

    async def lead() -> None:
        await run_controllers(
            client, names, workers=workers, resync_period=resync_period, cluster_signing_files=cluster_signing_files
        )

    elector = LeaderElector(
        client,
        name=LEASE_NAME,
        identity=identity,
        namespace=LEASE_NAMESPACE,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=retry_period,
        on_started=lead,
    )
    await elector.run()
