"""The node's side of the pod network: host-gw routes to other nodes, and freeing leaked pod IPs.

The CNI plugin (pykube_control.cni) gives each sandbox its address and
the routes its configuration lists. Two things change while the node
runs, and the agent keeps them current here:

- routes to other nodes' podCIDRs through their InternalIPs, rebuilt from
  the Node objects whenever one changes (``sync_routes`` touches only the
  routes the plugin's protocol number marks);
- addresses of sandboxes that vanished without a CNI DEL (a runtime that
  crashed, a node that rebooted), freed by reconciling the plugin's IPAM
  state against the sandboxes CRI lists.

Both run in the node's network namespace (``netns``, None for the
agent's own) on a short-lived thread, because they start ``ip`` processes
and read lock files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pykube_control.agent.netns import run_in_netns
from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.ipam import IPAM
from pykube_control.cni.routes import sync_routes

log = logging.getLogger("pykube.agent")


def node_routes(nodes: Iterable[Mapping[str, Any]], own_name: str) -> dict[str, str]:
    """Return podCIDR -> InternalIP of every other node that has both."""
    routes: dict[str, str] = {}
    for node in nodes:
        if (node.get("metadata") or {}).get("name") == own_name:
            continue
        cidr = (node.get("spec") or {}).get("podCIDR")
        addresses = (node.get("status") or {}).get("addresses") or []
        internal = [a.get("address") for a in addresses if a.get("type") == "InternalIP" and a.get("address")]
        if cidr and internal and ":" not in str(internal[0]):
            routes[str(cidr)] = str(internal[0])
    return routes


class NodeNetwork:
    """Routes and IPAM upkeep for one node's pod network; see the module docstring."""

    def __init__(self, config: NetworkConfig, *, node_name: str, netns: Path | None = None) -> None:
        self.config = config
        self.node_name = node_name
        self.netns = netns
        self._routes: dict[str, str] | None = None

    async def sync_routes(self, nodes: Iterable[Mapping[str, Any]]) -> bool:
        """Make the host-gw routes match ``nodes``; return True when they changed."""
        wanted = node_routes(nodes, self.node_name)
        if wanted == self._routes:
            return False
        await run_in_netns(self.netns, lambda: sync_routes(wanted))
        log.info("pod network routes synced node=%s routes=%s", self.node_name, wanted)
        self._routes = wanted
        return True

    async def release_addresses(self, live_sandbox_ids: set[str]) -> None:
        """Free the pod IPs held by sandboxes that are not in ``live_sandbox_ids``."""
        ipam = IPAM.for_network(self.config)
        freed = await run_in_netns(self.netns, lambda: ipam.reconcile(live_sandbox_ids))
        if freed:
            log.info("pod IPs of vanished sandboxes freed node=%s addresses=%s",
                     self.node_name, ",".join(str(address) for address in freed))  # fmt: skip
