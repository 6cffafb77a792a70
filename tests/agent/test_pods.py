"""The node agent running real pods: containerd, runc and the pykube CNI plugin in a test namespace.

One API server and one test node serve the whole module, because each
containerd start costs seconds. Every test uses pods of its own names.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer, start_apiserver
from pykube_control.client.api import APIClient
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import CONFIGMAPS, EVENTS, PODS

from tests.agent.builders import container, resources
from tests.agent.cluster import (
    AgentNode,
    agent_node,
    condition,
    container_status,
    is_ready,
    start_agent,
    wait_for_gone,
    wait_for_pod,
)
from tests.agent.node_env import BUSYBOX_IMAGE, netns_missing
from tests.cri.containerd_env import MISSING_TOOLS_REASON, missing_tools

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow]

NODE = "agent-node-1"
SUBNET = "10.250.1.0/24"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def api_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningAPIServer]:
    config = APIServerConfig(data_dir=tmp_path_factory.mktemp("apiserver"), host="127.0.0.1", port=0, insecure=True)
    running = await start_apiserver(config)
    try:
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(api_server: RunningAPIServer) -> AsyncIterator[APIClient]:
    async with APIClient(ClientConfig.for_url(api_server.url)) as api:
        yield api


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def node(client: APIClient) -> AsyncIterator[AgentNode]:
    if missing_tools():
        pytest.skip(MISSING_TOOLS_REASON)
    reason = netns_missing()
    if reason:
        pytest.skip(reason)
    async with agent_node(client, NODE, subnet=SUBNET) as running:
        yield running


def busybox(name: str = "main", **fields: Any) -> dict[str, Any]:
    return container(name, BUSYBOX_IMAGE, **fields)


async def create_pod(client: APIClient, name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    body = {"nodeName": NODE, "terminationGracePeriodSeconds": 2, "containers": list(containers), **spec}
    return await client.create(PODS, {"metadata": {"name": name, "namespace": "default"}, "spec": body})


async def exec_in(node: AgentNode, pod: dict[str, Any], *command: str, name: str = "main") -> str:
    container_id = str(container_status(pod, name)["containerID"]).removeprefix("containerd://")
    response = await node.env.cri.exec_sync(container_id, list(command), 10)
    return bytes(response.stdout).decode() + bytes(response.stderr).decode()


async def event_reasons(client: APIClient, pod_name: str, wanted: str) -> set[str]:
    """Return the reasons of the Events about the pod, polling briefly until ``wanted`` is among them."""
    reasons: set[str] = set()
    for _ in range(50):
        items = (await client.list(EVENTS, namespace="default"))["items"]
        reasons = {e["reason"] for e in items if e["involvedObject"].get("name") == pod_name}
        if wanted in reasons:
            break
        await asyncio.sleep(0.1)
    return reasons


async def delete_pod(client: APIClient, name: str) -> None:
    await client.delete(PODS, name, namespace="default")
    await wait_for_gone(client, name)


async def test_httpd_pod_serves_page(client: APIClient, node: AgentNode) -> None:
    script = "mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www"
    probe = {"httpGet": {"path": "/index.html", "port": "http"}, "periodSeconds": 1}
    alive = {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 2, "initialDelaySeconds": 1}
    web = busybox(command=["sh", "-c", script], ports=[{"name": "http", "containerPort": 8080}],
                  readinessProbe=probe, livenessProbe=alive)  # fmt: skip
    await create_pod(client, "web", web)
    pod = await wait_for_pod(client, "web", is_ready)
    pod_ip = pod["status"]["podIP"]
    assert ipaddress.IPv4Address(pod_ip) in ipaddress.IPv4Network(SUBNET)
    assert pod["status"]["hostIP"] == node.env.node_ip
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["qosClass"] == "BestEffort"
    code, page = await node.env.run_in_netns("wget", "-qO-", f"http://{pod_ip}:8080/index.html")
    assert code == 0
    assert page.strip() == "hello-from-pod"
    await asyncio.sleep(3)
    assert container_status(await client.get(PODS, "web", namespace="default"))["restartCount"] == 0
    await delete_pod(client, "web")


async def test_env_command_volumes_visible(client: APIClient, node: AgentNode) -> None:
    await client.create(CONFIGMAPS, {"metadata": {"name": "app-config", "namespace": "default"},
                                     "data": {"color": "blue"}})  # fmt: skip
    main = busybox(
        command=["sh", "-c"], args=["echo $GREETING > /scratch/greeting; exec sleep 3600"],
        workingDir="/scratch",
        env=[{"name": "GREETING", "value": "hi"},
             {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "COLOR", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "color"}}}],
        volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}, {"name": "config", "mountPath": "/etc/app"}],
    )  # fmt: skip
    volumes = [{"name": "scratch", "emptyDir": {}}, {"name": "config", "configMap": {"name": "app-config"}}]
    await create_pod(client, "envs", main, volumes=volumes)
    pod = await wait_for_pod(client, "envs", is_ready)
    environment = await exec_in(node, pod, "env")
    assert "GREETING=hi" in environment
    assert "POD_NAME=envs" in environment
    assert "COLOR=blue" in environment
    assert (await exec_in(node, pod, "cat", "/scratch/greeting")).strip() == "hi"
    assert (await exec_in(node, pod, "cat", "/etc/app/color")).strip() == "blue"
    assert (await exec_in(node, pod, "pwd")).strip() == "/scratch"
    await delete_pod(client, "envs")


async def test_init_containers_run_in_order(client: APIClient, node: AgentNode) -> None:
    mount = [{"name": "work", "mountPath": "/work"}]
    init = [busybox("first", command=["sh", "-c", "echo one >> /work/order"], volumeMounts=mount),
            busybox("second", command=["sh", "-c", "echo two >> /work/order"], volumeMounts=mount)]  # fmt: skip
    main = busybox(command=["sh", "-c", "cat /work/order; exit 0"], volumeMounts=mount)
    await create_pod(client, "ordered", main, initContainers=init, restartPolicy="OnFailure",
                     volumes=[{"name": "work", "emptyDir": {}}])  # fmt: skip
    pod = await wait_for_pod(client, "ordered", lambda p: p.get("status", {}).get("phase") == "Succeeded")
    init_states = [status["state"]["terminated"]["exitCode"] for status in pod["status"]["initContainerStatuses"]]
    assert init_states == [0, 0]
    assert condition(pod, "Initialized") == "True"
    assert container_status(pod)["state"]["terminated"]["reason"] == "Completed"
    log_dir = next(node.agent.config.logs_dir.glob("default_ordered_*"))
    assert (log_dir / "main" / "0.log").read_text().split()[-2:] == ["F", "two"]
    await delete_pod(client, "ordered")


async def test_security_context_applied(client: APIClient, node: AgentNode) -> None:
    restricted = busybox(command=["sleep", "3600"],
                         securityContext={"runAsUser": 1234, "runAsGroup": 2345, "readOnlyRootFilesystem": True})  # fmt: skip
    await create_pod(client, "restricted", restricted)
    pod = await wait_for_pod(client, "restricted", is_ready)
    assert (await exec_in(node, pod, "id", "-u")).strip() == "1234"
    assert (await exec_in(node, pod, "id", "-g")).strip() == "2345"
    assert "Read-only file system" in await exec_in(node, pod, "touch", "/file")
    await delete_pod(client, "restricted")


async def test_privileged_rejected_by_default(client: APIClient, node: AgentNode) -> None:
    await create_pod(client, "privileged", busybox(command=["sleep", "3600"], securityContext={"privileged": True}))

    def config_error(pod: dict[str, Any]) -> bool:
        waiting = container_status(pod).get("state", {}).get("waiting") or {}
        return waiting.get("reason") == "CreateContainerConfigError"

    pod = await wait_for_pod(client, "privileged", config_error)
    assert "--allow-privileged" in container_status(pod)["state"]["waiting"]["message"]
    assert pod["status"]["phase"] == "Pending"
    await delete_pod(client, "privileged")


async def test_failed_pull_backs_off(client: APIClient, node: AgentNode) -> None:
    # Nothing listens on port 9 of the node's own loopback, so the pull fails at once.
    image = "127.0.0.1:9/missing/image:1"
    await create_pod(client, "unpullable", container("main", image, imagePullPolicy="Always"))

    def waiting_reason(*reasons: str) -> Any:
        def check(pod: dict[str, Any]) -> bool:
            waiting = container_status(pod).get("state", {}).get("waiting") or {}
            return waiting.get("reason") in reasons

        return check

    # ErrImagePull turns into ImagePullBackOff at the next sync, which the status write itself may trigger.
    await wait_for_pod(client, "unpullable", waiting_reason("ErrImagePull", "ImagePullBackOff"))
    await client.patch(PODS, "unpullable", {"metadata": {"labels": {"woken": "yes"}}}, namespace="default")
    backing_off = await wait_for_pod(client, "unpullable", waiting_reason("ImagePullBackOff"))
    reasons = await event_reasons(client, "unpullable", "BackOff")
    events = (await client.list(EVENTS, namespace="default"))["items"]
    failed = [e["message"] for e in events if e["involvedObject"].get("name") == "unpullable" and e["reason"] == "Failed"]

    assert backing_off["status"]["phase"] == "Pending"
    assert container_status(backing_off)["state"]["waiting"]["message"] == f'Back-off pulling image "{image}"'
    assert {"Pulling", "Failed", "BackOff"} <= reasons
    assert failed and failed[0].startswith(f'Failed to pull image "{image}": ')
    await delete_pod(client, "unpullable")


async def test_post_start_hook_runs(client: APIClient, node: AgentNode) -> None:
    hook = {"postStart": {"exec": {"command": ["sh", "-c", "echo started > /tmp/hook"]}}}
    await create_pod(client, "hooked", busybox(command=["sleep", "3600"], lifecycle=hook))
    pod = await wait_for_pod(client, "hooked", is_ready)
    assert (await exec_in(node, pod, "cat", "/tmp/hook")).strip() == "started"
    await delete_pod(client, "hooked")


async def test_startup_probe_gates_readiness(client: APIClient, node: AgentNode) -> None:
    startup = {"exec": {"command": ["cat", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 30}
    ready = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    slow = busybox(command=["sleep", "3600"], startupProbe=startup, readinessProbe=ready)
    await create_pod(client, "slow-start", slow)
    pod = await wait_for_pod(client, "slow-start", lambda p: container_status(p).get("state", {}).get("running") is not None)
    assert container_status(pod)["started"] is False
    assert condition(pod, "Ready") != "True"
    await exec_in(node, pod, "touch", "/tmp/started")
    pod = await wait_for_pod(client, "slow-start", is_ready)
    assert container_status(pod)["started"] is True
    await delete_pod(client, "slow-start")


async def test_host_network_pod_uses_node_ip(client: APIClient, node: AgentNode) -> None:
    await create_pod(client, "on-host", busybox(command=["sleep", "3600"]), hostNetwork=True)
    pod = await wait_for_pod(client, "on-host", is_ready)
    assert pod["status"]["podIP"] == node.env.node_ip
    assert node.env.node_ip in await exec_in(node, pod, "ip", "-4", "addr")
    await delete_pod(client, "on-host")


async def test_crash_loop_backs_off(client: APIClient, node: AgentNode) -> None:
    await create_pod(client, "crasher", busybox(command=["sh", "-c", "exit 3"]))

    def backing_off(pod: dict[str, Any]) -> bool:
        waiting = container_status(pod).get("state", {}).get("waiting") or {}
        return waiting.get("reason") == "CrashLoopBackOff"

    pod = await wait_for_pod(client, "crasher", backing_off)
    status = container_status(pod)
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["lastState"]["terminated"]["reason"] == "Error"
    assert "back-off" in status["state"]["waiting"]["message"]
    assert pod["status"]["phase"] == "Running"
    assert condition(pod, "Ready") == "False"
    assert {"Pulled", "Created", "Started", "BackOff"} <= await event_reasons(client, "crasher", "BackOff")
    await delete_pod(client, "crasher")


async def test_liveness_failure_restarts(client: APIClient, node: AgentNode) -> None:
    script = "touch /tmp/alive; sleep 2; rm /tmp/alive; exec sleep 3600"
    probe = {"exec": {"command": ["cat", "/tmp/alive"]}, "periodSeconds": 1, "failureThreshold": 1}
    await create_pod(client, "unhealthy", busybox(command=["sh", "-c", script], livenessProbe=probe))
    pod = await wait_for_pod(client, "unhealthy", lambda p: container_status(p).get("restartCount", 0) >= 1)
    assert container_status(pod)["lastState"]["terminated"]["exitCode"] in (137, 143)
    assert {"Unhealthy", "Killing"} <= await event_reasons(client, "unhealthy", "Unhealthy")
    await delete_pod(client, "unhealthy")


async def test_readiness_gates_ready(client: APIClient, node: AgentNode) -> None:
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    await create_pod(client, "gated", busybox(command=["sleep", "3600"], readinessProbe=probe))
    pod = await wait_for_pod(client, "gated", lambda p: container_status(p).get("state", {}).get("running") is not None)
    assert condition(pod, "Ready") != "True"
    await exec_in(node, pod, "touch", "/tmp/ready")
    pod = await wait_for_pod(client, "gated", is_ready)
    assert container_status(pod)["ready"] is True
    await exec_in(node, pod, "rm", "/tmp/ready")
    pod = await wait_for_pod(client, "gated", lambda p: condition(p, "Ready") == "False")
    assert condition(pod, "ContainersReady") == "False"
    assert container_status(pod)["restartCount"] == 0
    await delete_pod(client, "gated")


async def test_oom_killed_reported(client: APIClient, node: AgentNode) -> None:
    hog = busybox(command=["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
                  resources=resources(limits={"memory": "16Mi", "cpu": "500m"}))  # fmt: skip
    await create_pod(client, "hog", hog, restartPolicy="Never")
    pod = await wait_for_pod(client, "hog", lambda p: p.get("status", {}).get("phase") == "Failed")
    terminated = container_status(pod)["state"]["terminated"]
    assert terminated["reason"] == "OOMKilled"
    assert terminated["exitCode"] == 137
    assert pod["status"]["qosClass"] == "Guaranteed"
    await delete_pod(client, "hog")


async def test_delete_runs_prestop(client: APIClient, node: AgentNode) -> None:
    shared = node.env.directory / "prestop"
    shared.mkdir()
    script = "trap 'echo term >> /shared/events; exit 0' TERM; while true; do sleep 0.2; done"
    hook = {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /shared/events"]}}}
    main = busybox(command=["sh", "-c", script], lifecycle=hook,
                   volumeMounts=[{"name": "shared", "mountPath": "/shared"}])  # fmt: skip
    await create_pod(client, "graceful", main, volumes=[{"name": "shared", "hostPath": {"path": str(shared)}}])
    await wait_for_pod(client, "graceful", is_ready)
    await delete_pod(client, "graceful")
    assert (shared / "events").read_text().split() == ["prestop", "term"]


async def test_delete_kills_after_grace(client: APIClient, node: AgentNode) -> None:
    stubborn = busybox(command=["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"])
    await create_pod(client, "stubborn", stubborn, terminationGracePeriodSeconds=2)
    await wait_for_pod(client, "stubborn", is_ready)
    started = time.monotonic()
    await delete_pod(client, "stubborn")
    # The container ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    assert time.monotonic() - started >= 2.0
    sandboxes = await node.env.cri.list_pod_sandbox(labels={"io.kubernetes.pod.name": "stubborn"})
    assert sandboxes == []


async def test_rejects_pod_out_of_cpu(client: APIClient, node: AgentNode) -> None:
    greedy = busybox(command=["sleep", "3600"], resources=resources(requests={"cpu": "500"}))
    await create_pod(client, "greedy", greedy)
    pod = await wait_for_pod(client, "greedy", lambda p: p.get("status", {}).get("phase") == "Failed")
    assert pod["status"]["reason"] == "OutOfcpu"
    assert "OutOfcpu" in await event_reasons(client, "greedy", "OutOfcpu")
    assert pod["status"]["message"].startswith(
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 500000, used: 0, capacity: "
    )
    await delete_pod(client, "greedy")


async def test_restart_adopts_containers(client: APIClient, node: AgentNode) -> None:
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    await create_pod(client, "survivor", busybox(command=["sleep", "3600"], readinessProbe=probe))
    before = await wait_for_pod(client, "survivor", is_ready)
    ready_seen: list[str | None] = []
    watcher = asyncio.create_task(record_ready(client, "survivor", ready_seen))
    await node.agent.stop()
    node.agent = start_agent(node.env, client, node.agent.config, node.network)
    await node.agent.start()
    await asyncio.sleep(3)
    watcher.cancel()
    after = await client.get(PODS, "survivor", namespace="default")
    assert container_status(after)["containerID"] == container_status(before)["containerID"]
    assert container_status(after)["restartCount"] == 0
    assert after["status"]["podIP"] == before["status"]["podIP"]
    assert set(ready_seen) == {"True"}
    await delete_pod(client, "survivor")


async def test_recreated_container_starts_new_log(client: APIClient, node: AgentNode) -> None:
    await create_pod(client, "relogged", busybox(command=["sh", "-c", "echo started; exec sleep 3600"]))
    pod = await wait_for_pod(client, "relogged", is_ready)
    log_file = node.agent.config.logs_dir / f"default_relogged_{pod['metadata']['uid']}" / "main" / "0.log"
    await node.agent.stop()
    # As after `pykube down` without --keep-pods: the containers are gone, their logs stay.
    for sandbox in await node.env.cri.list_pod_sandbox(labels={"io.kubernetes.pod.name": "relogged"}):
        await node.env.cri.stop_pod_sandbox(sandbox.id)
        await node.env.cri.remove_pod_sandbox(sandbox.id)
    node.agent = start_agent(node.env, client, node.agent.config, node.network)
    await node.agent.start()

    def restarted(current: dict[str, Any]) -> bool:
        status = container_status(current)
        return is_ready(current) and status.get("containerID") != container_status(pod).get("containerID")

    await wait_for_pod(client, "relogged", restarted)
    for _ in range(50):
        if "started" in log_file.read_text():
            break
        await asyncio.sleep(0.1)

    assert log_file.read_text().count("started") == 1
    await delete_pod(client, "relogged")


async def record_ready(client: APIClient, name: str, seen: list[str | None]) -> None:
    while True:
        seen.append(condition(await client.get(PODS, name, namespace="default"), "Ready"))
        await asyncio.sleep(0.1)


async def test_orphans_removed_after_restart(client: APIClient, node: AgentNode) -> None:
    memory = busybox(command=["sleep", "3600"], volumeMounts=[{"name": "cache", "mountPath": "/cache"}])
    await create_pod(client, "orphan", memory, volumes=[{"name": "cache", "emptyDir": {"medium": "Memory"}}])
    pod = await wait_for_pod(client, "orphan", is_ready)
    pod_dir = node.agent.config.pods_dir / pod["metadata"]["uid"]
    assert pod_dir.is_dir()
    await node.agent.stop()
    # Gone from the API while no agent ran: its sandbox now belongs to no pod.
    await client.delete(PODS, "orphan", namespace="default", grace_period_seconds=0)
    node.agent = start_agent(node.env, client, node.agent.config, node.network)
    await node.agent.start()
    sandboxes = await node.env.cri.list_pod_sandbox(labels={"io.kubernetes.pod.name": "orphan"})
    assert sandboxes == []
    assert not list(node.agent.config.logs_dir.glob("default_orphan_*"))
    assert not pod_dir.exists()
    assert str(pod_dir) not in Path("/proc/self/mountinfo").read_text()
