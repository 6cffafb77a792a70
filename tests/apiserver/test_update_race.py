"""Concurrent PUTs of one object: without a resourceVersion they all apply, with a stale one they get 409."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer
from tests.apiserver.server_thread import ServerThread
from tests.apiserver.test_server_semantics import call


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAPIServer]:
    thread = ServerThread(APIServerConfig(data_dir=tmp_path_factory.mktemp("race"), host="127.0.0.1", port=0, insecure=True))
    thread.start()
    try:
        assert thread.server is not None
        yield thread.server
    finally:
        thread.stop()


def configmap(name: str, value: str, resource_version: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"value": value}}


def test_unconditional_puts_all_apply(server: RunningAPIServer) -> None:
    name = f"race-{uuid.uuid4().hex[:6]}"
    path = f"/api/v1/namespaces/default/configmaps/{name}"
    status, _ = call(server, "POST", "/api/v1/namespaces/default/configmaps", configmap(name, "start"))
    assert status == 201
    codes: list[int] = []

    def writer(index: int) -> None:
        for round_ in range(10):
            code, _ = call(server, "PUT", path, configmap(name, f"{index}-{round_}"))
            codes.append(code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(codes)) == [200]


def test_stale_resource_version_conflicts(server: RunningAPIServer) -> None:
    name = f"stale-{uuid.uuid4().hex[:6]}"
    path = f"/api/v1/namespaces/default/configmaps/{name}"
    _, created = call(server, "POST", "/api/v1/namespaces/default/configmaps", configmap(name, "start"))
    version = created["metadata"]["resourceVersion"]
    assert call(server, "PUT", path, configmap(name, "first", version))[0] == 200
    status, body = call(server, "PUT", path, configmap(name, "second", version))
    assert status == 409
    assert body["reason"] == "Conflict"
    assert json.dumps(body).count("the object has been modified") == 1
