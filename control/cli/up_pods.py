"""Remove this machine's pods when `pykube up` stops without --keep-pods.

The node agent leaves containers running when it stops, as a kubelet does,
so that a restart adopts them. A plain stop of `pykube up` means the
opposite: nothing of the cluster should keep running. After the agent has
stopped, this module brings the node's containerd back on the same
directories (it finds the running sandboxes again), stops and removes
every sandbox (containerd runs the CNI plugin's DEL for each, which frees
the pod's address and veth), stops that containerd, and tears down the
pods' volume directories, unmounting their tmpfs mounts first. Last, it
removes the pods' cgroup parent, which containerd never removes.

The Pod objects stay in the store. When the cluster starts again, the
agent finds no containers for them and starts them anew.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("pykube.up")


CGROUP_ROOT = Path("/sys/fs/cgroup")


async def remove_node_pods(data_dir: Path, kubeconfig: Path, cgroup_parent: str) -> int:
    """Stop and remove every pod sandbox of the node under ``data_dir`` and its volumes; return the sandbox count."""
    from pykube_control.agent.containerd import ManagedContainerd
    from pykube_control.agent.volumes.manager import VolumeManager
    from pykube_control.client.api import APIClient
    from pykube_control.cri.client import CRIClient
    from pykube_control.cri.errors import CRIError

    containerd = ManagedContainerd(data_dir, cni_bin_dir=data_dir / "cni" / "bin", cni_conf_dir=data_dir / "cni" / "net.d")
    removed = 0
    await containerd.start()
    try:
        async with CRIClient(containerd.socket_path) as cri:
            for sandbox in await cri.list_pod_sandbox():
                name = f"{sandbox.metadata.namespace}/{sandbox.metadata.name}"
                try:
                    await cri.stop_pod_sandbox(sandbox.id)
                    await cri.remove_pod_sandbox(sandbox.id)
                except CRIError as error:
                    log.error("removing a pod failed pod=%s sandbox_id=%s error=%s", name, sandbox.id, error)
                    continue
                removed += 1
                log.info("pod removed pod=%s sandbox_id=%s", name, sandbox.id)
    finally:
        await containerd.stop()
    client = APIClient.from_kubeconfig(kubeconfig)
    try:
        # Teardown only unmounts and removes directories; the client is never called.
        await VolumeManager(data_dir / "pods", client).cleanup_orphans(())
    finally:
        await client.close()
    remove_cgroup_parent(cgroup_parent)
    return removed


def remove_cgroup_parent(cgroup_parent: str, root: Path = CGROUP_ROOT) -> None:
    """Remove the empty directories of ``cgroup_parent`` in every cgroup hierarchy, deepest first.

    A directory that still has processes cannot be removed; it is logged and kept.
    """
    relative = cgroup_parent.strip("/")
    if not relative or not root.is_dir():
        return
    for hierarchy in root.iterdir():
        top = hierarchy / relative
        if not top.is_dir():
            continue
        for directory in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
            _remove_directory(directory)
        _remove_directory(top)


def _remove_directory(directory: Path) -> None:
    try:
        directory.rmdir()
    except OSError as error:
        log.warning("cgroup not removed path=%s error=%s", directory, error)
