"""The scheduler cache re-accounts a bound pod only when a field the table reads changed."""

from __future__ import annotations

import copy

from pykube_control.scheduler.cache import SchedulerCache
from tests.scheduler.builders import make_node, make_pod


def bound(pod: dict[str, object], node: str) -> dict[str, object]:
    copied = copy.deepcopy(pod)
    copied["spec"]["nodeName"] = node  # type: ignore[index]
    copied["status"] = {"phase": "Running"}
    return copied


def test_bound_twin_keeps_accounting() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = make_pod("web", cpu="500m")
    cache.assume(pod, "n1")
    cache.update_pod(bound(pod, "n1"))
    cache.update_pod(bound(pod, "n1"))
    assert cache.table.requested("n1")["cpu"] == 500
    assert cache.table.pod_count("n1") == 1
    assert not cache.is_assumed("default/web")


def test_changed_requests_reaccounted() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = make_pod("web", cpu="500m")
    cache.assume(pod, "n1")
    resized = bound(make_pod("web", cpu="1"), "n1")
    cache.update_pod(resized)
    assert cache.table.requested("n1")["cpu"] == 1000
    assert cache.table.pod_count("n1") == 1


def test_node_readded_accounts_again() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = bound(make_pod("web", cpu="500m"), "n1")
    cache.update_pod(pod)
    cache.remove_node("n1")
    cache.add_node(make_node("n1"))
    cache.update_pod(pod)
    assert cache.table.requested("n1")["cpu"] == 500
    assert cache.table.pod_count("n1") == 1


def test_removed_pod_accounted_again() -> None:
    cache = SchedulerCache()
    cache.add_node(make_node("n1"))
    pod = bound(make_pod("web", cpu="500m"), "n1")
    cache.update_pod(pod)
    cache.remove_pod(pod)
    cache.update_pod(pod)
    assert cache.table.pod_count("n1") == 1
