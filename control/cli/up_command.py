"""`pykube up` and `pykube down`: a whole cluster on this machine from one command.

`pykube up` checks the machine first. It then runs the API server (with the
store embedded, or against etcd), the controller manager, the scheduler,
the proxy and a node agent as supervised child processes (see
up_supervisor.py), and the API server writes the admin kubeconfig into the
data directory. `pykube up` stays in the foreground until SIGINT or
SIGTERM, then stops them in reverse order; without --keep-pods it also
removes the node's pods (up_pods.py). Its pid is written to
``<data-dir>/up.pid`` so `pykube down` can stop a cluster started in the
background. Starting it again on the same data directory brings the same
cluster back, because every object lives in the store and the node agent
adopts the containers that kept running.

With --server, --token and --ca-cert-hash it joins another machine's
cluster instead: it runs only the node agent and the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path

import click

from pykube_control.cli.config import default_data_dir
from pykube_control.cli.up_components import UpOptions
from pykube_control.cli.up_join import print_join_command

log = logging.getLogger("pykube.up")

PID_FILE = "up.pid"
REMOVE_PODS_FILE = "up.remove-pods"
"""Written by `pykube down --remove-pods`: the stopping `pykube up` removes the pods despite --keep-pods."""
LOG_DIR = "logs"


@click.command("up")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PYKUBE_DATA_DIR",
    help="Directory of all cluster state: store, certificates, kubeconfig, logs, containerd. [default: /var/lib/pykube as root]",
)
@click.option("--host", default="0.0.0.0", show_default=True, help="Address the API server listens on.")
@click.option("--port", type=click.IntRange(1, 65535), default=6443, show_default=True, help="API server port.")
@click.option("--etcd-endpoints", help="Comma-separated etcd client URLs; the store is SQLite in the data directory without it.")
@click.option(
    "--runtime",
    type=click.Choice(["cri", "fake"]),
    default="cri",
    show_default=True,
    help="cri runs real containers on containerd; fake registers hollow nodes that run nothing (no root needed).",
)
@click.option("--fake-nodes", type=click.IntRange(1, 1000), default=3, show_default=True, help="Hollow nodes with --runtime fake.")
@click.option("--node-name", default=None, help="Name of this machine's Node. [default: the host name]")
@click.option("--node-ip", default=None, help="Address other nodes reach this one at. [default: the address of the default route]")
@click.option("--proxy/--no-proxy", default=None, help="Run the Service proxy. [default: with --runtime cri]")
@click.option("--cgroup-parent", default="/pykube", show_default=True, help="Cgroup under which the node's pods run.")
@click.option("--keep-pods", is_flag=True, help="Leave pods' containers running when pykube up stops.")
@click.option(
    "--write-kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also merge the admin credentials into this kubeconfig (such as ~/.kube/config) and make them current.",
)
@click.option("--server", default=None, help="Join the cluster of this API server URL instead of running one; needs --token and --ca-cert-hash.")
@click.option("--token", default=None, metavar="ID.SECRET", help="Bootstrap token printed by the first machine's pykube up.")
@click.option("--ca-cert-hash", default=None, metavar="sha256:HEX", help="Hash of the cluster CA's public key, printed with the token.")
@click.option("--check", "check_only", is_flag=True, help="Only check the machine and print what to fix.")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def up_command(
    data_dir: Path | None,
    host: str,
    port: int,
    etcd_endpoints: str | None,
    runtime: str,
    fake_nodes: int,
    node_name: str | None,
    node_ip: str | None,
    proxy: bool | None,
    cgroup_parent: str,
    keep_pods: bool,
    write_kubeconfig: Path | None,
    server: str | None,
    token: str | None,
    ca_cert_hash: str | None,
    check_only: bool,
    log_level: str,
) -> None:
    """Run a whole cluster on this machine until interrupted."""
    import uvloop

    from pykube_control.cli.up_preflight import Machine, run_checks

    if etcd_endpoints:
        from pykube_control.cli.config import parse_etcd_endpoints

        try:
            etcd_endpoints = parse_etcd_endpoints(etcd_endpoints)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--etcd-endpoints") from None
    from pykube_control.cli.node_join import join_options_given

    join: tuple[str, str, str] | None = None
    if join_options_given(server, token, ca_cert_hash):
        assert server is not None
        assert token is not None
        assert ca_cert_hash is not None
        join = (server, token, ca_cert_hash)
    if join is not None and runtime != "cri":
        raise click.BadParameter("a machine that joins a cluster runs real pods; drop --runtime fake", param_hint="--runtime")
    options = UpOptions(
        data_dir=(data_dir or default_data_dir()).resolve(),
        host=host,
        port=port,
        etcd_endpoints=etcd_endpoints,
        runtime=runtime,
        fake_nodes=fake_nodes,
        node_name=(node_name or socket.gethostname()).lower(),
        node_ip=node_ip or (_default_node_ip() if runtime == "cri" else None),
        proxy=(runtime == "cri") if proxy is None else proxy,
        log_level=log_level,
        cgroup_parent=cgroup_parent,
        join=join,
    )
    running = running_cluster(options.data_dir)
    if running is not None:
        raise click.ClickException(
            f"pykube up already runs a cluster in {options.data_dir} (pid {running}); "
            "stop it with `pykube down`, or pass another --data-dir"
        )
    problems = run_checks(Machine(), real_node=runtime == "cri", ports=[] if join else [(host, port)])
    for problem in problems:
        click.echo(f"pykube up: {problem.what}\n    fix: {problem.fix}", err=True)
    if problems:
        raise SystemExit(1)
    if check_only:
        click.echo("pykube up: the machine is ready")
        return
    _configure_logging(options.data_dir / LOG_DIR, log_level)
    uvloop.run(_run(options, keep_pods=keep_pods, write_kubeconfig=write_kubeconfig))


@click.command("down")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="PYKUBE_DATA_DIR",
              help="Data directory of the cluster to stop. [default: /var/lib/pykube as root]")  # fmt: skip
@click.option("--timeout", type=float, default=90.0, show_default=True, help="Seconds to wait for the cluster to stop.")
@click.option("--remove-pods", is_flag=True, help="Remove the node's pods even if pykube up runs with --keep-pods.")
def down_command(data_dir: Path | None, timeout: float, remove_pods: bool) -> None:
    """Stop a cluster that `pykube up` runs in the background."""
    data_dir = data_dir or default_data_dir()
    pid_file = data_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        raise click.ClickException(f"no running cluster: {pid_file} is missing or unreadable") from None
    if remove_pods:
        (data_dir / REMOVE_PODS_FILE).touch()
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        raise click.ClickException(f"no running cluster: process {pid} from {pid_file} is gone") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            click.echo("pykube down: the cluster stopped")
            return
        time.sleep(0.2)
    raise click.ClickException(f"pykube up (pid {pid}) did not stop within {timeout:.0f} s; see its logs")


async def _run(options: UpOptions, *, keep_pods: bool, write_kubeconfig: Path | None) -> None:
    from pykube_control.apiserver.auth.kubeconfig import load_kubeconfig, merge_kubeconfig
    from pykube_control.cli.up_components import components
    from pykube_control.cli.up_supervisor import ComponentFailed, Supervisor

    started = time.monotonic()
    options.data_dir.mkdir(parents=True, exist_ok=True)
    pid_file = options.data_dir / PID_FILE
    _claim_pid_file(pid_file)
    (options.data_dir / REMOVE_PODS_FILE).unlink(missing_ok=True)
    supervisor = Supervisor(options.data_dir / LOG_DIR)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        start = asyncio.ensure_future(supervisor.start(components(options)))
        stopped = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()
            log.info("cluster started seconds=%.2f", time.monotonic() - started)
            if write_kubeconfig is not None:
                merge_kubeconfig(write_kubeconfig.expanduser(), load_kubeconfig(options.kubeconfig))
                click.echo(f"pykube up: merged the admin credentials into {write_kubeconfig}")
            if options.join is not None:
                click.echo(f"pykube up: node {options.node_name} joined {options.join[0]}")
                click.echo(f"pykube up: logs in {options.data_dir / LOG_DIR}; stop with Ctrl-C or `pykube down`")
            else:
                click.echo(f"export KUBECONFIG={options.kubeconfig}")
                click.echo(f"pykube up: logs in {options.data_dir / LOG_DIR}; stop with Ctrl-C or `pykube down`")
                await print_join_command(options)
            await stopped
        else:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, ComponentFailed):
                await start
    except ComponentFailed as exc:
        click.echo(f"pykube up: {exc}", err=True)
        await supervisor.stop()
        _remove_own_pid_file(pid_file)
        raise SystemExit(1) from None
    log.info("stopping the cluster keep_pods=%s", keep_pods)
    await supervisor.stop()
    remove_marker = options.data_dir / REMOVE_PODS_FILE
    if remove_marker.exists():
        keep_pods = False
        remove_marker.unlink()
    if options.runtime == "cri" and not keep_pods:
        from pykube_control.cli.up_pods import remove_node_pods

        kubeconfig = options.kubeconfig if options.join is None else options.node_kubeconfig
        removed = await remove_node_pods(options.data_dir, kubeconfig, options.cgroup_parent)
        log.info("pods removed count=%d", removed)
    _remove_own_pid_file(pid_file)
    log.info("cluster stopped")


def running_cluster(data_dir: Path) -> int | None:
    """Return the pid of the `pykube up` that serves ``data_dir``, or None when none runs.

    A pid file whose process is gone, or is no longer `pykube up` (its pid
    was reused), counts as no cluster.
    """
    try:
        pid = int((data_dir / PID_FILE).read_text().strip())
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if pid == os.getpid() or not _alive(pid) or b"up" not in argv or not any(b"pykube" in arg for arg in argv):
        return None
    return pid


def _claim_pid_file(pid_file: Path) -> None:
    """Write this process's pid to ``pid_file``; raise ClickException when another `pykube up` has claimed it.

    The file is created exclusively, so of two `pykube up` started at once
    on one data directory, only one claims it. A stale file is replaced.
    """
    if running_cluster(pid_file.parent) is None:
        pid_file.unlink(missing_ok=True)
    try:
        fd = os.open(pid_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise click.ClickException(
            f"another pykube up claimed {pid_file} just now; stop it with `pykube down`, or pass another --data-dir"
        ) from None
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")


def _remove_own_pid_file(pid_file: Path) -> None:
    """Remove ``pid_file`` unless another process has written its own pid there."""
    try:
        if int(pid_file.read_text().strip()) != os.getpid():
            return
    except (OSError, ValueError):
        return
    pid_file.unlink(missing_ok=True)


def _configure_logging(log_dir: Path, level: str) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handlers: list[logging.Handler] = [logging.FileHandler(log_dir / "up.log"), logging.StreamHandler(sys.stderr)]
    root = logging.getLogger()
    root.setLevel(level.upper())
    for handler in handlers:
        handler.setFormatter(fmt)
        root.addHandler(handler)


def _default_node_ip() -> str:
    from pykube_control.cli.node_cri import default_node_ip

    return default_node_ip()


def _alive(pid: int) -> bool:
    """Return True while process ``pid`` runs; an exited process its parent has not reaped yet counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
