"""Leader election between real candidates on one API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.leader import LeaderElector
from pykube_control.client.resource import LEASES

WAIT = 15.0
LEASE = "controller-manager"


class Candidate:
    """An elector with short periods and events that report its leadership."""

    def __init__(self, client: APIClient, identity: str, *, release_on_stop: bool = True) -> None:
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.work_cancelled = asyncio.Event()
        self.elector = LeaderElector(
            client, name=LEASE, identity=identity, lease_duration=2.0, renew_deadline=1.0, retry_period=0.1,
            on_started=self._lead, on_stopped=self._stop, release_on_stop=release_on_stop,
        )  # fmt: skip

    async def _lead(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.work_cancelled.set()
            raise

    async def _stop(self) -> None:
        self.stopped.set()


@pytest.fixture
async def candidates(plain_client: APIClient) -> AsyncIterator[tuple[Candidate, Candidate]]:
    first = Candidate(plain_client, "first")
    second = Candidate(plain_client, "second")
    yield first, second
    await first.elector.stop()
    await second.elector.stop()


async def test_leader_one_at_a_time(plain_client: APIClient, candidates: tuple[Candidate, Candidate]) -> None:
    first, second = candidates
    first.elector.start()
    await asyncio.wait_for(first.started.wait(), WAIT)
    second.elector.start()
    await asyncio.sleep(0.5)
    assert not second.started.is_set()
    assert second.elector.leader == "first"

    lease = await plain_client.get(LEASES, LEASE, namespace="kube-system")
    assert lease["spec"]["holderIdentity"] == "first"
    assert lease["spec"]["leaseDurationSeconds"] == 2


async def test_leader_takeover_after_stop(plain_client: APIClient, candidates: tuple[Candidate, Candidate]) -> None:
    first, second = candidates
    first.elector.start()
    await asyncio.wait_for(first.started.wait(), WAIT)
    second.elector.start()
    await asyncio.sleep(0.3)

    await first.elector.stop()
    assert first.stopped.is_set()
    assert first.work_cancelled.is_set()
    await asyncio.wait_for(second.started.wait(), WAIT)

    lease = await plain_client.get(LEASES, LEASE, namespace="kube-system")
    assert lease["spec"]["holderIdentity"] == "second"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_leader_takeover_after_expiry(plain_client: APIClient) -> None:
    first = Candidate(plain_client, "first", release_on_stop=False)
    second = Candidate(plain_client, "second")
    first.elector.start()
    await asyncio.wait_for(first.started.wait(), WAIT)
    second.elector.start()
    await first.elector.stop()
    try:
        # Without a release the second candidate waits out the lease duration.
        await asyncio.wait_for(second.started.wait(), WAIT)
        assert second.elector.is_leader
        lease = await plain_client.get(LEASES, LEASE, namespace="kube-system")
    finally:
        await second.elector.stop()
    assert lease["spec"]["holderIdentity"] == "second"


async def test_leader_loses_lease(plain_client: APIClient) -> None:
    candidate = Candidate(plain_client, "first")
    task = candidate.elector.start()
    await asyncio.wait_for(candidate.started.wait(), WAIT)

    lease = await plain_client.get(LEASES, LEASE, namespace="kube-system")
    lease["spec"]["holderIdentity"] = "intruder"
    await plain_client.update(LEASES, lease)

    await asyncio.wait_for(task, WAIT)
    assert candidate.stopped.is_set()
    assert candidate.work_cancelled.is_set()
    assert not candidate.elector.is_leader


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        pytest.param((10.0, 10.0, 2.0), "lease_duration", id="lease not longer than deadline"),
        pytest.param((15.0, 2.0, 2.0), "renew_deadline", id="deadline not longer than retry"),
    ],
)
def test_leader_invalid_durations(durations: tuple[float, float, float], expected: str) -> None:
    lease, deadline, retry = durations
    client = APIClient(ClientConfig.for_url("http://127.0.0.1:1"))
    with pytest.raises(ValueError, match=expected):
        LeaderElector(client, name="x", identity="me", lease_duration=lease, renew_deadline=deadline, retry_period=retry)
