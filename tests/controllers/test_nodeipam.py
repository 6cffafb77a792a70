"""The node IPAM controller against a real API server: distinct pod CIDRs, released on delete, rebuilt at start."""

from __future__ import annotations

import functools
import ipaddress

import pytest

from pykube_control.agent.fake import FakeNodes
from pykube_control.client.api import APIClient
from pykube_control.client.errors import NotFound
from pykube_control.client.resource import NODES
from pykube_control.controllers.nodeipam import NodeIPAMController, pod_cidrs
from pykube_control.controllers.nodeipam_cidrs import CIDRPool, CIDRPoolFull
from tests.controllers.helpers import Object, api, eventually, running, server  # noqa: F401 (api and server are fixtures)


def make_node(name: str) -> Object:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}


def ipam(cluster_cidr: str = "10.244.0.0/16", mask_size: int = 24) -> functools.partial[NodeIPAMController]:
    return functools.partial(NodeIPAMController, cluster_cidr=cluster_cidr, node_cidr_mask_size=mask_size)


async def cidr_of(api: APIClient, name: str) -> str | None:
    try:
        node = await api.get(NODES, name)
    except NotFound:
        return None
    cidrs = pod_cidrs(node)
    return cidrs[0] if cidrs else None


async def all_assigned(api: APIClient, names: list[str]) -> bool:
    return all([await cidr_of(api, name) is not None for name in names])


# --- the pool alone ----------------------------------------------------------------------------


def test_pool_allocates_in_order() -> None:
    pool = CIDRPool("10.244.0.0/16", 24)

    assert [pool.allocate() for _ in range(3)] == ["10.244.0.0/24", "10.244.1.0/24", "10.244.2.0/24"]


def test_pool_skips_occupied() -> None:
    pool = CIDRPool("10.244.0.0/16", 24)
    pool.occupy("10.244.0.0/24")

    assert pool.allocate() == "10.244.1.0/24"


def test_pool_full_raises() -> None:
    pool = CIDRPool("10.0.0.0/23", 24)
    pool.allocate()
    pool.allocate()

    with pytest.raises(CIDRPoolFull, match="no free /24 left in cluster CIDR 10.0.0.0/23"):
        pool.allocate()


def test_pool_reuses_released_last() -> None:
    pool = CIDRPool("10.0.0.0/22", 24)
    first = pool.allocate()
    pool.allocate()
    pool.release(first)

    assert pool.allocate() == "10.0.2.0/24"
    assert pool.allocate() == "10.0.3.0/24"
    assert pool.allocate() == first


def test_pool_ipv6() -> None:
    pool = CIDRPool("fd00:10::/48", 64)

    assert pool.allocate() == "fd00:10::/64"
    assert pool.allocate() == "fd00:10:0:1::/64"


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        pytest.param("10.245.0.0/24", "outside cluster CIDR", id="other range"),
        pytest.param("10.244.0.0/25", "is not a /24", id="other mask size"),
        pytest.param("10.244.0.0/33", "invalid node CIDR", id="not a network"),
    ],
)
def test_pool_occupy_rejects(cidr: str, message: str) -> None:
    pool = CIDRPool("10.244.0.0/16", 24)

    with pytest.raises(ValueError, match=message):
        pool.occupy(cidr)


@pytest.mark.parametrize(
    ("cluster_cidr", "mask_size"),
    [
        pytest.param("10.244.0.0/16", 8, id="mask shorter than cluster"),
        pytest.param("10.244.0.0/16", 33, id="mask longer than address"),
        pytest.param("10.244.0.1/16", 24, id="host bits set"),
    ],
)
def test_pool_rejects_config(cluster_cidr: str, mask_size: int) -> None:
    with pytest.raises(ValueError, match="invalid"):
        CIDRPool(cluster_cidr, mask_size)


# --- the controller ----------------------------------------------------------------------------


async def test_nodes_get_distinct_cidrs(api: APIClient) -> None:
    names = [f"node-{i}" for i in range(5)]
    async with running(api, [ipam()]):
        for name in names:
            await api.create(NODES, make_node(name))
        await eventually(lambda: all_assigned(api, names), "every node has a pod CIDR")

        cidrs = [await cidr_of(api, name) for name in names]
        node = await api.get(NODES, names[0])

    assert len(set(cidrs)) == len(names)
    assert all(ipaddress.IPv4Network(str(cidr)).subnet_of(ipaddress.IPv4Network("10.244.0.0/16")) for cidr in cidrs)
    assert node["spec"]["podCIDRs"] == [node["spec"]["podCIDR"]]


async def test_deleted_node_cidr_released(api: APIClient) -> None:
    # A /23 has two /24s, so the third node gets a subnet only after a delete.
    async with running(api, [ipam("10.9.0.0/23")]):
        await api.create(NODES, make_node("a"))
        await api.create(NODES, make_node("b"))
        await eventually(lambda: all_assigned(api, ["a", "b"]), "nodes a and b have pod CIDRs")
        freed = await cidr_of(api, "a")
        await api.create(NODES, make_node("c"))
        await api.delete(NODES, "a")

        await eventually(lambda: all_assigned(api, ["c"]), "node c has the pod CIDR of deleted node a")
        cidr_c = await cidr_of(api, "c")

    assert cidr_c == freed


async def test_restart_keeps_existing_cidrs(api: APIClient) -> None:
    async with running(api, [ipam("10.9.0.0/22")]):
        await api.create(NODES, make_node("a"))
        await api.create(NODES, make_node("b"))
        await eventually(lambda: all_assigned(api, ["a", "b"]), "nodes a and b have pod CIDRs")

    async with running(api, [ipam("10.9.0.0/22")]):
        await api.create(NODES, make_node("c"))
        await api.create(NODES, make_node("d"))
        await eventually(lambda: all_assigned(api, ["c", "d"]), "nodes c and d have pod CIDRs")
        cidrs = [await cidr_of(api, name) for name in ("a", "b", "c", "d")]

    assert len(set(cidrs)) == 4


async def test_preset_cidrs_kept(api: APIClient) -> None:
    # FakeNodes register with their own /24 inside 10.128.0.0/9; the pool must treat them as taken.
    nodes = FakeNodes(api, 2)
    await nodes.start()
    try:
        preset = [await cidr_of(api, name) for name in nodes.names]
        async with running(api, [ipam("10.128.0.0/22")]):
            await api.create(NODES, make_node("plain"))
            await eventually(lambda: all_assigned(api, ["plain"]), "node plain has a pod CIDR")
            cidrs = [await cidr_of(api, name) for name in nodes.names]
            node = await api.get(NODES, "plain")
    finally:
        await nodes.stop()

    assert cidrs == preset
    assert node["spec"]["podCIDR"] not in preset
