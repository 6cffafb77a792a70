"""Real packets through the proxy's table, in namespaces from conftest.py."""

from __future__ import annotations

import collections
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pykube_control.proxy.conntrack import ConntrackCleaner
from pykube_control.proxy.nft import ApplyResult, NftApplier
from pykube_control.proxy.syncer import ProxySyncer
from pykube_core.proxy.compiler import RuleCompiler
from pykube_core.proxy.model import ServiceModel
from pykube_core.proxy.ruleset import cleanup_commands
from tests.proxy.conftest import CLIENT_ADDRESS, NODE_ADDRESS, Topology

NODE_NAME = "node-a"
TABLE = "pykube"
NODE_ADDRESS_NUMBER = 0x0AFA0001  # 10.250.0.1


def service(
    name: str,
    cluster_ip: str,
    *,
    ports: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name},
        "spec": {
            "clusterIP": cluster_ip,
            "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web"}],
            **spec,
        },
    }


def endpoint_slice(
    service_name: str,
    slice_name: str,
    backends: list[tuple[str, str]],
    *,
    port: int = 8080,
    port_name: str = "http",
    protocol: str = "TCP",
    ready: bool = True,
) -> dict[str, Any]:
    """Return an EndpointSlice whose backends are (address, nodeName) pairs."""
    return {
        "metadata": {
            "namespace": "default",
            "name": slice_name,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": port_name, "port": port, "protocol": protocol}],
        "endpoints": [
            {"addresses": [address], "nodeName": node, "conditions": {"ready": ready}}
            for address, node in backends
        ],
    }


class Proxy:
    """A model, compiler and syncer applying into the topology's node namespace."""

    def __init__(self, topology: Topology, applier: NftApplier) -> None:
        self.model = ServiceModel(node_name=NODE_NAME)
        self.syncer = ProxySyncer(
            self.model,
            RuleCompiler(TABLE),
            applier,
            cleaner=ConntrackCleaner(topology.node),
            min_sync_interval=0.0,
        )
        self.syncer.set_node_addresses([NODE_ADDRESS_NUMBER])

    async def sync(self) -> None:
        assert await self.syncer.sync()


@pytest.fixture
async def applier(topology: Topology) -> AsyncIterator[NftApplier]:
    nft = NftApplier(topology.node)
    try:
        yield nft
    finally:
        nft.apply_sync(cleanup_commands(TABLE))
        nft.close()


@pytest.fixture
def proxy(topology: Topology, applier: NftApplier) -> Proxy:
    return Proxy(topology, applier)


def all_backends(topology: Topology, node: Callable[[str], str] = lambda name: "node-b") -> list[tuple[str, str]]:
    return [(address, node(name)) for name, address in topology.backends.items()]


def names(answers: list[str]) -> collections.Counter[str]:
    return collections.Counter(answer.split()[0] for answer in answers)


async def test_cluster_ip_spreads_evenly(topology: Topology, proxy: Proxy) -> None:
    proxy.model.set_service(service("web", "10.96.0.10"))
    proxy.model.set_slice(endpoint_slice("web", "web-1", all_backends(topology)))
    await proxy.sync()

    result = topology.probe("tcp", "10.96.0.10", 80, 300)

    assert result["errors"] == []
    counts = names(result["answers"])
    assert set(counts) == set(topology.backends)
    # Uniform choice gives 100 each; below 55 or above 145 has a
    # probability under 1e-6 per backend (binomial, n=300, p=1/3).
    for backend, count in counts.items():
        assert 55 <= count <= 145, f"{backend} answered {count} of 300"


async def test_curl_cluster_ip_and_node_port(topology: Topology, proxy: Proxy) -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web", "nodePort": 30080}]
    proxy.model.set_service(service("web", "10.96.0.11", ports=ports, type="NodePort"))
    proxy.model.set_slice(endpoint_slice("web", "web-1", all_backends(topology)))
    await proxy.sync()

    for url in ("http://10.96.0.11/", f"http://{NODE_ADDRESS}:30080/"):
        output = subprocess.run(
            ["ip", "netns", "exec", topology.client, "curl", "-sS", "-m", "5", url],
            capture_output=True, text=True, check=True,
        ).stdout
        backend, source = output.split()
        assert backend in topology.backends
        # NodePort traffic with externalTrafficPolicy Cluster is masqueraded.
        assert source == (CLIENT_ADDRESS if "10.96" in url else "10.244.0.1")


async def test_affinity_keeps_backend(topology: Topology, proxy: Proxy) -> None:
    proxy.model.set_service(service("sticky", "10.96.0.12", sessionAffinity="ClientIP"))
    proxy.model.set_slice(endpoint_slice("sticky", "sticky-1", all_backends(topology)))
    await proxy.sync()

    result = topology.probe("tcp", "10.96.0.12", 80, 30)

    assert result["errors"] == []
    assert len(names(result["answers"])) == 1


async def test_no_endpoints_refused(topology: Topology, proxy: Proxy) -> None:
    proxy.model.set_service(service("empty", "10.96.0.13"))
    await proxy.sync()

    result = topology.probe("tcp", "10.96.0.13", 80, 3)

    assert result["errors"] == ["ConnectionRefusedError"] * 3


async def test_named_target_port_per_slice(topology: Topology, proxy: Proxy) -> None:
    proxy.model.set_service(service("named", "10.96.0.14"))
    proxy.model.set_slice(endpoint_slice("named", "named-1", [(topology.backends["b0"], "node-b")], port=8080))
    proxy.model.set_slice(endpoint_slice("named", "named-2", [(topology.backends["b1"], "node-b")], port=9090))
    await proxy.sync()

    result = topology.probe("tcp", "10.96.0.14", 80, 40)

    assert result["errors"] == []
    assert set(names(result["answers"])) == {"b0", "b1"}


async def test_external_local_keeps_source(topology: Topology, proxy: Proxy) -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web", "nodePort": 30081}]
    proxy.model.set_service(
        service("local", "10.96.0.15", ports=ports, type="NodePort", externalTrafficPolicy="Local")
    )
    local_is_b1 = all_backends(topology, lambda name: NODE_NAME if name == "b1" else "node-b")
    proxy.model.set_slice(endpoint_slice("local", "local-1", local_is_b1))
    await proxy.sync()

    result = topology.probe("tcp", NODE_ADDRESS, 30081, 20)

    assert result["errors"] == []
    assert set(result["answers"]) == {f"b1 {CLIENT_ADDRESS}"}


async def test_hairpin_masqueraded(topology: Topology, proxy: Proxy) -> None:
    proxy.model.set_service(service("self", "10.96.0.20"))
    proxy.model.set_slice(endpoint_slice("self", "self-1", [(topology.backends["b0"], NODE_NAME)]))
    await proxy.sync()

    result = topology.probe("tcp", "10.96.0.20", 80, 3, netns=topology.backend_namespaces["b0"])

    assert result["errors"] == []
    # The pod reaches itself with the node's bridge address as source, so
    # its reply goes back through the node's conntrack.
    assert set(result["answers"]) == {"b0 10.244.0.1"}


@pytest.mark.parametrize(
    ("source_range", "reachable"),
    [
        pytest.param("10.250.0.0/24", True, id="client inside range"),
        pytest.param("10.99.0.0/16", False, id="client outside range"),
    ],
)
async def test_load_balancer_source_ranges(
    topology: Topology, proxy: Proxy, source_range: str, reachable: bool
) -> None:
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "web", "nodePort": 30082}]
    lb = service("lb", "10.96.0.21", ports=ports, type="LoadBalancer", loadBalancerSourceRanges=[source_range])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}
    proxy.model.set_service(lb)
    proxy.model.set_slice(endpoint_slice("lb", "lb-1", all_backends(topology)))
    await proxy.sync()

    result = topology.probe("tcp", "192.0.2.10", 80, 1)

    assert bool(result["answers"]) is reachable


async def test_external_ip_reaches_backend(topology: Topology, proxy: Proxy) -> None:
    proxy.model.set_service(service("ext", "10.96.0.22", externalIPs=["192.0.2.11"]))
    proxy.model.set_slice(endpoint_slice("ext", "ext-1", all_backends(topology)))
    await proxy.sync()

    result = topology.probe("tcp", "192.0.2.11", 80, 5)

    assert result["errors"] == []
    assert set(names(result["answers"])) <= set(topology.backends)


async def test_udp_client_follows_replacement(topology: Topology, proxy: Proxy) -> None:
    udp_port = [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 8080}]
    proxy.model.set_service(service("dns", "10.96.0.16", ports=udp_port))
    b0, b2 = topology.backends["b0"], topology.backends["b2"]
    proxy.model.set_slice(endpoint_slice("dns", "dns-1", [(b0, "node-b")], port_name="dns", protocol="UDP"))
    await proxy.sync()
    before = topology.probe("udp", "10.96.0.16", 53, 3, source_port=40053)

    proxy.model.set_slice(endpoint_slice("dns", "dns-1", [(b2, "node-b")], port_name="dns", protocol="UDP"))
    await proxy.sync()
    after = topology.probe("udp", "10.96.0.16", 53, 3, source_port=40053)

    assert set(names(before["answers"])) == {"b0"}
    assert set(names(after["answers"])) == {"b2"}


async def test_restart_keeps_established_flow(topology: Topology, applier: NftApplier) -> None:
    first = Proxy(topology, applier)
    first.model.set_service(service("keep", "10.96.0.17"))
    first.model.set_slice(endpoint_slice("keep", "keep-1", all_backends(topology)))
    await first.sync()
    holder = subprocess.Popen(
        ["ip", "netns", "exec", topology.client, sys.executable, "-c", HOLD_CONNECTION, "10.96.0.17", "80"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdin is not None and holder.stdout is not None
        initial = holder.stdout.readline().split()[0]

        restarted = Proxy(topology, applier)
        restarted.model.set_service(service("keep", "10.96.0.17"))
        restarted.model.set_slice(endpoint_slice("keep", "keep-1", all_backends(topology)))
        await restarted.sync()
        holder.stdin.write("ping\n")
        holder.stdin.flush()
        later = holder.stdout.readline().split()

        assert later[:1] == [initial]
    finally:
        holder.kill()
        holder.wait()


HOLD_CONNECTION = """
import socket, sys
connection = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
lines = connection.makefile()
request = "ping\\n"
while request:
    connection.sendall(request.encode())
    print(lines.readline().strip(), flush=True)
    request = sys.stdin.readline()
"""


class FailOnce:
    """An applier whose next transaction carries one invalid command."""

    def __init__(self, inner: NftApplier) -> None:
        self.inner = inner
        self.fail_next = False

    async def apply(self, text: str) -> ApplyResult:
        if self.fail_next:
            self.fail_next = False
            text += "add element ip pykube frontends { not-an-address . tcp . 80 : drop }\n"
        return await self.inner.apply(text)


async def test_failed_sync_keeps_rules(topology: Topology, applier: NftApplier) -> None:
    failing = FailOnce(applier)
    model = ServiceModel(node_name=NODE_NAME)
    syncer = ProxySyncer(model, RuleCompiler(TABLE), failing, min_sync_interval=0.0)
    model.set_service(service("stay", "10.96.0.18"))
    model.set_slice(endpoint_slice("stay", "stay-1", [(topology.backends["b0"], "node-b")]))
    assert await syncer.sync()

    model.set_slice(endpoint_slice("stay", "stay-1", [(topology.backends["b1"], "node-b")]))
    failing.fail_next = True
    failed = await syncer.sync()
    during = topology.probe("tcp", "10.96.0.18", 80, 5)
    resynced = await syncer.sync()
    after = topology.probe("tcp", "10.96.0.18", 80, 5)

    assert failed is False
    assert set(names(during["answers"])) == {"b0"}
    assert resynced is True
    assert set(names(after["answers"])) == {"b1"}


async def test_cleanup_removes_table(topology: Topology, proxy: Proxy, applier: NftApplier) -> None:
    proxy.model.set_service(service("gone", "10.96.0.19"))
    await proxy.sync()

    result = await applier.apply(cleanup_commands(TABLE))
    listed = await applier.apply("list tables")

    assert result.ok
    assert f"table ip {TABLE}" not in listed.output
