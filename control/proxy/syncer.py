"""The sync loop: coalesce changes, compile, apply atomically, clean conntrack.

A sync is full or partial. A full sync rebuilds the table in one
transaction from every cached Service. It runs at start, after a failed
transaction, when the node's addresses change, and every full_sync_interval
as a safety net. A partial sync compiles only the Services marked changed
and applies element deltas against the compiler's mirror, so it never
lists the kernel's table.

Changes are coalesced: after a sync, the next one waits at least
min_sync_interval, so a burst of events costs one transaction.

A failed transaction leaves the previous rules in force (nft commits all or
nothing), so the compiler's and the model's pending state are discarded,
the error is logged with the offending lines, and a full sync follows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from pykube_control.proxy.conntrack import ConntrackCleaner, FlowFilter
from pykube_control.proxy.metrics import ProxyMetrics
from pykube_control.proxy.nft import ApplyResult
from pykube_core.proxy._reference import format_ip
from pykube_core.proxy.compiler import RuleCompiler
from pykube_core.proxy.model import PortKey, Problem, ServiceModel
from pykube_core.proxy.rows import ServicePortSpec, pack_rows
from pykube_core.proxy.ruleset import map_sizes, ruleset_header

log = logging.getLogger("pykube.proxy")

MIN_SYNC_INTERVAL = 1.0
"""Seconds between the starts of two syncs, so a burst of changes costs one transaction."""
FULL_SYNC_INTERVAL = 3600.0
"""Seconds between full syncs that rebuild the table even without a failure."""
UDP = 17


class Applier(Protocol):
    async def apply(self, text: str) -> ApplyResult: ...


ProblemHandler = Callable[[list[Problem]], None]


def udp_flows(
    before: ServicePortSpec | None, after: ServicePortSpec | None, node_addresses: list[int]
) -> list[FlowFilter]:
    """Return the UDP conntrack entries to delete after one service port changed."""
    if before is None or before.protocol != UDP:
        return []
    frontends: list[tuple[int, int]] = []
    if before.cluster_ip:
        frontends.append((before.cluster_ip, before.port))
    if before.node_port:
        frontends.extend((address, before.node_port) for address in node_addresses)
    frontends.extend((address, before.port) for address, _ in before.external)
    old_backends = {endpoint.ip for endpoint in before.endpoints}
    new_backends = {endpoint.ip for endpoint in after.endpoints} if after is not None else set()
    flows: list[FlowFilter] = []
    for address, port in frontends:
        if not old_backends and new_backends:
            flows.append(FlowFilter(format_ip(address), port))
        for backend in sorted(old_backends - new_backends):
            flows.append(FlowFilter(format_ip(address), port, format_ip(backend)))
    return flows


class ProxySyncer:
    """Keep one nftables table equal to the model's Services; see the module docstring."""

    def __init__(
        self,
        model: ServiceModel,
        compiler: RuleCompiler,
        applier: Applier,
        *,
        cleaner: ConntrackCleaner | None = None,
        metrics: ProxyMetrics | None = None,
        on_problems: ProblemHandler | None = None,
        min_sync_interval: float = MIN_SYNC_INTERVAL,
        full_sync_interval: float = FULL_SYNC_INTERVAL,
    ) -> None:
        self.model = model
        self.compiler = compiler
        self.applier = applier
        self.cleaner = cleaner
        self.metrics = metrics or ProxyMetrics()
        self.on_problems = on_problems
        self.min_sync_interval = min_sync_interval
        self.full_sync_interval = full_sync_interval
        self.node_addresses: list[int] = []
        self.last_success: float | None = None
        """time.time() of the last sync the kernel accepted."""
        self.last_failure: float | None = None
        self.synced_once = asyncio.Event()
        self._full_needed = True
        self._wake = asyncio.Event()

    def request_sync(self) -> None:
        """Ask for a partial sync of the Services marked changed."""
        self._wake.set()

    def set_node_addresses(self, addresses: list[int]) -> None:
        """Set the addresses NodePorts listen on; a change triggers a full sync."""
        if addresses != self.node_addresses:
            self.node_addresses = list(addresses)
            self.compiler.set_node_addresses(self.node_addresses)
            self._full_needed = True
            self._wake.set()

    async def sync(self) -> bool:
        """Run one sync, full when one is due; return whether the kernel accepted it."""
        full = self._full_needed
        mode = "full" if full else "partial"
        started = time.perf_counter()
        if full:
            specs, problems = self.model.all_specs()
            self.model.dirty.clear()
        else:
            dirty = sorted(self.model.dirty)
            self.model.dirty.clear()
            specs, problems = self.model.changed_specs(dirty)
        if problems:
            self._report(problems)
        if not full and not specs:
            self.model.discard()
            return True

        rows = pack_rows(specs)
        result = self.compiler.compile(rows, full=full)
        if full:
            sizes = map_sizes(rows, len(self.node_addresses))
            text = ruleset_header(self.compiler.table, sizes) + result.text
        else:
            text = result.text
        applied = await self.applier.apply(text)
        elapsed = time.perf_counter() - started
        self.metrics.sync_duration.labels(mode=mode).observe(elapsed)
        if not applied.ok:
            self.compiler.discard()
            self.model.discard()
            self._full_needed = True
            self.last_failure = time.time()
            self.metrics.sync_failures.labels(mode=mode).inc()
            log.error(
                "sync failed mode=%s error=%s offending=%s",
                mode, applied.error.strip(), applied.offending_lines(text)[:3],
            )
            return False

        self.compiler.commit()
        changes = self.model.commit()
        self._full_needed = False
        self.last_success = time.time()
        self.metrics.last_success.set(self.last_success)
        self.metrics.set_counts(self.compiler.counts())
        self.synced_once.set()
        if len(result.conflicts):
            log.warning("frontends owned by another service port skipped rows=%s", result.conflicts.tolist()[:10])
        log.debug("sync done mode=%s rows=%d seconds=%.4f", mode, len(specs), elapsed)
        await self._clean_conntrack(changes)
        return True

    async def _clean_conntrack(
        self, changes: dict[PortKey, tuple[ServicePortSpec | None, ServicePortSpec | None]]
    ) -> None:
        if self.cleaner is None:
            return
        flows: list[FlowFilter] = []
        for before, after in changes.values():
            flows.extend(udp_flows(before, after, self.node_addresses))
        if flows:
            await self.cleaner.delete(flows)

    def _report(self, problems: list[Problem]) -> None:
        for problem in problems:
            self.metrics.skipped.labels(kind=problem.kind).inc()
        if self.on_problems is not None:
            self.on_problems(problems)

    async def run(self) -> None:
        """Sync forever: on requests, coalesced, and a full sync every full_sync_interval."""
        last_full = time.monotonic()
        while True:
            if self._full_needed:
                last_full = time.monotonic()
            started = time.monotonic()
            try:
                await self.sync()
            except Exception:
                # A bug in one sync must not stop the proxy; the next one is full.
                log.exception("sync raised; retrying with a full sync")
                self.compiler.discard()
                self.model.discard()
                self._full_needed = True
            wait = max(0.0, self.min_sync_interval - (time.monotonic() - started))
            await asyncio.sleep(wait)
            until_full = self.full_sync_interval - (time.monotonic() - last_full)
            if not self._full_needed and not self.model.dirty:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, until_full))
                except asyncio.TimeoutError:
                    self._full_needed = True
            self._wake.clear()
            if time.monotonic() - last_full >= self.full_sync_interval:
                self._full_needed = True
