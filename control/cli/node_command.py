"""`pykube node`: run a node agent in the foreground.

``--runtime cri`` (the default) runs this machine's pods as containers
through containerd (see node_cri.py); ``--runtime fake`` registers hollow
nodes that report pods Running without running them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import click

from pykube_control.agent.fake_status import MAX_NODES


@click.command("node")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="KUBECONFIG",
    help="Kubeconfig of the API server (default: $KUBECONFIG, then <data-dir>/kubeconfig for cri, then ~/.kube/config).",
)
@click.option(
    "--runtime",
    type=click.Choice(["cri", "fake"]),
    default="cri",
    show_default=True,
    help="Container runtime: cri runs pods through containerd; fake registers hollow nodes that run nothing.",
)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="State of the cri runtime: containerd, pod volumes, logs, CNI. [default: /var/lib/pykube as root]")
@click.option("--node-name", default=None, help="Name of the Node (cri). [default: the host name]")
@click.option("--node-ip", default=None, help="InternalIP of the Node (cri). [default: the address of the default route]")
@click.option("--pod-cidr", default=None, help="Pod CIDR of the Node (cri). [default: spec.podCIDR from node IPAM]")
@click.option("--cluster-cidr", default="10.244.0.0/16", show_default=True,
              help="CIDR of all pods of the cluster (cri); traffic leaving it is masqueraded.")
@click.option("--max-pods", type=click.IntRange(1, 1000), default=110, show_default=True, help="Pod capacity of the Node (cri).")
@click.option("--kube-reserved", default="", metavar="NAME=QUANTITY,...",
              help="Resources kept for pykube's daemons, e.g. cpu=100m,memory=256Mi (cri).")
@click.option("--system-reserved", default="", metavar="NAME=QUANTITY,...",
              help="Resources kept for the operating system, e.g. cpu=100m,memory=256Mi (cri).")
@click.option("--allow-privileged", is_flag=True, help="Allow privileged containers (cri).")
@click.option("--cluster-dns", "cluster_dns", multiple=True, metavar="IP",
              help="DNS server for pods with dnsPolicy ClusterFirst (cri); repeatable. [default: the node's resolv.conf]")
@click.option("--ip-forward/--no-ip-forward", default=True, show_default=True,
              help="Let the CNI plugin set net.ipv4.ip_forward=1, which pod traffic between nodes needs (cri).")
@click.option("--port", type=click.IntRange(0, 65535), default=10250, show_default=True,
              help="Port of the agent's HTTPS endpoint for kubectl logs (cri); 0 picks a free one.")
@click.option("--cgroup-parent", default="/pykube", show_default=True,
              help="Cgroup under which containerd puts every pod's containers (cri).")
@click.option("--netns", type=click.Path(dir_okay=False, path_type=Path), default=None, hidden=True,
              help="Network namespace file of the node when the agent runs outside it (tests); probes and routes act there.")
@click.option("--count", type=click.IntRange(1, MAX_NODES), default=1, show_default=True, help="Hollow nodes to register.")
@click.option("--prefix", default="fake-node-", show_default=True, help="Node name prefix; names end with the node's index.")
@click.option("--first-index", type=click.IntRange(0, MAX_NODES - 1), default=0, show_default=True,
              help="Index of the first node; give each process its own range so pod IPs do not overlap.")  # fmt: skip
@click.option("--cpu", default="4", show_default=True, help="CPU capacity of each node, as a quantity.")
@click.option("--memory", default="16Gi", show_default=True, help="Memory capacity of each node, as a quantity.")
@click.option("--pods", type=click.IntRange(1, 250), default=110, show_default=True, help="Pod capacity of each node.")
@click.option("--label", "labels", multiple=True, metavar="KEY=VALUE", help="Label for every node; repeatable.")
@click.option("--lease-interval", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds between renewals of each node's Lease in kube-node-lease.")  # fmt: skip
@click.option("--server", default=None, help="URL of the API server to join, such as https://192.0.2.10:6443; needs --token and --ca-cert-hash.")
@click.option("--token", default=None, metavar="ID.SECRET", help="Bootstrap token that `pykube up` printed, to obtain this node's certificate.")
@click.option("--ca-cert-hash", default=None, metavar="sha256:HEX",
              help="Hash of the cluster CA's public key that `pykube up` printed; the CA is trusted only when it matches.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def node_command(
    kubeconfig: Path | None,
    runtime: str,
    data_dir: Path | None,
    node_name: str | None,
    node_ip: str | None,
    pod_cidr: str | None,
    cluster_cidr: str,
    max_pods: int,
    kube_reserved: str,
    system_reserved: str,
    allow_privileged: bool,
    cluster_dns: tuple[str, ...],
    ip_forward: bool,
    port: int,
    cgroup_parent: str,
    netns: Path | None,
    count: int,
    prefix: str,
    first_index: int,
    cpu: str,
    memory: str,
    pods: int,
    labels: tuple[str, ...],
    lease_interval: float,
    server: str | None,
    token: str | None,
    ca_cert_hash: str | None,
    log_level: str,
) -> None:
    """Register nodes and run the pods bound to them."""
    import uvloop

    from pykube_control.cli.node_join import join_cluster, join_options_given, joined_node_name

    if join_options_given(server, token, ca_cert_hash):
        assert server is not None and token is not None and ca_cert_hash is not None
        joined = joined_node_name(runtime, node_name, prefix, first_index, count)
        kubeconfig = join_cluster(
            server=server, token=token, ca_cert_hash=ca_cert_hash, node_name=joined, data_dir=data_dir, log_level=log_level
        )

    if runtime == "cri":
        from pykube_control.cli.node_cri import run_cri_command

        run_cri_command(
            kubeconfig=kubeconfig, data_dir=data_dir, node_name=node_name, node_ip=node_ip, pod_cidr=pod_cidr,
            cluster_cidr=cluster_cidr, max_pods=max_pods, reserved=(kube_reserved, system_reserved),
            allow_privileged=allow_privileged, cluster_dns=cluster_dns, ip_forward=ip_forward, port=port,
            cgroup_parent=cgroup_parent, netns=netns, labels=labels, lease_interval=lease_interval, log_level=log_level,
        )  # fmt: skip
        return

    from pykube_control.agent.fake import FakeNodes
    from pykube_control.client.api import APIClient

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    label_map = {}
    for label in labels:
        key, sep, value = label.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"label {label!r} is not KEY=VALUE", param_hint="--label")
        label_map[key] = value
    if first_index + count > MAX_NODES:
        raise click.BadParameter(f"--first-index {first_index} plus --count {count} exceeds {MAX_NODES} nodes")

    async def main() -> None:
        client = APIClient.from_kubeconfig(kubeconfig)
        fake = FakeNodes(
            client, count, prefix=prefix, cpu=cpu, memory=memory, pods=pods, labels=label_map,
            first_index=first_index, lease_interval=lease_interval,
        )  # fmt: skip
        task = asyncio.ensure_future(fake.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            await client.close()

    uvloop.run(main())
