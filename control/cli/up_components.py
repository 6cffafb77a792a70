"""The components `pykube up` runs, as command lines for the supervisor.

Every component is the same `pykube <subcommand>` a user could start by
hand, so `pykube up` adds nothing that the separate daemons lack. It only
chooses their flags (one data directory, the admin kubeconfig written by
the API server, the node named after this machine) and their order. The
API server comes first, and /readyz must return 200 before anything that
talks to it starts.
"""

from __future__ import annotations

import dataclasses
import ssl
import sys
from pathlib import Path

from pykube_control.cli.up_supervisor import Component, ReadyCheck

KUBECONFIG_FILE = "kubeconfig"
NODE_KUBECONFIG_FILE = "node-kubeconfig"


@dataclasses.dataclass(frozen=True, slots=True)
class UpOptions:
    """Options of `pykube up`, with defaults applied."""

    data_dir: Path
    host: str
    port: int
    etcd_endpoints: str | None
    runtime: str
    fake_nodes: int
    node_name: str
    node_ip: str | None
    proxy: bool
    log_level: str
    cgroup_parent: str = "/pykube"
    join: tuple[str, str, str] | None = None
    """(server URL, bootstrap token, CA certificate hash) when this machine joins another's cluster."""

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / KUBECONFIG_FILE

    @property
    def node_kubeconfig(self) -> Path:
        """The node's own kubeconfig, which `pykube node --server` writes after TLS bootstrap."""
        return self.data_dir / NODE_KUBECONFIG_FILE

    @property
    def local_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def pykube_argv(*args: str) -> list[str]:
    """Return the command line that runs `pykube ARGS` with this interpreter."""
    return [sys.executable, "-m", "pykube_control.cli.main", *args]


def apiserver_ready(url: str) -> ReadyCheck:
    """Return a check that passes once ``url``/readyz returns 200."""
    context = ssl.create_default_context()
    # Readiness only: the check talks to the server this process just started on loopback.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    async def ready() -> bool:
        import aiohttp

        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
                async with session.get(f"{url}/readyz", ssl=context) as response:
                    return response.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    return ready


def file_exists(path: Path) -> ReadyCheck:
    """Return a check that passes once ``path`` exists."""

    async def ready() -> bool:
        return path.exists()

    return ready


def agent_components(options: UpOptions) -> list[Component]:
    """Return the components of a machine that joins another's cluster: the node agent, then the proxy.

    The node agent obtains the node's certificate first (TLS bootstrap), and
    the proxy runs with the kubeconfig that leaves behind.
    """
    assert options.join is not None
    server, token, ca_cert_hash = options.join
    node = [*node_args(options), "--server", server, "--token", token, "--ca-cert-hash", ca_cert_hash]
    result = [Component("node", pykube_argv(*node), ready=file_exists(options.node_kubeconfig), stop_grace=30)]
    if options.proxy:
        proxy = ["proxy", "--kubeconfig", str(options.node_kubeconfig), "--node-name", options.node_name,
                 "--log-level", options.log_level]  # fmt: skip
        result.append(Component("proxy", pykube_argv(*proxy)))
    return result


def components(options: UpOptions) -> list[Component]:
    """Return the cluster's components in start order."""
    if options.join is not None:
        return agent_components(options)
    from pykube_control.cli.up_join import join_address

    level = ("--log-level", options.log_level)
    kubeconfig = ("--kubeconfig", str(options.kubeconfig))
    apiserver = [
        "apiserver", "--data-dir", str(options.data_dir), "--host", options.host, "--port", str(options.port), *level,
    ]  # fmt: skip
    if options.etcd_endpoints:
        apiserver += ["--etcd-endpoints", options.etcd_endpoints]
    if options.node_ip:
        # Pods reach the API server through the `kubernetes` Service, whose endpoint is this address.
        apiserver += ["--advertise-address", options.node_ip]
    # Machines joining with the printed command check the serving certificate against this address.
    apiserver += ["--tls-san", join_address(options)]
    pki = options.data_dir / "pki"
    signing = ("--cluster-signing-cert-file", str(pki / "ca.crt"), "--cluster-signing-key-file", str(pki / "ca.key"))
    result = [
        Component("apiserver", pykube_argv(*apiserver), ready=apiserver_ready(options.local_url), stop_grace=10),
        Component("controller-manager", pykube_argv("controller-manager", *kubeconfig, *signing, *level)),
        Component("scheduler", pykube_argv("scheduler", *kubeconfig, *level)),
    ]
    if options.proxy:
        result.append(Component("proxy", pykube_argv("proxy", *kubeconfig, "--node-name", options.node_name, *level)))
    result.append(Component("node", pykube_argv(*node_args(options)), stop_grace=30))
    return result


def node_args(options: UpOptions) -> list[str]:
    """Return the `pykube node` arguments for this machine's node (or the hollow nodes)."""
    common = ["node", "--log-level", options.log_level]
    if options.join is None:
        common += ["--kubeconfig", str(options.kubeconfig)]
    if options.runtime == "fake":
        return [*common, "--runtime", "fake", "--count", str(options.fake_nodes), "--prefix", f"{options.node_name}-fake-"]
    args = [*common, "--runtime", "cri", "--data-dir", str(options.data_dir), "--node-name", options.node_name,
            "--cgroup-parent", options.cgroup_parent]  # fmt: skip
    if options.node_ip:
        args += ["--node-ip", options.node_ip]
    return args
