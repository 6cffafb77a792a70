"""The node's heartbeat: its Lease in kube-node-lease, renewed every few seconds.

The node lifecycle controller marks a node NotReady when its Lease is not
renewed within leaseDurationSeconds, so renewal runs on its own task and
never waits behind pod work. A renewal that loses a race (Conflict) or
finds the Lease deleted reads or recreates it on the next tick. Other
failures are logged and retried at the next tick, because one missed
renewal out of four is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pykube_control.agent.fake_status import lease_object, micro_time, utc_now
from pykube_control.client.api import APIClient
from pykube_control.client.errors import AlreadyExists, APIConnectionError, APIError, Conflict, NotFound
from pykube_control.client.resource import LEASES

log = logging.getLogger("pykube.agent")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_INTERVAL = 10.0
"""Seconds between renewals, the kubelet's default (a quarter of the lease duration)."""
LEASE_DURATION = 40
"""Seconds written as leaseDurationSeconds, the kubelet's default."""


class LeaseRenewer:
    """Create and renew the Lease named after ``node_name``; ``start`` once, ``stop`` to end renewal."""

    def __init__(
        self,
        client: APIClient,
        node_name: str,
        *,
        interval: float = LEASE_INTERVAL,
        duration: int = LEASE_DURATION,
        node_uid: str | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"lease interval must be > 0 seconds, got {interval}")
        self.client = client
        self.node_name = node_name
        self.interval = interval
        self.duration = duration
        self.node_uid = node_uid
        self.renewals = 0
        """Successful writes since start, for tests and metrics."""
        self._lease: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"lease-{self.node_name}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def renew(self) -> bool:
        """Write the Lease once, creating it when missing; return False when the write failed."""
        try:
            if self._lease is None:
                self._lease = await self._create_or_adopt()
            else:
                self._lease["spec"]["renewTime"] = micro_time(utc_now())
                self._lease = await self.client.update(LEASES, self._lease, namespace=LEASE_NAMESPACE)
        except (Conflict, NotFound) as error:
            log.info("node lease renewal failed, rereading node=%s error=%s", self.node_name, error)
            self._lease = None
            return False
        except (APIError, APIConnectionError) as error:
            log.warning("node lease renewal failed node=%s error=%s", self.node_name, error)
            return False
        self.renewals += 1
        return True

    async def _run(self) -> None:
        while True:
            await self.renew()
            await asyncio.sleep(self.interval)

    async def _create_or_adopt(self) -> dict[str, Any]:
        lease = lease_object(self.node_name, LEASE_NAMESPACE, self.duration)
        if self.node_uid:
            # Owned by the Node, so the garbage collector removes it with the Node, as a kubelet's is.
            lease["metadata"]["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": self.node_uid}
            ]
        try:
            return await self.client.create(LEASES, lease, namespace=LEASE_NAMESPACE)
        except AlreadyExists:
            current = await self.client.get(LEASES, self.node_name, namespace=LEASE_NAMESPACE)
            current["spec"] = lease["spec"]
            return await self.client.update(LEASES, current, namespace=LEASE_NAMESPACE)
