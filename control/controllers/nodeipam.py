"""The node IPAM controller: every node gets its own pod CIDR from the cluster CIDR.

The CNI plugin of a node gives pods addresses from spec.podCIDR, so two
nodes must never share one. The controller keeps the pool of subnets in
memory (``CIDRPool``) and the subnets it handed out by node name. At start
it rebuilds both from the nodes in the informer cache before any worker
runs, so a restart never hands out a subnet a node already has. A node
without a podCIDR gets the next free subnet through a merge patch of
spec.podCIDR and spec.podCIDRs. A deleted node's subnet goes back to the
pool.

Differences from Kubernetes' range allocator: there is one cluster CIDR,
so no dual stack. A node whose podCIDR lies outside the cluster CIDR keeps
it, and the controller only logs a warning. As in Kubernetes, the pool
lives only in memory.
"""

from __future__ import annotations

import logging

from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.resource import NODES
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.nodeipam_cidrs import CIDRPool, CIDRPoolFull

log = logging.getLogger("pykube.controllers.nodeipam")

CLUSTER_CIDR = "10.244.0.0/16"
"""Pod addresses of the whole cluster; also flannel's default network."""
NODE_CIDR_MASK_SIZE = 24
"""Prefix length of one node's pod CIDR: 254 pod addresses per node, 256 nodes in the default cluster CIDR."""
COMPONENT = "node-ipam-controller"


def pod_cidrs(node: Object) -> list[str]:
    """Return the node's pod CIDRs: spec.podCIDRs, or spec.podCIDR alone for a node that sets only that."""
    spec = node.get("spec") or {}
    cidrs = [str(cidr) for cidr in spec.get("podCIDRs") or [] if cidr]
    if not cidrs and spec.get("podCIDR"):
        cidrs = [str(spec["podCIDR"])]
    return cidrs


class NodeIPAMController:
    """Assigns each node a distinct pod CIDR and releases it when the node is deleted."""

    name = "nodeipam"

    def __init__(
        self,
        context: ControllerContext,
        *,
        cluster_cidr: str = CLUSTER_CIDR,
        node_cidr_mask_size: int = NODE_CIDR_MASK_SIZE,
    ) -> None:
        self._client: APIClient = context.client
        self._recorder: EventRecorder = context.recorder(COMPONENT)
        self._pool = CIDRPool(cluster_cidr, node_cidr_mask_size)
        self._nodes: Informer = context.informers.get(NODES)
        self._queue: WorkQueue[str] = WorkQueue("nodeipam")
        self._assigned: dict[str, str] = {}
        """Node name -> the pool subnet it has or is being given."""
        self._nodes.add_handlers(on_add=self._on_node, on_update=self._on_node_update, on_delete=self._on_node_delete)

    async def run(self, workers: int) -> None:
        self.rebuild()
        log.info("node ipam started cluster_cidr=%s mask_size=%d taken=%d",
                 self._pool.network, self._pool.subnet_prefix, self._pool.taken)  # fmt: skip
        try:
            await run_workers(self._queue, workers, self.sync)
        finally:
            self._queue.shutdown()

    def rebuild(self) -> None:
        """Mark the pod CIDR of every cached node taken; call it before any worker allocates."""
        for node in self._nodes.store.list():
            self._occupy(node)

    async def _on_node(self, node: Object) -> None:
        self._queue.add(str(node["metadata"]["name"]))

    async def _on_node_update(self, old: Object, new: Object) -> None:
        if pod_cidrs(old) != pod_cidrs(new) or not pod_cidrs(new):
            await self._on_node(new)

    async def _on_node_delete(self, obj: Object, final_state_unknown: bool) -> None:
        name = str((obj.get("metadata") or {}).get("name", ""))
        cidr = self._assigned.pop(name, None)
        if cidr is not None:
            self._pool.release(cidr)
            log.info("pod cidr released node=%s cidr=%s", name, cidr)

    async def sync(self, name: str) -> None:
        """Give node ``name`` a pod CIDR when it has none, or record the one it has."""
        node = self._nodes.store.get(name)
        if node is None:
            return
        if pod_cidrs(node):
            self._occupy(node)
            return
        cidr = self._assigned.get(name)
        if cidr is None:
            try:
                cidr = self._pool.allocate()
            except CIDRPoolFull as error:
                log.warning("pod cidr not assigned node=%s error=%s", name, error)
                await self._recorder.record(node, "Warning", "CIDRNotAvailable", str(error))
                raise
            self._assigned[name] = cidr
        patch = {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
        try:
            await self._client.patch(NODES, name, patch)
        except NotFound:
            # Deleted meanwhile; the delete handler may have run before the subnet was recorded.
            self._release(name)
            return
        log.info("pod cidr assigned node=%s cidr=%s", name, cidr)

    def _occupy(self, node: Object) -> None:
        """Record the pod CIDR a node already has as taken by it."""
        name = str(node["metadata"]["name"])
        for cidr in pod_cidrs(node):
            if self._assigned.get(name) == cidr:
                return
            if not self._pool.contains(cidr):
                log.warning("pod cidr outside the cluster cidr, left alone node=%s cidr=%s cluster_cidr=%s",
                            name, cidr, self._pool.network)  # fmt: skip
                continue
            if not self._pool.occupy(cidr):
                owner = next((other for other, taken in self._assigned.items() if taken == cidr), None)
                log.warning("pod cidr taken by another node node=%s cidr=%s owner=%s", name, cidr, owner)
                continue
            self._release(name)
            self._assigned[name] = cidr
            return

    def _release(self, name: str) -> None:
        cidr = self._assigned.pop(name, None)
        if cidr is not None:
            self._pool.release(cidr)


def new_nodeipam_controller(context: ControllerContext) -> NodeIPAMController:
    return NodeIPAMController(context)
