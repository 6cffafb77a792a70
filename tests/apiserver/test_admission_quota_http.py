"""LimitRanger and ResourceQuota through a real API server, driven by the official Python client."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from pykube_control.apiserver.admission.limitranger import admit_limit_ranger
from pykube_control.apiserver.admission.quota import admit_resource_quota
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer
from tests.apiserver.server_thread import ServerThread

CACHE_WAIT_SECONDS = 10.0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAPIServer]:
    """A TLS API server whose admission chain ends with LimitRanger and ResourceQuota."""
    thread = ServerThread(APIServerConfig(data_dir=tmp_path_factory.mktemp("apiserver"), host="127.0.0.1", port=0))
    try:
        server = thread.start()
        # The plugins may already be in the server's default chain; add them only once.
        for plugin in (admit_limit_ranger, admit_resource_quota):
            if plugin not in server.ctx.admission_plugins:
                server.ctx.admission_plugins.append(plugin)
        yield server
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def core(running: RunningAPIServer) -> Iterator[client.CoreV1Api]:
    assert running.kubeconfig is not None
    api_client = config.new_client_from_config(config_file=str(Path(running.kubeconfig)))  # type: ignore[no-untyped-call]
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def namespace(core: client.CoreV1Api) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def new_pod(name: str, cpu: str | None = None, cpu_limit: str | None = None) -> client.V1Pod:
    requests = {"cpu": cpu} if cpu else None
    limits = {"cpu": cpu_limit} if cpu_limit else None
    container = client.V1Container(
        name="app", image="busybox", resources=client.V1ResourceRequirements(requests=requests, limits=limits)
    )
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), spec=client.V1PodSpec(containers=[container]))


def quota_used(core: client.CoreV1Api, namespace: str, name: str) -> dict[str, str] | None:
    status = core.read_namespaced_resource_quota(name, namespace).status
    assert status is not None
    return status.used


def wait_for_cache(running: RunningAPIServer, resource: str, namespace: str) -> None:
    """Wait until the server's watch cache shows an object of ``resource`` in ``namespace``."""
    prefix = f"/registry/{resource}/{namespace}/"
    deadline = time.monotonic() + CACHE_WAIT_SECONDS
    while not any(key.startswith(prefix) for key in list(running.ctx.caches[resource].objects)):
        assert time.monotonic() < deadline, f"{resource} in {namespace} never reached the watch cache"
        time.sleep(0.01)


def test_quota_concurrent_creates(running: RunningAPIServer, core: client.CoreV1Api, namespace: str) -> None:
    quota = client.V1ResourceQuota(metadata=client.V1ObjectMeta(name="pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "5"}))
    core.create_namespaced_resource_quota(namespace, quota)
    wait_for_cache(running, "resourcequotas", namespace)

    def attempt(index: int) -> int:
        try:
            core.create_namespaced_pod(namespace, new_pod(f"p{index}"))
        except ApiException as exc:
            return int(exc.status)
        return 201

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert codes.count(201) == 5
    assert codes.count(403) == 15
    assert quota_used(core, namespace, "pods") == {"pods": "5"}

    created = [f"p{index}" for index, code in enumerate(codes) if code == 201]
    for name in created[:2]:
        core.delete_namespaced_pod(name, namespace)
    assert quota_used(core, namespace, "pods") == {"pods": "3"}


def test_quota_forbidden_message(core: client.CoreV1Api, namespace: str) -> None:
    quota = client.V1ResourceQuota(metadata=client.V1ObjectMeta(name="one"), spec=client.V1ResourceQuotaSpec(hard={"pods": "1"}))
    core.create_namespaced_resource_quota(namespace, quota)
    core.create_namespaced_pod(namespace, new_pod("first"))
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(namespace, new_pod("second"))
    assert info.value.status == 403
    assert 'pods \\"second\\" is forbidden: exceeded quota: one, requested: pods=1, used: pods=1, limited: pods=1' in str(info.value.body)


def test_limit_range_defaults_pod(core: client.CoreV1Api, namespace: str) -> None:
    item = client.V1LimitRangeItem(type="Container", default={"cpu": "500m"}, default_request={"cpu": "100m"}, max={"cpu": "1"})
    limit_range = client.V1LimitRange(metadata=client.V1ObjectMeta(name="cpu"), spec=client.V1LimitRangeSpec(limits=[item]))
    core.create_namespaced_limit_range(namespace, limit_range)
    created = core.create_namespaced_pod(namespace, new_pod("web"))
    assert created.spec is not None
    resources = created.spec.containers[0].resources
    assert resources is not None
    assert resources.requests == {"cpu": "100m"}
    assert resources.limits == {"cpu": "500m"}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(namespace, new_pod("big", cpu="1", cpu_limit="2"))
    assert info.value.status == 403
    assert "maximum cpu usage per Container is 1, but limit is 2" in str(info.value.body)
