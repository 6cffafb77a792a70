"""Run real etcd members on loopback for tests and benchmarks.

``start_etcd(size)`` starts a single member or a cluster of ``size`` members
from the etcd binary (Debian's etcd-server package), each on free 127.0.0.1
ports with its own temporary data directory, and returns once every member
reports a leader. ``EtcdCluster.kill`` SIGKILLs one member to simulate a
crash, and ``EtcdCluster.stop`` stops every member and removes the data
directories. ``etcd_cluster`` wraps both in a context manager so the
directories go away even when a test fails, and a finalizer stops members
that a crashed test run left behind.

Health checks use the Maintenance Status RPC over plain gRPC, the same
protocol the store uses, so a member counts as up only once it serves gRPC.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterator

import grpc
import pytest

from pykube_control.store.etcd_proto import rpc_pb2, rpc_pb2_grpc

ETCD_PACKAGE = "etcd-server"
"""Debian package that installs /usr/bin/etcd."""

START_TIMEOUT = 30.0
"""Seconds to wait for a new cluster to elect a leader. A new three-member
cluster took about 2 s on loopback, and the margin covers slow CI machines."""

STOP_GRACE = 2.0
"""Seconds the members get to exit after SIGTERM before SIGKILL. A member
whose peers are dead spent about 6 s (etcd 3.4) trying to hand over
leadership before it exited, which is pointless for a throwaway test cluster."""

HEARTBEAT_INTERVAL_MS = 50
ELECTION_TIMEOUT_MS = 500
"""Raft timing in milliseconds, a fifth of etcd's defaults (100 and 1000),
so a killed leader is replaced within about a second. Loopback round trips
are far below the heartbeat interval, so elections stay stable."""


def find_etcd_binary() -> str | None:
    """Return the etcd binary from PYKUBE_ETCD_BINARY, PATH or /usr/bin."""
    configured = os.environ.get("PYKUBE_ETCD_BINARY")
    if configured:
        return configured
    return shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)


def require_etcd_binary() -> str:
    """Return the etcd binary, or skip the calling test if it is missing."""
    binary = find_etcd_binary()
    if binary is None:
        pytest.skip(f"etcd binary not found; install Debian's {ETCD_PACKAGE} package or set PYKUBE_ETCD_BINARY")
    return binary


@dataclasses.dataclass
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: str
    log_path: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """The client endpoint as the store takes it ("127.0.0.1:port")."""
        return f"127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, max_bytes: int = 4000) -> str:
        """Return the end of the member's log, for error messages."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - max_bytes))
                return log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log {self.log_path} unreadable: {exc})"


class EtcdCluster:
    """Members started by ``start_etcd``; stop it with ``stop``."""

    def __init__(self, binary: str, base_dir: str, members: list[EtcdMember]) -> None:
        self.binary = binary
        self.base_dir = base_dir
        self.members = members
        self._finalizer = weakref.finalize(self, _stop_members, list(members), base_dir)

    @property
    def endpoints(self) -> list[str]:
        """Client endpoints of every member, running or killed."""
        return [member.endpoint for member in self.members]

    @property
    def running_endpoints(self) -> list[str]:
        return [member.endpoint for member in self.members if member.running]

    def kill(self, index: int) -> EtcdMember:
        """SIGKILL member ``index`` and wait until the process is gone."""
        member = self.members[index]
        if member.process is None or not member.running:
            raise RuntimeError(f"etcd member {member.name} is not running")
        member.process.send_signal(signal.SIGKILL)
        member.process.wait(timeout=10)
        return member

    def leader_index(self, timeout: float = START_TIMEOUT) -> int:
        """Return the index of the member that the running members agree leads."""
        deadline = time.monotonic() + timeout
        while True:
            leader_id = _agreed_leader(self.members)
            if leader_id is not None:
                for index, member in enumerate(self.members):
                    if member.running and _member_id(member) == leader_id:
                        return index
            if time.monotonic() > deadline:
                raise TimeoutError(f"etcd members {self.running_endpoints} did not agree on a leader within {timeout}s")
            time.sleep(0.05)

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until every running member reports the same live leader."""
        self.leader_index(timeout)

    def stop(self) -> None:
        """Stop every member and remove the data directories; idempotent."""
        self._finalizer()


def start_etcd(size: int = 1, *, base_dir: str | None = None) -> EtcdCluster:
    """Start ``size`` members on loopback and wait until they have a leader.

    ``base_dir`` is the parent of the temporary directory that contains the
    data directories and logs (default: the system temporary directory).
    Skips the calling test if the etcd binary is missing.
    """
    if size < 1:
        raise ValueError(f"cluster size must be at least 1, got {size}")
    binary = require_etcd_binary()
    root = tempfile.mkdtemp(prefix="pykube-etcd-", dir=base_dir)
    ports = free_ports(2 * size)
    members = [
        EtcdMember(
            name=f"m{index}",
            client_port=ports[2 * index],
            peer_port=ports[2 * index + 1],
            data_dir=os.path.join(root, f"m{index}.etcd"),
            log_path=os.path.join(root, f"m{index}.log"),
        )
        for index in range(size)
    ]
    cluster = EtcdCluster(binary, root, members)
    try:
        initial_cluster = ",".join(f"{member.name}={member.peer_url}" for member in members)
        token = f"pykube-test-{uuid.uuid4().hex[:12]}"
        for member in members:
            _spawn(binary, member, initial_cluster, token)
        cluster.wait_healthy()
    except BaseException as exc:
        logs = "\n".join(f"--- {member.name} ({member.log_path}) ---\n{member.log_tail()}" for member in members)
        cluster.stop()
        if isinstance(exc, Exception):
            raise RuntimeError(f"etcd cluster of {size} did not start: {exc}\n{logs}") from exc
        raise
    return cluster


@contextlib.contextmanager
def etcd_cluster(size: int = 1, *, base_dir: str | None = None) -> Iterator[EtcdCluster]:
    """Start a cluster for the ``with`` block and stop it afterwards, also on error."""
    cluster = start_etcd(size, base_dir=base_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


def _spawn(binary: str, member: EtcdMember, initial_cluster: str, token: str) -> None:
    client_url = f"http://{member.endpoint}"
    command = [
        binary,
        f"--name={member.name}",
        f"--data-dir={member.data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={member.peer_url}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        f"--initial-cluster={initial_cluster}",
        f"--initial-cluster-token={token}",
        "--initial-cluster-state=new",
        f"--heartbeat-interval={HEARTBEAT_INTERVAL_MS}",
        f"--election-timeout={ELECTION_TIMEOUT_MS}",
        "--logger=zap",
        "--log-outputs=stderr",
    ]
    with open(member.log_path, "wb") as log:
        # A new session keeps a Ctrl-C in the terminal away from etcd, so the
        # cleanup code, not the signal, decides when members stop.
        member.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop_members(members: list[EtcdMember], base_dir: str) -> None:
    for member in members:
        if member.process is not None and member.process.poll() is None:
            member.process.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for member in members:
        if member.process is None:
            continue
        try:
            member.process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            member.process.kill()
            member.process.wait(timeout=10)
    shutil.rmtree(base_dir, ignore_errors=True)


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that were free on 127.0.0.1.

    All sockets stay bound until every port is chosen, so the ports differ.
    Another process could still take a port before etcd binds it. That race
    is rare on a test machine, and etcd then fails to start with a clear log.
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _status(member: EtcdMember, timeout: float = 1.0) -> rpc_pb2.StatusResponse | None:
    """Return the member's Status, or None if it does not reply in time."""
    if not member.running:
        return None
    with grpc.insecure_channel(member.endpoint) as channel:
        stub = rpc_pb2_grpc.MaintenanceStub(channel)
        try:
            response: rpc_pb2.StatusResponse = stub.Status(rpc_pb2.StatusRequest(), timeout=timeout)
        except grpc.RpcError:
            return None
    return response


def _member_id(member: EtcdMember) -> int | None:
    status = _status(member)
    return None if status is None else int(status.header.member_id)


def _agreed_leader(members: list[EtcdMember]) -> int | None:
    """Return the leader id if every running member reports the same one."""
    leaders = set()
    for member in members:
        if not member.running:
            continue
        status = _status(member)
        if status is None or status.leader == 0:
            return None
        leaders.add(int(status.leader))
    if len(leaders) != 1:
        return None
    leader = leaders.pop()
    # A member may still name a killed leader until its election timeout.
    running_ids = {_member_id(member) for member in members if member.running}
    return leader if leader in running_ids else None
