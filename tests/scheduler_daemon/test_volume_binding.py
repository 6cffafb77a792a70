"""The daemon places pods next to their bound PersistentVolumes and reports unbound claims."""

from __future__ import annotations

from typing import Any

from pykube_control.client.api import APIClient
from pykube_control.client.resource import PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES, PODS
from pykube_control.scheduler.daemon import SchedulerDaemon
from tests.scheduler_daemon.conftest import condition, get_pod, make_pod, wait_until

Object = dict[str, Any]


def volume(name: str, node: str) -> Object:
    term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "hostPath": {"path": "/tmp/unused"},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [term]}},
        },
    }


def claim(name: str, volume_name: str = "") -> Object:
    spec: Object = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    if volume_name:
        spec["volumeName"] = volume_name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def pod_with_claim(name: str, claim_name: str) -> Object:
    pod = make_pod(name)
    pod["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim_name}}]
    return pod


async def test_pod_follows_volume_affinity(client: APIClient, scheduler: SchedulerDaemon) -> None:
    await client.create(PERSISTENT_VOLUMES, volume("pv-db", "fake-node-7"))
    await client.create(PERSISTENT_VOLUME_CLAIMS, claim("db", "pv-db"), namespace="default")
    await client.create(PODS, pod_with_claim("db-0", "db"), namespace="default")

    async def bound() -> bool:
        return bool((await get_pod(client, "db-0"))["spec"].get("nodeName"))

    await wait_until(bound, what="db-0 bound")
    assert (await get_pod(client, "db-0"))["spec"]["nodeName"] == "fake-node-7"


async def test_unbound_claim_reported(client: APIClient, scheduler: SchedulerDaemon) -> None:
    await client.create(PERSISTENT_VOLUME_CLAIMS, claim("pending"), namespace="default")
    await client.create(PODS, pod_with_claim("waits", "pending"), namespace="default")

    async def reported() -> bool:
        return condition(await get_pod(client, "waits"), "PodScheduled") is not None

    await wait_until(reported, what="PodScheduled condition of waits")
    scheduled = condition(await get_pod(client, "waits"), "PodScheduled")
    assert scheduled is not None
    assert scheduled["message"] == "0/20 nodes are available: pod has unbound immediate PersistentVolumeClaims."
