"""The example app on a real cluster from `pykube up`, driven through kubectl as a user would.

The tests run in file order against one cluster and build on each other:
the app is deployed first, then scaled, updated, rolled back and
restarted with the cluster.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.server_thread import kubectl_binary
from tests.e2e.cluster import REPO, Cluster, run

EXAMPLES = REPO / "examples"


def web_pods(cluster: Cluster) -> list[dict[str, Any]]:
    pods: list[dict[str, Any]] = cluster.kubectl_json("get", "pods", "-l", "app=web")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def ready_count(cluster: Cluster) -> int:
    count = 0
    for pod in web_pods(cluster):
        conditions = pod.get("status", {}).get("conditions", [])
        if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
            count += 1
    return count


def wait_ready(cluster: Cluster, replicas: int) -> None:
    cluster.wait_for(f"{replicas} ready web pods", lambda: len(web_pods(cluster)) == replicas and ready_count(cluster) == replicas)


def cluster_ip(cluster: Cluster) -> str:
    return str(cluster.kubectl_json("get", "service", "web")["spec"]["clusterIP"])


def test_example_deploys(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str(EXAMPLES / "01-web.yaml"))
    done = cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    assert "successfully rolled out" in done.stdout
    pods = web_pods(cluster)
    assert [p["status"]["phase"] for p in pods] == ["Running"] * 3


def test_pods_have_ips_and_serve(cluster: Cluster) -> None:
    for pod in web_pods(cluster):
        answer = cluster.curl(f"http://{pod['status']['podIP']}:8080/")
        assert answer.stdout.strip() == f"hello from {pod['metadata']['name']}", answer.stderr


def first_answer(cluster: Cluster, url: str) -> subprocess.CompletedProcess[str]:
    """Fetch ``url`` until it answers or 30 s pass, because the proxy applies a new Service's rules up to a second later."""
    deadline = time.monotonic() + 30
    answer = cluster.curl(url, timeout=2)
    while not answer.stdout and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = cluster.curl(url, timeout=2)
    return answer


def test_cluster_ip_answers_from_node(cluster: Cluster) -> None:
    answer = first_answer(cluster, f"http://{cluster_ip(cluster)}/")
    assert answer.stdout.startswith("hello from web-"), answer.stderr


def test_node_port_answers(cluster: Cluster) -> None:
    answer = first_answer(cluster, f"http://{cluster.node_ip}:30080/")
    assert answer.stdout.startswith("hello from web-"), answer.stderr


def test_cluster_ip_answers_from_pod(cluster: Cluster) -> None:
    ip = cluster_ip(cluster)
    cluster.kubectl(
        "run", "client", "--image=localhost/pykube/web:1", "--image-pull-policy=Never", "--restart=Never",
        # Debian's busybox-static wget crashes (SIGSEGV) on this machine, so the request goes through nc.
        "--command", "--", "sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {ip} 80",
    )  # fmt: skip

    def finished() -> str:
        return str(cluster.kubectl_json("get", "pod", "client")["status"].get("phase")) in ("Succeeded", "Failed")

    cluster.wait_for("the client pod to finish", finished, timeout=60)
    logs = cluster.kubectl("logs", "client").stdout
    cluster.kubectl("delete", "pod", "client", "--wait=false")
    assert "HTTP/1.1 200 OK" in logs
    assert "hello from web-" in logs


def test_scale_up_and_down(cluster: Cluster) -> None:
    cluster.kubectl("scale", "deployment/web", "--replicas=5")
    wait_ready(cluster, 5)
    cluster.kubectl("scale", "deployment/web", "--replicas=2")
    wait_ready(cluster, 2)


def test_deleted_pod_is_replaced(cluster: Cluster) -> None:
    victim = web_pods(cluster)[0]["metadata"]["name"]
    cluster.kubectl("delete", "pod", victim, "--wait=true", timeout=90)
    wait_ready(cluster, 2)
    assert victim not in [p["metadata"]["name"] for p in web_pods(cluster)]


def test_logs_show_requests(cluster: Cluster) -> None:
    pod = web_pods(cluster)[0]
    cluster.curl(f"http://{pod['status']['podIP']}:8080/")
    logs = cluster.kubectl("logs", pod["metadata"]["name"], "--tail=5").stdout
    assert "response:200" in logs


def test_describe_shows_events(cluster: Cluster) -> None:
    pod = web_pods(cluster)[0]["metadata"]["name"]
    text = cluster.kubectl("describe", "pod", pod).stdout
    assert f"Successfully assigned default/{pod} to node-" in text
    assert "Started" in text


def test_get_watch_streams_changes(cluster: Cluster) -> None:
    assert cluster.kubectl_path is not None
    watch = subprocess.Popen(
        cluster.in_netns(cluster.kubectl_path, f"--kubeconfig={cluster.kubeconfig}", "get", "pods", "-l", "app=web",
                         "-w", "--no-headers"),
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        cluster.kubectl("scale", "deployment/web", "--replicas=3")
        wait_ready(cluster, 3)
        time.sleep(0.5)
    finally:
        watch.terminate()
        output, _ = watch.communicate(timeout=10)
    names = {line.split()[0] for line in output.splitlines() if line.strip()}
    assert len(names) >= 3


def test_rolling_update_drops_no_request(cluster: Cluster) -> None:
    ip = cluster_ip(cluster)
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal answered
        while not stop.is_set():
            answer = cluster.curl(f"http://{ip}/", timeout=3)
            if answer.stdout.startswith("hello from web-"):
                answered += 1
            else:
                failures.append(answer.stderr.strip() or answer.stdout.strip())
            time.sleep(0.05)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        cluster.kubectl("set", "env", "deployment/web", "GREETING_VERSION=2")
        cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    finally:
        stop.set()
        thread.join()
    assert answered > 0
    assert failures == []


def test_rollout_undo(cluster: Cluster) -> None:
    cluster.kubectl("rollout", "undo", "deployment/web")
    cluster.kubectl("rollout", "status", "deployment/web", "--timeout=120s", timeout=130)
    env = cluster.kubectl_json("get", "deployment", "web")["spec"]["template"]["spec"]["containers"][0].get("env", [])
    assert "GREETING_VERSION" not in [e["name"] for e in env]
    history = cluster.kubectl("rollout", "history", "deployment/web").stdout
    assert "REVISION" in history


def test_quota_defaults_and_rejects(cluster: Cluster) -> None:
    cluster.kubectl("apply", "-f", str(EXAMPLES / "03-quota.yaml"))
    run = ("-n", "team-a", "run", "--image=localhost/pykube/web:1", "--image-pull-policy=Never", "--command", "--", "sleep", "3600")
    cluster.kubectl(*run[:3], "p0", *run[3:])
    resources = cluster.kubectl_json("-n", "team-a", "get", "pod", "p0")["spec"]["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": "100m", "memory": "32Mi"}
    for i in range(1, 4):
        cluster.kubectl(*run[:3], f"p{i}", *run[3:])
    rejected = cluster.kubectl(*run[:3], "p4", *run[3:], check=False)
    assert rejected.returncode != 0
    assert 'pods "p4" is forbidden: exceeded quota: ceiling, requested: pods=1, used: pods=4, limited: pods=4' in rejected.stderr


def test_oversized_pod_stays_pending(cluster: Cluster) -> None:
    cluster.kubectl("run", "huge", "--image=localhost/pykube/web:1", "--image-pull-policy=Never",
                    "--overrides", json.dumps({"spec": {"containers": [{"name": "huge", "image": "localhost/pykube/web:1",
                    "imagePullPolicy": "Never", "command": ["sleep", "3600"], "resources": {"requests": {"memory": "100Ti"}}}]}}))  # fmt: skip

    def failed_scheduling() -> str:
        events = cluster.kubectl_json("get", "events", "--field-selector", "involvedObject.name=huge")["items"]
        return next((e["message"] for e in events if e["reason"] == "FailedScheduling"), "")

    message = cluster.wait_for("a FailedScheduling event", failed_scheduling, timeout=30)
    assert message.startswith("0/1 nodes are available: 1 Insufficient memory.")
    assert cluster.kubectl_json("get", "pod", "huge")["status"]["phase"] == "Pending"


def test_restart_keeps_everything(cluster: Cluster) -> None:
    before = {p["metadata"]["name"]: (p["status"]["podIP"], p["status"]["containerStatuses"][0]["containerID"])
              for p in web_pods(cluster)}  # fmt: skip
    assert cluster.stop() == 0
    cluster.start()
    wait_ready(cluster, 3)
    after = {p["metadata"]["name"]: (p["status"]["podIP"], p["status"]["containerStatuses"][0]["containerID"])
             for p in web_pods(cluster)}  # fmt: skip
    assert after == before
    answer = cluster.curl(f"http://{cluster_ip(cluster)}/")
    assert answer.stdout.startswith("hello from web-")


def test_old_kubectl_drives_cluster(cluster: Cluster) -> None:
    old = kubectl_binary("1.20")
    if old is None:
        pytest.skip("kubectl 1.20 not installed; scripts/setup unpacks Debian's 1.20 into .cache/")
    current = cluster.kubectl_path
    cluster.kubectl_path = old
    try:
        assert "web" in cluster.kubectl("get", "deployments").stdout
        cluster.kubectl("scale", "deployment/web", "--replicas=4")
        wait_ready(cluster, 4)
        cluster.kubectl("scale", "deployment/web", "--replicas=3")
        wait_ready(cluster, 3)
        assert "successfully rolled out" in cluster.kubectl("rollout", "status", "deployment/web").stdout
        pod = web_pods(cluster)[0]["metadata"]["name"]
        assert "Events:" in cluster.kubectl("describe", "pod", pod).stdout
        cluster.kubectl("logs", pod, "--tail=1")
    finally:
        cluster.kubectl_path = current


def test_python_client_reads_cluster(cluster: Cluster, tmp_path: Path) -> None:
    from kubernetes import client, config

    api = client.ApiClient(config.new_client_from_config(str(cluster.kubeconfig)).configuration)
    apps = client.AppsV1Api(api)
    deployment = apps.read_namespaced_deployment("web", "default")
    assert deployment.status.ready_replicas == 3
    pods = client.CoreV1Api(api).list_namespaced_pod("default", label_selector="app=web")
    assert len([p for p in pods.items if p.metadata.deletion_timestamp is None]) == 3


def test_down_remove_pods_removes_them(cluster: Cluster) -> None:
    assert cluster.process is not None
    down = run([sys.executable, "-m", "pykube_control.cli.main", "down", "--remove-pods", "--data-dir", str(cluster.data_dir)],
               timeout=120)  # fmt: skip
    assert "the cluster stopped" in down.stdout
    assert cluster.stop() == 0
    leftovers = [line for line in (cluster.directory / "up.out").read_text().splitlines() if "pods removed count=" in line]
    shims = subprocess.run(["pgrep", "-f", f"containerd-shim.*{cluster.data_dir}"], capture_output=True, text=True).stdout.split()
    mounts = [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(cluster.data_dir / "pods") in line]
    assert leftovers and not leftovers[-1].endswith("count=0")
    assert shims == []
    assert mounts == []
    assert list(Path("/sys/fs/cgroup").glob(f"*/{cluster.cgroup_parent.strip('/')}")) == []


def test_start_after_plain_stop_recreates_pods(cluster: Cluster) -> None:
    # Like a host reboot: the objects are in the store, the containers are gone.
    cluster.keep_pods = True
    cluster.start()
    wait_ready(cluster, 3)
    ip = cluster_ip(cluster)
    # The endpoints follow the new pod IPs a moment after the pods turn Ready.
    serving = lambda: cluster.curl(f"http://{ip}/", timeout=2).stdout.startswith("hello from web-")  # noqa: E731
    assert cluster.wait_for("the Service to serve the new pods", serving, timeout=30)
