"""`pykube node --server --token --ca-cert-hash`: join a cluster before the node agent starts.

The three options go together. They run TLS bootstrap (see
agent/bootstrap.py), which leaves ``<data-dir>/node-kubeconfig`` with the
node's own client certificate, and the agent then runs with that
kubeconfig instead of ``--kubeconfig``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click


def join_options_given(server: str | None, token: str | None, ca_cert_hash: str | None) -> bool:
    """Return True when joining was requested; raise click.UsageError unless all three options are set."""
    given = {"--server": server, "--token": token, "--ca-cert-hash": ca_cert_hash}
    if not any(given.values()):
        return False
    missing = [option for option, value in given.items() if not value]
    if missing:
        raise click.UsageError(
            f"joining a cluster needs --server, --token and --ca-cert-hash together; missing {', '.join(missing)}"
        )
    return True


def joined_node_name(runtime: str, node_name: str | None, prefix: str, first_index: int, count: int) -> str:
    """Return the name the node's certificate is for: --node-name or the host name (cri), prefix+index (fake)."""
    if runtime == "fake":
        if count != 1:
            raise click.BadParameter(
                f"a joining node has one certificate, so it runs one hollow node; pass --count 1, not {count}",
                param_hint="--count",
            )
        return f"{prefix}{first_index}"
    import socket

    return node_name or socket.gethostname().lower()


# TODO: test joining with --runtime cri on a real containerd; only --runtime fake is tested.
def join_cluster(
    *, server: str, token: str, ca_cert_hash: str, node_name: str, data_dir: Path | None, log_level: str
) -> Path:
    """Run TLS bootstrap and return the node kubeconfig; raise click.ClickException with the reason on failure."""
    import uvloop

    from pykube_control.agent.bootstrap import BootstrapError, JoinOptions, ensure_node_kubeconfig
    from pykube_control.cli.config import default_data_dir

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    options = JoinOptions(
        server=server, token=token, ca_cert_hash=ca_cert_hash, node_name=node_name,
        data_dir=(data_dir or default_data_dir()).absolute(),
    )  # fmt: skip
    try:
        return uvloop.run(ensure_node_kubeconfig(options))
    except BootstrapError as error:
        raise click.ClickException(f"joining the cluster failed: {error}") from None
