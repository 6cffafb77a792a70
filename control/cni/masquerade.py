"""Masquerade: an nftables table that rewrites the source of pod traffic leaving the cluster network.

The table (``ip pykube_cni`` unless the configuration names another)
has one postrouting NAT chain with one rule: packets from the node's pod
subnet to anywhere outside the cluster CIDR leave with the node's
address. Pod-to-pod traffic, across nodes too, keeps the pod address.

ADD creates the table when it is missing or was made for another subnet.
The table's comment records the subnet and cluster CIDR it was made for,
so checking it costs one ``nft list``. The table is replaced in one
nftables transaction (add, delete, add again), so concurrent ADDs end
with exactly one copy of the rule. The ``nft`` tool is used instead of
python3-nftables because that binding is installed only for the system
Python.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from pykube_control.cni.errors import NFT_COMMAND_FAILED, CNIError
from pykube_control.cni.tools import run_tool


def table_comment(subnet: IPv4Network, cluster_cidr: IPv4Network) -> str:
    return f"pykube-cni masquerade subnet={subnet} cluster={cluster_cidr}"


def table_script(table: str, subnet: IPv4Network, cluster_cidr: IPv4Network) -> str:
    """Build the nft script that replaces ``table`` atomically."""
    return (
        f"table ip {table} {{}}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f'  comment "{table_comment(subnet, cluster_cidr)}"\n'
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        f"    ip saddr {subnet} ip daddr != {cluster_cidr} masquerade\n"
        "  }\n"
        "}\n"
    )


def current_comment(table: str) -> str | None:
    """Return the table's comment, "" when it has none, or None when the table does not exist."""
    # The text listing is parsed because nft 1.0.6 leaves table comments out of its JSON output.
    completed = run_tool(["nft", "list", "table", "ip", table], code=NFT_COMMAND_FAILED, check=False)
    if completed.returncode != 0:
        return None
    for line in completed.stdout.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "comment":
            return value.strip('"')
        if key == "chain":
            break
    return ""


def ensure_masquerade(table: str, subnet: IPv4Network, cluster_cidr: IPv4Network) -> bool:
    """Create or replace the table unless it already masquerades this subnet; returns True when it changed."""
    if current_comment(table) == table_comment(subnet, cluster_cidr):
        return False
    run_tool(["nft", "-f", "-"], code=NFT_COMMAND_FAILED, stdin=table_script(table, subnet, cluster_cidr))
    return True


def cleanup(table: str) -> bool:
    """Delete the table; returns False when it did not exist."""
    completed = run_tool(["nft", "delete", "table", "ip", table], code=NFT_COMMAND_FAILED, check=False)
    if completed.returncode == 0:
        return True
    # nft 1.0.6 reports a missing table as ENOENT.
    if "No such file or directory" in completed.stderr:
        return False
    raise CNIError(NFT_COMMAND_FAILED, f"failed to delete nftables table ip {table}", completed.stderr.strip())
