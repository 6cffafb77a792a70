"""host-gw routing: a route to every other node's podCIDR via that node's IP, in the current network namespace.

The routes carry the protocol number ``ROUTE_PROTOCOL``, so
``sync_routes`` can tell the routes it made from every other route and
never removes one it did not make. Nodes must share a link layer, as
with flannel's host-gw backend, because a gateway has to be a direct
neighbour.

The plugin's ADD only adds the configuration's routes that are missing,
and the node agent calls ``sync_routes`` when nodes come and go. ADD does
not remove or replace routes, so a conflist older than the agent's last
sync cannot undo that sync.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network

from pykube_control.cni.links import run_batch, run_ip

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# The kernel does not interpret route protocol numbers from 4 (static)
# up, and iproute2 6.1's rt_protos gives 112 no name, so 112 marks the
# routes this module made.
ROUTE_PROTOCOL = 112


def installed_routes(*, protocol: int = ROUTE_PROTOCOL) -> dict[IPv4Network, IPv4Address]:
    """Return the routes with ``protocol`` in the main table, as podCIDR to gateway."""
    _, out, _ = run_ip(["-json", "route", "show", "proto", str(protocol)])
    routes: dict[IPv4Network, IPv4Address] = {}
    for route in json.loads(out):
        if "gateway" in route and route.get("dst", "default") != "default":
            routes[IPv4Network(route["dst"])] = IPv4Address(route["gateway"])
    return routes


def sync_routes(routes: Mapping[str, str], *, protocol: int = ROUTE_PROTOCOL) -> None:
    """Make the routes with ``protocol`` equal ``routes`` (podCIDR to node IP, as strings).

    Adds missing routes, replaces those whose gateway changed and deletes
    those whose podCIDR is gone. Raises ValueError for an entry that is not
    an IPv4 CIDR and address, and CNIError 100 when ``ip`` rejects a route
    (for example a gateway that is no direct neighbour).
    """
    wanted: dict[IPv4Network, IPv4Address] = {}
    for cidr, gateway in routes.items():
        try:
            wanted[IPv4Network(cidr)] = IPv4Address(gateway)
        except ValueError as exc:
            raise ValueError(f"invalid route {cidr!r} via {gateway!r}: use an IPv4 podCIDR and the node's IPv4 address ({exc})") from None
    current = installed_routes(protocol=protocol)
    commands = [f"route delete {cidr} proto {protocol}" for cidr in current if cidr not in wanted]
    commands += [f"route replace {cidr} via {gateway} proto {protocol}" for cidr, gateway in wanted.items() if current.get(cidr) != gateway]
    if commands:
        run_batch(commands)


def add_missing_routes(routes: Mapping[IPv4Network, IPv4Address], *, protocol: int = ROUTE_PROTOCOL) -> None:
    """Add the routes whose podCIDR has no route with ``protocol`` yet; never remove or replace one."""
    if not routes:
        return
    current = installed_routes(protocol=protocol)
    commands = [f"route replace {cidr} via {gateway} proto {protocol}" for cidr, gateway in routes.items() if cidr not in current]
    if commands:
        run_batch(commands)
