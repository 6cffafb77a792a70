"""EventRecorder against a real API server: new Events, aggregation of repeats, failures."""

from __future__ import annotations

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.events import EventRecorder
from pykube_control.client.kubeconfig import ClientConfig
from pykube_control.client.resource import CONFIGMAPS, EVENTS, NAMESPACES
from pykube_control.client.transport import RetryPolicy
from tests.client.conftest import configmap


async def test_event_written(plain_client: APIClient) -> None:
    subject = await plain_client.create(CONFIGMAPS, configmap("subject"))
    recorder = EventRecorder(plain_client, "test-controller", host="node-1")
    event = await recorder.record(subject, "Warning", "Broken", "the subject is broken")
    assert event is not None
    assert event["involvedObject"]["uid"] == subject["metadata"]["uid"]
    assert event["involvedObject"]["kind"] == "ConfigMap"
    assert event["source"] == {"component": "test-controller", "host": "node-1"}
    assert event["type"] == "Warning"
    assert event["count"] == 1


async def test_event_repeats_aggregate(plain_client: APIClient) -> None:
    subject = await plain_client.create(CONFIGMAPS, configmap("subject"))
    recorder = EventRecorder(plain_client, "test-controller")
    for _ in range(3):
        await recorder.record(subject, "Normal", "Synced", "synced once more")
    await recorder.record(subject, "Normal", "Synced", "a different message")

    listed = await plain_client.list(EVENTS, namespace="default")
    counts = sorted((item["message"], item["count"]) for item in listed["items"])
    assert counts == [("a different message", 1), ("synced once more", 3)]


async def test_event_recreated_after_delete(plain_client: APIClient) -> None:
    subject = await plain_client.create(CONFIGMAPS, configmap("subject"))
    recorder = EventRecorder(plain_client, "test-controller")
    first = await recorder.record(subject, "Normal", "Synced", "done")
    assert first is not None
    await plain_client.delete(EVENTS, first["metadata"]["name"], namespace="default")
    second = await recorder.record(subject, "Normal", "Synced", "done")
    assert second is not None
    assert second["count"] == 1
    assert second["metadata"]["name"] != first["metadata"]["name"]


async def test_event_cluster_object_default_namespace(plain_client: APIClient) -> None:
    namespace = await plain_client.get(NAMESPACES, "kube-public")
    recorder = EventRecorder(plain_client, "test-controller")
    event = await recorder.record(namespace, "Normal", "Checked", "namespace checked")
    assert event is not None
    assert event["metadata"]["namespace"] == "default"


async def test_event_failure_logged(caplog: pytest.LogCaptureFixture) -> None:
    config = ClientConfig.for_url("http://127.0.0.1:1")
    async with APIClient(config, retry=RetryPolicy(attempts=1)) as unreachable:
        recorder = EventRecorder(unreachable, "test-controller")
        result = await recorder.record(configmap("x"), "Normal", "Tried", "no server")
    assert result is None
    assert "event not recorded" in caplog.text


async def test_event_type_checked() -> None:
    async with APIClient(ClientConfig.for_url("http://127.0.0.1:1")) as unused:
        recorder = EventRecorder(unused, "test-controller")
        with pytest.raises(ValueError, match="invalid event type 'Error'"):
            await recorder.record(configmap("x"), "Error", "Bad", "bad type")  # type: ignore[arg-type]
