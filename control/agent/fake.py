"""FakeNodes: many hollow nodes in one process, as kubemark runs them.

Each hollow node registers a Node object, renews its Lease in
kube-node-lease, and "runs" the pods bound to it by reporting them Running
and Ready with a pod IP from its own range, without starting anything. A
pod marked for deletion is deleted at once with gracePeriodSeconds=0, which
is the kubelet's final delete after its containers stopped.

One process may host a thousand nodes, so the nodes share one pod
informer over all pods, filtered by spec.nodeName, because a watch with a
field selector per node would be a thousand watches. They also share one
Lease loop, which renews every node's Lease per interval, and one semaphore
that bounds the requests in flight.

Differences from a kubelet: no containers, probes, volumes or eviction;
Node status is written once at registration and never heartbeated (the
Lease is the heartbeat, as for kubelets since Kubernetes 1.17), and a
pod's status never changes after it is reported Running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from pykube_control.agent.fake_status import (
    MAX_NODES,
    lease_object,
    micro_time,
    node_address,
    node_object,
    pod_subnet,
    running_pod_status,
    utc_now,
)
from pykube_control.client.api import APIClient
from pykube_control.client.errors import AlreadyExists, APIConnectionError, APIError, Conflict, NotFound
from pykube_control.client.informer import Informer
from pykube_control.client.resource import LEASES, NODES, PODS

log = logging.getLogger("pykube.agent")

LEASE_NAMESPACE = "kube-node-lease"
LEASE_INTERVAL = 10.0
"""Seconds between Lease renewals, the kubelet's default (a quarter of the 40 s lease duration)."""
LEASE_DURATION = 40
"""Seconds written as leaseDurationSeconds; the node lifecycle controller's grace period by default."""
MAX_IN_FLIGHT = 32
"""Requests the hollow nodes send at once, so a burst of pods does not open a connection per pod."""
RETRY_DELAY = 1.0
"""Seconds before a pod status or final delete that failed is tried again."""

Object = dict[str, Any]
Labels = Mapping[str, str] | Callable[[int], Mapping[str, str]]


class FakeNodes:
    """``count`` hollow nodes named ``prefix`` + index; see the module docstring.

    ``labels`` are added to every node, or, as a function of the node's
    index, to each node. ``taints`` go into every node's spec.
    ``first_index`` offsets the indexes, which pick the node's addresses and
    pod range, so that two FakeNodes in one cluster do not share pod IPs.
    """

    def __init__(
        self,
        client: APIClient,
        count: int,
        *,
        prefix: str = "fake-node-",
        cpu: str = "4",
        memory: str = "16Gi",
        pods: int = 110,
        labels: Labels | None = None,
        taints: Sequence[Mapping[str, str]] = (),
        first_index: int = 0,
        lease_interval: float = LEASE_INTERVAL,
        lease_duration: int = LEASE_DURATION,
        max_in_flight: int = MAX_IN_FLIGHT,
        retry_delay: float = RETRY_DELAY,
    ) -> None:
        if count < 0 or first_index < 0 or first_index + count > MAX_NODES:
            raise ValueError(
                f"hollow nodes: count {count} from index {first_index} must lie within 0-{MAX_NODES}"
            )
        if lease_interval <= 0:
            raise ValueError(f"lease_interval must be > 0 seconds, got {lease_interval}")
        self.client = client
        self.cpu, self.memory, self.pods = cpu, memory, pods
        self.labels = labels
        self.taints = [dict(taint) for taint in taints]
        self.lease_interval = lease_interval
        self.lease_duration = lease_duration
        self.retry_delay = retry_delay
        self.indexes = {f"{prefix}{first_index + i}": first_index + i for i in range(count)}
        """Node name -> index of every hollow node of this instance."""
        # One node watches only its own pods, which is all a node's credentials may list.
        only_node = f"spec.nodeName={next(iter(self.indexes))}" if count == 1 else None
        self.pod_informer = Informer(client, PODS, field_selector=only_node)
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._leases: dict[str, Object] = {}
        self._pod_ips: dict[str, dict[str, str]] = {name: {} for name in self.indexes}
        """Node name -> pod uid -> pod IP, for the pods reported Running."""
        self._busy: set[str] = set()
        """Pod uids with a status write or final delete in flight."""
        self._dirty: set[str] = set()
        """Busy pod uids that changed or failed meanwhile and must be handled again."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._lease_task: asyncio.Task[None] | None = None
        self.pod_informer.add_handlers(self._on_pod, self._on_pod_update, self._on_pod_delete)

    @property
    def names(self) -> list[str]:
        return list(self.indexes)

    async def start(self) -> None:
        """Register every node and its Lease, then start the Lease loop and the pod informer."""
        await asyncio.gather(*(self._register(name, index) for name, index in self.indexes.items()))
        self._lease_task = asyncio.create_task(self._renew_leases(), name="fake-node-leases")
        self.pod_informer.start()
        log.info("hollow nodes started count=%d cpu=%s memory=%s pods=%d",
                 len(self.indexes), self.cpu, self.memory, self.pods)  # fmt: skip

    async def stop(self) -> None:
        """Stop renewing and reporting; the Node objects stay, as a stopped kubelet's do."""
        await self.pod_informer.stop()
        tasks = list(self._tasks)
        if self._lease_task is not None:
            tasks.append(self._lease_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._lease_task = None
        log.info("hollow nodes stopped count=%d", len(self.indexes))

    async def run(self) -> None:
        """Start, then run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    # --- nodes and leases --------------------------------------------------------------------

    async def _register(self, name: str, index: int) -> None:
        labels = self.labels(index) if callable(self.labels) else (self.labels or {})
        node = node_object(name, index, cpu=self.cpu, memory=self.memory, pods=self.pods, labels=labels)
        if self.taints:
            node["spec"]["taints"] = self.taints
        async with self._semaphore:
            try:
                created = await self.client.create(NODES, node)
            except AlreadyExists:
                current = await self.client.get(NODES, name)
                current["metadata"]["labels"] = {**(current["metadata"].get("labels") or {}), **node["metadata"]["labels"]}
                current["spec"] = {**(current.get("spec") or {}), **node["spec"]}
                created = await self.client.update(NODES, current)
                log.info("hollow node re-registered node=%s", name)
            # Like a kubelet, write the status through the status subresource,
            # since a create may drop it.
            created["status"] = node["status"]
            await self.client.update_status(NODES, created)
            self._leases[name] = await self._create_lease(name)

    async def _create_lease(self, name: str) -> Object:
        lease = lease_object(name, LEASE_NAMESPACE, self.lease_duration)
        try:
            return await self.client.create(LEASES, lease, namespace=LEASE_NAMESPACE)
        except AlreadyExists:
            current = await self.client.get(LEASES, name, namespace=LEASE_NAMESPACE)
            current["spec"] = lease["spec"]
            return await self.client.update(LEASES, current, namespace=LEASE_NAMESPACE)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_interval)
            await asyncio.gather(*(self._renew_lease(name) for name in self.indexes))

    async def _renew_lease(self, name: str) -> None:
        async with self._semaphore:
            try:
                lease = self._leases.get(name)
                if lease is None:
                    self._leases[name] = await self._create_lease(name)
                    return
                lease["spec"]["renewTime"] = micro_time(utc_now())
                self._leases[name] = await self.client.update(LEASES, lease, namespace=LEASE_NAMESPACE)
            except (Conflict, NotFound) as error:
                # Someone else wrote or deleted it: read or create it afresh next time.
                log.info("node lease renewal failed, resetting node=%s error=%s", name, error)
                self._leases.pop(name, None)
            except (APIError, APIConnectionError) as error:
                log.warning("node lease renewal failed node=%s error=%s", name, error)

    # --- pods --------------------------------------------------------------------------------

    async def _on_pod(self, pod: Object) -> None:
        self._handle(pod)

    async def _on_pod_update(self, old: Object, new: Object) -> None:
        self._handle(new)

    async def _on_pod_delete(self, obj: Object, final_state_unknown: bool) -> None:
        node_name = (obj.get("spec") or {}).get("nodeName")
        if node_name in self._pod_ips:
            self._pod_ips[node_name].pop(str(obj["metadata"].get("uid", "")), None)

    def _handle(self, pod: Object) -> None:
        """Start the write a pod of these nodes needs: its Running status, or its final delete.

        One write per pod is in flight at a time. An event that arrives
        meanwhile marks the pod dirty, and the pod is handled again from the
        cache when the write finishes.
        """
        node_name = (pod.get("spec") or {}).get("nodeName")
        if node_name not in self.indexes:
            return
        metadata = pod["metadata"]
        uid = str(metadata.get("uid", ""))
        if uid in self._busy:
            self._dirty.add(uid)
            return
        if metadata.get("deletionTimestamp"):
            self._spawn(pod, self._final_delete(pod))
        elif not _is_reported(pod):
            self._spawn(pod, self._report_running(pod, node_name))

    def _spawn(self, pod: Object, coroutine: Coroutine[Any, Any, bool]) -> None:
        metadata = pod["metadata"]
        uid = str(metadata.get("uid", ""))
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        self._busy.add(uid)
        task = asyncio.ensure_future(self._retrying(uid, coroutine))
        self._tasks.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._tasks.discard(done)
            self._busy.discard(uid)
            if uid in self._dirty and not done.cancelled():
                self._dirty.discard(uid)
                current = self.pod_informer.store.get(key)
                if current is not None:
                    self._handle(current)

        task.add_done_callback(finished)

    async def _retrying(self, uid: str, write: Coroutine[Any, Any, bool]) -> None:
        """Await a write; after a failure, wait retry_delay and mark the pod dirty so it is handled again."""
        if not await write:
            await asyncio.sleep(self.retry_delay)
            self._dirty.add(uid)

    async def _report_running(self, pod: Object, node_name: str) -> bool:
        """Write the pod's Running status; return False when it should be retried."""
        metadata = pod["metadata"]
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        pod_ip = self._allocate_ip(node_name, str(metadata.get("uid", "")))
        status = running_pod_status(pod, node_address(self.indexes[node_name]), pod_ip)
        async with self._semaphore:
            try:
                await self.client.patch(
                    PODS, metadata["name"], {"status": status}, namespace=metadata.get("namespace"),
                    subresource="status",
                )  # fmt: skip
            except NotFound:
                return True
            except (APIError, APIConnectionError) as error:
                log.warning("pod status not written, retrying pod=%s node=%s error=%s", key, node_name, error)
                return False
        log.debug("pod running pod=%s node=%s pod_ip=%s", key, node_name, pod_ip)
        return True

    async def _final_delete(self, pod: Object) -> bool:
        """Delete the pod with gracePeriodSeconds=0; return False when it should be retried."""
        metadata = pod["metadata"]
        key = f"{metadata.get('namespace')}/{metadata.get('name')}"
        async with self._semaphore:
            try:
                await self.client.delete(
                    PODS, metadata["name"], namespace=metadata.get("namespace"),
                    grace_period_seconds=0, precondition_uid=metadata.get("uid"),
                )  # fmt: skip
            except (NotFound, Conflict):
                # Gone already, or a new pod of the same name (the uid precondition failed).
                return True
            except (APIError, APIConnectionError) as error:
                log.warning("pod final delete failed, retrying pod=%s error=%s", key, error)
                return False
        log.debug("pod deleted pod=%s", key)
        return True

    def _allocate_ip(self, node_name: str, uid: str) -> str:
        """Return the pod's IP on its node: the one it had, or the lowest free host address of the node's /24."""
        assigned = self._pod_ips[node_name]
        if uid in assigned:
            return assigned[uid]
        used = set(assigned.values())
        subnet = pod_subnet(self.indexes[node_name])
        for host in subnet.hosts():
            address = str(host)
            # The gateway takes the first address, as a bridge CNI plugin gives it.
            if address != str(subnet[1]) and address not in used:
                assigned[uid] = address
                return address
        raise RuntimeError(
            f"node {node_name}: pod range {subnet} is full; run at most {subnet.num_addresses - 3} pods per node"
        )


def _is_reported(pod: Object) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") in ("Running", "Succeeded", "Failed") and bool(status.get("podIP"))
