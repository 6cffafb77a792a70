"""API semantics over HTTP: deletion, finalizers, preconditions, generation, watch edge cases."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pykube_control.apiserver.app import APIServerConfig, RunningAPIServer
from tests.apiserver.server_thread import ServerThread


@pytest.fixture(scope="module")
def thread(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    server_thread = ServerThread(
        APIServerConfig(data_dir=tmp_path_factory.mktemp("semantics"), host="127.0.0.1", port=0, insecure=True)
    )
    server_thread.start()
    try:
        yield server_thread
    finally:
        server_thread.stop()


@pytest.fixture(scope="module")
def server(thread: ServerThread) -> RunningAPIServer:
    assert thread.server is not None
    return thread.server


def call(
    server: RunningAPIServer, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def watch_lines(server: RunningAPIServer, path: str, count: int) -> list[dict[str, Any]]:
    """Read ``count`` watch events from ``path`` (which must set timeoutSeconds)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        events = []
        while len(events) < count:
            line = response.readline()
            if not line:
                break
            events.append(json.loads(line))
        return events
    finally:
        connection.close()


@pytest.fixture
def namespace(server: RunningAPIServer) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    status, _ = call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    assert status == 201
    return name


def configmaps(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


def test_finalizer_delays_deletion(server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    call(server, "POST", base, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    status, marked = call(server, "DELETE", f"{base}/f")
    assert status == 202
    assert marked["metadata"]["deletionTimestamp"]
    status, still = call(server, "GET", f"{base}/f")
    assert status == 200
    patch = {"metadata": {"finalizers": None}}
    status, _ = call(server, "PATCH", f"{base}/f", patch, "application/merge-patch+json")
    assert status == 200
    status, _ = call(server, "GET", f"{base}/f")
    assert status == 404


@pytest.mark.parametrize(
    ("policy", "finalizer"),
    [pytest.param("Orphan", "orphan", id="orphan"), pytest.param("Foreground", "foregroundDeletion", id="foreground")],
)
def test_propagation_policy_recorded(server: RunningAPIServer, namespace: str, policy: str, finalizer: str) -> None:
    base = configmaps(namespace)
    call(server, "POST", base, {"metadata": {"name": "p"}})
    status, marked = call(server, "DELETE", f"{base}/p", {"propagationPolicy": policy})
    assert status == 202
    assert finalizer in marked["metadata"]["finalizers"]


def test_delete_preconditions(server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    _, created = call(server, "POST", base, {"metadata": {"name": "pre"}})
    status, answer = call(server, "DELETE", f"{base}/pre", {"preconditions": {"uid": "not-the-uid"}})
    assert status == 409
    assert "Precondition failed: UID in precondition: not-the-uid" in answer["message"]
    status, _ = call(server, "DELETE", f"{base}/pre", {"preconditions": {"uid": created["metadata"]["uid"]}})
    assert status == 200


def test_delete_collection_by_label(server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    for name, tier in [("a", "x"), ("b", "x"), ("c", "y")]:
        call(server, "POST", base, {"metadata": {"name": name, "labels": {"tier": tier}}})
    status, deleted = call(server, "DELETE", f"{base}?labelSelector=tier%3Dx")
    assert status == 200
    assert sorted(item["metadata"]["name"] for item in deleted["items"]) == ["a", "b"]
    _, left = call(server, "GET", base)
    assert [item["metadata"]["name"] for item in left["items"]] == ["c"]


def test_generation_counts_spec_changes(server: RunningAPIServer, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    body = {
        "metadata": {"name": "g"},
        "spec": {
            "selector": {"matchLabels": {"app": "g"}},
            "template": {"metadata": {"labels": {"app": "g"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    call(server, "POST", base, body)
    merge = "application/merge-patch+json"
    _, labeled = call(server, "PATCH", f"{base}/g", {"metadata": {"labels": {"x": "y"}}}, merge)
    assert labeled["metadata"]["generation"] == 1
    _, status_set = call(server, "PATCH", f"{base}/g/status", {"status": {"replicas": 3}}, merge)
    assert status_set["metadata"]["generation"] == 1
    assert status_set["status"]["replicas"] == 3
    _, scaled = call(server, "PATCH", f"{base}/g", {"spec": {"replicas": 4}}, merge)
    assert scaled["metadata"]["generation"] == 2
    assert scaled["status"]["replicas"] == 3


def test_main_resource_update_keeps_status(server: RunningAPIServer, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/services"
    call(server, "POST", base, {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}]}})
    merge = "application/merge-patch+json"
    _, patched = call(server, "PATCH", f"{base}/s", {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}, merge)
    assert patched["status"] == {"loadBalancer": {}}


def test_watch_send_initial_events(server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    call(server, "POST", base, {"metadata": {"name": "one"}})
    call(server, "POST", base, {"metadata": {"name": "two"}})
    path = (
        f"{base}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
        "&allowWatchBookmarks=true&timeoutSeconds=5"
    )
    events = watch_lines(server, path, 3)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert [e["object"]["metadata"]["name"] for e in events[:2]] == ["one", "two"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_send_initial_events_needs_bookmarks(server: RunningAPIServer, namespace: str) -> None:
    path = f"{configmaps(namespace)}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
    status, answer = call(server, "GET", path)
    assert status == 400
    assert "allowWatchBookmarks" in answer["message"]


def test_watch_compacted_revision_gone(thread: ServerThread, server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    _, first = call(server, "POST", base, {"metadata": {"name": "old"}})
    old_revision = int(first["metadata"]["resourceVersion"])
    for i in range(3):
        call(server, "POST", base, {"metadata": {"name": f"n{i}"}})
    # Rebuild the cache window past the old revision, then compact the store.
    cache = server.ctx.caches["configmaps"]
    thread.call(cache._reload())
    thread.call(server.store.compact(thread.call(server.store.current_revision())))
    events = watch_lines(server, f"{base}?watch=1&resourceVersion={old_revision - 1}&timeoutSeconds=5", 1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"


def test_list_exact_compacted_gone(thread: ServerThread, server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    _, first = call(server, "POST", base, {"metadata": {"name": "x"}})
    call(server, "POST", base, {"metadata": {"name": "y"}})
    thread.call(server.store.compact(thread.call(server.store.current_revision())))
    path = f"{base}?resourceVersion={first['metadata']['resourceVersion']}&resourceVersionMatch=Exact"
    status, answer = call(server, "GET", path)
    assert status == 410
    assert answer["reason"] == "Expired"


def test_unknown_resource_not_found(server: RunningAPIServer) -> None:
    status, answer = call(server, "GET", "/apis/apps/v1/namespaces/default/widgets")
    assert status == 404
    assert answer["kind"] == "Status"


def test_wrong_kind_rejected(server: RunningAPIServer, namespace: str) -> None:
    status, answer = call(server, "POST", configmaps(namespace), {"kind": "Secret", "metadata": {"name": "k"}})
    assert status == 400
    assert "does not match" in answer["message"]


def test_namespace_mismatch_rejected(server: RunningAPIServer, namespace: str) -> None:
    status, answer = call(server, "POST", configmaps(namespace), {"metadata": {"name": "m", "namespace": "other"}})
    assert status == 400
    assert "does not match the namespace" in answer["message"]


def test_missing_namespace_not_found(server: RunningAPIServer) -> None:
    status, answer = call(server, "POST", configmaps("no-such-namespace"), {"metadata": {"name": "m"}})
    assert status == 404
    assert answer["message"] == 'namespaces "no-such-namespace" not found'


def test_binding_sets_node_once(server: RunningAPIServer, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    call(server, "POST", base, {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"}, "target": {"kind": "Node", "name": "n1"}}
    status, _ = call(server, "POST", f"{base}/b/binding", binding)
    assert status == 201
    _, pod = call(server, "GET", f"{base}/b")
    assert pod["spec"]["nodeName"] == "n1"
    status, answer = call(server, "POST", f"{base}/b/binding", binding)
    assert status == 409
    assert "already assigned" in answer["message"]


def test_pod_on_node_deletes_gracefully(server: RunningAPIServer, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/pods"
    call(server, "POST", base, {"metadata": {"name": "g"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "i"}]}})
    status, marked = call(server, "DELETE", f"{base}/g")
    assert status == 202
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    status, _ = call(server, "DELETE", f"{base}/g", {"gracePeriodSeconds": 0})
    assert status == 200
    status, _ = call(server, "GET", f"{base}/g")
    assert status == 404


def test_field_validation_warn_drops_unknown(server: RunningAPIServer, namespace: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        body = json.dumps({"metadata": {"name": "w"}, "data": {"a": "b"}, "extra": 1}).encode()
        connection.request(
            "POST", f"{configmaps(namespace)}?fieldValidation=Warn", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        created = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 201
    assert response.getheader("Warning") == '299 - "unknown field \\"extra\\""'
    assert "extra" not in created


def test_field_validation_strict_rejects(server: RunningAPIServer, namespace: str) -> None:
    body = {"metadata": {"name": "s"}, "extra": 1}
    status, answer = call(server, "POST", f"{configmaps(namespace)}?fieldValidation=Strict", body)
    assert status == 400
    assert answer["message"] == 'strict decoding error: unknown field "extra"'


def test_namespace_status_and_finalize_paths(server: RunningAPIServer) -> None:
    name = f"f-{uuid.uuid4().hex[:8]}"
    call(server, "POST", "/api/v1/namespaces", {"metadata": {"name": name}})
    status, namespace = call(server, "GET", f"/api/v1/namespaces/{name}/status")
    assert status == 200
    assert namespace["kind"] == "Namespace"
    status, _ = call(server, "DELETE", f"/api/v1/namespaces/{name}")
    assert status == 202
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}, "spec": {"finalizers": []}}
    status, _ = call(server, "PUT", f"/api/v1/namespaces/{name}/finalize", body)
    assert status == 200
    status, _ = call(server, "GET", f"/api/v1/namespaces/{name}")
    assert status == 404


def test_concurrent_merge_patches_all_apply(thread: ServerThread, server: RunningAPIServer, namespace: str) -> None:
    import concurrent.futures

    base = configmaps(namespace)
    call(server, "POST", base, {"metadata": {"name": "race"}})
    merge = "application/merge-patch+json"

    def patch(i: int) -> int:
        status, _ = call(server, "PATCH", f"{base}/race", {"data": {f"k{i}": "v"}}, merge)
        return status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(patch, range(16)))
    assert statuses == [200] * 16
    _, final = call(server, "GET", f"{base}/race")
    assert sorted(final["data"]) == sorted(f"k{i}" for i in range(16))


def test_patch_resource_version_precondition(server: RunningAPIServer, namespace: str) -> None:
    base = configmaps(namespace)
    _, created = call(server, "POST", base, {"metadata": {"name": "pre-patch"}})
    merge = "application/merge-patch+json"
    stale = {"metadata": {"resourceVersion": "1"}, "data": {"a": "b"}}
    status, _ = call(server, "PATCH", f"{base}/pre-patch", stale, merge)
    assert status == 409
    fresh = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"a": "b"}}
    status, _ = call(server, "PATCH", f"{base}/pre-patch", fresh, merge)
    assert status == 200
