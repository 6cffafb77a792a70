"""A private containerd for tests, with the pause and busybox images imported.

``containerd_env()`` is an async context manager that creates a short
directory under /tmp (unix socket paths may have at most 107 bytes),
starts a ``ManagedContainerd`` in it, imports the sandbox image and a
busybox image built from /bin/busybox, and yields a ``ContainerdEnv`` with
a connected ``CRIClient``. On exit it removes everything the test made,
even after a failure:

1. every pod sandbox of this containerd (stopped, then removed with its
   containers), so each shim exits;
2. containerd itself;
3. as a fallback for a failed removal, every process still in the test's
   own cgroup parent and every shim started for this containerd's socket,
   killed by pid;
4. the cgroup parent directories in every hierarchy, which containerd
   does not remove;
5. mounts left under the directory, then the directory.

Every sandbox config from ``sandbox_config()`` uses the environment's
unique cgroup parent (/pykube-test-<suffix>), which is what lets step 3
find the test's processes without touching anyone else's.

Other test areas (the node agent's) import this module, so it keeps its
public names stable: ``containerd_env``, ``ContainerdEnv``,
``BUSYBOX_IMAGE``, ``sandbox_config``, ``container_config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pykube_control.agent.containerd import ManagedContainerd
from pykube_control.agent.image_build import PAUSE_IMAGE, build_busybox_image
from pykube_control.agent.images import import_archive, import_pause_image
from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError
from pykube_control.cri.proto import api_pb2

logger = logging.getLogger("pykube.tests.containerd_env")

BUSYBOX_IMAGE = "localhost/pykube/busybox:test"
"""Reference of the busybox image every environment imports."""

CGROUP_ROOT = Path("/sys/fs/cgroup")

MISSING_TOOLS_REASON = "needs containerd, ctr and runc (Debian: apt-get install containerd runc) and root"


def missing_tools() -> bool:
    """Return True when this machine cannot run a containerd for tests."""
    tools = ("containerd", "ctr", "runc")
    return os.geteuid() != 0 or any(shutil.which(tool) is None for tool in tools) or not Path("/bin/busybox").is_file()


@dataclass
class ContainerdEnv:
    """A running private containerd: its directory, process, CRI client and cgroup parent."""

    directory: Path
    containerd: ManagedContainerd
    cri: CRIClient
    cgroup_parent: str
    suffix: str

    @property
    def socket(self) -> Path:
        return self.containerd.socket_path

    @property
    def log_root(self) -> Path:
        """Folder under which each sandbox gets its log directory."""
        return self.directory / "pods"

    def sandbox_config(
        self,
        name: str,
        *,
        namespace: str = "default",
        uid: str | None = None,
        attempt: int = 0,
        host_network: bool = True,
        labels: dict[str, str] | None = None,
    ) -> api_pb2.PodSandboxConfig:
        """Return a PodSandboxConfig in this environment's cgroup parent and log folder."""
        uid = uid or f"uid-{name}-{self.suffix}"
        network = api_pb2.NODE if host_network else api_pb2.POD
        return api_pb2.PodSandboxConfig(
            metadata=api_pb2.PodSandboxMetadata(name=name, namespace=namespace, uid=uid, attempt=attempt),
            # containerd 1.6 rejects a hostname for a sandbox in the host's network namespace.
            hostname="" if host_network else name,
            log_directory=str(self.log_root / f"{namespace}_{name}_{uid}"),
            labels=labels or {},
            linux=api_pb2.LinuxPodSandboxConfig(
                cgroup_parent=self.cgroup_parent,
                security_context=api_pb2.LinuxSandboxSecurityContext(
                    namespace_options=api_pb2.NamespaceOption(network=network, pid=api_pb2.CONTAINER)
                ),
            ),
        )


def container_config(
    name: str,
    command: Sequence[str],
    *,
    image: str = BUSYBOX_IMAGE,
    attempt: int = 0,
    labels: dict[str, str] | None = None,
) -> api_pb2.ContainerConfig:
    """Return a ContainerConfig running ``command`` that logs to ``<name>/<attempt>.log``."""
    return api_pb2.ContainerConfig(
        metadata=api_pb2.ContainerMetadata(name=name, attempt=attempt),
        image=api_pb2.ImageSpec(image=image),
        command=list(command),
        log_path=f"{name}/{attempt}.log",
        labels=labels or {},
    )


@contextlib.asynccontextmanager
async def containerd_env(*, start_timeout: float = 30.0) -> AsyncIterator[ContainerdEnv]:
    """Start a private containerd with the pause and busybox images; clean up everything on exit."""
    suffix = secrets.token_hex(4)
    directory = Path(tempfile.mkdtemp(prefix="pkc-", dir="/tmp"))
    cgroup_parent = f"/pykube-test-{suffix}"
    containerd = ManagedContainerd(
        directory,
        cni_bin_dir=directory / "cni" / "bin",
        cni_conf_dir=directory / "cni" / "net.d",
        start_timeout=start_timeout,
    )
    cri: CRIClient | None = None
    try:
        await containerd.start()
        cri = CRIClient(containerd.socket_path, timeout=30.0)
        await import_pause_image(containerd.socket_path, directory, PAUSE_IMAGE)
        busybox_archive = directory / "busybox.tar"
        busybox_archive.write_bytes(build_busybox_image(BUSYBOX_IMAGE))
        await import_archive(containerd.socket_path, busybox_archive)
        yield ContainerdEnv(directory, containerd, cri, cgroup_parent, suffix)
    finally:
        if cri is not None:
            await remove_all_sandboxes(cri)
            await cri.close()
        await containerd.stop()
        kill_leftover_processes(cgroup_parent, containerd.socket_path)
        await remove_cgroup_parent(cgroup_parent)
        unmount_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


async def remove_all_sandboxes(cri: CRIClient) -> None:
    """Stop and remove every sandbox of this containerd; log and go on when one fails."""
    try:
        sandboxes = await cri.list_pod_sandbox()
    except CRIError as exc:
        logger.error("listing sandboxes for cleanup failed error=%s", exc)
        return
    for sandbox in sandboxes:
        try:
            await cri.stop_pod_sandbox(sandbox.id)
            await cri.remove_pod_sandbox(sandbox.id)
        except CRIError as exc:
            logger.error("sandbox cleanup failed sandbox_id=%s error=%s", sandbox.id, exc)


def _cgroup_dirs(cgroup_parent: str) -> list[Path]:
    relative = cgroup_parent.lstrip("/")
    return [hierarchy / relative for hierarchy in CGROUP_ROOT.iterdir() if (hierarchy / relative).is_dir()]


def _pids_in(cgroup_dir: Path) -> set[int]:
    pids: set[int] = set()
    for procs in cgroup_dir.rglob("cgroup.procs"):
        with contextlib.suppress(OSError):
            pids.update(int(line) for line in procs.read_text().split())
    return pids


def _shim_pids(socket: Path) -> set[int]:
    """Return the pids of containerd shims whose command line names ``socket``."""
    pids: set[int] = set()
    needle = str(socket).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command_line = (entry / "cmdline").read_bytes()
            if b"containerd-shim" in command_line and needle in command_line:
                pids.add(int(entry.name))
    return pids


def leftover_pids(cgroup_parent: str, socket: Path) -> set[int]:
    """Return the pids still in the test's cgroup parent or serving its containerd as shims."""
    pids = _shim_pids(socket)
    for cgroup_dir in _cgroup_dirs(cgroup_parent):
        pids |= _pids_in(cgroup_dir)
    return pids


def kill_leftover_processes(cgroup_parent: str, socket: Path) -> None:
    """SIGKILL by pid what a failed sandbox removal left: processes in the cgroup parent and shims."""
    for pid in sorted(leftover_pids(cgroup_parent, socket)):
        logger.warning("killing leftover test process pid=%d", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def remove_cgroup_parent(cgroup_parent: str, attempts: int = 50) -> None:
    """Remove the cgroup parent's directories, deepest first, in every hierarchy.

    A cgroup can be removed only once its last process has been reaped,
    which may lag a SIGKILL by a moment, so each pass that fails is
    retried after 20 ms.
    """
    for _ in range(attempts):
        remaining = False
        for cgroup_dir in _cgroup_dirs(cgroup_parent):
            for directory in sorted(
                (path for path in cgroup_dir.rglob("*") if path.is_dir()),
                key=lambda path: len(path.parts),
                reverse=True,
            ):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            try:
                cgroup_dir.rmdir()
            except OSError:
                remaining = True
        if not remaining:
            return
        await asyncio.sleep(0.02)
    logger.error("cgroup parent not removed cgroup_parent=%s", cgroup_parent)


def mounts_under(directory: Path) -> list[str]:
    """Return the mount points under ``directory`` listed in /proc/self/mountinfo."""
    prefix = str(directory).rstrip("/") + "/"
    points: list[str] = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            if point == str(directory) or point.startswith(prefix):
                points.append(point)
    return points


def unmount_under(directory: Path) -> None:
    """Unmount (lazily, deepest first) every mount left under ``directory``."""
    for point in sorted(mounts_under(directory), key=len, reverse=True):
        logger.warning("unmounting leftover mount point=%s", point)
        subprocess.run(["umount", "-l", point], check=False)
