"""IPAM: round-robin allocation, reserved addresses, release, reconcile, and the file lock across processes."""

from __future__ import annotations

import os
import subprocess
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from pykube_control.cni.errors import CNIError
from pykube_control.cni.ipam import IPAM


def make_ipam(tmp_path: Path, subnet: str = "10.250.1.0/29") -> IPAM:
    return IPAM(tmp_path / "pykube", IPv4Network(subnet))


def test_first_address(tmp_path: Path) -> None:
    assert make_ipam(tmp_path).allocate("c1", "eth0") == IPv4Address("10.250.1.2")


def test_reserved_addresses_skipped(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    addresses = {ipam.allocate(f"c{i}", "eth0") for i in range(ipam.size)}
    assert IPv4Address("10.250.1.0") not in addresses
    assert IPv4Address("10.250.1.1") not in addresses
    assert IPv4Address("10.250.1.7") not in addresses
    assert len(addresses) == 5


def test_exhausted_range(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    for i in range(ipam.size):
        ipam.allocate(f"c{i}", "eth0")
    with pytest.raises(CNIError) as raised:
        ipam.allocate("one-too-many", "eth0")
    assert raised.value.code == 102
    assert "10.250.1.0/29" in raised.value.msg


def test_allocate_idempotent(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    first = ipam.allocate("c1", "eth0")
    assert ipam.allocate("c1", "eth0") == first
    assert len(ipam.allocations()) == 1


def test_round_robin_after_release(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    ipam.allocate("c1", "eth0")
    ipam.release("c1")
    # The freed .2 is reused only after the rest of the range.
    assert ipam.allocate("c2", "eth0") == IPv4Address("10.250.1.3")


def test_round_robin_wraps(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    for i in range(ipam.size):
        ipam.allocate(f"c{i}", "eth0")
    ipam.release("c1")
    assert ipam.allocate("new", "eth0") == IPv4Address("10.250.1.3")


def test_release_twice(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    address = ipam.allocate("c1", "eth0")
    assert ipam.release("c1") == [address]
    assert ipam.release("c1") == []


def test_release_one_interface(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    ipam.allocate("c1", "eth0")
    second = ipam.allocate("c1", "net1")
    ipam.release("c1", "eth0")
    assert [a.address for a in ipam.allocations()] == [second]


def test_allocation_records_pod(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    ipam.allocate("c1", "eth0", "default/web-0")
    (allocation,) = ipam.allocations()
    assert (allocation.container_id, allocation.ifname, allocation.pod) == ("c1", "eth0", "default/web-0")


def test_reconcile_frees_dead(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    for name in ("live", "dead1", "dead2"):
        ipam.allocate(name, "eth0")
    freed = ipam.reconcile(["live"], min_age=0)
    assert len(freed) == 2
    assert [a.container_id for a in ipam.allocations()] == ["live"]


def test_reconcile_keeps_young(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    ipam.allocate("adding", "eth0")
    assert ipam.reconcile([], min_age=3600) == []
    assert len(ipam.allocations()) == 1


def test_unreadable_file_stays_reserved(tmp_path: Path) -> None:
    ipam = make_ipam(tmp_path)
    ipam.allocate("c1", "eth0")
    (tmp_path / "pykube" / "10.250.1.3").write_text("{not json")
    assert ipam.allocate("c2", "eth0") == IPv4Address("10.250.1.4")
    assert IPv4Address("10.250.1.3") in ipam.reconcile(["c1", "c2"], min_age=0)


def test_crashes_never_exhaust_range(tmp_path: Path) -> None:
    # 300 pods in a /28 (13 addresses): every fourth one crashes without
    # DEL, and the agent's periodic reconcile frees what crashed.
    ipam = make_ipam(tmp_path, "10.250.1.0/28")
    for cycle in range(300):
        container = f"c{cycle}"
        ipam.allocate(container, "eth0")
        if cycle % 4 != 0:
            ipam.release(container)
        if cycle % 10 == 9:
            ipam.reconcile([container], min_age=0)
    ipam.reconcile([], min_age=0)
    assert ipam.allocations() == []


def test_lock_timeout(tmp_path: Path) -> None:
    ipam = IPAM(tmp_path / "pykube", IPv4Network("10.250.1.0/29"), lock_timeout=0.05)
    ipam.allocate("c1", "eth0")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print(flush=True); time.sleep(30)", str(tmp_path / "pykube" / "lock")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        with pytest.raises(CNIError) as raised:
            ipam.allocate("c2", "eth0")
        assert raised.value.code == 11
    finally:
        holder.kill()
        holder.wait()


ALLOCATE_IN_PROCESS = """
import sys
from ipaddress import IPv4Network
from pathlib import Path
from pykube_control.cni.ipam import IPAM
ipam = IPAM(Path(sys.argv[1]), IPv4Network("10.250.0.0/24"))
for i in range(5):
    print(ipam.allocate(f"{sys.argv[2]}-{i}", "eth0"), flush=True)
"""


def test_concurrent_processes_unique(tmp_path: Path) -> None:
    directory = tmp_path / "pykube"
    processes = [
        subprocess.Popen([sys.executable, "-c", ALLOCATE_IN_PROCESS, str(directory), f"p{n}"], stdout=subprocess.PIPE, text=True)
        for n in range(20)
    ]
    outputs = [p.communicate(timeout=60)[0].split() for p in processes]
    addresses = [address for output in outputs for address in output]
    assert all(p.returncode == 0 for p in processes)
    assert len(addresses) == 100
    assert len(set(addresses)) == 100
    assert os.path.exists(directory / "lock")
