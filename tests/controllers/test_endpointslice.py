"""The EndpointSlice and Endpoints controllers against a real API server.

No node agent runs, so each test writes the pods' IPs and readiness through
pods/status, as a kubelet would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pykube_control.client.api import APIClient
from pykube_control.client.errors import Conflict
from pykube_control.client.resource import ENDPOINT_SLICES, NODES, PODS, SERVICES
from pykube_control.controllers.endpoint_pods import EndpointPort
from pykube_control.controllers.endpoints import ENDPOINTS, EndpointsController
from pykube_control.controllers.endpointslice import EndpointSliceController
from pykube_control.controllers.endpointslice_plan import DesiredEndpoint, plan_slices
from tests.controllers.helpers import api, eventually, running, server  # noqa: F401 (fixtures)

Object = dict[str, Any]

CONTROLLERS = [EndpointSliceController, EndpointsController]


# --- builders -------------------------------------------------------------------------------


def make_service(name: str, selector: dict[str, str] | None, ports: Sequence[Object] | None = None) -> Object:
    spec: Object = {"ports": list(ports or [{"name": "http", "port": 80, "targetPort": 8080}])}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def make_pod(name: str, labels: dict[str, str], *, container_port: int = 8080, node: str | None = None) -> Object:
    container = {"name": "web", "image": "nginx", "ports": [{"name": "http", "containerPort": container_port}]}
    spec: Object = {"containers": [container]}
    if node is not None:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": dict(labels)},
        "spec": spec,
    }


async def set_status(api: APIClient, name: str, ip: str, *, ready: bool) -> None:
    """Write a Running status with ``ip`` and the Ready condition, retrying lost races."""
    for _ in range(10):
        pod = await api.get(PODS, name, namespace="default")
        pod["status"] = {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        try:
            await api.update_status(PODS, pod)
            return
        except Conflict:
            continue
    raise AssertionError(f"could not write the status of pod {name}")


async def add_pod(api: APIClient, name: str, ip: str, *, ready: bool = True, **options: Any) -> None:
    await api.create(PODS, make_pod(name, {"app": "web"}, **options))
    await set_status(api, name, ip, ready=ready)


# --- reading --------------------------------------------------------------------------------


async def slices_of(api: APIClient, service: str) -> list[Object]:
    listing = await api.list(ENDPOINT_SLICES, namespace="default", label_selector=f"kubernetes.io/service-name={service}")
    return sorted(listing.get("items") or [], key=lambda item: str(item["metadata"]["name"]))


async def slice_endpoints(api: APIClient, service: str) -> dict[str, Object]:
    """Return every endpoint of the Service's slices by pod name."""
    found: dict[str, Object] = {}
    for item in await slices_of(api, service):
        for endpoint in item.get("endpoints") or []:
            found[endpoint["targetRef"]["name"]] = endpoint
    return found


async def endpoints_of(api: APIClient, service: str) -> Object | None:
    listing = await api.list(ENDPOINTS, namespace="default")
    return next((item for item in listing.get("items") or [] if item["metadata"]["name"] == service), None)


def addresses(endpoints: Object | None, field: str = "addresses") -> list[str]:
    if endpoints is None:
        return []
    return sorted(address["ip"] for subset in endpoints.get("subsets") or [] for address in subset.get(field) or [])


# --- EndpointSlices ---------------------------------------------------------------------------


async def test_slice_lists_ready_pods(api: APIClient) -> None:
    service = await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10")
    await add_pod(api, "web-b", "10.244.0.11")
    async with running(api, CONTROLLERS):

        async def listed() -> bool:
            found = await slice_endpoints(api, "web")
            return sorted(found) == ["web-a", "web-b"]

        await eventually(listed, "both pods are in the slice")
    [only] = await slices_of(api, "web")
    assert only["addressType"] == "IPv4"
    assert only["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert only["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"
    assert only["metadata"]["ownerReferences"][0]["uid"] == service["metadata"]["uid"]
    assert only["metadata"]["ownerReferences"][0]["controller"] is True
    endpoint = (await slice_endpoints(api, "web"))["web-a"]
    assert endpoint["addresses"] == ["10.244.0.10"]
    assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}


async def test_slice_follows_readiness(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10", ready=False)
    async with running(api, CONTROLLERS):

        async def not_ready() -> bool:
            endpoint = (await slice_endpoints(api, "web")).get("web-a")
            return endpoint is not None and endpoint["conditions"]["ready"] is False

        await eventually(not_ready, "the not-ready pod is listed as not ready")
        await set_status(api, "web-a", "10.244.0.10", ready=True)

        async def ready() -> bool:
            endpoint = (await slice_endpoints(api, "web")).get("web-a")
            return endpoint is not None and endpoint["conditions"]["ready"] is True

        await eventually(ready, "the pod turns ready in the slice")
    endpoint = (await slice_endpoints(api, "web"))["web-a"]
    assert endpoint["conditions"]["serving"] is True


async def test_slice_marks_terminating(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10", node="node-1")
    async with running(api, CONTROLLERS):
        await eventually(lambda: _has_endpoint(api, "web", "web-a"), "the pod is in the slice")
        # A pod on a node waits out its grace period, and no node agent ends it sooner.
        await api.delete(PODS, "web-a", namespace="default")

        async def terminating() -> bool:
            endpoint = (await slice_endpoints(api, "web")).get("web-a")
            return endpoint is not None and endpoint["conditions"]["terminating"] is True

        await eventually(terminating, "the slice marks the pod terminating")
        await eventually(lambda: _endpoints_addresses_are(api, "web", []), "Endpoints drop the terminating pod")
    endpoint = (await slice_endpoints(api, "web"))["web-a"]
    assert endpoint["conditions"] == {"ready": False, "serving": True, "terminating": True}


async def test_named_port_resolved_per_pod(api: APIClient) -> None:
    ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    await api.create(SERVICES, make_service("web", {"app": "web"}, ports))
    await add_pod(api, "web-a", "10.244.0.10", container_port=8080)
    await add_pod(api, "web-b", "10.244.0.11", container_port=9090)
    async with running(api, CONTROLLERS):

        async def split() -> bool:
            return len(await slices_of(api, "web")) == 2 and len(await slice_endpoints(api, "web")) == 2

        await eventually(split, "pods with different ports get separate slices")
        await eventually(lambda: _endpoints_addresses_are(api, "web", ["10.244.0.10", "10.244.0.11"]), "Endpoints list both")
    ports_by_pod = {
        item["endpoints"][0]["targetRef"]["name"]: item["ports"][0]["port"] for item in await slices_of(api, "web")
    }
    assert ports_by_pod == {"web-a": 8080, "web-b": 9090}
    endpoints = await endpoints_of(api, "web")
    assert endpoints is not None
    subset_ports = sorted(subset["ports"][0]["port"] for subset in endpoints["subsets"])
    assert subset_ports == [8080, 9090]


async def test_unresolvable_port_left_out(api: APIClient) -> None:
    ports = [{"name": "metrics", "port": 9100, "targetPort": "metrics"}]
    await api.create(SERVICES, make_service("web", {"app": "web"}, ports))
    await add_pod(api, "web-a", "10.244.0.10")
    async with running(api, CONTROLLERS):
        await eventually(lambda: _has_endpoint(api, "web", "web-a"), "the pod is in a slice")
        await eventually(lambda: _endpoints_exist(api, "web"), "Endpoints are written")
    [only] = await slices_of(api, "web")
    assert only["ports"] == []
    assert (await endpoints_of(api, "web") or {}).get("subsets") == []


async def test_node_name_and_zone(api: APIClient) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}}}
    await api.create(NODES, node)
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10", node="node-1")
    async with running(api, CONTROLLERS):
        await eventually(lambda: _has_endpoint(api, "web", "web-a"), "the pod is in the slice")
        await eventually(lambda: _endpoints_exist(api, "web"), "Endpoints are written")
    endpoint = (await slice_endpoints(api, "web"))["web-a"]
    assert endpoint["nodeName"] == "node-1"
    assert endpoint["zone"] == "zone-a"
    endpoints = await endpoints_of(api, "web")
    assert endpoints is not None
    assert endpoints["subsets"][0]["addresses"][0]["nodeName"] == "node-1"


async def test_many_pods_split_into_slices(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    for index in range(120):
        await add_pod(api, f"web-{index:03d}", f"10.244.{index // 200}.{index % 200 + 1}")
    async with running(api, CONTROLLERS):

        async def all_listed() -> bool:
            return len(await slice_endpoints(api, "web")) == 120

        await eventually(all_listed, "all 120 pods are in slices")
        await api.delete(PODS, "web-000", namespace="default", grace_period_seconds=0)

        async def removed() -> bool:
            return len(await slice_endpoints(api, "web")) == 119

        await eventually(removed, "the deleted pod leaves its slice")
    # The first sync fills one slice with web-000 to web-099, and only that slice loses a pod.
    sizes = sorted(len(item.get("endpoints") or []) for item in await slices_of(api, "web"))
    assert sizes == [20, 99]


async def test_no_pods_keeps_placeholder(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    async with running(api, CONTROLLERS):

        async def placeholder() -> bool:
            return len(await slices_of(api, "web")) == 1

        await eventually(placeholder, "an empty placeholder slice exists")
    [only] = await slices_of(api, "web")
    assert only.get("endpoints") in (None, [])


async def test_selectorless_service_left_alone(api: APIClient) -> None:
    await api.create(SERVICES, make_service("manual", None))
    own = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "manual", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 8080}]}],
    }
    await api.create(ENDPOINTS, own)
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    async with running(api, CONTROLLERS):
        # The placeholder of the other Service shows the controllers have run.
        await eventually(lambda: _slice_count_is(api, "web", 1), "the selector Service gets its slice")
        await eventually(lambda: _endpoints_exist(api, "web"), "the selector Service gets Endpoints")
    assert await slices_of(api, "manual") == []
    assert addresses(await endpoints_of(api, "manual")) == ["192.0.2.10"]


async def test_service_deletion_cleans_up(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10")
    async with running(api, CONTROLLERS):
        await eventually(lambda: _has_endpoint(api, "web", "web-a"), "the pod is in the slice")
        await eventually(lambda: _endpoints_exist(api, "web"), "Endpoints are written")
        await api.delete(SERVICES, "web", namespace="default")
        await eventually(lambda: _slice_count_is(api, "web", 0), "the slices are deleted")
        await eventually(lambda: _endpoints_gone(api, "web"), "the Endpoints are deleted")


# --- Endpoints --------------------------------------------------------------------------------


async def test_endpoints_split_by_readiness(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10")
    await add_pod(api, "web-b", "10.244.0.11", ready=False)
    async with running(api, CONTROLLERS):
        await eventually(lambda: _endpoints_addresses_are(api, "web", ["10.244.0.10"]), "the ready pod is listed")
        await eventually(lambda: _not_ready_are(api, "web", ["10.244.0.11"]), "the other pod is not ready")
        await set_status(api, "web-b", "10.244.0.11", ready=True)
        await eventually(
            lambda: _endpoints_addresses_are(api, "web", ["10.244.0.10", "10.244.0.11"]), "both pods are ready"
        )
    endpoints = await endpoints_of(api, "web")
    assert endpoints is not None
    assert addresses(endpoints, "notReadyAddresses") == []
    assert endpoints["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert endpoints["subsets"][0]["addresses"][0]["targetRef"]["kind"] == "Pod"


async def test_endpoints_publish_not_ready(api: APIClient) -> None:
    service = make_service("web", {"app": "web"})
    service["spec"]["publishNotReadyAddresses"] = True
    await api.create(SERVICES, service)
    await add_pod(api, "web-a", "10.244.0.10", ready=False)
    async with running(api, CONTROLLERS):
        await eventually(lambda: _endpoints_addresses_are(api, "web", ["10.244.0.10"]), "the not-ready pod is published")

        async def ready_in_slice() -> bool:
            endpoint = (await slice_endpoints(api, "web")).get("web-a")
            return endpoint is not None and endpoint["conditions"]["ready"] is True

        await eventually(ready_in_slice, "the slice publishes the pod as ready")


async def test_endpoints_truncated_over_capacity(api: APIClient) -> None:
    await api.create(SERVICES, make_service("web", {"app": "web"}))
    await add_pod(api, "web-a", "10.244.0.10")
    await add_pod(api, "web-b", "10.244.0.11")
    await add_pod(api, "web-c", "10.244.0.12", ready=False)

    def small(context: Any) -> EndpointsController:
        return EndpointsController(context, max_addresses=2)

    async with running(api, [small]):
        await eventually(lambda: _endpoints_exist(api, "web"), "Endpoints are written")
    endpoints = await endpoints_of(api, "web")
    assert endpoints is not None
    assert addresses(endpoints) == ["10.244.0.10", "10.244.0.11"]
    assert addresses(endpoints, "notReadyAddresses") == []
    assert endpoints["metadata"]["annotations"] == {"endpoints.kubernetes.io/over-capacity": "truncated"}


# --- the slice plan without a server ------------------------------------------------------------


def _desired(identity: str, port: int = 8080) -> DesiredEndpoint:
    group = ("IPv4", (EndpointPort("http", port, "TCP"),))
    body = {"addresses": [f"10.0.0.{identity}"], "targetRef": {"kind": "Pod", "uid": identity}}
    return DesiredEndpoint(identity, group, body)


def _existing(name: str, identities: Sequence[str], port: int = 8080) -> Object:
    return {
        "metadata": {"name": name},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [f"10.0.0.{identity}"], "targetRef": {"uid": identity}} for identity in identities],
    }


@pytest.mark.parametrize(
    ("existing", "desired", "creates", "updates", "deletes"),
    [
        pytest.param([], ["1", "2", "3"], [["1", "2"], ["3"]], {}, [], id="new endpoints fill new slices"),
        pytest.param([_existing("s-1", ["1", "2"])], ["2", "3"], [], {"s-1": ["2", "3"]}, [], id="endpoint replaced in place"),
        pytest.param(
            [_existing("s-1", ["1", "2"]), _existing("s-2", ["3"])], ["1", "2", "3", "4"], [], {"s-1": ["1", "2"], "s-2": ["3", "4"]}, [],
            id="free room filled first",
        ),
        pytest.param([_existing("s-1", ["1"]), _existing("s-2", ["2"])], ["2"], [], {"s-2": ["2"]}, ["s-1"], id="emptied slice deleted"),
        pytest.param([_existing("s-1", ["1"], port=9090)], ["1"], [["1"]], {}, ["s-1"], id="changed port moves slice"),
    ],
)
def test_plan_slices(
    existing: list[Object], desired: list[str], creates: list[list[str]], updates: dict[str, list[str]], deletes: list[str]
) -> None:
    plan = plan_slices(existing, [_desired(identity) for identity in desired], max_endpoints=2, placeholder_type="IPv4")
    assert [[endpoint["targetRef"]["uid"] for endpoint in body] for _, body in plan.creates] == creates
    assert {name: [endpoint["targetRef"]["uid"] for endpoint in body] for name, (_, body) in plan.updates.items()} == updates
    assert plan.deletes == deletes


def test_plan_placeholder_reused() -> None:
    placeholder = {"metadata": {"name": "s-1"}, "addressType": "IPv4", "ports": [], "endpoints": []}
    plan = plan_slices([placeholder, _existing("s-2", ["1"])], [], max_endpoints=2, placeholder_type="IPv4")
    assert plan.creates == []
    assert plan.updates == {"s-1": (("IPv4", ()), [])}
    assert plan.deletes == ["s-2"]


# --- conditions polled by the tests -----------------------------------------------------------------


async def _has_endpoint(api: APIClient, service: str, pod: str) -> bool:
    return pod in await slice_endpoints(api, service)


async def _slice_count_is(api: APIClient, service: str, count: int) -> bool:
    return len(await slices_of(api, service)) == count


async def _endpoints_exist(api: APIClient, service: str) -> bool:
    return await endpoints_of(api, service) is not None


async def _endpoints_gone(api: APIClient, service: str) -> bool:
    return await endpoints_of(api, service) is None


async def _endpoints_addresses_are(api: APIClient, service: str, expected: list[str]) -> bool:
    endpoints = await endpoints_of(api, service)
    return endpoints is not None and addresses(endpoints) == expected


async def _not_ready_are(api: APIClient, service: str, expected: list[str]) -> bool:
    return addresses(await endpoints_of(api, service), "notReadyAddresses") == expected
