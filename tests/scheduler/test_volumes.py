"""VolumeBinding and VolumeZone: bound PersistentVolumes restrict a pod's nodes."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.scheduler import Scheduler, SchedulerKernel, check_volumes
from pykube_core.scheduler.volumes import UNBOUND_IMMEDIATE_CLAIMS
from tests.scheduler.builders import make_node, make_pod, table_of

Object = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"
BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"


def claim(name: str, volume_name: str = "", *, deleting: bool = False) -> Object:
    metadata: Object = {"name": name, "namespace": "default"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "spec": {"volumeName": volume_name}}


def volume(name: str, *, terms: list[Object] | None = None, labels: dict[str, str] | None = None) -> Object:
    spec: Object = {}
    if terms is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": terms}}
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def pod_with_claims(*names: str) -> Object:
    pod = make_pod("db", cpu="100m")
    pod["spec"]["volumes"] = [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": n}} for i, n in enumerate(names)]
    return pod


def nodes_in_zones() -> list[Object]:
    return [
        make_node("a1", labels={ZONE: "a", "disk": "ssd"}),
        make_node("b1", labels={ZONE: "b"}),
        make_node("c1", labels={BETA_ZONE: "c"}),
        make_node("bare"),
    ]


def run(kernel: SchedulerKernel, pvs: list[Object], pvcs: list[Object], *claims: str) -> tuple[str | None, str, set[str]]:
    table = table_of(*nodes_in_zones())
    by_claim = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in pvcs}
    by_volume = {v["metadata"]["name"]: v for v in pvs}
    pod = pod_with_claims(*claims)
    checked = check_volumes(table, pod, lambda ns, n: by_claim.get((ns, n)), by_volume.get)
    assert checked.rejection is None
    result = Scheduler(table, kernel=kernel).schedule(pod, volume_conflicts=checked.conflicts)
    return result.node, result.message(), set(result.filter.feasible)


AFFINITY_SSD = [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]
BY_NAME = [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["bare"]}]}]


@pytest.mark.parametrize(
    ("pv", "feasible"),
    [
        pytest.param(volume("pv", terms=AFFINITY_SSD), {"a1"}, id="node affinity by label"),
        pytest.param(volume("pv", terms=BY_NAME), {"bare"}, id="node affinity by name"),
        pytest.param(volume("pv", labels={ZONE: "b"}), {"b1", "bare"}, id="zone label"),
        pytest.param(volume("pv", labels={ZONE: "a__c"}), {"a1", "c1", "bare"}, id="zone set matches beta node label"),
        pytest.param(volume("pv", labels={BETA_ZONE: "a"}), {"a1", "bare"}, id="beta pv label"),
        pytest.param(volume("pv"), {"a1", "b1", "c1", "bare"}, id="unrestricted volume"),
    ],
)
def test_bound_volume_feasible(kernel: SchedulerKernel, pv: Object, feasible: set[str]) -> None:
    _, _, found = run(kernel, [pv], [claim("data", "pv")], "data")
    assert found == feasible


def test_affinity_conflict_message(kernel: SchedulerKernel) -> None:
    terms = [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]}]
    node, message, _ = run(kernel, [volume("pv", terms=terms)], [claim("data", "pv")], "data")
    assert node is None
    assert message == "0/4 nodes are available: 4 node(s) had volume node affinity conflict."


def test_zone_conflict_message(kernel: SchedulerKernel) -> None:
    pvs = [volume("pv1", terms=AFFINITY_SSD), volume("pv2", labels={ZONE: "b"})]
    node, message, _ = run(kernel, pvs, [claim("one", "pv1"), claim("two", "pv2")], "one", "two")
    assert node is None
    assert message == (
        "0/4 nodes are available: 1 node(s) had no available volume zone, "
        "3 node(s) had volume node affinity conflict."
    )


@pytest.mark.parametrize(
    ("pvcs", "pvs", "rejection"),
    [
        pytest.param([claim("data")], [], UNBOUND_IMMEDIATE_CLAIMS, id="unbound claim"),
        pytest.param([], [], 'persistentvolumeclaim "data" not found', id="missing claim"),
        pytest.param([claim("data", "pv", deleting=True)], [volume("pv")], 'persistentvolumeclaim "data" is being deleted', id="claim being deleted"),
        pytest.param([claim("data", "gone")], [], 'persistentvolume "gone" not found', id="missing volume"),
    ],
)
def test_claim_rejection(pvcs: list[Object], pvs: list[Object], rejection: str) -> None:
    table = table_of(*nodes_in_zones())
    by_claim = {c["metadata"]["name"]: c for c in pvcs}
    by_volume = {v["metadata"]["name"]: v for v in pvs}
    checked = check_volumes(table, pod_with_claims("data"), lambda ns, n: by_claim.get(n), by_volume.get)
    assert checked.rejection == rejection


def test_pod_without_claims_unrestricted() -> None:
    table = table_of(*nodes_in_zones())
    checked = check_volumes(table, make_pod("web"), lambda ns, n: None, lambda n: None)
    assert checked.conflicts is None
