"""The machine checks of `pykube up`: each problem names what is wrong and the fix."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pykube_control.cli.up_preflight import Machine, check_port, run_checks


def fake_machine(tmp_path: Path, *, forward: str = "1", bridge: str | None = "1", euid: int = 0,
                 missing: frozenset[str] = frozenset(), cgroup_v1: bool = True) -> Machine:  # fmt: skip
    proc = tmp_path / "proc"
    (proc / "net/ipv4").mkdir(parents=True)
    (proc / "net/ipv4/ip_forward").write_text(forward + "\n")
    if bridge is not None:
        (proc / "net/bridge").mkdir(parents=True)
        (proc / "net/bridge/bridge-nf-call-iptables").write_text(bridge + "\n")
    (proc / "fs/inotify").mkdir(parents=True)
    (proc / "fs/inotify/max_user_instances").write_text("8192\n")
    (proc / "fs/inotify/max_user_watches").write_text("524288\n")
    cgroup = tmp_path / "cgroup"
    cgroup.mkdir()
    if cgroup_v1:
        (cgroup / "memory").mkdir()
        (cgroup / "cpu").mkdir()
    else:
        (cgroup / "cgroup.controllers").write_text("cpuset io pids\n")

    def which(tool: str) -> str | None:
        return None if tool in missing else f"/usr/bin/{tool}"

    return Machine(proc_sys=proc, cgroup_root=cgroup, euid=euid, which=which)


def whats(machine: Machine) -> list[str]:
    return [p.what for p in run_checks(machine, real_node=True, ports=())]


def test_ready_machine(tmp_path: Path) -> None:
    assert whats(fake_machine(tmp_path)) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"euid": 1000}, "needs root", id="not-root"),
        pytest.param({"forward": "0"}, "net.ipv4.ip_forward is 0", id="forwarding"),
        pytest.param({"bridge": None}, "br_netfilter module is not loaded", id="no-br-netfilter"),
        pytest.param({"bridge": "0"}, "bridge-nf-call-iptables is 0", id="bridge-nf-off"),
        pytest.param({"missing": frozenset({"runc", "nft"})}, "missing OS packages: nftables, runc", id="packages"),
        pytest.param({"cgroup_v1": False}, "lacks the cpu or memory controller", id="cgroup"),
    ],
)
def test_problem(tmp_path: Path, kwargs: dict[str, object], expected: str) -> None:
    found = whats(fake_machine(tmp_path, **kwargs))  # type: ignore[arg-type]
    assert any(expected in what for what in found), found


def test_fix_for_packages_is_one_apt_line(tmp_path: Path) -> None:
    machine = fake_machine(tmp_path, missing=frozenset({"containerd", "ctr"}))
    fixes = [p.fix for p in run_checks(machine, real_node=True, ports=())]
    assert fixes == ["apt-get install -y containerd"]


def test_fake_runtime_skips_node_checks(tmp_path: Path) -> None:
    machine = fake_machine(tmp_path, forward="0", euid=1000)
    assert run_checks(machine, real_node=False, ports=()) == []


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        problem = check_port("127.0.0.1", port)
    assert problem is not None and f"port {port} on 127.0.0.1 is in use" in problem.what
