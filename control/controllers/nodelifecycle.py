"""The node lifecycle controller: nodes that stop heartbeating become Unknown, are tainted, and lose their pods.

A node's heartbeat is its Lease kube-node-lease/<node> (renewTime) and
the lastHeartbeatTime of its Ready condition. The controller notes on its
own monotonic clock when it last saw either change, so a node's clock
skew does not matter, and a node first seen counts as heartbeating then,
as Kubernetes does. Every ``monitor_period`` seconds, and whenever a node
or its Lease changes, a worker checks the node:

- no heartbeat for ``grace_period`` seconds: Ready and the pressure
  conditions become Unknown (reason NodeStatusUnknown) and a NodeNotReady
  Event is recorded;
- heartbeating again after that: Ready becomes True (reason KubeletReady)
  and a NodeReady Event is recorded;
- then the node's taints follow its Ready condition: Unknown gives
  node.kubernetes.io/unreachable, False gives node.kubernetes.io/not-ready,
  each with effects NoSchedule and NoExecute, and True gives neither.

Pods under a NoExecute taint are deleted by ``TaintEvictor``
(nodelifecycle_eviction.py), which runs inside this controller. While a
node is Unknown, its pods' Ready condition is set to False
(nodelifecycle_pods.py), so endpoints drop them before eviction.

Differences from Kubernetes: setting Ready back to True is the kubelet's
job in Kubernetes, but hollow nodes heartbeat only through their Lease, so
the controller does it once it observes a renewal. There is no zone-based
eviction rate limiting and no full-disruption mode.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import datetime
import logging

from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.resource import LEASES, NODES, PODS
from pykube_control.client.workers import run_workers
from pykube_control.client.workqueue import WorkQueue
from pykube_control.controllers.base import ControllerContext
from pykube_control.controllers.nodelifecycle_eviction import BY_NODE_NAME, TaintEvictor
from pykube_control.controllers.nodelifecycle_pods import mark_pods_not_ready
from pykube_control.controllers.nodelifecycle_taints import (
    lifecycle_taint_key,
    ready_condition,
    reconcile_taints,
    rfc3339,
)

log = logging.getLogger("pykube.controllers.nodelifecycle")

GRACE_PERIOD = 40.0
"""Seconds without a heartbeat before a node is Unknown: four missed 10 s Lease renewals, Kubernetes' default."""
MONITOR_PERIOD = 5.0
"""Seconds between checks of every node, Kubernetes' --node-monitor-period default."""
LEASE_NAMESPACE = "kube-node-lease"
COMPONENT = "node-controller"
UNKNOWN_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
"""Conditions only the kubelet can vouch for, so they become Unknown when it goes silent."""


@dataclasses.dataclass
class _Heartbeat:
    signature: tuple[str, str]
    """(Lease renewTime, Ready lastHeartbeatTime) as last seen."""
    seen_at: float
    """Monotonic seconds when ``signature`` last changed, or when the node was first seen."""
    renewed: bool = False
    """Whether the signature changed at least once while this controller watched."""


class NodeLifecycleController:
    """Marks silent nodes Unknown, taints nodes by readiness, and evicts pods from NoExecute taints."""

    name = "nodelifecycle"

    def __init__(
        self,
        context: ControllerContext,
        *,
        grace_period: float = GRACE_PERIOD,
        monitor_period: float = MONITOR_PERIOD,
    ) -> None:
        if grace_period <= 0 or monitor_period <= 0:
            raise ValueError(
                f"grace_period ({grace_period}) and monitor_period ({monitor_period}) must be > 0 seconds"
            )
        self._client: APIClient = context.client
        self._recorder: EventRecorder = context.recorder(COMPONENT)
        self._grace_period = grace_period
        self._monitor_period = monitor_period
        self._nodes: Informer = context.informers.get(NODES)
        self._leases: Informer = context.informers.get(LEASES)
        self._queue: WorkQueue[str] = WorkQueue("nodelifecycle")
        self._heartbeats: dict[str, _Heartbeat] = {}
        self._pods: Informer = context.informers.get(PODS)
        self._evictor = TaintEvictor(self._client, self._nodes, self._pods, self._recorder)
        self._nodes.add_handlers(on_add=self._on_node, on_update=self._on_node_update, on_delete=self._on_node_delete)
        self._leases.add_handlers(on_add=self._on_lease, on_update=self._on_lease_update)

    async def run(self, workers: int) -> None:
        log.info("node lifecycle started grace_period=%.1f monitor_period=%.1f", self._grace_period, self._monitor_period)
        try:
            await asyncio.gather(
                self._monitor(),
                run_workers(self._queue, workers, self.sync),
                run_workers(self._evictor.queue, workers, self._evictor.sync),
            )
        finally:
            self._queue.shutdown()
            self._evictor.queue.shutdown()

    async def _monitor(self) -> None:
        while True:
            for name in self._nodes.store.keys():
                self._queue.add(name)
            await asyncio.sleep(self._monitor_period)

    async def _on_node(self, node: Object) -> None:
        self._queue.add(str(node["metadata"]["name"]))

    async def _on_node_update(self, old: Object, new: Object) -> None:
        await self._on_node(new)

    async def _on_node_delete(self, obj: Object, final_state_unknown: bool) -> None:
        self._heartbeats.pop(str((obj.get("metadata") or {}).get("name", "")), None)

    async def _on_lease(self, lease: Object) -> None:
        metadata = lease.get("metadata") or {}
        if metadata.get("namespace") == LEASE_NAMESPACE and metadata.get("name"):
            self._queue.add(str(metadata["name"]))

    async def _on_lease_update(self, old: Object, new: Object) -> None:
        await self._on_lease(new)

    async def sync(self, name: str) -> None:
        """Bring node ``name``'s Ready condition and lifecycle taints in line with its heartbeat."""
        node = self._nodes.store.get(name)
        if node is None:
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        heartbeat = self._observe(name, node)
        silent_for = asyncio.get_running_loop().time() - heartbeat.seen_at
        ready = ready_condition(node)
        ready_status = None if ready is None else ready.get("status")
        if silent_for > self._grace_period and ready_status != "Unknown":
            node = await self._mark_unknown(node, now, silent_for)
        elif silent_for <= self._grace_period and ready_status == "Unknown" and heartbeat.renewed:
            node = await self._mark_ready(node, now)
        else:
            # Not yet silent for the grace period: check again when it would be.
            self._queue.add_after(name, max(0.0, self._grace_period - silent_for) + 0.01)
        await self._update_taints(node, now)
        if (ready_condition(node) or {}).get("status") == "Unknown":
            await mark_pods_not_ready(self._client, self._recorder, name, self._pods.store.by_index(BY_NODE_NAME, name))

    def _observe(self, name: str, node: Object) -> _Heartbeat:
        """Return node ``name``'s heartbeat record, moving its time forward when the heartbeat changed."""
        lease = self._leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        renew_time = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
        ready = ready_condition(node) or {}
        signature = (renew_time, str(ready.get("lastHeartbeatTime") or ""))
        now = asyncio.get_running_loop().time()
        heartbeat = self._heartbeats.get(name)
        if heartbeat is None:
            heartbeat = self._heartbeats[name] = _Heartbeat(signature, now)
        elif heartbeat.signature != signature:
            heartbeat.signature, heartbeat.seen_at, heartbeat.renewed = signature, now, True
        return heartbeat

    async def _mark_unknown(self, node: Object, now: datetime.datetime, silent_for: float) -> Object:
        name = node["metadata"]["name"]
        updated = copy.deepcopy(node)
        status = updated.setdefault("status", {})
        conditions: list[Object] = status.setdefault("conditions", [])
        if ready_condition(updated) is None:
            conditions.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.", "lastTransitionTime": rfc3339(now)})  # fmt: skip
        for condition in conditions:
            if condition.get("type") in UNKNOWN_CONDITIONS and condition.get("status") != "Unknown":
                condition.update(status="Unknown", reason="NodeStatusUnknown",
                                 message="Kubelet stopped posting node status.", lastTransitionTime=rfc3339(now))  # fmt: skip
        written = await self._client.update_status(NODES, updated)
        log.info("node not ready node=%s ready=Unknown silent_seconds=%.1f", name, silent_for)
        await self._recorder.record(written, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
        return written

    async def _mark_ready(self, node: Object, now: datetime.datetime) -> Object:
        name = node["metadata"]["name"]
        updated = copy.deepcopy(node)
        for condition in updated["status"]["conditions"]:
            if condition.get("type") == "Ready":
                condition.update(status="True", reason="KubeletReady", message="kubelet is posting ready status",
                                 lastHeartbeatTime=rfc3339(now), lastTransitionTime=rfc3339(now))  # fmt: skip
            elif condition.get("type") in UNKNOWN_CONDITIONS and condition.get("status") == "Unknown":
                # NOTE: the pressure conditions go back to False without the kubelet's
                # reading; a real kubelet overwrites them at its next status update.
                condition.update(status="False", reason="NodeStatusRecovered",
                                 message="Kubelet is posting node status again.", lastTransitionTime=rfc3339(now))  # fmt: skip
        written = await self._client.update_status(NODES, updated)
        log.info("node ready again node=%s", name)
        await self._recorder.record(written, "Normal", "NodeReady", f"Node {name} status is now: NodeReady")
        return written

    async def _update_taints(self, node: Object, now: datetime.datetime) -> None:
        """Write the lifecycle taints that match the node's Ready condition, when they differ."""
        ready = ready_condition(node)
        required_key = lifecycle_taint_key(None if ready is None else ready.get("status"))
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
        new_taints = reconcile_taints(taints, required_key, now)
        if new_taints == taints:
            return
        updated = copy.deepcopy(node)
        updated.setdefault("spec", {})["taints"] = new_taints
        await self._client.update(NODES, updated)
        log.info("node taints updated node=%s lifecycle_taint=%s", node["metadata"]["name"], required_key or "none")


def new_nodelifecycle_controller(context: ControllerContext) -> NodeLifecycleController:
    return NodeLifecycleController(context)
