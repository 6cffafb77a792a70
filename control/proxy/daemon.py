"""`pykube proxy` as an object: informers, the sync loop and the health endpoint.

ProxyDaemon watches Services and EndpointSlices in every namespace and its
own Node (for the NodePort addresses), feeds them to a ServiceModel and
lets a ProxySyncer keep the nftables table current. Invalid Services and
EndpointSlices are skipped by the model; the daemon logs each reason once
and records it as a Warning Event on the object.

The proxy talks to the rest of the cluster only through the API client,
and to the kernel only through NftApplier and ConntrackCleaner, which both
run in the network namespace the configuration names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.indexer import Object
from pykube_control.client.informer import Informer
from pykube_control.client.resource import ENDPOINT_SLICES, NODES, SERVICES
from pykube_control.proxy.conntrack import ConntrackCleaner
from pykube_control.proxy.health import HEALTH_TIMEOUT, HealthServer, is_healthy
from pykube_control.proxy.metrics import ProxyMetrics
from pykube_control.proxy.nft import NftApplier
from pykube_control.proxy.syncer import FULL_SYNC_INTERVAL, MIN_SYNC_INTERVAL, ProxySyncer
from pykube_core.proxy.compiler import RuleCompiler
from pykube_core.proxy.model import Problem, ServiceModel
from pykube_core.proxy.ruleset import cleanup_commands

log = logging.getLogger("pykube.proxy")

DEFAULT_TABLE = "pykube"
HEALTH_PORT = 10256
"""kube-proxy's healthz port, so probes written for kube-proxy work unchanged."""
NODE_ADDRESS_TYPES = ("InternalIP", "ExternalIP")
"""Node status address types whose IPv4 addresses serve NodePorts."""


@dataclass
class ProxyConfig:
    """Settings of one proxy; tests shorten the intervals and pick a namespace."""

    node_name: str
    table: str = DEFAULT_TABLE
    netns: str | None = None
    """Named network namespace to apply in; None is the process's own."""
    nodeport_addresses: list[str] = field(default_factory=list)
    """IPv4 addresses for NodePorts; empty means the Node's InternalIP and ExternalIP addresses."""
    nodeport_loopback: bool = False
    """Also serve NodePorts on 127.0.0.1 (needs net.ipv4.conf.all.route_localnet=1)."""
    min_sync_interval: float = MIN_SYNC_INTERVAL
    full_sync_interval: float = FULL_SYNC_INTERVAL
    health_host: str = "127.0.0.1"
    health_port: int = HEALTH_PORT
    health_timeout: float = HEALTH_TIMEOUT
    pure_python: bool | None = None


def node_addresses(node: Object | None, config: ProxyConfig) -> list[int]:
    """Return the NodePort addresses as host-order integers, configured ones first."""
    texts = list(config.nodeport_addresses)
    if not texts and node is not None:
        for entry in (node.get("status") or {}).get("addresses") or []:
            if entry.get("type") in NODE_ADDRESS_TYPES:
                texts.append(str(entry.get("address", "")))
    addresses: list[int] = []
    for text in texts:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            log.warning("node address skipped node=%s address=%r reason=invalid", config.node_name, text)
            continue
        if address.version == 4 and int(address) not in addresses:
            addresses.append(int(address))
    if config.nodeport_loopback:
        addresses.append(int(ipaddress.IPv4Address("127.0.0.1")))
    return addresses


class ProxyDaemon:
    """One node's service proxy; see the module docstring."""

    def __init__(self, client: APIClient, config: ProxyConfig) -> None:
        self.client = client
        self.config = config
        self.metrics = ProxyMetrics()
        self.model = ServiceModel(node_name=config.node_name)
        self.applier = NftApplier(config.netns)
        self.syncer = ProxySyncer(
            self.model,
            RuleCompiler(config.table, pure_python=config.pure_python),
            self.applier,
            cleaner=ConntrackCleaner(config.netns),
            metrics=self.metrics,
            on_problems=self._on_problems,
            min_sync_interval=config.min_sync_interval,
            full_sync_interval=config.full_sync_interval,
        )
        self.health = HealthServer(self.healthy, self.metrics.registry, config.health_host, config.health_port)
        self.events = EventRecorder(client, "pykube-proxy", host=config.node_name)
        self.services = Informer(client, SERVICES)
        self.slices = Informer(client, ENDPOINT_SLICES)
        self.nodes = Informer(client, NODES, field_selector=f"metadata.name={config.node_name}")
        self._reported: dict[tuple[str, str, str], str] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._register_handlers()

    def healthy(self) -> bool:
        """Return whether syncs count as succeeding; see health.is_healthy."""
        return is_healthy(self.syncer.last_success, self.syncer.last_failure, self.config.health_timeout, time.time())

    def _register_handlers(self) -> None:
        async def service_changed(*objects: Object) -> None:
            self.model.set_service(objects[-1])
            self.syncer.request_sync()

        async def service_deleted(obj: Object, final_state_unknown: bool) -> None:
            self.model.delete_service(obj)
            self.syncer.request_sync()

        async def slice_changed(*objects: Object) -> None:
            self.model.set_slice(objects[-1])
            self.syncer.request_sync()

        async def slice_deleted(obj: Object, final_state_unknown: bool) -> None:
            self.model.delete_slice(obj)
            self.syncer.request_sync()

        async def node_changed(*objects: Object) -> None:
            self.syncer.set_node_addresses(node_addresses(objects[-1], self.config))

        self.services.add_handlers(service_changed, service_changed, service_deleted)
        self.slices.add_handlers(slice_changed, slice_changed, slice_deleted)
        self.nodes.add_handlers(node_changed, node_changed)

    async def start(self) -> None:
        """Start the informers, wait for their first lists, then the sync loop and health endpoint."""
        log.info("proxy starting node=%s table=%s netns=%s", self.config.node_name, self.config.table, self.config.netns)
        self.syncer.set_node_addresses(node_addresses(None, self.config))
        for informer in (self.services, self.slices, self.nodes):
            self._tasks.append(informer.start())
        for informer in (self.services, self.slices, self.nodes):
            await informer.wait_for_sync()
        await self.health.start()
        self._tasks.append(asyncio.create_task(self.syncer.run(), name="pykube-proxy-sync"))

    async def stop(self) -> None:
        """Stop syncing and watching; the table stays in force (use cleanup() to remove it)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        await self.health.stop()
        self.applier.close()
        log.info("proxy stopped node=%s", self.config.node_name)

    def _on_problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            key = (problem.kind, problem.namespace, problem.name)
            if self._reported.get(key) == problem.reason:
                continue
            self._reported[key] = problem.reason
            log.warning(
                "object skipped kind=%s namespace=%s name=%s reason=%s",
                problem.kind, problem.namespace, problem.name, problem.reason,
            )
            obj = self._find(problem)
            if obj is not None:
                self._tasks.append(asyncio.create_task(self._record(obj, problem.reason)))

    def _find(self, problem: Problem) -> Mapping[str, Any] | None:
        if problem.kind == "Service":
            return self.model.services.get((problem.namespace, problem.name))
        for slices in self.model.slices.values():
            found = slices.get(problem.name)
            if found is not None and found["metadata"].get("namespace", "") == problem.namespace:
                return found
        return None

    async def _record(self, obj: Mapping[str, Any], reason: str) -> None:
        try:
            await self.events.record(dict(obj), "Warning", "FailedToProgramService", reason)
        except Exception as exc:
            log.warning("event not recorded name=%s error=%s", obj["metadata"].get("name"), exc)


def cleanup(table: str = DEFAULT_TABLE, netns: str | None = None) -> bool:
    """Remove the proxy's table; return whether libnftables accepted the removal."""
    applier = NftApplier(netns)
    try:
        result = applier.apply_sync(cleanup_commands(table))
    finally:
        applier.close()
    if not result.ok:
        log.error("cleanup failed table=%s error=%s", table, result.error.strip())
    return result.ok
