"""The core end-to-end checks on `pykube up --etcd-endpoints` backed by a three-member etcd cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.cluster import REPO, Cluster, missing
from tests.e2e.etcd_netns import NetnsEtcd
from tests.store.etcd_server import find_etcd_binary


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    reason = missing() or (None if find_etcd_binary() else "needs etcd; scripts/setup installs etcd-server")
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster()
    etcd: NetnsEtcd | None = None
    try:
        cluster.create_network()
        etcd = NetnsEtcd(cluster.netns, cluster.directory)
        etcd.start()
        cluster.etcd_endpoints = etcd.endpoints
        cluster.build_image()
        cluster.start()
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            if etcd is not None:
                etcd.stop()
            cluster.destroy()


def ready_web_pods(cluster: Cluster) -> list[str]:
    pods = cluster.kubectl_json("get", "pods", "-l", "app=web")["items"]
    return [
        p["metadata"]["name"] for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
    ]  # fmt: skip


def test_store_is_etcd(cluster: Cluster) -> None:
    assert not (cluster.data_dir / "state.db").exists()


def test_example_runs_and_serves(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str(REPO / "examples" / "01-web.yaml"))
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    pods = cluster.kubectl_json("get", "pods", "-l", "app=web")["items"]
    answers = [cluster.curl(f"http://{p['status']['podIP']}:8080/").stdout.strip() for p in pods]
    assert answers == [f"hello from {p['metadata']['name']}" for p in pods]


def test_scale_and_replace(cluster: Cluster) -> None:
    cluster.kubectl("scale", "deployment/web", "--replicas=4")
    cluster.wait_for("4 ready pods", lambda: len(ready_web_pods(cluster)) == 4)
    victim = ready_web_pods(cluster)[0]
    cluster.kubectl("delete", "pod", victim, timeout=90)
    cluster.wait_for("a replacement pod", lambda: len(ready_web_pods(cluster)) == 4 and victim not in ready_web_pods(cluster))


def test_restart_keeps_objects(cluster: Cluster) -> None:
    before = sorted(ready_web_pods(cluster))
    assert cluster.stop() == 0
    cluster.start()
    cluster.wait_for("the same ready pods", lambda: sorted(ready_web_pods(cluster)) == before)
