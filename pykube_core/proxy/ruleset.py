"""The fixed part of the pykube nftables table, and its cleanup.

The compiler writes the parts that grow with the cluster: elements of the
shared maps and the per-endpoint-count chains. This module writes what
every table has, which is the maps and sets, the dispatch chain and the
base chains on the netfilter hooks. A full sync is one transaction that deletes the
table and builds it again, so no stale object survives and the kernel
never sees a half-built table.

Hooks and priorities (Linux netfilter, nftables 1.0.6):

- nat prerouting (dstnat, -100) and nat output (-100) jump to `services`,
  which drops load-balancer traffic from sources outside
  loadBalancerSourceRanges and then dispatches on
  daddr . l4proto . dport through the `frontends` verdict map.
- nat postrouting (srcnat, 100) masquerades packets marked for it,
  hairpin flows (a pod reaching itself through a Service) and DNATed
  flows from 127.0.0.0/8 (NodePorts on loopback).
- filter input, forward and output at priority -1 reject frontends in
  `no_endpoints`: TCP with a reset, other protocols with ICMP port
  unreachable, so a client fails at once instead of hanging.
"""

from __future__ import annotations

import numpy as np

from pykube_core.proxy._reference import MASQUERADE_MARK
from pykube_core.proxy.arrays import ServicePortRows

FRONTEND_KEY = "ip daddr . meta l4proto . th dport"
FRONTEND_TYPE = "ipv4_addr . inet_proto . inet_service"
MIN_MAP_SIZE = 65536
"""Smallest size hint of the frontends and backends maps, in elements."""
PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}


def map_sizes(rows: ServicePortRows, node_addresses: int) -> dict[str, int]:
    """Return size hints for the frontends and backends maps of a full sync.

    The kernel sizes a map's hash table from its size, which saves rehashing
    while a full sync inserts (about 8% of a 100,000-Service apply with nft
    1.0.6 here), but it also rejects elements beyond it. So the hint is
    twice an upper bound of the rows' elements, rounded up to a power of
    two. A partial sync that would pass it fails, and the full sync that
    follows sizes the maps again.
    """
    frontends = (
        (rows.cluster_ip != 0).astype(np.int64)
        + np.diff(rows.external_offsets)
        + (rows.node_port != 0).astype(np.int64) * node_addresses
    )
    endpoints = np.diff(rows.endpoint_offsets)
    sizes = {"frontends": int(frontends.sum())}
    for name, number in PROTOCOLS.items():
        mask = rows.protocol == number
        sizes[f"backends_{name}"] = int((frontends[mask] * endpoints[mask]).sum())
    return {name: max(MIN_MAP_SIZE, 1 << (2 * count - 1).bit_length()) for name, count in sizes.items()}


def ruleset_header(table: str, sizes: dict[str, int] | None = None) -> str:
    """Return the commands that recreate ``table`` empty of elements.

    The first two commands make the delete succeed whether or not the
    table exists, so a full sync needs no listing of the kernel's state.
    sizes maps "frontends" and "backends_<protocol>" to the size hints of
    map_sizes(); without it the maps have no size and no limit.
    """

    def size(name: str) -> str:
        return f" size {sizes[name]};" if sizes is not None and name in sizes else ""

    # NOTE: recreating the table also empties the affinity_<k> sets, so a
    # full sync (at start, hourly, after a failure) resets ClientIP affinity.
    mark = f"0x{MASQUERADE_MARK:08x}"
    prefix = f"ip {table}"
    lines = [
        f"add table {prefix}",
        f"delete table {prefix}",
        f"add table {prefix}",
        f"add map {prefix} frontends {{ type {FRONTEND_TYPE} : verdict;{size('frontends')} }}",
    ]
    # One backends map per protocol. The data's port type names the protocol
    # because nft 1.0.6 cannot read a typeof with "th dport" in the data
    # back from the kernel ("conflicting protocols specified: ip vs. th"),
    # which breaks every later rule that references the map. A "tcp dport"
    # data type makes nft add a "meta l4proto tcp" match to the dnat rule,
    # so each protocol needs its own map and chains.
    for protocol in ("tcp", "udp", "sctp"):
        lines.append(
            f"add map {prefix} backends_{protocol} {{ typeof {FRONTEND_KEY} . numgen random mod 1 : "
            f"ip daddr . {protocol} dport;{size('backends_' + protocol)} }}"
        )
    lines += [
        f"add set {prefix} no_endpoints {{ type {FRONTEND_TYPE}; }}",
        f"add set {prefix} restricted {{ type {FRONTEND_TYPE}; }}",
        f"add set {prefix} allowed_sources {{ type {FRONTEND_TYPE} . ipv4_addr; flags interval; }}",
        f"add set {prefix} hairpin {{ type ipv4_addr . ipv4_addr; }}",
        f"add chain {prefix} services",
        f"add rule {prefix} services {FRONTEND_KEY} @restricted "
        f"{FRONTEND_KEY} . ip saddr != @allowed_sources drop",
        f"add rule {prefix} services {FRONTEND_KEY} vmap @frontends",
        f"add chain {prefix} nat_prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}",
        f"add rule {prefix} nat_prerouting jump services",
        f"add chain {prefix} nat_output {{ type nat hook output priority -100; policy accept; }}",
        f"add rule {prefix} nat_output jump services",
        f"add chain {prefix} nat_postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add rule {prefix} nat_postrouting meta mark & {mark} == {mark} masquerade",
        f"add rule {prefix} nat_postrouting ct status dnat ip saddr . ip daddr @hairpin masquerade",
        f"add rule {prefix} nat_postrouting ct status dnat ip saddr 127.0.0.0/8 masquerade",
        f"add chain {prefix} reject_no_endpoints",
        f"add rule {prefix} reject_no_endpoints meta l4proto tcp {FRONTEND_KEY} @no_endpoints reject with tcp reset",
        f"add rule {prefix} reject_no_endpoints {FRONTEND_KEY} @no_endpoints reject",
    ]
    for hook in ("input", "forward", "output"):
        lines.append(f"add chain {prefix} filter_{hook} {{ type filter hook {hook} priority -1; policy accept; }}")
        lines.append(f"add rule {prefix} filter_{hook} jump reject_no_endpoints")
    return "".join(line + "\n" for line in lines)


def cleanup_commands(table: str) -> str:
    """Return the commands that remove ``table`` whether or not it exists."""
    return f"add table ip {table}\ndelete table ip {table}\n"
