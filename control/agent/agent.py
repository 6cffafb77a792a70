"""NodeAgent: the node agent that runs the pods bound to one node through CRI.

The agent wires the pieces of this package together:

- registration of the Node (node_status.py) with capacity from the
  machine and allocatable after the reserved amounts (node_info.py), and
  a Node status write every ``node_status_interval`` seconds;
- the Lease heartbeat (lease.py);
- an informer over the node's own pods only
  (``fieldSelector=spec.nodeName=<node>``), and one ``PodWorker`` per pod;
- admission (pod_admission.py) of each pod that is new to the node and
  not yet running, against the pods already admitted;
- a relist of CRI state every ``relist_period`` seconds, the kubelet's
  PLEG: containers and sandboxes are listed once for the whole node,
  and only the workers whose pods changed are woken;
- orphan cleanup: sandboxes with this node's label whose pod is not in
  the informer's cache are stopped and removed with their containers,
  volumes, logs and (through the ``NodeNetwork``) their IPs, within one
  relist after the informer has synced;
- with a ``NodeNetwork``: host-gw routes to the other nodes' podCIDRs from
  an informer over Nodes, and IPAM reconciliation in each relist.

Restarting the agent never touches running containers: workers adopt
them (pod_worker.py), and admission is skipped for pods that already have
a sandbox, because they were admitted before the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pykube_control.agent import cri_config
from pykube_control.agent.backoff import INITIAL_DELAY, MAX_DELAY, CrashBackoff
from pykube_control.agent.lease import LEASE_INTERVAL, LeaseRenewer
from pykube_control.agent.node_info import DEFAULT_MAX_PODS, NodeResources, machine_capacity
from pykube_control.agent.node_status import NODE_STATUS_INTERVAL, NodeIdentity, node_object, node_status
from pykube_control.agent.pod_admission import admit
from pykube_control.agent.pod_network import NodeNetwork
from pykube_control.agent.pod_worker import RESYNC_PERIOD, RETRY_DELAY, PodVolumes, PodWorker, WorkerSettings
from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.errors import AlreadyExists, APIConnectionError, APIError, Conflict
from pykube_control.client.informer import Informer
from pykube_control.client.resource import NODES, PODS
from pykube_control.cni.errors import CNIError
from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError, CRINotFoundError

log = logging.getLogger("pykube.agent")

Object = dict[str, Any]
RELIST_PERIOD = 1.0
"""Seconds between relists of CRI state; the kubelet's PLEG relists every second."""
PARALLEL_POD_STARTS = 8
"""Pods whose sandbox and first containers start at the same time. Starting
every pod of a burst at once shares the CPU among all of them (runc, the
shims and the CNI plugin are separate processes), so all become Ready late
together, while starting too few leaves the CPU idle during each start's
waits. With 30 pods created at once (bench/bench_agent.py, 2 shared cores,
load 8 to 10), 8 at a time gave p50 3.2 s and p99 5.8 s against 4.5 s and
7.8 s for 3 at a time; with no limit, all 30 became Ready at about 11 s."""


@dataclasses.dataclass(frozen=True, slots=True)
class AgentConfig:
    """Settings of one node agent; intervals in seconds."""

    node_name: str
    node_ip: str
    data_dir: Path
    pod_cidr: str | None = None
    reserved: Mapping[str, int] = dataclasses.field(default_factory=dict)
    """Amounts kept from pods, per resource name, in node_info's units."""
    max_pods: int = DEFAULT_MAX_PODS
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    allow_privileged: bool = False
    cluster_dns: tuple[str, ...] = ()
    cgroup_parent: str = "/pykube"
    """Cgroup under which containerd puts every sandbox and container of this node."""
    port: int = 10250
    lease_interval: float = LEASE_INTERVAL
    node_status_interval: float = NODE_STATUS_INTERVAL
    relist_period: float = RELIST_PERIOD
    resync_period: float = RESYNC_PERIOD
    retry_delay: float = RETRY_DELAY
    backoff_initial: float = INITIAL_DELAY
    backoff_max: float = MAX_DELAY
    parallel_pod_starts: int = PARALLEL_POD_STARTS
    netns: Path | None = None
    """Network namespace file of the node when the agent runs outside it (tests); None otherwise."""

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "pods-logs"

    @property
    def pods_dir(self) -> Path:
        return self.data_dir / "pods"


class NodeAgent:
    """Run the pods bound to ``config.node_name``; ``start``/``stop``, or ``run`` until cancelled."""

    def __init__(
        self,
        client: APIClient,
        cri: CRIClient,
        config: AgentConfig,
        *,
        volumes: PodVolumes | None = None,
        network: NodeNetwork | None = None,
        cleanup_volumes: Callable[[Iterable[str]], Awaitable[Any]] | None = None,
    ) -> None:
        self.client = client
        self.cri = cri
        self.config = config
        self.volumes = volumes
        self.network = network
        self.cleanup_volumes = cleanup_volumes
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.capacity = machine_capacity(config.data_dir, max_pods=config.max_pods)
        self.allocatable: NodeResources = self.capacity.minus(config.reserved)
        self.identity = NodeIdentity(name=config.node_name, node_ip=config.node_ip, port=config.port,
                                     labels=dict(config.labels))  # fmt: skip
        self.backoff = CrashBackoff(initial=config.backoff_initial, maximum=config.backoff_max)
        self.startup_gate = asyncio.Semaphore(config.parallel_pod_starts)
        self.events = EventRecorder(client, "kubelet", host=config.node_name)
        self.workers: dict[str, PodWorker] = {}
        """Pod uid -> its worker, kept until the pod object is gone and the worker finished."""
        self.node: Object | None = None
        self.informer = Informer(client, PODS, field_selector=f"spec.nodeName={config.node_name}")
        self.informer.add_handlers(self._on_add, self._on_update, self._on_delete)
        self.node_informer: Informer | None = None
        if network is not None:
            self.use_network(network)
        self.lease: LeaseRenewer | None = None
        self._fingerprints: dict[str, tuple[Any, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._runtime_ready = (False, "container runtime status not checked yet")

    def use_network(self, network: NodeNetwork) -> None:
        """Keep routes and pod IPs of ``network``; call before ``start`` (the podCIDR may be known only after ``register``)."""
        self.network = network
        self.node_informer = Informer(self.client, NODES)
        self.node_informer.add_handlers(self._on_node, self._on_node_update, self._on_node_delete)

    # --- lifecycle -----------------------------------------------------------------------------

    async def register(self) -> Object:
        """Create or update the Node and write its status; return the Node as stored."""
        version = await self.cri.version()
        self.identity = dataclasses.replace(
            self.identity, runtime_version=f"{version.runtime_name}://{version.runtime_version}"
        )
        self._runtime_ready = await self._check_runtime()
        node = node_object(self.identity, self.capacity, self.allocatable, pod_cidr=self.config.pod_cidr,
                           ready=self._runtime_ready[0], ready_message=self._runtime_ready[1])  # fmt: skip
        try:
            stored = await self.client.create(NODES, node)
            log.info("node registered node=%s", self.config.node_name)
        except AlreadyExists:
            stored = await self.client.get(NODES, self.config.node_name)
            stored["metadata"]["labels"] = {**(stored["metadata"].get("labels") or {}), **node["metadata"]["labels"]}
            if self.config.pod_cidr and not (stored.get("spec") or {}).get("podCIDR"):
                stored.setdefault("spec", {}).update(node["spec"])
            stored = await self.client.update(NODES, stored)
            log.info("node re-registered node=%s", self.config.node_name)
        stored["status"] = node["status"]
        self.node = await self.client.update_status(NODES, stored)
        return self.node

    async def wait_for_pod_cidr(self, timeout: float = 60.0, interval: float = 0.5) -> str:
        """Return the Node's spec.podCIDR, waiting for the node IPAM controller to assign one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            node = await self.client.get(NODES, self.config.node_name)
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return str(cidr)
            if loop.time() > deadline:
                raise TimeoutError(
                    f"node {self.config.node_name} got no spec.podCIDR within {timeout:g}s; "
                    "run the controller manager with node IPAM or pass --pod-cidr"
                )
            await asyncio.sleep(interval)

    async def start(self) -> None:
        """Register (unless done), start the heartbeat and the informer, adopt, then relist periodically."""
        if self.node is None:
            await self.register()
        assert self.node is not None
        self.lease = LeaseRenewer(self.client, self.config.node_name, interval=self.config.lease_interval,
                                  node_uid=self.node["metadata"].get("uid"))  # fmt: skip
        self.lease.start()
        if self.node_informer is not None:
            self.node_informer.start()
        self.informer.start()
        await self.informer.wait_for_sync()
        await self.relist()
        self._tasks = [
            asyncio.create_task(self._relist_loop(), name="agent-relist"),
            asyncio.create_task(self._node_status_loop(), name="agent-node-status"),
        ]
        log.info("node agent started node=%s pods=%d cpu=%dm memory=%d", self.config.node_name,
                 len(self.workers), self.allocatable.cpu, self.allocatable.memory)  # fmt: skip

    async def stop(self) -> None:
        """Stop the agent's tasks and workers; containers keep running, as when a kubelet stops."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.informer.stop()
        if self.node_informer is not None:
            await self.node_informer.stop()
        if self.lease is not None:
            await self.lease.stop()
        await asyncio.gather(*(worker.stop() for worker in self.workers.values()))
        log.info("node agent stopped node=%s", self.config.node_name)

    async def run(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # --- pods ----------------------------------------------------------------------------------

    async def _on_add(self, pod: Object) -> None:
        self._handle(pod)

    async def _on_update(self, old: Object, new: Object) -> None:
        self._handle(new)

    async def _on_delete(self, obj: Object, final_state_unknown: bool) -> None:
        uid = str(obj["metadata"].get("uid"))
        worker = self.workers.get(uid)
        if worker is None:
            return
        worker.removed = True
        worker.wake()

    def _handle(self, pod: Object) -> None:
        uid = str(pod["metadata"].get("uid"))
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        worker = PodWorker(pod, cri=self.cri, client=self.client, volumes=self.volumes,
                           settings=self._settings(), backoff=self.backoff, startup_gate=self.startup_gate,
                           events=self.events)  # fmt: skip
        if self._needs_admission(pod):
            others = [w.pod for w in self.workers.values() if w.rejection is None and not w.removed]
            rejection = admit(pod, others, self.allocatable)
            if rejection is not None:
                worker.rejection = (rejection.reason, rejection.message)
        self.workers[uid] = worker
        worker.start()

    def container_running(self, namespace: str, pod_name: str, container_name: str) -> bool:
        """Return True when the named container of a pod of this node runs (``kubectl logs -f`` ends otherwise)."""
        key = f"{namespace}/{pod_name}"
        return any(w.key == key and w.is_running(container_name) for w in self.workers.values())

    def _needs_admission(self, pod: Object) -> bool:
        """Return False for pods admitted before (they run or ran here) and for pods being deleted."""
        status = pod.get("status") or {}
        if pod["metadata"].get("deletionTimestamp"):
            return False
        if status.get("phase") not in (None, "Pending") or status.get("containerStatuses"):
            return False
        return True

    def _settings(self) -> WorkerSettings:
        return WorkerSettings(
            node_name=self.config.node_name, node_ip=self.config.node_ip, logs_dir=self.config.logs_dir,
            allocatable=self.allocatable, cluster_dns=self.config.cluster_dns,
            cgroup_parent=self.config.cgroup_parent, allow_privileged=self.config.allow_privileged,
            resync_period=self.config.resync_period, retry_delay=self.config.retry_delay, netns=self.config.netns,
        )  # fmt: skip

    # --- routes to other nodes ---------------------------------------------------------------

    async def _on_node(self, node: Object) -> None:
        await self._sync_routes()

    async def _on_node_update(self, old: Object, new: Object) -> None:
        await self._sync_routes()

    async def _on_node_delete(self, obj: Object, final_state_unknown: bool) -> None:
        await self._sync_routes()

    async def _sync_routes(self) -> None:
        if self.network is None or self.node_informer is None:
            return
        try:
            await self.network.sync_routes(self.node_informer.store.list())
        except (OSError, ValueError, CNIError) as error:
            # The next Node event tries again.
            log.warning("pod network routes not synced node=%s error=%s", self.config.node_name, error)

    # --- relist and orphans --------------------------------------------------------------------

    async def relist(self) -> None:
        """List CRI state once: wake workers whose containers changed, remove what belongs to no pod."""
        sandboxes = [
            box for box in await self.cri.list_pod_sandbox()
            if box.labels.get(cri_config.LABEL_NODE) == self.config.node_name
        ]  # fmt: skip
        containers = [
            c for c in await self.cri.list_containers()
            if c.labels.get(cri_config.LABEL_NODE) == self.config.node_name
        ]  # fmt: skip
        prints: dict[str, list[Any]] = {}
        for box in sandboxes:
            prints.setdefault(box.labels.get(cri_config.LABEL_POD_UID, ""), []).append(("sandbox", box.id, box.state))
        for container in containers:
            uid = container.labels.get(cri_config.LABEL_POD_UID, "")
            prints.setdefault(uid, []).append(("container", container.id, container.state))
        fingerprints = {uid: tuple(sorted(items)) for uid, items in prints.items()}
        for uid, worker in self.workers.items():
            if fingerprints.get(uid) != self._fingerprints.get(uid):
                worker.wake()
        self._fingerprints = fingerprints
        for uid, worker in list(self.workers.items()):
            if worker.finished.is_set() and worker.removed:
                del self.workers[uid]
        await self._remove_orphans(sandboxes)

    async def _remove_orphans(self, sandboxes: list[Any]) -> None:
        if not self.informer.has_synced:
            return
        cached = {str(pod["metadata"].get("uid")) for pod in self.informer.store.list()}
        known = cached | set(self.workers)
        for box in sandboxes:
            uid = box.labels.get(cri_config.LABEL_POD_UID, "")
            if uid in known:
                continue
            log.info("removing orphaned sandbox sandbox=%s pod_uid=%s pod=%s/%s", box.id[:13], uid,
                     box.metadata.namespace, box.metadata.name)  # fmt: skip
            try:
                for container in await self.cri.list_containers(sandbox_id=box.id):
                    with contextlib.suppress(CRINotFoundError):
                        await self.cri.stop_container(container.id, 0)
                        await self.cri.remove_container(container.id)
                with contextlib.suppress(CRINotFoundError):
                    await self.cri.stop_pod_sandbox(box.id)
                    await self.cri.remove_pod_sandbox(box.id)
            except CRIError as error:
                log.warning("orphaned sandbox not removed sandbox=%s error=%s", box.id[:13], error)
                continue
            if self.volumes is not None:
                await self.volumes.teardown(uid)
            pod_logs = self.config.logs_dir / f"{box.metadata.namespace}_{box.metadata.name}_{uid}"
            shutil.rmtree(pod_logs, ignore_errors=True)
        live_ids = {box.id for box in sandboxes if box.labels.get(cri_config.LABEL_POD_UID, "") in known}
        if self.network is not None:
            await self.network.release_addresses(live_ids)
        if self.cleanup_volumes is not None:
            await self.cleanup_volumes(known)

    async def _relist_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.relist_period)
            try:
                await self.relist()
            except (CRIError, OSError) as error:
                log.warning("relist failed node=%s error=%s", self.config.node_name, error)
            except Exception:
                log.exception("relist failed unexpectedly node=%s", self.config.node_name)

    # --- node status ---------------------------------------------------------------------------

    async def _check_runtime(self) -> tuple[bool, str]:
        try:
            status = await self.cri.status()
        except CRIError as error:
            return False, f"container runtime is down: {error}"
        failing = [c for c in status.status.conditions if not c.status]
        if failing:
            return False, "; ".join(f"container runtime condition {c.type} is false: {c.reason} {c.message}" for c in failing)
        return True, "kubelet is posting ready status"

    async def _node_status_loop(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(self.config.relist_period)
            elapsed += self.config.relist_period
            ready = await self._check_runtime()
            if ready == self._runtime_ready and elapsed < self.config.node_status_interval:
                continue
            elapsed = 0.0
            self._runtime_ready = ready
            try:
                await self._write_node_status()
            except (APIError, APIConnectionError) as error:
                log.warning("node status not written node=%s error=%s", self.config.node_name, error)

    async def _write_node_status(self) -> None:
        for _ in range(3):
            node = await self.client.get(NODES, self.config.node_name)
            node["status"] = node_status(self.identity, self.capacity, self.allocatable, ready=self._runtime_ready[0],
                                         ready_message=self._runtime_ready[1], previous=node.get("status"))  # fmt: skip
            try:
                self.node = await self.client.update_status(NODES, node)
                return
            except Conflict:
                continue
