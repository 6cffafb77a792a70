"""Tests of the pod spec to CRI configuration mapping: labels, resources, security and DNS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pykube_control.agent import cri_config
from pykube_control.cri.proto import api_pb2

from tests.agent.builders import container, pod, resources


def config_of(obj: dict[str, Any], index: int = 0, restart_count: int = 0) -> Any:
    spec = obj["spec"]["containers"][index]
    return cri_config.container_config(obj, spec, node_name="node-a", init=False, restart_count=restart_count,
                                       envs=[("A", "1")], mounts=[("/host/data", "/data", True)])  # fmt: skip


@pytest.mark.parametrize(
    ("spec_resources", "shares", "quota", "period", "memory"),
    [
        pytest.param(None, 2, 0, 0, 0, id="best effort"),
        pytest.param(resources(requests={"cpu": "250m"}), 256, 0, 0, 0, id="cpu request"),
        pytest.param(resources(limits={"cpu": "500m", "memory": "64Mi"}), 512, 50_000, 100_000, 64 * 1024**2,
                     id="limits only: request from limit"),  # fmt: skip
        pytest.param(resources(requests={"cpu": "1m"}, limits={"cpu": "1m"}), 2, 1_000, 100_000, 0, id="minimums"),
    ],
)
def test_linux_resources(spec_resources: dict[str, Any] | None, shares: int, quota: int, period: int, memory: int) -> None:
    fields = {"resources": spec_resources} if spec_resources else {}
    linux = cri_config.linux_resources(container(**fields))
    assert linux.cpu_shares == shares
    assert linux.cpu_quota == quota
    assert linux.cpu_period == period
    assert linux.memory_limit_in_bytes == memory


def test_oom_score_never_negative() -> None:
    guaranteed = cri_config.linux_resources(container(), qos_class="Guaranteed")
    best_effort = cri_config.linux_resources(container(), qos_class="BestEffort")
    assert guaranteed.oom_score_adj == 0
    assert best_effort.oom_score_adj == 1000


def test_container_labels_and_annotations() -> None:
    obj = pod("web", container(command=["sh"], args=["-c", "true"], workingDir="/srv"))
    config = config_of(obj, restart_count=3)
    assert config.labels[cri_config.LABEL_POD_UID] == obj["metadata"]["uid"]
    assert config.labels[cri_config.LABEL_CONTAINER_NAME] == "main"
    assert config.labels[cri_config.LABEL_NODE] == "node-a"
    assert config.annotations[cri_config.ANNOTATION_RESTART_COUNT] == "3"
    assert config.annotations[cri_config.ANNOTATION_HASH] == cri_config.container_hash(obj["spec"]["containers"][0])
    assert config.metadata.attempt == 3
    assert config.log_path == "main/3.log"
    assert list(config.command) == ["sh"]
    assert list(config.args) == ["-c", "true"]
    assert config.working_dir == "/srv"
    assert [(kv.key, kv.value) for kv in config.envs] == [("A", "1")]
    assert config.mounts[0].readonly is True


def test_hash_changes_with_image() -> None:
    assert cri_config.container_hash(container(image="a:1")) != cri_config.container_hash(container(image="a:2"))


def test_security_context_container_wins() -> None:
    obj = pod("web", container(securityContext={"runAsUser": 1000, "readOnlyRootFilesystem": True}),
              securityContext={"runAsUser": 5, "runAsGroup": 6})  # fmt: skip
    security = config_of(obj).linux.security_context
    assert security.run_as_user.value == 1000
    assert security.run_as_group.value == 6
    assert security.readonly_rootfs is True
    assert security.privileged is False


def test_sandbox_config_host_network() -> None:
    obj = pod("web", hostNetwork=True)
    config = cri_config.sandbox_config(obj, node_name="node-a", logs_dir=Path("/logs"), attempt=1, cgroup_parent="/p")
    assert config.hostname == ""
    assert config.linux.security_context.namespace_options.network == api_pb2.NODE
    assert config.linux.cgroup_parent == "/p"
    assert config.metadata.attempt == 1
    assert config.log_directory == f"/logs/default_web_{obj['metadata']['uid']}"


def test_sandbox_host_ports() -> None:
    obj = pod("web", container(ports=[{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81}]))
    config = cri_config.sandbox_config(obj, node_name="node-a", logs_dir=Path("/logs"), attempt=0)
    assert [(m.container_port, m.host_port) for m in config.port_mappings] == [(80, 8080)]


@pytest.mark.parametrize(
    ("spec", "cluster_dns", "servers", "searches"),
    [
        pytest.param({}, (), None, None, id="cluster first without cluster dns"),
        pytest.param({}, ("10.96.0.10",), ["10.96.0.10"],
                     ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"], id="cluster first"),  # fmt: skip
        pytest.param({"dnsPolicy": "Default"}, ("10.96.0.10",), None, None, id="default policy"),
        pytest.param({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["example.com"]}},
                     ("10.96.0.10",), ["1.1.1.1"], ["example.com"], id="pod dns config"),  # fmt: skip
    ],
)
def test_dns_config(spec: dict[str, Any], cluster_dns: tuple[str, ...], servers: list[str] | None,
                    searches: list[str] | None) -> None:  # fmt: skip
    dns = cri_config.dns_config(pod("web", **spec), cluster_dns)
    if servers is None:
        assert dns is None
    else:
        assert list(dns.servers) == servers
        assert list(dns.searches) == searches
