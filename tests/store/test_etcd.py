"""The conformance suite and etcd-specific behaviour of the etcd store, on real etcd.

TestEtcdSingle runs the suite on one member. TestEtcdCluster runs it on
three members and SIGKILLs the leader before the middle test of the class,
so the second half runs against the two survivors while every store still
lists all three endpoints. Each test gets its own store with its own
``key_prefix``. The module tests cover what the suite cannot: a watch
resumed on another member, reads retried across a leader election, the
timeout on unreachable endpoints and key_prefix isolation.

Everything skips, naming the package to install, when the etcd binary is
missing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from pykube_control.store.errors import CompactedError, KeyNotFoundError, StoreUnavailableError
from pykube_control.store.etcd import EtcdStore
from pykube_control.store.etcd_client import channel_target
from pykube_control.store.etcd_keys import prefix_range_end
from pykube_control.store.interface import EventType, Watch
from tests.store.conformance import StoreConformance, next_events, unique_prefix
from tests.store.etcd_server import EtcdCluster, EtcdMember, etcd_cluster, free_ports

pytestmark = pytest.mark.etcd

STORE_TIMEOUT = 10.0
"""Seconds per store call; long enough to outlast a leader election."""


def new_store(endpoints: list[str], *, timeout: float = STORE_TIMEOUT) -> EtcdStore:
    """Return a store under a key_prefix that no other test uses."""
    return EtcdStore(endpoints, timeout=timeout, key_prefix=f"/pykube-test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="module")
def etcd_single() -> Iterator[EtcdCluster]:
    with etcd_cluster(1) as cluster:
        yield cluster


@pytest.fixture
async def store(endpoints: list[str]) -> AsyncIterator[EtcdStore]:
    etcd_store = new_store(endpoints)
    try:
        yield etcd_store
    finally:
        await etcd_store.close()


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


class TestEtcdSingle(StoreConformance):
    @pytest.fixture
    def endpoints(self, etcd_single: EtcdCluster) -> list[str]:
        return etcd_single.endpoints


class LeaderKill:
    """Kills the leader of ``cluster`` before test number ``total // 2`` of a class."""

    def __init__(self, cluster: EtcdCluster, total: int) -> None:
        self.cluster = cluster
        self.total = total
        self.started = 0
        self.killed: EtcdMember | None = None

    def before_test(self) -> None:
        if self.killed is None and self.started >= self.total // 2:
            self.killed = self.cluster.kill(self.cluster.leader_index())
            logging.getLogger("pykube.test").info(
                "killed etcd leader member=%s after_tests=%d", self.killed.name, self.started
            )
            # The survivors elect a new leader within about a second. Writes
            # sent before that may time out with an unknown outcome, which
            # no store can hide, so the next test starts after the election.
            self.cluster.wait_healthy()
        self.started += 1


@pytest.fixture(scope="class")
def leader_kill(request: pytest.FixtureRequest) -> Iterator[LeaderKill]:
    total = sum(1 for item in request.session.items if getattr(item, "cls", None) is request.cls)
    with etcd_cluster(3) as cluster:
        yield LeaderKill(cluster, total)


@pytest.mark.slow
class TestEtcdCluster(StoreConformance):
    @pytest.fixture
    def endpoints(self, leader_kill: LeaderKill) -> list[str]:
        leader_kill.before_test()
        return leader_kill.cluster.endpoints


# --- watch and reads across a killed member --------------------------------


async def receive_revisions(watch: Watch, count: int) -> list[int]:
    return [event.revision for event in await next_events(watch, count)]


@pytest.mark.slow
async def test_watch_resumes_after_member_killed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pykube.store.etcd")
    with etcd_cluster(3) as cluster:
        store = new_store(cluster.endpoints)
        prefix = unique_prefix()
        watches: list[Watch] = []
        try:
            # Round robin sends consecutive streams to consecutive members, so
            # six watches put two on every member, whichever one is killed.
            for _ in range(6):
                await store.current_revision()
            watches = [store.watch(prefix) for _ in range(6)]
            before = [await store.create(f"{prefix}before{i}", b"v") for i in range(5)]
            received_before = [await receive_revisions(watch, 5) for watch in watches]

            cluster.kill(cluster.leader_index())
            read_during_election = await store.get(before[0].key)
            cluster.wait_healthy()
            after = [await store.create(f"{prefix}after{i}", b"v") for i in range(5)]
            received_after = [await receive_revisions(watch, 5) for watch in watches]
        finally:
            for watch in watches:
                await watch.close()
            await store.close()

    expected_before = [kv.mod_revision for kv in before]
    expected_after = [kv.mod_revision for kv in after]
    assert read_during_election == before[0]
    for revisions in received_before:
        assert revisions == expected_before
    for revisions in received_after:
        assert revisions == expected_after
    resumed = [record for record in caplog.records if "resuming" in record.getMessage()]
    assert resumed, "no watch stream broke, so the resume path did not run"


# --- timeouts and unreachable endpoints -------------------------------------


@pytest.fixture
def dead_endpoint() -> str:
    """A loopback endpoint where nothing listens."""
    return f"127.0.0.1:{free_ports(1)[0]}"


async def test_unreachable_read_times_out(dead_endpoint: str) -> None:
    store = EtcdStore([dead_endpoint], timeout=0.5)
    try:
        with pytest.raises(StoreUnavailableError, match=dead_endpoint):
            await store.get("/a")
    finally:
        await store.close()


async def test_unreachable_write_times_out(dead_endpoint: str) -> None:
    store = EtcdStore([dead_endpoint], timeout=0.5)
    try:
        with pytest.raises(StoreUnavailableError, match="may or may not have been applied"):
            await store.create("/a", b"1")
    finally:
        await store.close()


@pytest.mark.parametrize(
    "after_revision",
    [pytest.param(None, id="from now"), pytest.param(5, id="from revision")],
)
async def test_unreachable_watch_raises(dead_endpoint: str, after_revision: int | None) -> None:
    store = EtcdStore([dead_endpoint], timeout=0.5)
    watch = store.watch("/a/", after_revision=after_revision)
    try:
        with pytest.raises(StoreUnavailableError, match=dead_endpoint):
            await watch.__anext__()
    finally:
        await watch.close()
        await store.close()


async def test_closed_store_rejects_calls(etcd_single: EtcdCluster) -> None:
    store = new_store(etcd_single.endpoints)
    await store.current_revision()
    await store.close()
    await store.close()
    with pytest.raises(StoreUnavailableError, match="closed"):
        await store.get("/a")
    with pytest.raises(StoreUnavailableError, match="closed"):
        store.watch("/a/")


async def test_close_ends_open_watches(etcd_single: EtcdCluster) -> None:
    store = new_store(etcd_single.endpoints)
    watch = store.watch("/a/")
    await store.close()
    with pytest.raises(StopAsyncIteration):
        await watch.__anext__()


# --- key_prefix ---------------------------------------------------------------


async def test_key_prefix_isolates_stores(etcd_single: EtcdCluster) -> None:
    shared = f"/pykube-test-{uuid.uuid4().hex[:12]}"
    first = EtcdStore(etcd_single.endpoints, key_prefix=shared + "/one")
    second = EtcdStore(etcd_single.endpoints, key_prefix=shared + "/two")
    raw = EtcdStore(etcd_single.endpoints)
    watch = second.watch("/")
    try:
        await first.create("/k", b"first")
        second_kv = await second.create("/k", b"second")
        event = await next_events(watch, 1)

        first_keys = [(kv.key, kv.value) for kv in (await first.list("/")).items]
        second_keys = [(kv.key, kv.value) for kv in (await second.list("/")).items]
        raw_keys = [kv.key for kv in (await raw.list(shared + "/")).items]
    finally:
        await watch.close()
        for store in (first, second, raw):
            await store.close()

    assert first_keys == [("/k", b"first")]
    assert second_keys == [("/k", b"second")]
    assert raw_keys == [shared + "/one/k", shared + "/two/k"]
    assert event[0].key == "/k"
    assert event[0].revision == second_kv.mod_revision


# --- etcd specifics -------------------------------------------------------------


async def test_compacted_error_names_compaction_point(etcd_single: EtcdCluster) -> None:
    store = new_store(etcd_single.endpoints)
    try:
        first = await store.create("/c/a", b"1")
        await store.update("/c/a", b"2", expected_revision=first.mod_revision)
        point = await store.current_revision()
        await store.compact(point)
        with pytest.raises(CompactedError) as info:
            await store.get("/c/a", revision=first.mod_revision)
    finally:
        await store.close()
    assert info.value.requested == first.mod_revision
    assert info.value.compacted == point


async def test_delete_event_carries_create_revision(etcd_single: EtcdCluster) -> None:
    store = new_store(etcd_single.endpoints)
    watch = store.watch("/d/")
    try:
        created = await store.create("/d/a", b"1")
        deleted = await store.delete("/d/a")
        events = await next_events(watch, 2)
    finally:
        await watch.close()
        await store.close()
    assert events[1].type == EventType.DELETE
    assert events[1].revision == deleted.revision
    assert events[1].create_revision == created.create_revision


async def test_update_expected_zero_does_not_create(etcd_single: EtcdCluster) -> None:
    store = new_store(etcd_single.endpoints)
    try:
        with pytest.raises(KeyNotFoundError):
            await store.update("/z/a", b"1", expected_revision=0)
        missing = await store.list("/z/")
    finally:
        await store.close()
    assert missing.items == []


# --- endpoints and key ranges, no etcd needed -------------------------------------


@pytest.mark.parametrize(
    ("endpoints", "target"),
    [
        pytest.param(["127.0.0.1:2379"], "ipv4:127.0.0.1:2379", id="one ipv4"),
        pytest.param(["127.0.0.1:2379", "127.0.0.2:22379"], "ipv4:127.0.0.1:2379,127.0.0.2:22379", id="two ipv4"),
        pytest.param(["http://127.0.0.1:2379/"], "ipv4:127.0.0.1:2379", id="http url"),
        pytest.param(["[::1]:2379", "[::1]:2380"], "ipv6:[::1]:2379,[::1]:2380", id="ipv6"),
        pytest.param(["localhost:2379"], "dns:///localhost:2379", id="host name"),
    ],
)
def test_channel_target(endpoints: list[str], target: str) -> None:
    assert channel_target(endpoints) == target


@pytest.mark.parametrize(
    "endpoints",
    [
        pytest.param([], id="empty"),
        pytest.param("127.0.0.1:2379", id="bare string"),
        pytest.param(["127.0.0.1"], id="no port"),
        pytest.param(["127.0.0.1:99999"], id="port out of range"),
        pytest.param(["https://127.0.0.1:2379"], id="tls"),
        pytest.param(["127.0.0.1:2379", "[::1]:2379"], id="mixed families"),
        pytest.param(["a.example:2379", "b.example:2379"], id="two host names"),
    ],
)
def test_channel_target_rejects(endpoints: list[str]) -> None:
    with pytest.raises(ValueError):
        channel_target(endpoints)


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        pytest.param(b"/a/", b"/a0", id="slash"),
        pytest.param(b"/", b"0", id="root"),
        pytest.param(b"a\xff", b"b", id="trailing 0xff"),
        pytest.param(b"\xff\xff", b"\0", id="only 0xff"),
    ],
)
def test_prefix_range_end(prefix: bytes, end: bytes) -> None:
    assert prefix_range_end(prefix) == end
