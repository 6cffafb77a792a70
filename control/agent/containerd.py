"""containerd as a child of the node agent, with its own configuration and directories.

``ManagedContainerd`` lets the agent bring its own container runtime up
without touching a containerd the machine may already run: everything it
uses lives under ``<data-dir>/containerd/`` (config.toml, root/, state/,
runc/ and the socket containerd.sock), and the log goes to
``<data-dir>/logs/containerd.log``. ``start()`` writes the configuration,
starts containerd unless something already serves CRI on the socket (an
earlier agent's containerd, which is reused and left running), and waits
until the CRI Version call succeeds. ``stop()`` stops containerd only if
this object started it. A reused containerd keeps the configuration it
was started with, so changed settings (CNI folders, sandbox image) take
effect only after that containerd stops.

The configuration is written for the machines pykube targets, and these
facts were checked with Debian 12's containerd 1.6.20 and runc 1.1.5:

- ``restrict_oom_score_adj = true``: a root without CAP_SYS_RESOURCE (in a
  container, for example) may not lower oom_score_adj, and without the
  restriction every sandbox fails with an opaque runc error.
- The cgroupfs driver (``SystemdCgroup = false``), so no systemd is needed.
- runc, whose state goes to ``<data-dir>/containerd/runc`` instead of
  /run/containerd/runc.
- Plugins pykube does not use are disabled, among them the "opt" plugin,
  which would otherwise create /opt/containerd.
- Pod network namespaces are mounted under the state directory
  (``netns_mounts_under_state_dir``) instead of /var/run/netns.
- Registry settings come from ``<data-dir>/containerd/certs.d/<host>/hosts.toml``
  in containerd's hosts.toml format (mirrors, private CAs, plain HTTP),
  read at each pull. containerd already pulls from a registry on
  localhost or 127.0.0.1 over plain HTTP with no file.

Containers outlive containerd: stopping containerd leaves each sandbox's
shim and processes running, exactly as a containerd restart does, and the
next containerd on the same directories finds them again. Removing pods
is the pod worker's job, not this module's.

NOTE: containerd 1.6 puts each shim's socket in /run/containerd/s/ whatever
the configured state directory is; the shim removes it when it exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc

from pykube_control.agent.image_build import PAUSE_IMAGE
from pykube_control.cri.client import CRIClient
from pykube_control.cri.errors import CRIError

logger = logging.getLogger("pykube.agent.containerd")

START_TIMEOUT = 30.0
"""Seconds to wait for a started containerd to respond to the CRI Version call.
It loads its plugins and opens its metadata database first, which took
well under a second on an idle machine."""

STOP_TIMEOUT = 10.0
"""Seconds between SIGTERM and SIGKILL when stopping containerd."""

PROBE_TIMEOUT = 1.0
"""Deadline in seconds of each Version call while waiting for containerd."""

PROBE_INTERVAL = 0.05
"""Seconds between two Version calls while waiting for containerd."""

DISABLED_PLUGINS = (
    "io.containerd.internal.v1.opt",
    "io.containerd.internal.v1.restart",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
)
"""containerd plugins pykube never uses. "opt" would install into
/opt/containerd, and "restart" restarts containers on its own (the agent
does that). The old runtime.v1.linux plugin stays enabled because
containerd 1.6's tasks service, and with it the CRI plugin, fails to load
without it."""


@dataclass(frozen=True)
class ContainerdPaths:
    """The files of one managed containerd, all under the data directory."""

    base: Path
    log: Path

    @classmethod
    def under(cls, data_dir: Path) -> ContainerdPaths:
        """Return the paths for ``data_dir``: ``<data_dir>/containerd/...`` and the log file."""
        return cls(base=data_dir / "containerd", log=data_dir / "logs" / "containerd.log")

    @property
    def config(self) -> Path:
        return self.base / "config.toml"

    @property
    def root(self) -> Path:
        return self.base / "root"

    @property
    def state(self) -> Path:
        return self.base / "state"

    @property
    def runc_root(self) -> Path:
        return self.base / "runc"

    @property
    def socket(self) -> Path:
        return self.base / "containerd.sock"

    @property
    def registry_hosts(self) -> Path:
        """Folder of per-registry ``<host>/hosts.toml`` files (mirrors, CAs, plain HTTP)."""
        return self.base / "certs.d"


def _toml_string(value: str | Path) -> str:
    # A JSON string of printable text is a valid TOML basic string.
    return json.dumps(str(value))


def render_config(
    paths: ContainerdPaths,
    *,
    cni_bin_dir: Path,
    cni_conf_dir: Path,
    sandbox_image: str = PAUSE_IMAGE,
    snapshotter: str = "overlayfs",
) -> str:
    """Return the text of containerd's config.toml (configuration version 2)."""
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    disabled = ", ".join(_toml_string(name) for name in DISABLED_PLUGINS)
    lines = [
        "# Written by pykube's node agent at every start; edits are overwritten.",
        "version = 2",
        f"root = {_toml_string(paths.root)}",
        f"state = {_toml_string(paths.state)}",
        f"disabled_plugins = [{disabled}]",
        "",
        "[grpc]",
        f"  address = {_toml_string(paths.socket)}",
        "",
        "[ttrpc]",
        f"  address = {_toml_string(str(paths.socket) + '.ttrpc')}",
        "",
        "[debug]",
        '  address = ""',
        "",
        "[metrics]",
        '  address = ""',
        "",
        f"{cri}]",
        f"  sandbox_image = {_toml_string(sandbox_image)}",
        "  restrict_oom_score_adj = true",
        "  netns_mounts_under_state_dir = true",
        "  enable_selinux = false",
        "  disable_tcp_service = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        "",
        f"{cri}.containerd]",
        f"  snapshotter = {_toml_string(snapshotter)}",
        '  default_runtime_name = "runc"',
        "",
        f"{cri}.containerd.runtimes.runc]",
        '  runtime_type = "io.containerd.runc.v2"',
        "",
        f"{cri}.containerd.runtimes.runc.options]",
        "  SystemdCgroup = false",
        f"  Root = {_toml_string(paths.runc_root)}",
        "",
        f"{cri}.registry]",
        f"  config_path = {_toml_string(paths.registry_hosts)}",
        "",
        f"{cri}.cni]",
        f"  bin_dir = {_toml_string(cni_bin_dir)}",
        f"  conf_dir = {_toml_string(cni_conf_dir)}",
        "  max_conf_num = 1",
        "",
    ]
    return "\n".join(lines)


class ManagedContainerd:
    """A containerd that the node agent starts, waits for and stops.

    ``socket_path`` is where CRI clients connect. ``started`` is True when
    this object started the process and False when it reused a running one.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        cni_bin_dir: str | os.PathLike[str],
        cni_conf_dir: str | os.PathLike[str],
        sandbox_image: str = PAUSE_IMAGE,
        binary: str = "containerd",
        log_level: str = "info",
        start_timeout: float = START_TIMEOUT,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.paths = ContainerdPaths.under(Path(data_dir).absolute())
        self.cni_bin_dir = Path(cni_bin_dir).absolute()
        self.cni_conf_dir = Path(cni_conf_dir).absolute()
        self.sandbox_image = sandbox_image
        self.binary = binary
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._process: asyncio.subprocess.Process | None = None
        # Validates the socket path length before anything is written.
        self._probe = CRIClient(self.paths.socket, timeout=PROBE_TIMEOUT)

    @property
    def socket_path(self) -> Path:
        return self.paths.socket

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        """Process id of the containerd this object started, None if it reused one."""
        return self._process.pid if self._process is not None else None

    async def __aenter__(self) -> ManagedContainerd:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start containerd unless CRI already responds on its socket, then wait for CRI.

        Raises RuntimeError naming the log file when containerd exits or
        does not respond within ``start_timeout``.
        """
        if self._process is not None:
            return
        if await self._responds():
            logger.info("containerd already running, reusing it socket=%s", self.paths.socket)
            return
        self._prepare_directories()
        self.paths.config.write_text(
            render_config(
                self.paths,
                cni_bin_dir=self.cni_bin_dir,
                cni_conf_dir=self.cni_conf_dir,
                sandbox_image=self.sandbox_image,
            )
        )
        # A socket file left by a containerd that was killed would make the
        # new one fail to listen.
        self.paths.socket.unlink(missing_ok=True)
        try:
            await self._spawn()
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    def _prepare_directories(self) -> None:
        for directory in (self.paths.base, self.paths.root, self.paths.state, self.paths.runc_root):
            directory.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.paths.log.parent.mkdir(parents=True, exist_ok=True)

    async def _spawn(self) -> None:
        command = [
            self.binary,
            "--config", str(self.paths.config),
            "--log-level", self.log_level,
        ]
        with open(self.paths.log, "ab") as log:
            try:
                # A new session keeps a Ctrl-C meant for the agent's terminal
                # away from containerd, so the agent decides when it stops.
                self._process = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise RuntimeError(
                    f"containerd binary {self.binary!r} not found; install containerd "
                    "(Debian: apt-get install containerd) or pass its path"
                ) from None
        logger.info(
            "containerd started pid=%d socket=%s log=%s", self._process.pid, self.paths.socket, self.paths.log
        )

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout
        process = self._process
        assert process is not None
        while True:
            if process.returncode is not None:
                self._process = None
                raise RuntimeError(
                    f"containerd exited with status {process.returncode} during start; "
                    f"see its log {self.paths.log}"
                )
            if await self._responds():
                return
            if loop.time() >= deadline:
                raise RuntimeError(
                    f"containerd did not respond to CRI on {self.paths.socket} within "
                    f"{self.start_timeout:g} s; see its log {self.paths.log}"
                )
            await asyncio.sleep(PROBE_INTERVAL)

    async def _responds(self) -> bool:
        """Return whether CRI responds on the socket.

        Raises RuntimeError when containerd responds without its CRI plugin
        (UNIMPLEMENTED), because waiting longer would not change that.
        """
        if not self.paths.socket.exists():
            return False
        try:
            await self._probe.version()
        except CRIError as exc:
            if exc.code == grpc.StatusCode.UNIMPLEMENTED:
                raise RuntimeError(
                    f"containerd on {self.paths.socket} runs without its CRI plugin "
                    f"(io.containerd.grpc.v1.cri); see why it failed to load in {self.paths.log}"
                ) from None
            return False
        return True

    async def stop(self) -> None:
        """Stop containerd if this object started it: SIGTERM, then SIGKILL after ``stop_timeout``."""
        process = self._process
        self._process = None
        try:
            if process is None or process.returncode is not None:
                return
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout)
            except TimeoutError:
                logger.warning(
                    "containerd ignored SIGTERM, killing it pid=%d timeout=%g", process.pid, self.stop_timeout
                )
                process.kill()
                await process.wait()
            logger.info("containerd stopped pid=%d status=%s", process.pid, process.returncode)
        finally:
            await self._probe.close()
