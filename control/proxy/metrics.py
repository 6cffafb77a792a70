"""Prometheus metrics of the proxy, in a registry of its own.

The registry is per daemon rather than the process-wide default, so tests
can run several proxies in one process and `pykube up` can serve each
component's metrics on its own endpoint.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pykube_core.proxy.arrays import ElementCounts

SYNC_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds; a one-endpoint sync takes well under a millisecond, a full sync of 100,000 Services seconds."""


class ProxyMetrics:
    """Sync duration, failures, committed elements and the last successful sync time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sync_duration = Histogram(
            "pykube_proxy_sync_duration_seconds",
            "Duration of one sync: compile and apply, in seconds.",
            ["mode"],
            buckets=SYNC_BUCKETS,
            registry=self.registry,
        )
        self.sync_failures = Counter(
            "pykube_proxy_sync_failures_total",
            "Syncs whose nftables transaction failed.",
            ["mode"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "pykube_proxy_last_successful_sync_timestamp_seconds",
            "Unix time of the last sync the kernel accepted.",
            registry=self.registry,
        )
        self.elements = Gauge(
            "pykube_proxy_elements",
            "Committed elements per set or map of the pykube table.",
            ["set"],
            registry=self.registry,
        )
        self.chains = Gauge(
            "pykube_proxy_dynamic_objects",
            "Committed per-endpoint-count chains and affinity sets.",
            registry=self.registry,
        )
        self.skipped = Counter(
            "pykube_proxy_skipped_objects_total",
            "Services and EndpointSlices skipped, in whole or in part, as invalid.",
            ["kind"],
            registry=self.registry,
        )

    def set_counts(self, counts: ElementCounts) -> None:
        """Publish the committed element counts."""
        for name in ("frontends", "backends", "no_endpoints", "restricted", "allowed_sources", "hairpin"):
            self.elements.labels(set=name).set(getattr(counts, name))
        self.chains.set(counts.chains)
