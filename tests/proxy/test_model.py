"""ServiceModel: Services and EndpointSlices into rows, and the inputs it skips."""

from __future__ import annotations

from typing import Any

import pytest

from pykube_core.proxy.arrays import (
    AFFINITY_CLIENT_IP,
    ENDPOINT_LOCAL,
    ENDPOINT_READY,
    ENDPOINT_SERVING,
    ENDPOINT_TERMINATING,
    EXTERNAL_POLICY_LOCAL,
    INTERNAL_POLICY_LOCAL,
)
from pykube_core.proxy.model import DEFAULT_AFFINITY_TIMEOUT, ServiceModel


def service(name: str = "web", **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "clusterIP": "10.96.0.10",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}],
    }
    base.update(spec)
    return {"metadata": {"namespace": "default", "name": name}, "spec": base}


def endpoint_slice(name: str, endpoints: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"namespace": "default", "name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints,
    }
    body.update(fields)
    return body


def compile_one(svc: dict[str, Any], *slices: dict[str, Any]) -> tuple[Any, list[str]]:
    model = ServiceModel(node_name="node-a")
    model.set_service(svc)
    for item in slices:
        model.set_slice(item)
    specs, problems = model.all_specs()
    return specs, [problem.reason for problem in problems]


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        pytest.param({"clusterIP": "10.96.0.300"}, "spec.clusterIP: invalid IP address", id="invalid cluster ip"),
        pytest.param({"clusterIP": "fd00::10"}, "IPv6 address 'fd00::10' is not supported", id="ipv6 cluster ip"),
        pytest.param({"externalIPs": ["192.0.2.1", "2001:db8::1"]}, "spec.externalIPs[1]", id="mixed family"),
        pytest.param(
            {"ports": [{"name": "x", "port": 70000, "protocol": "TCP"}]}, "port 70000 out of range", id="port range"
        ),
        pytest.param(
            {"ports": [{"name": "x", "port": 80, "protocol": "ICMP"}]}, "unsupported protocol 'ICMP'", id="protocol"
        ),
        pytest.param(
            {"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/33"]}, "invalid CIDR", id="source range"
        ),
        pytest.param(
            {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 90000}}},
            "timeoutSeconds: 90000 out of range",
            id="affinity timeout",
        ),
    ],
)
def test_invalid_service_skipped(spec: dict[str, Any], reason: str) -> None:
    model = ServiceModel()
    model.set_service(service("bad", **spec))
    model.set_service(service("good", clusterIP="10.96.0.11"))

    specs, problems = model.all_specs()

    assert [s.cluster_ip for s in specs] == [0x0A60000B]
    assert len(problems) == 1
    assert reason in problems[0].reason


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"clusterIP": "None"}, id="headless"),
        pytest.param({"type": "ExternalName", "externalName": "example.com", "clusterIP": ""}, id="external name"),
    ],
)
def test_service_without_rules(spec: dict[str, Any]) -> None:
    specs, problems = compile_one(service(**spec))
    assert specs == []
    assert problems == []


def test_named_port_resolved_per_slice() -> None:
    first = endpoint_slice("web-1", [{"addresses": ["10.1.0.2"]}])
    second = endpoint_slice(
        "web-2", [{"addresses": ["10.1.0.3"]}], ports=[{"name": "http", "port": 9090, "protocol": "TCP"}]
    )
    specs, _ = compile_one(service(), first, second)
    assert [(e.ip, e.port) for e in specs[0].endpoints] == [(0x0A010002, 8080), (0x0A010003, 9090)]


def test_endpoint_conditions_to_state() -> None:
    endpoints = [
        {"addresses": ["10.1.0.2"], "nodeName": "node-a"},
        {"addresses": ["10.1.0.3"], "conditions": {"ready": False, "serving": True, "terminating": True}},
        {"addresses": ["10.1.0.4"], "conditions": {"ready": False}},
    ]
    specs, _ = compile_one(service(), endpoint_slice("web-1", endpoints))
    states = [e.state for e in specs[0].endpoints]
    assert states == [
        ENDPOINT_READY | ENDPOINT_SERVING | ENDPOINT_LOCAL,
        ENDPOINT_SERVING | ENDPOINT_TERMINATING,
        0,
    ]


def test_invalid_slice_skipped_alone() -> None:
    good = endpoint_slice("web-1", [{"addresses": ["10.1.0.2"]}])
    bad = endpoint_slice("web-2", [{"addresses": ["10.1.0.999"]}])
    specs, problems = compile_one(service(), good, bad)
    assert [e.ip for e in specs[0].endpoints] == [0x0A010002]
    assert len(problems) == 1
    assert "endpoints[0].addresses[0]: invalid IP address" in problems[0]


def test_ipv6_slice_ignored() -> None:
    slice_v6 = endpoint_slice("web-6", [{"addresses": ["fd00::2"]}], addressType="IPv6")
    specs, problems = compile_one(service(), slice_v6)
    assert specs[0].endpoints == ()
    assert problems == []


def test_policies_and_affinity_flags() -> None:
    svc = service(
        type="NodePort",
        externalTrafficPolicy="Local",
        internalTrafficPolicy="Local",
        sessionAffinity="ClientIP",
    )
    specs, _ = compile_one(svc)
    assert specs[0].flags == AFFINITY_CLIENT_IP | EXTERNAL_POLICY_LOCAL | INTERNAL_POLICY_LOCAL
    assert specs[0].affinity_timeout == DEFAULT_AFFINITY_TIMEOUT


def test_removed_port_sent_empty() -> None:
    model = ServiceModel()
    model.set_service(service())
    first, _ = model.changed_specs(sorted(model.dirty))
    model.commit()
    model.delete_service(service())

    second, _ = model.changed_specs(sorted(model.dirty))

    assert [s.id for s in second] == [first[0].id]
    assert second[0].cluster_ip == 0
