"""Two controller managers on their Lease, and two schedulers on theirs: only the holder acts.

Each candidate runs in the test's event loop with a 2 s Lease, so a
stopped leader's successor takes over within seconds. A pod
informer records the uid of every pod ever created, so a second active
manager would show up as extra pods even if they were deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict, NotFound
from pykube_control.client.informer import Informer
from pykube_control.client.leader import LeaderElector
from pykube_control.client.resource import LEASES, PODS, REPLICA_SETS
from pykube_control.controllers.manager import LEASE_NAME, LEASE_NAMESPACE, run_with_leader_election
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.controllers.helpers import (  # noqa: F401 (api and server are fixtures)
    Object,
    api,
    eventually,
    list_pods,
    make_replica_set,
    patch_retrying,
    server,
)

LEASE_DURATION = 2.0
RENEW_DEADLINE = 1.5
RETRY_PERIOD = 0.3
LABELS = {"app": "web"}
SELECTOR = "app=web"


class PodCreations:
    """The uids of every pod created while it runs, deleted ones included."""

    def __init__(self, client: APIClient) -> None:
        self.uids: set[str] = set()
        self._informer = Informer(client, PODS)
        self._informer.add_handlers(on_add=self._added)

    async def _added(self, pod: Object) -> None:
        self.uids.add(str(pod["metadata"]["uid"]))

    async def __aenter__(self) -> PodCreations:
        self._informer.start()
        await self._informer.wait_for_sync(10.0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._informer.stop()


def start_manager(api: APIClient, identity: str) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_with_leader_election(
            api, ["replicaset"], identity, workers=2,
            lease_duration=LEASE_DURATION, renew_deadline=RENEW_DEADLINE, retry_period=RETRY_PERIOD,
        )
    )  # fmt: skip


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.asynccontextmanager
async def managers(api: APIClient, *identities: str) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    """Start one manager per identity, each after the first holds the Lease, and stop them all on exit."""
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        for identity in identities:
            tasks[identity] = start_manager(api, identity)
            if len(tasks) == 1:
                await eventually(lambda: holder_is(api, identity), f"{identity} holds the Lease")
        yield tasks
    finally:
        for task in tasks.values():
            await stop(task)


async def holder(api: APIClient, name: str = LEASE_NAME) -> str | None:
    """Return the Lease's holder; None while it is free or not created yet."""
    try:
        lease = await api.get(LEASES, name, namespace=LEASE_NAMESPACE)
    except NotFound:
        return None
    return (lease.get("spec") or {}).get("holderIdentity")


async def holder_is(api: APIClient, identity: str, name: str = LEASE_NAME) -> bool:
    return await holder(api, name) == identity


async def pod_count_is(api: APIClient, count: int) -> bool:
    return len(await list_pods(api, SELECTOR)) == count


async def take_lease(api: APIClient, identity: str) -> None:
    """Write ``identity`` as the holder for an hour, as another manager that won a race would."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for _ in range(20):
        lease = await api.get(LEASES, LEASE_NAME, namespace=LEASE_NAMESPACE)
        lease["spec"].update(holderIdentity=identity, leaseDurationSeconds=3600, renewTime=now, acquireTime=now)
        try:
            await api.update(LEASES, lease, namespace=LEASE_NAMESPACE)
            return
        except Conflict:
            await asyncio.sleep(0.05)
    raise AssertionError(f"Lease {LEASE_NAME} not taken by {identity} after 20 conflicts")


def started_count(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for record in caplog.records if record.getMessage().startswith("controllers started"))


async def test_only_leader_acts(api: APIClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pykube.controllers")
    async with PodCreations(api) as creations, managers(api, "manager-a", "manager-b") as tasks:
        await api.create(REPLICA_SETS, make_replica_set("web", 3, LABELS))
        await eventually(lambda: pod_count_is(api, 3), "3 pods exist")
        # Give the follower several retry periods in which it must not start.
        await asyncio.sleep(RETRY_PERIOD * 4)
        leader_before = await holder(api)
        started_before = started_count(caplog)
        uids_before = len(creations.uids)

        await stop(tasks["manager-a"])
        await eventually(lambda: holder_is(api, "manager-b"), "manager-b takes the Lease")
        await patch_retrying(api, REPLICA_SETS, "web", {"spec": {"replicas": 5}})
        await eventually(lambda: pod_count_is(api, 5), "manager-b scales to 5 pods")
        await asyncio.sleep(RETRY_PERIOD * 4)
        pods = await list_pods(api, SELECTOR)

    assert leader_before == "manager-a"
    assert started_before == 1
    assert uids_before == 3
    assert started_count(caplog) == 2
    assert len(pods) == 5
    assert len(creations.uids) == 5


async def test_lost_lease_stops_loops(api: APIClient) -> None:
    async with managers(api, "manager-a") as tasks:
        await api.create(REPLICA_SETS, make_replica_set("web", 2, LABELS))
        await eventually(lambda: pod_count_is(api, 2), "2 pods exist")

        await take_lease(api, "intruder")
        await asyncio.wait_for(asyncio.shield(tasks["manager-a"]), timeout=10.0)
        await patch_retrying(api, REPLICA_SETS, "web", {"spec": {"replicas": 4}})
        # No controller runs now, so the scale-up must stay unanswered.
        await asyncio.sleep(RETRY_PERIOD * 4)
        pods = await list_pods(api, SELECTOR)

    assert len(pods) == 2


async def test_scheduler_successor_binds(api: APIClient) -> None:
    nodes = FakeNodes(api, 2, prefix="sched-node-", lease_interval=1.0)
    electors = {
        identity: LeaderElector(
            api, name="kube-scheduler", identity=identity, namespace=LEASE_NAMESPACE,
            lease_duration=LEASE_DURATION, renew_deadline=RENEW_DEADLINE, retry_period=RETRY_PERIOD,
            on_started=SchedulerDaemon(api).run,
        )
        for identity in ("scheduler-a", "scheduler-b")
    }  # fmt: skip
    await nodes.start()
    try:
        electors["scheduler-a"].start()
        await eventually(lambda: holder_is(api, "scheduler-a", "kube-scheduler"), "scheduler-a holds the Lease")
        electors["scheduler-b"].start()
        await api.create(PODS, unbound_pod("first"))
        await eventually(lambda: is_bound(api, "first"), "pod first is bound")
        leaders_before = [identity for identity, elector in electors.items() if elector.is_leader]

        await electors["scheduler-a"].stop()
        await api.create(PODS, unbound_pod("second"))
        await eventually(lambda: is_bound(api, "second"), "pod second is bound by scheduler-b")
        leaders_after = [identity for identity, elector in electors.items() if elector.is_leader]
    finally:
        for elector in electors.values():
            await elector.stop()
        await nodes.stop()

    assert leaders_before == ["scheduler-a"]
    assert leaders_after == ["scheduler-b"]


def unbound_pod(name: str) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}], "terminationGracePeriodSeconds": 0},
    }


async def is_bound(api: APIClient, name: str) -> bool:
    pod = await api.get(PODS, name, namespace="default")
    return bool((pod.get("spec") or {}).get("nodeName"))
