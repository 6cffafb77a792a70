"""Service cluster IP and NodePort allocation, against a real API server on SQLite."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pykube_control.apiserver.admission.service_allocator import Owner
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.errors import APIError
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import ENDPOINT_SLICES, SERVICES, resource_for
from pykube_control.store import open_store

ENDPOINTS = resource_for("", "v1", "endpoints")
SERVICE_NETWORK = ipaddress.ip_network("10.96.0.0/12")


async def _start(data_dir: Path, cidr: str = "10.96.0.0/12") -> RunningAPIServer:
    config = APIServerConfig(
        data_dir=data_dir, host="127.0.0.1", port=0, insecure=True, service_cluster_ip_range=cidr
    )
    return await start_apiserver(config)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningAPIServer]:
    running = await _start(tmp_path / "server")
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def client(server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(server.url)) as api:
        yield api


def service(name: str, kind: str = "ClusterIP", *, cluster_ip: str | None = None, node_ports: tuple[int, ...] = ()) -> dict[str, Any]:
    ports: list[dict[str, Any]] = [{"name": "http", "port": 80}, {"name": "https", "port": 443}]
    for port, node_port in zip(ports, node_ports):
        port["nodePort"] = node_port
    spec: dict[str, Any] = {"type": kind, "selector": {"app": name}, "ports": ports}
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


async def _rejection(call: Any) -> APIError:
    with pytest.raises(APIError) as caught:
        await call
    return caught.value


# --- allocation ---------------------------------------------------------------------


async def test_cluster_ip_allocated_from_range(client: APIClient) -> None:
    created = await client.create(SERVICES, service("web"))
    address = ipaddress.ip_address(created["spec"]["clusterIP"])
    assert address in SERVICE_NETWORK
    assert created["spec"]["clusterIPs"] == [str(address)]
    assert str(address) != "10.96.0.1"


async def test_requested_cluster_ip_honoured(client: APIClient) -> None:
    created = await client.create(SERVICES, service("web", cluster_ip="10.96.0.10"))
    assert created["spec"]["clusterIP"] == "10.96.0.10"


async def test_headless_gets_no_ip(client: APIClient) -> None:
    created = await client.create(SERVICES, service("web", cluster_ip="None"))
    assert created["spec"]["clusterIP"] == "None"
    assert created["spec"]["clusterIPs"] == ["None"]


async def test_external_name_gets_no_ip(client: APIClient) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com"},
    }
    created = await client.create(SERVICES, body, namespace="default")
    assert "clusterIP" not in created["spec"]


@pytest.mark.parametrize("kind", [pytest.param("NodePort", id="node port"), pytest.param("LoadBalancer", id="load balancer")])
async def test_node_ports_allocated(client: APIClient, kind: str) -> None:
    created = await client.create(SERVICES, service("web", kind))
    node_ports = [port["nodePort"] for port in created["spec"]["ports"]]
    assert all(30000 <= port <= 32767 for port in node_ports)
    assert len(set(node_ports)) == 2


async def test_load_balancer_without_node_ports(client: APIClient) -> None:
    body = service("web", "LoadBalancer")
    body["spec"]["allocateLoadBalancerNodePorts"] = False
    created = await client.create(SERVICES, body)
    assert [port.get("nodePort") for port in created["spec"]["ports"]] == [None, None]


async def test_requested_node_port_honoured(client: APIClient) -> None:
    created = await client.create(SERVICES, service("web", "NodePort", node_ports=(30080,)))
    assert created["spec"]["ports"][0]["nodePort"] == 30080
    assert 30000 <= created["spec"]["ports"][1]["nodePort"] <= 32767


# --- conflicts ----------------------------------------------------------------------


async def test_taken_cluster_ip_rejected(client: APIClient) -> None:
    await client.create(SERVICES, service("first", cluster_ip="10.96.0.10"))
    error = await _rejection(client.create(SERVICES, service("second", cluster_ip="10.96.0.10")))
    assert error.code == 422
    assert error.message == (
        'Service "second" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.10"]: '
        "failed to allocate IP 10.96.0.10: provided IP is already allocated"
    )


async def test_kubernetes_address_taken(client: APIClient) -> None:
    error = await _rejection(client.create(SERVICES, service("web", cluster_ip="10.96.0.1")))
    assert "failed to allocate IP 10.96.0.1: provided IP is already allocated" in error.message


async def test_cluster_ip_outside_range_rejected(client: APIClient) -> None:
    error = await _rejection(client.create(SERVICES, service("web", cluster_ip="10.200.0.5")))
    assert error.code == 422
    assert error.message == (
        'Service "web" is invalid: spec.clusterIPs: Invalid value: ["10.200.0.5"]: failed to allocate IP '
        "10.200.0.5: the provided IP (10.200.0.5) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
    )


async def test_taken_node_port_rejected(client: APIClient) -> None:
    await client.create(SERVICES, service("first", "NodePort", node_ports=(30080,)))
    error = await _rejection(client.create(SERVICES, service("second", "NodePort", node_ports=(30080,))))
    assert error.code == 422
    assert error.message == (
        'Service "second" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated'
    )


async def test_rejected_create_frees_its_claims(client: APIClient) -> None:
    await client.create(SERVICES, service("first", "NodePort", node_ports=(30081,)))
    # The second port of this Service is taken, so its cluster IP claim must be undone.
    await _rejection(client.create(SERVICES, service("second", "NodePort", cluster_ip="10.96.0.20", node_ports=(30082, 30081))))
    created = await client.create(SERVICES, service("third", "NodePort", cluster_ip="10.96.0.20", node_ports=(30082,)))
    assert created["spec"]["clusterIP"] == "10.96.0.20"


async def test_dry_run_claims_nothing(client: APIClient, server: RunningAPIServer) -> None:
    url = f"{server.url}/api/v1/namespaces/default/services?dryRun=All"
    async with aiohttp.ClientSession() as session, session.post(url, json=service("web", cluster_ip="10.96.0.30")) as response:
        assert response.status == 201
    created = await client.create(SERVICES, service("web", cluster_ip="10.96.0.30"))
    assert created["spec"]["clusterIP"] == "10.96.0.30"


# --- release ------------------------------------------------------------------------


async def test_delete_releases_ip_and_ports(client: APIClient) -> None:
    await client.create(SERVICES, service("first", "NodePort", cluster_ip="10.96.0.40", node_ports=(30090,)))
    await client.delete(SERVICES, "first", namespace="default")
    created = await client.create(SERVICES, service("second", "NodePort", cluster_ip="10.96.0.40", node_ports=(30090,)))
    assert created["spec"]["clusterIP"] == "10.96.0.40"
    assert created["spec"]["ports"][0]["nodePort"] == 30090


async def test_finalizer_delays_release(client: APIClient) -> None:
    body = service("first", cluster_ip="10.96.0.41")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await client.create(SERVICES, body)
    await client.delete(SERVICES, "first", namespace="default")
    error = await _rejection(client.create(SERVICES, service("second", cluster_ip="10.96.0.41")))
    assert "provided IP is already allocated" in error.message

    await client.patch(SERVICES, "first", {"metadata": {"finalizers": None}}, namespace="default")
    created = await client.create(SERVICES, service("third", cluster_ip="10.96.0.41"))
    assert created["spec"]["clusterIP"] == "10.96.0.41"


async def test_type_change_releases_node_ports(client: APIClient) -> None:
    created = await client.create(SERVICES, service("first", "NodePort", node_ports=(30091, 30092)))
    spec = created["spec"]
    spec["type"] = "ClusterIP"
    spec.pop("externalTrafficPolicy", None)
    for port in spec["ports"]:
        port.pop("nodePort")
    await client.update(SERVICES, created)
    again = await client.create(SERVICES, service("second", "NodePort", node_ports=(30091, 30092)))
    assert [port["nodePort"] for port in again["spec"]["ports"]] == [30091, 30092]


async def test_type_change_allocates_node_ports(client: APIClient) -> None:
    created = await client.create(SERVICES, service("web"))
    created["spec"]["type"] = "NodePort"
    updated = await client.update(SERVICES, created)
    assert all(30000 <= port["nodePort"] <= 32767 for port in updated["spec"]["ports"])
    assert updated["spec"]["clusterIP"] == created["spec"]["clusterIP"]


async def test_external_name_change_releases_ip(client: APIClient) -> None:
    created = await client.create(SERVICES, service("first", cluster_ip="10.96.0.60"))
    spec = created["spec"]
    for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
        spec.pop(key, None)
    spec["type"] = "ExternalName"
    spec["externalName"] = "example.com"
    updated = await client.update(SERVICES, created)
    again = await client.create(SERVICES, service("second", cluster_ip="10.96.0.60"))
    assert "clusterIP" not in updated["spec"]
    assert again["spec"]["clusterIP"] == "10.96.0.60"


async def test_external_name_change_allocates_ip(client: APIClient) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ext", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "example.com"},
    }
    created = await client.create(SERVICES, body)
    spec = created["spec"]
    spec["type"] = "ClusterIP"
    spec.pop("externalName")
    spec["ports"] = [{"name": "http", "port": 80}]
    updated = await client.update(SERVICES, created)
    assert ipaddress.ip_address(updated["spec"]["clusterIP"]) in SERVICE_NETWORK


async def test_update_to_taken_node_port_rejected(client: APIClient) -> None:
    await client.create(SERVICES, service("first", "NodePort", node_ports=(30093,)))
    second = await client.create(SERVICES, service("second", "NodePort"))
    second["spec"]["ports"][1]["nodePort"] = 30093
    error = await _rejection(client.update(SERVICES, second))
    assert error.message == (
        'Service "second" is invalid: spec.ports[1].nodePort: Invalid value: 30093: provided port is already allocated'
    )


# --- concurrency and restart ------------------------------------------------------------


async def test_concurrent_creates_distinct(client: APIClient) -> None:
    bodies = [service(f"svc-{index}", "NodePort") for index in range(50)]
    created = await asyncio.gather(*(client.create(SERVICES, body) for body in bodies))
    cluster_ips = {obj["spec"]["clusterIP"] for obj in created}
    node_ports = {port["nodePort"] for obj in created for port in obj["spec"]["ports"]}
    assert len(cluster_ips) == 50
    assert len(node_ports) == 100


async def test_concurrent_same_ip_one_wins(client: APIClient) -> None:
    bodies = [service(f"svc-{index}", cluster_ip="10.96.0.50") for index in range(10)]
    results = await asyncio.gather(*(client.create(SERVICES, body) for body in bodies), return_exceptions=True)
    winners = [result for result in results if isinstance(result, dict)]
    losers = [result for result in results if isinstance(result, APIError)]
    assert len(winners) == 1
    assert len(losers) == 9


async def test_allocations_survive_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "restart"
    first = await _start(data_dir)
    try:
        async with APIClient(ClientConfig.for_url(first.url)) as api:
            created = await api.create(SERVICES, service("web", "NodePort"))
    finally:
        await first.stop()
    address = created["spec"]["clusterIP"]
    node_port = created["spec"]["ports"][0]["nodePort"]

    second = await _start(data_dir)
    try:
        async with APIClient(ClientConfig.for_url(second.url)) as api:
            ip_error = await _rejection(api.create(SERVICES, service("ip", cluster_ip=address)))
            port_error = await _rejection(api.create(SERVICES, service("port", "NodePort", node_ports=(node_port,))))
    finally:
        await second.stop()
    assert "provided IP is already allocated" in ip_error.message
    assert "provided port is already allocated" in port_error.message


async def test_restart_frees_leaked_allocation(tmp_path: Path) -> None:
    data_dir = tmp_path / "leak"
    await (await _start(data_dir)).stop()
    store = await open_store(f"sqlite://{(data_dir / 'state.db').resolve()}")
    try:
        owner = Owner("default", "gone", "00000000-0000-0000-0000-000000000000")
        await store.create("/registry/allocations/nodeports/30500", owner.encode())
    finally:
        await store.close()

    running = await _start(data_dir)
    try:
        async with APIClient(ClientConfig.for_url(running.url)) as api:
            created = await api.create(SERVICES, service("web", "NodePort", node_ports=(30500,)))
    finally:
        await running.stop()
    assert created["spec"]["ports"][0]["nodePort"] == 30500


async def test_configured_range_used(tmp_path: Path) -> None:
    running = await _start(tmp_path / "range", cidr="172.20.0.0/24")
    try:
        async with APIClient(ClientConfig.for_url(running.url)) as api:
            created = await api.create(SERVICES, service("web"))
            kubernetes = await api.get(SERVICES, "kubernetes", namespace="default")
    finally:
        await running.stop()
    assert ipaddress.ip_address(created["spec"]["clusterIP"]) in ipaddress.ip_network("172.20.0.0/24")
    assert kubernetes["spec"]["clusterIP"] == "172.20.0.1"


# --- the kubernetes Service -------------------------------------------------------------


async def test_kubernetes_service_exists(client: APIClient, server: RunningAPIServer) -> None:
    kubernetes = await client.get(SERVICES, "kubernetes", namespace="default")
    assert kubernetes["spec"]["clusterIP"] == "10.96.0.1"
    assert kubernetes["spec"]["ports"][0]["port"] == 443
    assert kubernetes["spec"]["ports"][0]["targetPort"] == server.port
    assert "selector" not in kubernetes["spec"]


async def test_kubernetes_endpoints_point_here(client: APIClient, server: RunningAPIServer) -> None:
    endpoints = await client.get(ENDPOINTS, "kubernetes", namespace="default")
    subset = endpoints["subsets"][0]
    assert subset["addresses"] == [{"ip": "127.0.0.1"}]
    assert subset["ports"][0]["port"] == server.port


async def test_kubernetes_endpoint_slice_points_here(client: APIClient, server: RunningAPIServer) -> None:
    endpoint_slice = await client.get(ENDPOINT_SLICES, "kubernetes", namespace="default")
    assert endpoint_slice["endpoints"][0]["addresses"] == ["127.0.0.1"]
    assert endpoint_slice["ports"][0]["port"] == server.port
    assert endpoint_slice["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
