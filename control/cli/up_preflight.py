"""Check the machine before `pykube up` starts anything, and print exactly what to fix.

Each check returns None when the machine is fine or a Problem that names
what is wrong and the command that fixes it. The checks only read: they
never change a sysctl, load a module or install a package, so running
`pykube up --check` is always safe. Checks that only matter for the real
node agent (containerd, runc, cgroups, forwarding) are skipped with
``--runtime fake``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import socket
from collections.abc import Callable, Iterable
from pathlib import Path


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One failed check: what is wrong and how to fix it."""

    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}; fix: {self.fix}"


@dataclasses.dataclass(frozen=True, slots=True)
class Machine:
    """Paths and lookups the checks use, with the real machine's as defaults so tests can point elsewhere."""

    proc_sys: Path = Path("/proc/sys")
    cgroup_root: Path = Path("/sys/fs/cgroup")
    euid: int = dataclasses.field(default_factory=os.geteuid)
    which: Callable[[str], str | None] = shutil.which


REQUIRED_TOOLS = {
    "containerd": "containerd",
    "runc": "runc",
    "ctr": "containerd",
    "nft": "nftables",
    "ip": "iproute2",
    "conntrack": "conntrack",
}
"""Executables the real node needs, with the Debian package that provides each."""

MIN_INOTIFY_INSTANCES = 128
MIN_INOTIFY_WATCHES = 8192


def check_root(machine: Machine) -> Problem | None:
    if machine.euid == 0:
        return None
    return Problem("pykube up runs containers and configures networking, which needs root", "run it as root, for example with sudo")


def check_tools(machine: Machine) -> Problem | None:
    missing = sorted({package for tool, package in REQUIRED_TOOLS.items() if machine.which(tool) is None})
    if not missing:
        return None
    return Problem(f"missing OS packages: {', '.join(missing)}", f"apt-get install -y {' '.join(missing)}")


SYSTEM_DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")
"""Directory of Debian's python3-nftables module, from which pykube imports it when the venv lacks it."""


def check_nftables_module(machine: Machine) -> Problem | None:
    del machine
    if importlib.util.find_spec("nftables") is not None or (SYSTEM_DIST_PACKAGES / "nftables").is_dir():
        return None
    return Problem("the python3-nftables module is missing", "apt-get install -y python3-nftables")


def check_cgroups(machine: Machine) -> Problem | None:
    root = machine.cgroup_root
    if (root / "memory").is_dir() and (root / "cpu").is_dir():
        return None
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        available = controllers.read_text().split()
        if "memory" in available and "cpu" in available:
            return None
        return Problem(
            f"the cgroup v2 hierarchy lacks the cpu or memory controller (has: {' '.join(available) or 'none'})",
            "boot with systemd.unified_cgroup_hierarchy=1 and cgroup_enable=memory, or enable them in the parent cgroup",
        )
    return Problem(f"no cgroup hierarchy with cpu and memory controllers under {root}", "mount cgroup2 on /sys/fs/cgroup")


def check_ip_forward(machine: Machine) -> Problem | None:
    path = machine.proc_sys / "net/ipv4/ip_forward"
    if _read(path) == "1":
        return None
    return Problem(
        "net.ipv4.ip_forward is 0, so pods cannot reach Services or other nodes",
        "sysctl -w net.ipv4.ip_forward=1 (and add it to /etc/sysctl.d/ to keep it after a reboot)",
    )


def check_bridge_netfilter(machine: Machine) -> Problem | None:
    path = machine.proc_sys / "net/bridge/bridge-nf-call-iptables"
    if _read(path) == "1":
        return None
    if not path.exists():
        return Problem(
            "the br_netfilter module is not loaded, so a pod cannot reach a Service backed by a pod on the same bridge",
            "modprobe br_netfilter && sysctl -w net.bridge.bridge-nf-call-iptables=1",
        )
    return Problem(
        "net.bridge.bridge-nf-call-iptables is 0, so a pod cannot reach a Service backed by a pod on the same bridge",
        "sysctl -w net.bridge.bridge-nf-call-iptables=1",
    )


def check_inotify(machine: Machine) -> Problem | None:
    instances = _read_int(machine.proc_sys / "fs/inotify/max_user_instances")
    watches = _read_int(machine.proc_sys / "fs/inotify/max_user_watches")
    if instances is not None and instances < MIN_INOTIFY_INSTANCES:
        return Problem(
            f"fs.inotify.max_user_instances is {instances}, below {MIN_INOTIFY_INSTANCES}",
            f"sysctl -w fs.inotify.max_user_instances={MIN_INOTIFY_INSTANCES}",
        )
    if watches is not None and watches < MIN_INOTIFY_WATCHES:
        return Problem(
            f"fs.inotify.max_user_watches is {watches}, below {MIN_INOTIFY_WATCHES}",
            f"sysctl -w fs.inotify.max_user_watches={MIN_INOTIFY_WATCHES}",
        )
    return None


def check_port(host: str, port: int) -> Problem | None:
    """Return a Problem when ``host:port`` is taken by another process."""
    if port == 0:
        return None
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return Problem(
                f"port {port} on {host} is in use ({exc.strerror})",
                f"stop what listens there (ss -ltnp 'sport = :{port}') or pass --port with a free port",
            )
    return None


NODE_CHECKS: tuple[Callable[[Machine], Problem | None], ...] = (
    check_tools,
    check_nftables_module,
    check_cgroups,
    check_ip_forward,
    check_bridge_netfilter,
    check_inotify,
)
"""Checks that only matter when this machine runs real pods."""


def run_checks(machine: Machine, *, real_node: bool, ports: Iterable[tuple[str, int]]) -> list[Problem]:
    """Run every check that applies and return the problems found, in a stable order."""
    problems = [p for p in (check_root(machine),) if real_node and p is not None]
    if real_node:
        problems.extend(p for check in NODE_CHECKS if (p := check(machine)) is not None)
    problems.extend(p for host, port in ports if (p := check_port(host, port)) is not None)
    return problems


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None
