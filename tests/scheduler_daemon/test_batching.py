"""Batching in the daemon: replicas with one scheduling signature are placed by one kernel call."""

from __future__ import annotations

import asyncio
import contextlib
import copy

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.resource import PODS
from pykube_control.scheduler.batching import same_scheduling_inputs, scheduling_signature
from pykube_control.scheduler.daemon import SchedulerDaemon
from pykube_control.scheduler.queue import SchedulingQueue
from tests.scheduler_daemon.conftest import get_pod, make_pod, wait_until


def renamed(pod: dict[str, object], name: str) -> dict[str, object]:
    copied = copy.deepcopy(pod)
    copied["metadata"] = {**copied["metadata"], "name": name, "uid": name}  # type: ignore[dict-item]
    return copied


@pytest.mark.parametrize(
    ("change", "same"),
    [
        pytest.param(lambda pod: renamed(pod, "other"), True, id="name and uid ignored"),
        pytest.param(lambda pod: {**pod, "spec": {**pod["spec"], "nodeName": "n1"}}, True, id="nodeName ignored"),
        pytest.param(lambda pod: {**pod, "metadata": {**pod["metadata"], "labels": {"a": "b"}}}, False, id="labels differ"),
        pytest.param(lambda pod: make_pod("web-0", cpu="200m"), False, id="requests differ"),
        pytest.param(lambda pod: {**pod, "metadata": {**pod["metadata"], "namespace": "other"}}, False, id="namespace differs"),
    ],
)
def test_signature(change: object, same: bool) -> None:
    pod = make_pod("web-0")
    other = change(pod)  # type: ignore[operator]
    assert (scheduling_signature(pod) == scheduling_signature(other)) is same
    assert same_scheduling_inputs(pod, other) is same
    assert same_scheduling_inputs(other, pod) is same


async def test_pop_matching_stops_at_other_signature() -> None:
    queue = SchedulingQueue()
    for name in ("a-0", "a-1", "b-0", "a-2"):
        queue.add(make_pod(name, cpu="200m" if name.startswith("b") else "100m"))
    first = await queue.pop()
    signature = scheduling_signature(first.pod)
    same = queue.pop_matching(lambda entry: scheduling_signature(entry.pod) == signature, 10)
    assert [entry.key for entry in same] == ["default/a-1"]
    assert queue.location("default/a-1") == "in-flight"
    assert queue.location("default/b-0") == "active"


async def test_pop_matching_limit() -> None:
    queue = SchedulingQueue()
    for index in range(5):
        queue.add(make_pod(f"a-{index}"))
    await queue.pop()
    assert len(queue.pop_matching(lambda entry: True, 2)) == 2


async def test_daemon_batches_queued_replicas(client: APIClient, nodes: FakeNodes) -> None:
    # Pods that exist before the daemon starts are all queued by its first list.
    names = [f"rep-{index}" for index in range(40)]
    for name in names:
        await client.create(PODS, make_pod(name, cpu="1"), namespace="default")
    daemon = SchedulerDaemon(client, queue=SchedulingQueue(initial_backoff=0.2, max_backoff=1.0))
    task = asyncio.create_task(daemon.run())
    try:

        async def all_bound() -> bool:
            pods = [await get_pod(client, name) for name in names]
            return all(pod["spec"].get("nodeName") for pod in pods)

        await wait_until(all_bound, what="40 bound replicas")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    per_node: dict[str, int] = {}
    for name in names:
        node = (await get_pod(client, name))["spec"]["nodeName"]
        per_node[node] = per_node.get(node, 0) + 1
    assert max(daemon.batch_sizes) == 40
    assert max(per_node.values()) == 2  # LeastAllocated evens 40 pods over 20 nodes
