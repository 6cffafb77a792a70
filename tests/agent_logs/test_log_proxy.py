"""kubectl logs through the API server's pods/log proxy to the agent server, and the agent's authentication."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import time
from pathlib import Path

import aiohttp
import pytest

from pykube_control.agent.logs import format_entry
from pykube_control.agent.server import AgentServer, LogDirectory
from pykube_control.agent.serving_cert import ensure_serving_certificate
from pykube_control.apiserver.auth import certs
from pykube_control.client.resource import NODES, PODS

from tests.agent_logs.conftest import Cluster, create_pod

KUBECTL_TIMEOUT = 30.0


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs the kubectl binary on PATH")


async def kubectl(cluster: Cluster, *arguments: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(cluster.server.kubeconfig), "-n", "default", *arguments,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), KUBECTL_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, stdout.decode(), stderr.decode()


async def raw_log(cluster: Cluster, pod: str, query: str) -> tuple[int, str]:
    """GET pods/log with the admin token; return (status, body)."""
    assert cluster.server.admin_token is not None
    context = ssl.create_default_context(cafile=cluster.ca_file)
    url = f"{cluster.server.url}/api/v1/namespaces/default/pods/{pod}/log?{query}"
    headers = {"Authorization": f"Bearer {cluster.server.admin_token}"}
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context, headers=headers) as response:
        return response.status, await response.text()


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(("-c", "app"), "one\ntwo\nthree\n", id="container"),
        pytest.param(("-c", "app", "--tail", "1"), "three\n", id="tail"),
        pytest.param(("-c", "app", "--previous"), "old run\n", id="previous"),
        pytest.param(("-c", "app", "--limit-bytes", "5"), "one\nt", id="limit bytes"),
        pytest.param(("-c", "sidecar"), "side\n", id="other container"),
        pytest.param(("-c", "app", "--since-time", "2026-12-04T22:40:02Z"), "two\nthree\n", id="since time"),
        pytest.param(("-c", "app", "--tail", "1", "--timestamps"), "2026-12-04T22:40:03Z three\n", id="timestamps"),
    ],
)
@needs_kubectl
async def test_kubectl_logs(cluster: Cluster, arguments: tuple[str, ...], expected: str) -> None:
    cluster.write("app", 0, ["old run"])
    cluster.write("app", 1, ["one", "two", "three"])
    cluster.write("sidecar", 0, ["side"])
    code, stdout, stderr = await kubectl(cluster, "logs", cluster.pod, *arguments)
    assert code == 0, stderr
    assert stdout == expected


@needs_kubectl
async def test_kubectl_single_container(cluster: Cluster) -> None:
    await create_pod(cluster.client, "solo", ["only"], cluster.node)
    solo = await cluster.client.get(PODS, "solo", namespace="default")
    log_path = cluster.logs_dir / f"default_solo_{solo['metadata']['uid']}" / "only" / "0.log"
    log_path.parent.mkdir(parents=True)
    log_path.write_bytes(format_entry(time.time_ns(), "stderr", b"to stderr"))
    code, stdout, stderr = await kubectl(cluster, "logs", "solo")
    assert code == 0, stderr
    assert stdout == "to stderr\n"


@needs_kubectl
async def test_kubectl_logs_follow(cluster: Cluster) -> None:
    cluster.write("app", 0, ["first", "second"])
    process = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(cluster.server.kubeconfig), "-n", "default",
        "logs", "-f", cluster.pod, "-c", "app",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), KUBECTL_TIMEOUT) == b"first\n"
        assert await asyncio.wait_for(process.stdout.readline(), KUBECTL_TIMEOUT) == b"second\n"
        cluster.write("app", 0, ["third"], start=2)
        assert await asyncio.wait_for(process.stdout.readline(), KUBECTL_TIMEOUT) == b"third\n"
        assert cluster.agent.active_streams == 1
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    # The API server notices the closed connection and closes its stream to the agent.
    for _ in range(200):
        if cluster.agent.active_streams == 0:
            break
        await asyncio.sleep(0.05)
    assert cluster.agent.active_streams == 0


@needs_kubectl
async def test_kubectl_previous_missing(cluster: Cluster) -> None:
    cluster.write("app", 0, ["only run"])
    code, _, stderr = await kubectl(cluster, "logs", cluster.pod, "-c", "app", "--previous")
    assert code != 0
    assert f'previous terminated container "app" in pod "{cluster.pod}" not found' in stderr


async def test_log_container_required(cluster: Cluster) -> None:
    status, body = await raw_log(cluster, cluster.pod, "")
    assert status == 400
    assert f"a container name must be specified for pod {cluster.pod}, choose one of: [app sidecar]" in body


async def test_log_container_invalid(cluster: Cluster) -> None:
    status, body = await raw_log(cluster, cluster.pod, "container=nope")
    assert status == 400
    assert f"container nope is not valid for pod {cluster.pod}" in body


async def test_log_unscheduled_pod(cluster: Cluster) -> None:
    await create_pod(cluster.client, "pending", ["app"], None)
    status, body = await raw_log(cluster, "pending", "")
    assert status == 400
    assert "pod pending does not have a host assigned" in body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        pytest.param("container=app&tailLines=-1", "tailLines", id="negative tail"),
        pytest.param("container=app&limitBytes=0", "limitBytes", id="zero limit"),
        pytest.param("container=app&sinceSeconds=0", "sinceSeconds", id="zero since"),
    ],
)
async def test_log_invalid_options(cluster: Cluster, query: str, field: str) -> None:
    status, body = await raw_log(cluster, cluster.pod, query)
    assert status == 422
    assert f"{field}: Invalid value" in body


async def test_log_since_seconds(cluster: Cluster) -> None:
    now = time.time_ns()
    with open(cluster.log_path("app", 0), "wb") as file:
        file.write(format_entry(now - 3600 * 1_000_000_000, "stdout", b"an hour ago"))
        file.write(format_entry(now, "stdout", b"now"))
    status, body = await raw_log(cluster, cluster.pod, "container=app&sinceSeconds=60")
    assert status == 200
    assert body == "now\n"


async def agent_get(cluster: Cluster, context: ssl.SSLContext) -> tuple[int, str]:
    url = f"https://127.0.0.1:{cluster.agent_port}/containerLogs/default/{cluster.pod}/app"
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
        return response.status, await response.text()


def agent_client_context(certificate: tuple[bytes, bytes] | None, directory: Path) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if certificate is not None:
        (directory / "client.crt").write_bytes(certificate[0])
        (directory / "client.key").write_bytes(certificate[1])
        context.load_cert_chain(directory / "client.crt", directory / "client.key")
    return context


async def test_agent_requires_certificate(cluster: Cluster, tmp_path: Path) -> None:
    cluster.write("app", 0, ["secret output"])
    status, body = await agent_get(cluster, agent_client_context(None, tmp_path))
    assert status == 401
    assert "secret output" not in body


async def test_agent_rejects_other_user(cluster: Cluster, tmp_path: Path) -> None:
    cluster.write("app", 0, ["secret output"])
    ca = certs.load_ca(certs.PKI(cluster.ca_file.parent))
    status, body = await agent_get(cluster, agent_client_context(ca.issue_client_certificate("jane", ["dev"]), tmp_path))
    assert status == 403
    assert "user=jane" in body


async def test_agent_rejects_other_ca(cluster: Cluster, tmp_path: Path) -> None:
    other = certs.ensure_ca(certs.PKI(tmp_path / "other-pki"))
    pair = other.issue_client_certificate("kube-apiserver-kubelet-client", ["system:masters"])
    with pytest.raises(aiohttp.ClientError):
        await agent_get(cluster, agent_client_context(pair, tmp_path))


async def test_agent_accepts_apiserver_user(cluster: Cluster, tmp_path: Path) -> None:
    cluster.write("app", 0, ["hello"])
    ca = certs.load_ca(certs.PKI(cluster.ca_file.parent))
    pair = ca.issue_client_certificate("kube-apiserver-kubelet-client")
    assert await agent_get(cluster, agent_client_context(pair, tmp_path)) == (200, "hello\n")


async def test_agent_ca_data(cluster: Cluster, tmp_path: Path) -> None:
    certificate, key = ensure_serving_certificate(tmp_path / "pki", "node-b", ["127.0.0.1"])
    agent = AgentServer(LogDirectory(cluster.logs_dir), ca_data=cluster.ca_file.read_bytes(), certificate=certificate, key=key)
    port = await agent.start("127.0.0.1", 0)
    try:
        cluster.write("app", 0, ["via ca data"])
        ca = certs.load_ca(certs.PKI(cluster.ca_file.parent))
        context = agent_client_context(ca.issue_client_certificate("kube-apiserver-kubelet-client"), tmp_path)
        url = f"https://127.0.0.1:{port}/containerLogs/default/{cluster.pod}/app"
        async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
            assert response.status == 200
            assert await response.text() == "via ca data\n"
    finally:
        await agent.stop()


def test_agent_needs_ca(tmp_path: Path) -> None:
    certificate, key = ensure_serving_certificate(tmp_path, "node-c", [])
    with pytest.raises(ValueError, match="needs the cluster CA"):
        AgentServer(LogDirectory(tmp_path), certificate=certificate, key=key)


def test_serving_cert_reused(tmp_path: Path) -> None:
    first = ensure_serving_certificate(tmp_path, "node-d", ["127.0.0.1"])
    content = first[0].read_bytes()
    ensure_serving_certificate(tmp_path, "node-d", ["127.0.0.1"])
    assert first[0].read_bytes() == content
    ensure_serving_certificate(tmp_path, "node-d", ["127.0.0.2"])
    assert first[0].read_bytes() != content
    assert first[1].stat().st_mode & 0o777 == 0o600


async def test_log_agent_down(cluster: Cluster) -> None:
    await cluster.agent.stop()
    status, body = await raw_log(cluster, cluster.pod, "container=app")
    assert status == 503
    assert f"cannot reach the node agent for pod {cluster.pod}" in body


async def test_log_node_without_endpoint(cluster: Cluster) -> None:
    await cluster.client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "bare"}})
    await create_pod(cluster.client, "on-bare", ["app"], "bare")
    status, body = await raw_log(cluster, "on-bare", "")
    assert status == 503
    assert json.loads(body)["message"].startswith('node "bare" reports no agent endpoint')


@pytest.mark.parametrize(
    "container",
    [pytest.param("..", id="dot dot"), pytest.param("%2e%2e", id="encoded dot dot"), pytest.param("a*", id="glob")],
)
async def test_agent_rejects_bad_names(cluster: Cluster, tmp_path: Path, container: str) -> None:
    # A log file one level up, which a container name of ".." would reach.
    cluster.logs_dir.mkdir(parents=True, exist_ok=True)
    (cluster.logs_dir / "0.log").write_bytes(format_entry(time.time_ns(), "stdout", b"secret"))
    cluster.write("app", 0, ["app output"])
    ca = certs.load_ca(certs.PKI(cluster.ca_file.parent))
    context = agent_client_context(ca.issue_client_certificate("kube-apiserver-kubelet-client"), tmp_path)
    url = f"https://127.0.0.1:{cluster.agent_port}/containerLogs/default/{cluster.pod}/{container}"
    async with aiohttp.ClientSession() as session, session.get(url, ssl=context) as response:
        assert response.status in (400, 404)
        assert "secret" not in await response.text()


async def set_container_status(cluster: Cluster, status: dict[str, object]) -> None:
    pod = await cluster.client.get(PODS, cluster.pod, namespace="default")
    pod["status"]["containerStatuses"] = [
        {"name": "app", "image": "localhost/busybox:latest", "imageID": "", "ready": False, "restartCount": 0, **status}
    ]
    await cluster.client.update_status(PODS, pod, namespace="default")


async def test_log_waiting_container(cluster: Cluster) -> None:
    await set_container_status(cluster, {"state": {"waiting": {"reason": "ContainerCreating"}}})
    status, body = await raw_log(cluster, cluster.pod, "container=app")
    assert status == 400
    assert json.loads(body)["message"] == f'container "app" in pod "{cluster.pod}" is waiting to start: ContainerCreating'


async def test_log_previous_from_status(cluster: Cluster) -> None:
    cluster.write("app", 0, ["old"])
    cluster.write("app", 1, ["new"])
    await set_container_status(cluster, {"state": {"running": {"startedAt": "2026-12-04T22:40:01Z"}}})
    status, body = await raw_log(cluster, cluster.pod, "container=app&previous=true")
    assert status == 400
    assert "previous terminated container" in json.loads(body)["message"]
