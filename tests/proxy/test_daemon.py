"""`pykube proxy` end to end: a real API server, informers, and packets in test namespaces."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pykube_control.apiserver.app import APIServerConfig, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import ENDPOINT_SLICES, EVENTS, NODES, SERVICES
from pykube_control.proxy.daemon import ProxyConfig, ProxyDaemon
from tests.proxy.conftest import NODE_ADDRESS, Topology

NODE_NAME = "node-a"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[APIClient]:
    config = APIServerConfig(data_dir=tmp_path / "server", host="127.0.0.1", port=0, insecure=True)
    server = await start_apiserver(config)
    try:
        async with APIClient(ClientConfig.for_url(server.url)) as client:
            yield client
    finally:
        await server.stop()


@pytest.fixture
async def daemon(api: APIClient, topology: Topology) -> AsyncIterator[ProxyDaemon]:
    node = {
        "metadata": {"name": NODE_NAME},
        "status": {"addresses": [{"type": "InternalIP", "address": NODE_ADDRESS}]},
    }
    await api.create(NODES, node)
    config = ProxyConfig(
        node_name=NODE_NAME,
        table="pykube",
        netns=topology.node,
        min_sync_interval=0.05,
        health_port=0,
    )
    proxy = ProxyDaemon(api, config)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
        subprocess.run(
            [sys.executable, "-m", "pykube_control.cli.main", "proxy", "--cleanup", "--netns", topology.node],
            check=True, capture_output=True,
        )


def web_service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}], **spec},
    }


def web_slice(service: str, addresses: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{service}-1", "namespace": "default", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}} for address in addresses],
    }


async def wait_for_answer(topology: Topology, host: str, port: int) -> list[str]:
    for _ in range(100):
        result = topology.probe("tcp", host, port, 1)
        if result["answers"]:
            return result["answers"]
        await asyncio.sleep(0.1)
    return []


async def test_daemon_serves_cluster_ip(api: APIClient, topology: Topology, daemon: ProxyDaemon) -> None:
    created = await api.create(SERVICES, web_service("web", type="NodePort"))
    await api.create(ENDPOINT_SLICES, web_slice("web", [topology.backends["b2"]]))
    cluster_ip = created["spec"]["clusterIP"]
    node_port = created["spec"]["ports"][0]["nodePort"]

    cluster_answers = await wait_for_answer(topology, cluster_ip, 80)
    node_port_answers = await wait_for_answer(topology, NODE_ADDRESS, node_port)

    assert [answer.split()[0] for answer in cluster_answers] == ["b2"]
    assert [answer.split()[0] for answer in node_port_answers] == ["b2"]


async def test_daemon_health_and_metrics(daemon: ProxyDaemon) -> None:
    await asyncio.wait_for(daemon.syncer.synced_once.wait(), 10)
    base = f"http://127.0.0.1:{daemon.health.port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/healthz") as response:
            health_status = response.status
        async with session.get(f"{base}/metrics") as response:
            metrics = await response.text()

    assert health_status == 200
    assert "pykube_proxy_sync_duration_seconds_bucket" in metrics
    assert "pykube_proxy_last_successful_sync_timestamp_seconds" in metrics
    assert 'pykube_proxy_elements{set="frontends"}' in metrics


async def test_invalid_service_event(api: APIClient, topology: Topology, daemon: ProxyDaemon) -> None:
    await api.create(SERVICES, web_service("bad", externalIPs=["2001:db8::1"]))
    await api.create(SERVICES, web_service("good"))
    good = await api.get(SERVICES, "good", namespace="default")
    await api.create(ENDPOINT_SLICES, web_slice("good", [topology.backends["b0"]]))

    answers = await wait_for_answer(topology, good["spec"]["clusterIP"], 80)
    events: list[dict[str, Any]] = []
    for _ in range(50):
        listed = await api.list(EVENTS, namespace="default")
        events = [event for event in listed["items"] if event["involvedObject"]["name"] == "bad"]
        if events:
            break
        await asyncio.sleep(0.1)

    assert [answer.split()[0] for answer in answers] == ["b0"]
    assert len(events) == 1
    assert "IPv6 address '2001:db8::1' is not supported" in events[0]["message"]
