"""Leader election on a coordination.k8s.io/v1 Lease, like client-go's leaderelection package.

Candidates race to write their identity into one Lease. The holder renews
``spec.renewTime`` every ``retry_period``. A candidate takes the Lease over
only when it has seen the same Lease record, unchanged, for
``lease_duration`` seconds of its own monotonic clock, so clock skew between
machines does not matter. Writes carry the Lease's resourceVersion, so of
two candidates that race only one succeeds.

The leader gives up, and its ``run`` returns, when it cannot renew within
``renew_deadline``. Because ``renew_deadline`` is shorter than
``lease_duration``, it stops acting before another candidate may take
over. On a clean stop (``stop``, or cancelling ``run``) the leader releases
the Lease by clearing the holder, so a successor starts at once instead of
waiting for expiry.

Differences from client-go: there is no OnNewLeader callback, and the
observed holder is exposed as ``leader`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.clock import Clock, LoopClock
from pykube_control.client.errors import AlreadyExists, APIConnectionError, APIError, Conflict, NotFound
from pykube_control.client.resource import LEASES

log = logging.getLogger("pykube.client")

LEASE_DURATION = 15.0
"""Seconds a candidate waits, after the Lease last changed, before taking it over."""
RENEW_DEADLINE = 10.0
"""Seconds the leader keeps retrying a failed renewal before it gives up leadership."""
RETRY_PERIOD = 2.0
"""Seconds between attempts to acquire or renew."""
JITTER = 0.2
"""Acquire attempts wait up to this fraction of ``retry_period`` longer, so candidates spread out."""

Callback = Callable[[], Awaitable[None]]
Lease = dict[str, Any]


def micro_time(moment: datetime.datetime) -> str:
    """Format a time as a Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One candidate for the Lease ``namespace``/``name``; see the module docstring."""

    def __init__(
        self,
        client: APIClient,
        *,
        name: str,
        identity: str,
        namespace: str = "kube-system",
        lease_duration: float = LEASE_DURATION,
        renew_deadline: float = RENEW_DEADLINE,
        retry_period: float = RETRY_PERIOD,
        on_started: Callback | None = None,
        on_stopped: Callback | None = None,
        release_on_stop: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if not identity:
            raise ValueError("leader election identity is empty; use a unique name such as the host name")
        if lease_duration <= renew_deadline:
            raise ValueError(f"lease_duration ({lease_duration} s) must be greater than renew_deadline ({renew_deadline} s)")
        if renew_deadline <= retry_period * (1 + JITTER):
            raise ValueError(
                f"renew_deadline ({renew_deadline} s) must be greater than retry_period ({retry_period} s) "
                f"times {1 + JITTER}"
            )
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.on_started = on_started
        self.on_stopped = on_stopped
        self.release_on_stop = release_on_stop
        self._clock: Clock = clock or LoopClock()
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._leading = False
        self._task: asyncio.Task[None] | None = None
        self.leader: str | None = None
        """The holder identity last read from the Lease; None before the first read or when free."""

    @property
    def is_leader(self) -> bool:
        return self._leading

    def start(self) -> asyncio.Task[None]:
        """Run the elector in a task of the running loop."""
        self._task = asyncio.create_task(self.run(), name=f"leader-election-{self.name}")
        return self._task

    async def stop(self) -> None:
        """Stop campaigning or leading; a leader releases the Lease (with ``release_on_stop``)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def run(self) -> None:
        """Acquire the Lease, call ``on_started``, renew until lost or cancelled, then call ``on_stopped``.

        ``on_started`` runs as its own task and is cancelled when leadership
        ends. ``run`` returns when the Lease is lost.
        """
        lease_ref = f"{self.namespace}/{self.name}"
        log.info("leader election started lease=%s identity=%s", lease_ref, self.identity)
        await self._acquire()
        self._leading = True
        log.info("leader elected lease=%s identity=%s", lease_ref, self.identity)
        leading: asyncio.Future[None] | None = None
        if self.on_started is not None:
            leading = asyncio.ensure_future(self.on_started())
        lost = False
        try:
            await self._renew_until_lost()
            lost = True
            log.warning("leader lost the lease lease=%s identity=%s", lease_ref, self.identity)
        finally:
            self._leading = False
            if leading is not None:
                leading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await leading
            if not lost and self.release_on_stop:
                await self._release()
            if self.on_stopped is not None:
                await self.on_stopped()
            log.info("leader election stopped lease=%s identity=%s", lease_ref, self.identity)

    async def _acquire(self) -> None:
        while not await self._try_acquire_or_renew():
            await self._clock.sleep(self.retry_period * (1 + random.uniform(0, JITTER)))

    async def _renew_until_lost(self) -> None:
        while True:
            await self._clock.sleep(self.retry_period)
            deadline = self._clock.now() + self.renew_deadline
            while True:
                remaining = deadline - self._clock.now()
                if remaining <= 0:
                    return
                try:
                    if await asyncio.wait_for(self._try_acquire_or_renew(), remaining):
                        break
                except asyncio.TimeoutError:
                    return
                await self._clock.sleep(min(self.retry_period, max(0.0, deadline - self._clock.now())))

    # --- one attempt ---------------------------------------------------------------------------

    async def _try_acquire_or_renew(self) -> bool:
        """Make one attempt to take or renew the Lease; return True when this candidate holds it now."""
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            lease = await self.client.get(LEASES, self.name, namespace=self.namespace)
        except NotFound:
            return await self._create(now)
        except (APIError, APIConnectionError) as error:
            log.warning("leader election read failed lease=%s/%s error=%s", self.namespace, self.name, error)
            return False

        spec = lease.setdefault("spec", {})
        holder = spec.get("holderIdentity") or ""
        self._observe(spec)
        duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)
        if holder and holder != self.identity and self._observed_at + duration > self._clock.now():
            return False

        if holder != self.identity:
            spec["acquireTime"] = micro_time(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = self._duration_seconds()
        spec["renewTime"] = micro_time(now)
        try:
            updated = await self.client.update(LEASES, lease, namespace=self.namespace)
        except Conflict:
            return False
        except (APIError, APIConnectionError) as error:
            log.warning("leader election write failed lease=%s/%s error=%s", self.namespace, self.name, error)
            return False
        self._observe(updated.get("spec") or {})
        return True

    async def _create(self, now: datetime.datetime) -> bool:
        lease: Lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self._duration_seconds(),
                "acquireTime": micro_time(now),
                "renewTime": micro_time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            created = await self.client.create(LEASES, lease, namespace=self.namespace)
        except (AlreadyExists, Conflict):
            return False
        except (APIError, APIConnectionError) as error:
            log.warning("leader election create failed lease=%s/%s error=%s", self.namespace, self.name, error)
            return False
        self._observe(created.get("spec") or {})
        return True

    async def _release(self) -> None:
        """Clear the holder if it is still this candidate; errors are logged, since the Lease expires anyway."""
        try:
            lease = await self.client.get(LEASES, self.name, namespace=self.namespace)
            spec = lease.setdefault("spec", {})
            if spec.get("holderIdentity") != self.identity:
                return
            now = micro_time(datetime.datetime.now(datetime.timezone.utc))
            spec.update({"holderIdentity": None, "leaseDurationSeconds": 1, "acquireTime": now, "renewTime": now})
            await self.client.update(LEASES, lease, namespace=self.namespace)
            log.info("leader released the lease lease=%s/%s identity=%s", self.namespace, self.name, self.identity)
        except (APIError, APIConnectionError) as error:
            log.warning("leader release failed lease=%s/%s error=%s", self.namespace, self.name, error)

    def _observe(self, spec: dict[str, Any]) -> None:
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"),
                  spec.get("leaseTransitions"), spec.get("leaseDurationSeconds"))  # fmt: skip
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = self._clock.now()
        holder = spec.get("holderIdentity") or None
        if holder != self.leader:
            log.info("leader observed lease=%s/%s holder=%s", self.namespace, self.name, holder)
            self.leader = holder

    def _duration_seconds(self) -> int:
        # leaseDurationSeconds is an integer field; round up so others never wait too little.
        return max(1, math.ceil(self.lease_duration))
