"""Tests of container environment resolution against a real API server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pykube_control.agent.env import EnvError, PodContext, expand, resolve_env
from pykube_control.agent.node_info import NodeResources
from pykube_control.client.api import APIClient
from pykube_control.client.resource import CONFIGMAPS, SECRETS

from tests.agent.builders import container, pod, resources

NODE = NodeResources(cpu=4000, memory=8 * 1024**3, ephemeral_storage=100 * 1024**3, pods=110)


def context(obj: dict[str, Any]) -> PodContext:
    return PodContext(obj, host_ip="192.0.2.10", pod_ips=["10.244.0.7"], allocatable=NODE)


@pytest.fixture
async def objects(client: APIClient) -> None:
    await client.create(CONFIGMAPS, {"metadata": {"name": "settings", "namespace": "default"},
                                     "data": {"MODE": "fast", "LEVEL": "3"}})  # fmt: skip
    secret = {"metadata": {"name": "creds", "namespace": "default"},
              "data": {"PASSWORD": base64.b64encode(b"hunter2").decode()}}  # fmt: skip
    await client.create(SECRETS, secret)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("$(A)-$(B)", "1-2", id="two references"),
        pytest.param("$(MISSING)", "$(MISSING)", id="unknown kept"),
        pytest.param("$$(A)", "$(A)", id="escaped"),
        pytest.param("cost $5", "cost $5", id="lone dollar"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == expected


async def test_env_literals_and_refs(client: APIClient, objects: None) -> None:
    spec = container(env=[
        {"name": "GREETING", "value": "hello"},
        {"name": "MESSAGE", "value": "$(GREETING) world"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
    ])  # fmt: skip
    obj = pod("web", spec)
    obj["metadata"]["labels"] = {"app": "shop"}
    env = dict(await resolve_env(client, spec, context(obj)))
    assert env["MESSAGE"] == "hello world"
    assert env["POD"] == "web"
    assert env["IP"] == "10.244.0.7"
    assert env["HOST"] == "192.0.2.10"
    assert env["APP"] == "shop"
    assert env["MODE"] == "fast"
    assert env["PASSWORD"] == "hunter2"


async def test_env_from_with_prefix(client: APIClient, objects: None) -> None:
    spec = container(
        envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
        env=[{"name": "CFG_MODE", "value": "slow"}],
    )
    env = dict(await resolve_env(client, spec, context(pod("web", spec))))
    assert env["CFG_MODE"] == "slow"
    assert env["CFG_LEVEL"] == "3"
    assert env["PASSWORD"] == "hunter2"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        pytest.param({"configMapKeyRef": {"name": "absent", "key": "X"}}, 'configmap "absent" not found', id="configmap"),
        pytest.param({"secretKeyRef": {"name": "absent", "key": "X"}}, 'secret "absent" not found', id="secret"),
        pytest.param({"configMapKeyRef": {"name": "settings", "key": "NOPE"}},
                     "couldn't find key NOPE in ConfigMap default/settings", id="missing key"),  # fmt: skip
    ],
)
async def test_env_missing_source(client: APIClient, objects: None, ref: dict[str, Any], message: str) -> None:
    spec = container(env=[{"name": "X", "valueFrom": ref}])
    with pytest.raises(EnvError, match=message):
        await resolve_env(client, spec, context(pod("web", spec)))


async def test_env_optional_missing_left_out(client: APIClient) -> None:
    spec = container(env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "X", "optional": True}}}],
                     envFrom=[{"secretRef": {"name": "absent", "optional": True}}])  # fmt: skip
    assert await resolve_env(client, spec, context(pod("web", spec))) == []


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        pytest.param({"resource": "limits.cpu"}, "2", id="cpu limit rounded up"),
        pytest.param({"resource": "limits.cpu", "divisor": "1m"}, "1500", id="cpu in milli"),
        pytest.param({"resource": "requests.memory", "divisor": "1Mi"}, "64", id="memory request"),
        pytest.param({"resource": "limits.memory"}, str(8 * 1024**3), id="memory limit defaults to allocatable"),
        pytest.param({"resource": "requests.cpu"}, "1", id="cpu request"),
    ],
)
async def test_env_resource_field(client: APIClient, ref: dict[str, Any], expected: str) -> None:
    spec = container(
        resources=resources(requests={"cpu": "250m", "memory": "64Mi"}, limits={"cpu": "1500m"}),
        env=[{"name": "X", "valueFrom": {"resourceFieldRef": ref}}],
    )
    assert await resolve_env(client, spec, context(pod("web", spec))) == [("X", expected)]
