"""A whole test node: a network namespace of its own, a containerd inside it, and images.

``node_env()`` is an async context manager that builds what a node agent
runs on, without touching the machine's root network namespace:

1. a network namespace ``pkn-<suffix>`` with loopback up and an
   interface carrying the node IP (or a veth into a peer namespace, for
   the two-node test, see ``link_nodes``);
2. a private containerd started through ``nsenter --net`` into that
   namespace, so the CNI plugin it runs creates the bridge and veths there
   and hostNetwork pods share that namespace;
3. the pause image and a busybox image imported.

Cleanup on exit runs even after a failure. It removes, in this order,
every sandbox of the containerd and containerd itself. Then it kills (by
pid) leftover processes of the node's cgroup parent and shims, and
removes the cgroup parent directories, mounts under the directory, the
directory, and the network namespace.

Traffic to pods goes through ``NodeEnv.run_in_netns`` (``ip netns exec``),
never from the root namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pykube_control.agent.containerd import ManagedContainerd
from pykube_control.agent.image_build import PAUSE_IMAGE, build_busybox_image
from pykube_control.agent.images import import_archive, import_pause_image
from pykube_control.cri.client import CRIClient

from tests.cri.containerd_env import (
    BUSYBOX_IMAGE,
    kill_leftover_processes,
    remove_all_sandboxes,
    remove_cgroup_parent,
    unmount_under,
)

logger = logging.getLogger("pykube.tests.node_env")

__all__ = ["BUSYBOX_IMAGE", "NodeEnv", "node_env", "netns_missing"]


def netns_missing() -> str | None:
    """Return why network namespaces cannot be used here, or None when they can."""
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        return "needs iproute2 (ip) and util-linux (nsenter)"
    probe = f"pkn-probe-{secrets.token_hex(3)}"
    result = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"cannot create a network namespace: {result.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", probe], check=False)
    return None


def run(command: Sequence[str]) -> str:
    """Run a command that must succeed; raise with its stderr when it fails."""
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with {result.returncode}: {result.stderr.strip()}")
    return result.stdout


@dataclass
class NodeEnv:
    """One test node: namespace, directory, containerd, CRI client and the names tests must reuse."""

    suffix: str
    netns: str
    node_ip: str
    directory: Path
    containerd: ManagedContainerd
    cri: CRIClient
    cgroup_parent: str

    @property
    def data_dir(self) -> Path:
        """The node's data directory, laid out as `pykube node --data-dir` expects it (containerd and CNI inside)."""
        return self.directory / "node"

    @property
    def cni_bin_dir(self) -> Path:
        return self.data_dir / "cni" / "bin"

    @property
    def cni_conf_dir(self) -> Path:
        return self.data_dir / "cni" / "net.d"

    async def run_in_netns(self, *command: str, timeout: float = 10.0) -> tuple[int, str]:
        """Run ``command`` inside the node's namespace; return its exit code and output."""
        process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.netns, *command,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            return -1, f"timed out after {timeout:g}s"
        return int(process.returncode or 0), output.decode("utf-8", "replace")


def _create_netns(netns: str, node_ip: str, with_dummy: bool) -> None:
    run(["ip", "netns", "add", netns])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    if with_dummy:
        # The kernel here has no dummy driver, so a veth pair whose both ends stay inside plays the NIC.
        run(["ip", "-n", netns, "link", "add", "node0", "type", "veth", "peer", "name", "node0-peer"])
        run(["ip", "-n", netns, "addr", "add", f"{node_ip}/24", "dev", "node0"])
        run(["ip", "-n", netns, "link", "set", "node0-peer", "up"])
        run(["ip", "-n", netns, "link", "set", "node0", "up"])
    # Pods reach each other and the outside through this namespace; the root namespace is untouched.
    run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"])


def _write_wrapper(directory: Path, netns: str) -> Path:
    """Write a script that execs containerd inside the namespace, keeping the pid containerd's."""
    wrapper = directory / "containerd-in-netns"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{netns} containerd "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


@contextlib.asynccontextmanager
async def node_env(node_ip: str = "192.168.240.1", *, with_dummy: bool = True) -> AsyncIterator[NodeEnv]:
    """Start a test node (see the module docstring); remove everything it made on exit."""
    suffix = secrets.token_hex(3)
    netns = f"pkn-{suffix}"
    directory = Path(tempfile.mkdtemp(prefix="pkn-", dir="/tmp"))
    cgroup_parent = f"/pykube-test-{suffix}"
    containerd: ManagedContainerd | None = None
    cri: CRIClient | None = None
    try:
        _create_netns(netns, node_ip, with_dummy)
        data_dir = directory / "node"
        containerd = ManagedContainerd(
            data_dir, cni_bin_dir=data_dir / "cni" / "bin", cni_conf_dir=data_dir / "cni" / "net.d",
            binary=str(_write_wrapper(directory, netns)),
        )  # fmt: skip
        (data_dir / "cni" / "bin").mkdir(parents=True)
        (data_dir / "cni" / "net.d").mkdir(parents=True)
        await containerd.start()
        cri = CRIClient(containerd.socket_path, timeout=30.0)
        await import_pause_image(containerd.socket_path, directory, PAUSE_IMAGE)
        archive = directory / "busybox.tar"
        archive.write_bytes(build_busybox_image(BUSYBOX_IMAGE))
        await import_archive(containerd.socket_path, archive)
        yield NodeEnv(suffix, netns, node_ip, directory, containerd, cri, cgroup_parent)
    finally:
        if cri is not None:
            await remove_all_sandboxes(cri)
            await cri.close()
        if containerd is not None:
            await containerd.stop()
            kill_leftover_processes(cgroup_parent, containerd.socket_path)
        await remove_cgroup_parent(cgroup_parent)
        unmount_under(directory)
        shutil.rmtree(directory, ignore_errors=True)
        subprocess.run(["ip", "netns", "delete", netns], capture_output=True, check=False)
