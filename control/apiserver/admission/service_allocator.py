"""Cluster IP and NodePort pools whose allocations are keys in the store.

Each allocated value is one key, ``/registry/allocations/clusterips/<ip>``
or ``/registry/allocations/nodeports/<port>``, whose value names the
Service that owns it. A claim is the store's ``create``, which fails when
the key exists, so the store arbitrates concurrent claims: two API server
requests, or two API servers on one etcd, never hand out a value twice, and
the allocations survive a restart with the rest of the data. Kubernetes
keeps one bitmap per range instead; one key per value trades a little space
for claims that never conflict unless they want the same value.

The service CIDR is recorded at ``/registry/ranges/serviceips`` when the
API server starts, so admission reads the configured range from the store.

Random picks skip a range's first address, which the ``kubernetes``
Service in ``default`` gets, as well as the network and broadcast
addresses.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import random
from typing import Any

import orjson

from pykube_control.apiserver.validation.service import NODE_PORT_RANGE
from pykube_control.store.errors import ConflictError, KeyExistsError, KeyNotFoundError
from pykube_control.store.interface import Store

log = logging.getLogger("pykube.apiserver.allocator")

CLUSTER_IP_PREFIX = "/registry/allocations/clusterips/"
NODE_PORT_PREFIX = "/registry/allocations/nodeports/"
SERVICE_IP_RANGE_KEY = "/registry/ranges/serviceips"

DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
"""kube-apiserver's default --service-cluster-ip-range."""

RANDOM_PROBES = 16
"""Random values tried before listing every allocation to find a free one.
A pool at 90% use still finds a free value within 16 probes with
probability 1 - 0.9**16, about 81%, so the listing is rare until a pool is
nearly full."""

CLAIM_RETRIES = 8
"""Rounds of listing and claiming when concurrent requests keep taking the free value first."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class Owner:
    """The Service that owns an allocation, stored as the allocation key's value."""

    namespace: str
    name: str
    uid: str

    def encode(self) -> bytes:
        return orjson.dumps({"namespace": self.namespace, "name": self.name, "uid": self.uid})

    @classmethod
    def of(cls, service: dict[str, Any]) -> Owner:
        metadata = service.get("metadata") or {}
        return cls(str(metadata.get("namespace", "")), str(metadata.get("name", "")), str(metadata.get("uid", "")))


class AllocationError(Exception):
    """A requested value is taken or outside the range, or the range is full."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Pool:
    """Integers ``low``..``high`` (inclusive) handed out at random.

    An explicit claim may take a value outside ``low``..``high``, such as
    the first address of the service CIDR. A value's key is ``prefix``
    followed by ``render(value)``.
    """

    def __init__(self, store: Store, prefix: str, low: int, high: int, rng: random.Random | None = None) -> None:
        self.store = store
        self.prefix = prefix
        self.low = low
        self.high = high
        self._rng = rng or random.SystemRandom()

    def render(self, value: int) -> str:
        return str(value)

    def parse(self, text: str) -> int:
        return int(text)

    def key(self, value: int) -> str:
        return self.prefix + self.render(value)

    async def owner_uid(self, value: int) -> str | None:
        """Return the uid of the Service that owns ``value``, or None if it is free."""
        try:
            kv = await self.store.get(self.key(value))
        except KeyNotFoundError:
            return None
        return str(orjson.loads(kv.value).get("uid", ""))

    async def claim(self, value: int, owner: Owner) -> bool:
        """Claim ``value`` for ``owner``; return False if another Service owns it.

        A value that ``owner`` already owns counts as claimed.
        """
        try:
            await self.store.create(self.key(value), owner.encode())
        except KeyExistsError:
            return await self.owner_uid(value) == owner.uid
        log.debug("allocated value=%s owner=%s/%s", self.render(value), owner.namespace, owner.name)
        return True

    async def release(self, value: int, owner_uid: str) -> None:
        """Free ``value`` if the Service ``owner_uid`` owns it; otherwise leave it alone."""
        key = self.key(value)
        try:
            kv = await self.store.get(key)
            if orjson.loads(kv.value).get("uid") != owner_uid:
                return
            await self.store.delete(key, expected_revision=kv.mod_revision)
        except (KeyNotFoundError, ConflictError):
            return
        log.debug("released value=%s owner_uid=%s", self.render(value), owner_uid)

    async def allocated(self) -> dict[int, str]:
        """Return every allocated value with the uid of its owner."""
        listed = await self.store.list(self.prefix)
        return {
            self.parse(kv.key[len(self.prefix) :]): str(orjson.loads(kv.value).get("uid", "")) for kv in listed.items
        }

    async def pick_free(self) -> int | None:
        """Return a value that is free right now without claiming it, or None if the range is full."""
        for _ in range(RANDOM_PROBES):
            value = self._rng.randint(self.low, self.high)
            if await self.owner_uid(value) is None:
                return value
        taken = await self.allocated()
        size = self.high - self.low + 1
        start = self._rng.randrange(size)
        # At most len(taken) + 1 steps reach a free value, so a huge range costs no more than the listing.
        for step in range(min(size, len(taken) + 1)):
            value = self.low + (start + step) % size
            if value not in taken:
                return value
        return None

    async def allocate(self, owner: Owner) -> int | None:
        """Claim a random free value for ``owner``; return None if the range is full."""
        for _ in range(CLAIM_RETRIES):
            value = await self.pick_free()
            if value is None:
                return None
            if await self.claim(value, owner):
                return value
        return None


class ClusterIPPool(Pool):
    """The addresses of the service CIDR; random picks skip the first host address."""

    def __init__(self, store: Store, network: Network, rng: random.Random | None = None) -> None:
        first = int(network.network_address)
        last = int(network.broadcast_address)
        super().__init__(store, CLUSTER_IP_PREFIX, first + 2, last - 1, rng)
        self.network = network
        self.family = "IPv4" if network.version == 4 else "IPv6"

    def render(self, value: int) -> str:
        return str(ipaddress.ip_address(value) if self.network.version == 4 else ipaddress.IPv6Address(value))

    def parse(self, text: str) -> int:
        return int(ipaddress.ip_address(text))

    def first_address(self) -> str:
        """Return the address of the ``kubernetes`` Service: the first host of the range."""
        return self.render(int(self.network.network_address) + 1)

    def check_requested(self, text: str) -> int:
        """Return ``text`` as a value of this range; raise AllocationError if it is outside."""
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            address = None
        inside = (
            address is not None
            and address.version == self.network.version
            and address in self.network
            and int(self.network.network_address) < int(address) < int(self.network.broadcast_address)
        )
        if not inside or address is None:
            raise AllocationError(
                "out_of_range",
                f"failed to allocate IP {text}: the provided IP ({text}) is not in the valid range. "
                f"The range of valid IPs is {self.network}",
            )
        return int(address)


class NodePortPool(Pool):
    """NodePorts, the inclusive range that Service validation also enforces."""

    def __init__(self, store: Store, rng: random.Random | None = None) -> None:
        low, high = NODE_PORT_RANGE
        super().__init__(store, NODE_PORT_PREFIX, low, high, rng)


def parse_service_cidr(text: str) -> Network:
    """Parse a --service-cluster-ip-range value; raise ValueError saying what is wrong."""
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise ValueError(f"invalid service CIDR {text!r}: {exc}; give a network such as {DEFAULT_SERVICE_CIDR}") from None
    if network.num_addresses < 8:
        raise ValueError(f"service CIDR {text!r} has fewer than 8 addresses; give a larger network such as {DEFAULT_SERVICE_CIDR}")
    return network


async def record_service_cidr(store: Store, network: Network) -> None:
    """Write the configured service CIDR to the store, where admission reads it.

    A CIDR that differs from the recorded one replaces it with a warning:
    Services keep addresses outside the new range until they are recreated.
    """
    value = orjson.dumps({"range": str(network)})
    try:
        await store.create(SERVICE_IP_RANGE_KEY, value)
        return
    except KeyExistsError:
        pass
    kv = await store.get(SERVICE_IP_RANGE_KEY)
    recorded = orjson.loads(kv.value).get("range")
    if recorded != str(network):
        log.warning("service CIDR changed recorded=%s configured=%s", recorded, network)
        await store.update(SERVICE_IP_RANGE_KEY, value, expected_revision=kv.mod_revision)


async def load_cluster_ip_pool(store: Store) -> ClusterIPPool:
    """Return the cluster IP pool of the CIDR recorded in the store (the default if none is)."""
    try:
        kv = await store.get(SERVICE_IP_RANGE_KEY)
        text = str(orjson.loads(kv.value).get("range") or DEFAULT_SERVICE_CIDR)
    except KeyNotFoundError:
        text = DEFAULT_SERVICE_CIDR
    return ClusterIPPool(store, ipaddress.ip_network(text))


__all__ = [
    "AllocationError",
    "ClusterIPPool",
    "NodePortPool",
    "Owner",
    "Pool",
    "load_cluster_ip_pool",
    "parse_service_cidr",
    "record_service_cidr",
]
