"""Filter plugins: verdicts, plugin names and reason strings on both kernels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pykube_core.scheduler import Profile, SchedulerKernel, Status
from tests.scheduler.builders import (
    container,
    expression,
    host_port,
    make_node,
    make_pod,
    required_affinity,
    scheduler_for,
    taint,
    toleration,
)

Object = dict[str, Any]

UNSCHEDULABLE = "node(s) were unschedulable"
NODE_NAME = "node(s) didn't match the requested node name"
TAINTED = "node(s) had untolerated taint(s)"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"
PORTS = "node(s) didn't have free ports for the requested pod ports"


def reasons_on(
    kernel: SchedulerKernel, node: Object, pod: Object, *, placed: Sequence[Object] = ()
) -> tuple[str, ...]:
    scheduler = scheduler_for(kernel, node)
    for other in placed:
        scheduler.table.assume_pod(other, node["metadata"]["name"])
    result = scheduler.filter(pod)
    if not result.rejected:
        return ()
    return result.rejected[0].reasons


CASES = [
    # NodeUnschedulable
    pytest.param(make_node("n", unschedulable=True), make_pod(), (UNSCHEDULABLE,), id="cordoned node"),
    pytest.param(
        make_node("n", unschedulable=True),
        make_pod(tolerations=[toleration("node.kubernetes.io/unschedulable", operator="Exists", effect="NoSchedule")]),
        (),
        id="cordoned node tolerated",
    ),
    pytest.param(
        make_node("n", unschedulable=True),
        make_pod(tolerations=[toleration(operator="Exists")]),
        (),
        id="cordoned node tolerated by wildcard",
    ),
    pytest.param(
        make_node("n", unschedulable=True),
        make_pod(tolerations=[toleration("node.kubernetes.io/unschedulable", operator="Exists", effect="NoExecute")]),
        (UNSCHEDULABLE,),
        id="cordoned node wrong effect",
    ),
    # NodeName
    pytest.param(make_node("n"), make_pod(nodeName="other"), (NODE_NAME,), id="node name differs"),
    pytest.param(make_node("n"), make_pod(nodeName="n"), (), id="node name equal"),
    # TaintToleration
    pytest.param(make_node("n", taints=[taint("dedicated", "gpu")]), make_pod(), (TAINTED,), id="untolerated taint"),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu", "PreferNoSchedule")]), make_pod(), (), id="prefer taint passes"
    ),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu", "NoExecute")]), make_pod(), (TAINTED,), id="no execute taint"
    ),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu")]),
        make_pod(tolerations=[toleration("dedicated", "gpu")]),
        (),
        id="equal toleration",
    ),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu")]),
        make_pod(tolerations=[toleration("dedicated", "cpu")]),
        (TAINTED,),
        id="equal toleration other value",
    ),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu")]),
        make_pod(tolerations=[toleration("dedicated", operator="Exists")]),
        (),
        id="exists toleration",
    ),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu")]),
        make_pod(tolerations=[toleration("dedicated", operator="Exists", effect="NoExecute")]),
        (TAINTED,),
        id="toleration effect differs",
    ),
    pytest.param(
        make_node("n", taints=[taint("dedicated", "gpu")]),
        make_pod(tolerations=[toleration("dedicated", "gpu", operator="Lt")]),
        (TAINTED,),
        id="unknown toleration operator",
    ),
    # NodeAffinity
    pytest.param(make_node("n", labels={"disk": "ssd"}), make_pod(nodeSelector={"disk": "ssd"}), (), id="node selector match"),
    pytest.param(
        make_node("n", labels={"disk": "hdd"}), make_pod(nodeSelector={"disk": "ssd"}), (AFFINITY,), id="node selector value differs"
    ),
    pytest.param(make_node("n"), make_pod(nodeSelector={"disk": "ssd"}), (AFFINITY,), id="node selector key missing"),
    pytest.param(
        make_node("n", labels={"zone": "a"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("zone", "In", "a", "b")]})),
        (),
        id="affinity in",
    ),
    pytest.param(
        make_node("n", labels={"zone": "c"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("zone", "In", "a", "b")]})),
        (AFFINITY,),
        id="affinity in other value",
    ),
    pytest.param(
        make_node("n"),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("zone", "NotIn", "a")]})),
        (),
        id="affinity notin missing key",
    ),
    pytest.param(
        make_node("n", labels={"zone": "a"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("zone", "DoesNotExist")]})),
        (AFFINITY,),
        id="affinity does not exist",
    ),
    pytest.param(
        make_node("n", labels={"cores": "16"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("cores", "Gt", "8")]})),
        (),
        id="affinity gt",
    ),
    pytest.param(
        make_node("n", labels={"cores": "8"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("cores", "Gt", "8")]})),
        (AFFINITY,),
        id="affinity gt equal value",
    ),
    pytest.param(
        make_node("n", labels={"cores": "many"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("cores", "Lt", "8")]})),
        (AFFINITY,),
        id="affinity lt label not integer",
    ),
    pytest.param(
        make_node("n", labels={"cores": "4"}),
        make_pod(affinity=required_affinity({"matchExpressions": [expression("cores", "Lt", "x")]})),
        (AFFINITY,),
        id="affinity lt operand not integer",
    ),
    pytest.param(
        make_node("n", labels={"zone": "a"}),
        make_pod(
            affinity=required_affinity(
                {"matchExpressions": [expression("zone", "In", "b")]},
                {"matchExpressions": [expression("zone", "In", "a")]},
            )
        ),
        (),
        id="affinity terms ored",
    ),
    pytest.param(
        make_node("n", labels={"zone": "a"}),
        make_pod(
            affinity=required_affinity(
                {"matchExpressions": [expression("zone", "In", "a"), expression("disk", "Exists")]}
            )
        ),
        (AFFINITY,),
        id="affinity expressions anded",
    ),
    pytest.param(
        make_node("n", labels={"zone": "a"}),
        make_pod(nodeSelector={"disk": "ssd"}, affinity=required_affinity({"matchExpressions": [expression("zone", "In", "a")]})),
        (AFFINITY,),
        id="selector and affinity both needed",
    ),
    pytest.param(
        make_node("n"), make_pod(affinity=required_affinity({})), (AFFINITY,), id="empty term matches nothing"
    ),
    pytest.param(
        make_node("n"),
        make_pod(affinity=required_affinity({"matchFields": [expression("metadata.name", "In", "n")]})),
        (),
        id="match fields name",
    ),
    pytest.param(
        make_node("n"),
        make_pod(affinity=required_affinity({"matchFields": [expression("metadata.name", "NotIn", "n")]})),
        (AFFINITY,),
        id="match fields name notin",
    ),
    # NodePorts
    pytest.param(
        make_node("n"),
        make_pod(containers=[container(ports=[host_port(80)])]),
        (PORTS,),
        id="host port taken",
    ),
    pytest.param(
        make_node("n"),
        make_pod(containers=[container(ports=[host_port(80, protocol="UDP")])]),
        (),
        id="host port other protocol",
    ),
    pytest.param(
        make_node("n"),
        make_pod(containers=[container(ports=[host_port(81)])]),
        (),
        id="host port other number",
    ),
]


@pytest.mark.parametrize(("node", "pod", "expected"), CASES)
def test_filter_reasons(kernel: SchedulerKernel, node: Object, pod: Object, expected: tuple[str, ...]) -> None:
    placed = [make_pod("web", containers=[container(ports=[host_port(80)])])]
    assert reasons_on(kernel, node, pod, placed=placed) == expected


PORT_CASES = [
    pytest.param("", "", True, id="both wildcard"),
    pytest.param("10.0.0.1", "", True, id="used wildcard blocks address"),
    pytest.param("", "10.0.0.1", True, id="wildcard request blocks"),
    pytest.param("10.0.0.1", "10.0.0.1", True, id="same address"),
    pytest.param("10.0.0.1", "10.0.0.2", False, id="different addresses"),
    pytest.param("0.0.0.0", "10.0.0.2", True, id="explicit wildcard"),
]


@pytest.mark.parametrize(("used_ip", "requested_ip", "conflict"), PORT_CASES)
def test_node_ports_addresses(kernel: SchedulerKernel, used_ip: str, requested_ip: str, conflict: bool) -> None:
    placed = make_pod("web", containers=[container(ports=[host_port(8080, ip=used_ip)])])
    pod = make_pod(containers=[container(ports=[host_port(8080, ip=requested_ip)])])
    expected = (PORTS,) if conflict else ()
    assert reasons_on(kernel, make_node("n"), pod, placed=[placed]) == expected


def test_node_ports_sidecar_counts(kernel: SchedulerKernel) -> None:
    sidecar = container("proxy", ports=[host_port(9000)], restart_policy="Always")
    placed = make_pod("web", init_containers=[sidecar])
    pod = make_pod(containers=[container(ports=[host_port(9000)])])
    assert reasons_on(kernel, make_node("n"), pod, placed=[placed]) == (PORTS,)


def test_node_ports_freed_after_forget(kernel: SchedulerKernel) -> None:
    scheduler = scheduler_for(kernel, make_node("n"))
    placed = make_pod("web", containers=[container(ports=[host_port(80)])])
    scheduler.table.assume_pod(placed, "n")
    scheduler.table.forget_pod(placed)
    assert scheduler.filter(make_pod(containers=[container(ports=[host_port(80)])])).rejected == ()


RESOURCE_CASES = [
    pytest.param(make_node("n", cpu="1"), make_pod(cpu="2"), ("Insufficient cpu",), id="cpu too large"),
    pytest.param(make_node("n", memory="1Gi"), make_pod(memory="2Gi"), ("Insufficient memory",), id="memory too large"),
    pytest.param(
        make_node("n", cpu="1", memory="1Gi"),
        make_pod(cpu="2", memory="2Gi"),
        ("Insufficient cpu", "Insufficient memory"),
        id="cpu and memory",
    ),
    pytest.param(make_node("n", pods="0"), make_pod(), ("Too many pods",), id="no pod slots"),
    pytest.param(make_node("n", cpu="0", memory="0"), make_pod(), (), id="empty pod fits by count"),
    pytest.param(
        make_node("n"),
        make_pod(containers=[container(requests={"example.com/gpu": "1"})]),
        ("Insufficient example.com/gpu",),
        id="extended resource missing",
    ),
    pytest.param(
        make_node("n", extra={"example.com/gpu": "2"}),
        make_pod(containers=[container(requests={"example.com/gpu": "2"})]),
        (),
        id="extended resource fits",
    ),
    pytest.param(
        make_node("n", cpu="1"),
        make_pod(cpu="100m", init_containers=[container("init", requests={"cpu": "1500m"})]),
        ("Insufficient cpu",),
        id="init container cpu too large",
    ),
    pytest.param(
        make_node("n", cpu="1"),
        make_pod(
            containers=[container("a", requests={"cpu": "600m"}), container("b", requests={"cpu": "300m"})],
            init_containers=[container("init", requests={"cpu": "900m"})],
        ),
        (),
        id="init max not added to apps",
    ),
    pytest.param(
        make_node("n", cpu="1"),
        make_pod(cpu="600m", init_containers=[container("proxy", requests={"cpu": "500m"}, restart_policy="Always")]),
        ("Insufficient cpu",),
        id="sidecar summed with apps",
    ),
]


@pytest.mark.parametrize(("node", "pod", "expected"), RESOURCE_CASES)
def test_resources_fit_reasons(kernel: SchedulerKernel, node: Object, pod: Object, expected: tuple[str, ...]) -> None:
    assert reasons_on(kernel, node, pod) == expected


def test_resources_fit_counts_assumed(kernel: SchedulerKernel) -> None:
    scheduler = scheduler_for(kernel, make_node("n", cpu="1"))
    scheduler.table.assume_pod(make_pod("a", cpu="600m"), "n")
    result = scheduler.filter(make_pod("b", cpu="600m"))
    assert result.rejected[0].reasons == ("Insufficient cpu",)
    assert result.rejected[0].status == Status.UNSCHEDULABLE


def test_resources_fit_unresolvable_beyond_allocatable(kernel: SchedulerKernel) -> None:
    result = scheduler_for(kernel, make_node("n", cpu="1")).filter(make_pod(cpu="2"))
    assert result.rejected[0].status == Status.UNSCHEDULABLE_AND_UNRESOLVABLE


def test_first_failing_plugin_reported(kernel: SchedulerKernel) -> None:
    node = make_node("n", cpu="1", taints=[taint("a")], unschedulable=True)
    verdict = scheduler_for(kernel, node).filter(make_pod(cpu="2")).rejected[0]
    assert verdict.plugin == "NodeUnschedulable"
    assert verdict.reasons == (UNSCHEDULABLE,)


def test_legacy_taint_reason(kernel: SchedulerKernel) -> None:
    node = make_node("n", taints=[taint("other", "x", "PreferNoSchedule"), taint("dedicated", "gpu")])
    scheduler = scheduler_for(kernel, node, profile=Profile(legacy_taint_reason=True))
    assert scheduler.filter(make_pod()).rejected[0].reasons == ("node(s) had untolerated taint {dedicated: gpu}",)


def test_filter_message(kernel: SchedulerKernel) -> None:
    scheduler = scheduler_for(
        kernel,
        make_node("a", cpu="1"),
        make_node("b", cpu="1"),
        make_node("c", taints=[taint("dedicated")]),
        make_node("d", unschedulable=True),
    )
    message = scheduler.schedule(make_pod(cpu="2")).message()
    assert message == (
        "0/4 nodes are available: 1 node(s) had untolerated taint(s), "
        "1 node(s) were unschedulable, 2 Insufficient cpu."
    )
