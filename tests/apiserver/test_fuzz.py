"""Fuzzing of request bodies and selectors: bad input gets a 4xx Status, never a 500."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykube_core.errors import InvalidSelectorError
from pykube_core.fields import parse_field_selector
from pykube_core.labels import parse_selector
from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer
from tests.apiserver.server_thread import ServerThread

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)

POD_FIELDS = ["metadata", "spec", "status", "apiVersion", "kind"]
SPEC_FIELDS = ["containers", "initContainers", "volumes", "nodeSelector", "restartPolicy", "tolerations"]


@st.composite
def pod_like(draw: st.DrawFn) -> dict[str, Any]:
    """A Pod body with random values in the places a real one has structure."""
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fuzz"}}
    spec = {field: draw(json_values) for field in draw(st.lists(st.sampled_from(SPEC_FIELDS), max_size=4))}
    if draw(st.booleans()):
        spec["containers"] = [
            {"name": draw(st.text(max_size=10)), "image": draw(json_values), "ports": draw(json_values)}
        ]
    body["spec"] = spec
    for field in draw(st.lists(st.sampled_from(POD_FIELDS), max_size=2)):
        body[field] = draw(json_values)
    return body


@pytest.fixture(scope="module")
def insecure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAPIServer]:
    thread = ServerThread(
        APIServerConfig(data_dir=tmp_path_factory.mktemp("fuzz"), host="127.0.0.1", port=0, insecure=True)
    )
    try:
        yield thread.start()
    finally:
        thread.stop()


def post(server: RunningAPIServer, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=pod_like())
def test_random_pod_bodies(insecure: RunningAPIServer, body: dict[str, Any]) -> None:
    status, answer = post(insecure, "/api/v1/namespaces/default/pods?dryRun=All", json.dumps(body).encode())
    assert status < 500, answer
    if status >= 400:
        assert answer["kind"] == "Status"
        assert answer["message"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes(insecure: RunningAPIServer, raw: bytes) -> None:
    status, answer = post(insecure, "/api/v1/namespaces/default/configmaps", raw)
    assert status < 500, answer


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=json_values)
def test_random_yaml_and_json_documents(insecure: RunningAPIServer, document: Any) -> None:
    for content_type in ("application/json", "application/yaml"):
        status, answer = post(
            insecure, "/apis/apps/v1/namespaces/default/deployments?dryRun=All", json.dumps(document).encode(), content_type
        )
        assert status < 500, answer


def test_oversized_body_rejected(insecure: RunningAPIServer) -> None:
    body = json.dumps({"metadata": {"name": "big"}, "data": {"x": "y" * (4 * 1024 * 1024)}}).encode()
    status, answer = post(insecure, "/api/v1/namespaces/default/configmaps", body)
    assert status == 413
    assert answer["reason"] == "RequestEntityTooLarge"


def test_protobuf_body_rejected(insecure: RunningAPIServer) -> None:
    status, answer = post(insecure, "/api/v1/namespaces/default/configmaps", b"\x0a\x00", "application/vnd.kubernetes.protobuf")
    assert status == 415
    assert "application/json" in answer["message"]


@given(text=st.text(alphabet="abc=!,() inotex\\.-_/", max_size=40))
def test_label_selector_parser_total(text: str) -> None:
    try:
        parse_selector(text)
    except InvalidSelectorError:
        pass


@given(text=st.text(alphabet="metadn.amespc=!,\\ ", max_size=40))
def test_field_selector_parser_total(text: str) -> None:
    try:
        parse_field_selector(text)
    except InvalidSelectorError:
        pass
