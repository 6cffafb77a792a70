"""The pool of node pod CIDRs: one cluster CIDR cut into equal subnets, each free or taken.

The node IPAM controller takes one subnet per node from here. A subnet is
known by its index inside the cluster CIDR, so the pool is a set of taken
indexes plus a cursor, and nothing is stored per free subnet. A /16 cut
into /24s has 256 subnets, and an IPv6 /48 cut into /64s has 65536, so a
set stays small for every cluster size this project targets.

Allocation takes the lowest free index at or after the cursor and wraps
around once, as Kubernetes' range allocator does. So a subnet released by
a deleted node is handed out again only after the subnets above it, and
routes to the old node have time to go away first.
"""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class CIDRPoolFull(Exception):
    """Every subnet of the cluster CIDR is taken."""


class CIDRPool:
    """The /``subnet_prefix`` subnets of ``cluster_cidr``, for use from one event loop (not thread-safe)."""

    def __init__(self, cluster_cidr: str, subnet_prefix: int) -> None:
        try:
            network = ipaddress.ip_network(cluster_cidr)
        except ValueError as error:
            raise ValueError(f"invalid cluster CIDR {cluster_cidr!r}: {error}. Use a network such as 10.244.0.0/16") from None
        if not network.prefixlen <= subnet_prefix <= network.max_prefixlen:
            raise ValueError(
                f"invalid node CIDR mask size {subnet_prefix} for cluster CIDR {cluster_cidr}; "
                f"use a size between {network.prefixlen} and {network.max_prefixlen}"
            )
        self.network: Network = network
        self.subnet_prefix = subnet_prefix
        self.size: int = 2 ** (subnet_prefix - network.prefixlen)
        """Subnets in the pool."""
        self._subnet_addresses: int = 2 ** (network.max_prefixlen - subnet_prefix)
        self._taken: set[int] = set()
        self._cursor = 0

    @property
    def taken(self) -> int:
        return len(self._taken)

    def allocate(self) -> str:
        """Take the next free subnet and return it as "a.b.c.d/n"; raise CIDRPoolFull when none is free."""
        for step in range(self.size):
            index = (self._cursor + step) % self.size
            if index not in self._taken:
                self._taken.add(index)
                self._cursor = (index + 1) % self.size
                return str(self._subnet(index))
        raise CIDRPoolFull(
            f"no free /{self.subnet_prefix} left in cluster CIDR {self.network} ({self.size} subnets taken); "
            "delete nodes or use a larger cluster CIDR"
        )

    def occupy(self, cidr: str) -> bool:
        """Mark ``cidr`` taken; return False when it was taken already.

        Raise ValueError when ``cidr`` is not one subnet of this pool, such
        as a node CIDR from another range or with another mask size.
        """
        index = self._index(cidr)
        if index in self._taken:
            return False
        self._taken.add(index)
        return True

    def release(self, cidr: str) -> None:
        """Mark ``cidr`` free; releasing a free subnet does nothing."""
        self._taken.discard(self._index(cidr))

    def contains(self, cidr: str) -> bool:
        """Return whether ``cidr`` is one subnet of this pool, taken or not."""
        try:
            self._index(cidr)
        except ValueError:
            return False
        return True

    def _subnet(self, index: int) -> Network:
        base = int(self.network.network_address) + index * self._subnet_addresses
        return ipaddress.ip_network((base, self.subnet_prefix))

    def _index(self, cidr: str) -> int:
        try:
            subnet = ipaddress.ip_network(cidr)
        except ValueError as error:
            raise ValueError(f"invalid node CIDR {cidr!r}: {error}") from None
        if subnet.version != self.network.version or subnet.prefixlen != self.subnet_prefix:
            raise ValueError(f"node CIDR {cidr} is not a /{self.subnet_prefix} of cluster CIDR {self.network}")
        offset = int(subnet.network_address) - int(self.network.network_address)
        if not 0 <= offset < self.network.num_addresses:
            raise ValueError(f"node CIDR {cidr} lies outside cluster CIDR {self.network}")
        return offset // self._subnet_addresses
