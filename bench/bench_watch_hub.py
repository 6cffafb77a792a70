"""Watch fan-out: one pod event published to many watchers, native hub against pure Python.

Run with `python -m bench.run bench/bench_watch_hub.py`, which also records
the figures in docs/benchmarks.md. Each round is one WatchHub.publish of a
pod status update (MODIFIED, five labels, the ten pod field-selector fields)
through the public API, so the time includes interning the event and
building the arrays. "per op" is per delivery: the fan-out groups have N
watchers in the pod's namespace whose label selector matches both versions,
so every round delivers N MODIFIED events. The node-index group has 10,000
node agents watching spec.nodeName=<node>, and the event concerns one of
them, so "per op" is the whole publish. Queues are drained between rounds,
outside the timing.
"""

from __future__ import annotations

import itertools
import tracemalloc
from typing import Any

import numpy as np
import pytest

from pykube_core import _watchhub_py
from pykube_core.fields import FieldSelector, parse_field_selector
from pykube_core.labels import parse_selector
from pykube_core.watch_hub import HubFactory, ObjectState, WatcherId, WatchEventType, WatchHub

POD_FIELDS = (
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)

QUEUE_CAPACITY = 1000

# Rounds per variant. A pure-Python fan-out to 10,000 watchers takes tens of
# milliseconds, so the pure-Python fan-outs get fewer rounds, which keeps the
# suite near a minute. Their p99 is then close to their maximum.
ROUNDS = 300
PURE_PYTHON_FAN_OUT_ROUNDS = 20


def pod_state(node: str, phase: str) -> ObjectState:
    labels = {"app": "web", "tier": "frontend", "env": "prod", "pod-template-hash": "7d9f8c6b5", "version": "v2"}
    fields = dict.fromkeys(POD_FIELDS, "")
    fields |= {
        "metadata.name": "web-7d9f8c6b5-x2x9k",
        "metadata.namespace": "default",
        "spec.nodeName": node,
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "default",
        "spec.hostNetwork": "false",
        "status.phase": phase,
        "status.podIP": "10.42.0.17",
    }
    return ObjectState("default", labels, fields)


def load_factory(implementation: str) -> HubFactory:
    if implementation == "py":
        return _watchhub_py.Hub
    native = pytest.importorskip("pykube_core._watchhub_native")
    factory: HubFactory = native.Hub
    return factory


def build_hub(
    implementation: str, count: int, node_agents: bool
) -> tuple[WatchHub[bytes], list[WatcherId], int]:
    """Build a hub of count watchers; also return the bytes they take.

    Bytes are the native hub's own estimate plus the Python allocations that
    tracemalloc records while the watchers are added. For the pure-Python
    twin those allocations are the whole footprint.
    """
    hub: WatchHub[bytes] = WatchHub(POD_FIELDS, index_field="spec.nodeName", kernel=load_factory(implementation))
    labels = parse_selector("app=web,tier in (frontend,backend)")
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    if node_agents:
        watchers = [
            hub.add_watcher(
                namespace=None,
                labels=parse_selector(""),
                fields=parse_field_selector(f"spec.nodeName=node-{index}", POD_FIELDS),
                capacity=QUEUE_CAPACITY,
            )
            for index in range(count)
        ]
    else:
        watchers = [
            hub.add_watcher(namespace="default", labels=labels, fields=FieldSelector(), capacity=QUEUE_CAPACITY)
            for _ in range(count)
        ]
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return hub, watchers, after - before + hub.footprint_bytes()


def run_publish(benchmark: Any, implementation: str, count: int, node_agents: bool, deliveries: int) -> None:
    hub, watchers, footprint = build_hub(implementation, count, node_agents)
    new, old = pod_state("node-7", "Running"), pod_state("node-7", "Pending")
    frame = b'{"type":"MODIFIED","object":{}}\n'
    slots = itertools.count(1)
    drained = watchers if not node_agents else [watchers[7]]

    def drain_all() -> tuple[tuple[()], dict[str, Any]]:
        for watcher in drained:
            hub.drain(watcher)
        return (), {}

    def publish() -> int:
        return len(hub.publish(next(slots), frame, WatchEventType.MODIFIED, new, old))

    rounds = PURE_PYTHON_FAN_OUT_ROUNDS if implementation == "py" and not node_agents else ROUNDS
    woken = benchmark.pedantic(publish, setup=drain_all, rounds=rounds, warmup_rounds=2)

    round_times = np.array(benchmark.stats.stats.data)
    benchmark.extra_info["ops"] = deliveries
    benchmark.extra_info["deliveries_per_second"] = deliveries / float(np.median(round_times))
    benchmark.extra_info["publish_p50_us"] = float(np.percentile(round_times, 50)) * 1e6
    benchmark.extra_info["publish_p99_us"] = float(np.percentile(round_times, 99)) * 1e6
    benchmark.extra_info["bytes_per_watcher"] = footprint / count
    assert woken == deliveries


# The pure-Python variant runs first, so the runner's "ratio to first"
# column is native time over pure-Python time.
@pytest.mark.benchmark(group="fan-out to 1,000 watchers")
@pytest.mark.parametrize("implementation", ["py", "native"])
def bench_fan_out_1k(benchmark: Any, implementation: str) -> None:
    run_publish(benchmark, implementation, 1_000, node_agents=False, deliveries=1_000)


@pytest.mark.benchmark(group="fan-out to 10,000 watchers")
@pytest.mark.parametrize("implementation", ["py", "native"])
def bench_fan_out_10k(benchmark: Any, implementation: str) -> None:
    run_publish(benchmark, implementation, 10_000, node_agents=False, deliveries=10_000)


@pytest.mark.benchmark(group="pod event, 10,000 node agents")
@pytest.mark.parametrize("implementation", ["py", "native"])
def bench_node_index_10k(benchmark: Any, implementation: str) -> None:
    run_publish(benchmark, implementation, 10_000, node_agents=True, deliveries=1)
