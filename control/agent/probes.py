"""Container probes: liveness, readiness and startup, by exec, httpGet or tcpSocket.

One ``ProbeWorker`` runs one probe of one running container on its own
asyncio task, so a slow probe never delays the pod's sync or other probes.
A worker waits ``initialDelaySeconds`` after the container started, then
probes every ``periodSeconds``, each attempt bounded by ``timeoutSeconds``.
The result flips to success after ``successThreshold`` consecutive
successes and to failure after ``failureThreshold`` consecutive failures,
and every flip calls ``on_change`` so the pod worker syncs at once.

Results before the first flip are Kubernetes': readiness starts failed,
liveness starts successful, startup starts not yet succeeded. While a
container has a startup probe that has not succeeded, its liveness and
readiness workers do not probe (``gate`` returns False). A worker belongs
to one container instance (one container id): a restarted container gets
new workers, so counts never carry over.

Probe semantics: exec succeeds with exit code 0, httpGet with a status
from 200 to 399 (redirects are not followed), tcpSocket when a connection
opens. httpGet and tcpSocket connect to the pod IP unless the probe names
a host (an IP address), and a named port is looked up in the container's
ports. Their sockets are opened in the node's network namespace
(netns.py).

Differences from a kubelet: grpc probes are reported as failed with a
message saying they are not supported, and terminationGracePeriodSeconds
of a probe is ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from pykube_control.agent.netns import open_connection

log = logging.getLogger("pykube.agent")

Object = dict[str, Any]


class ProbeKind(enum.Enum):
    LIVENESS = "liveness"
    READINESS = "readiness"
    STARTUP = "startup"


class ExecProbe(Protocol):
    """Run ``command`` in the container; return its exit code and output, or raise TimeoutError after ``timeout`` seconds."""

    def __call__(self, command: list[str], timeout: float) -> Awaitable[tuple[int, bytes]]: ...


INITIAL_RESULTS = {ProbeKind.LIVENESS: True, ProbeKind.READINESS: False, ProbeKind.STARTUP: False}


def resolve_port(port: Any, container: Mapping[str, Any]) -> int:
    """Return a probe's port as a number, looking a named port up in the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"probe port {port!r} is not a number and no port of container {container.get('name')!r} has that name")


async def run_probe(
    probe: Mapping[str, Any],
    *,
    pod_ip: str,
    container: Mapping[str, Any],
    exec_probe: ExecProbe,
    netns: Path | None = None,
) -> tuple[bool, str]:
    """Run one probe attempt; return (succeeded, message).

    httpGet and tcpSocket connect from the network namespace ``netns``
    (a namespace file), or from the agent's own namespace when it is None.
    """
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            command = [str(part) for part in probe["exec"].get("command") or []]
            code, output = await exec_probe(command, timeout)
            text = output.decode("utf-8", "replace").strip()
            return code == 0, text if code == 0 else f"command {command} exited with {code}: {text}"
        if "httpGet" in probe:
            return await asyncio.wait_for(_http_probe(probe["httpGet"], pod_ip, container, netns), timeout)
        if "tcpSocket" in probe:
            return await asyncio.wait_for(_tcp_probe(probe["tcpSocket"], pod_ip, container, netns), timeout)
        if "grpc" in probe:
            # NOTE: grpc probes need the grpc.health.v1 client; they fail until it is added.
            return False, "grpc probes are not supported by this node agent; use exec, httpGet or tcpSocket"
    except (TimeoutError, asyncio.TimeoutError):
        return False, f"probe timed out after {timeout:g}s"
    except (OSError, ValueError, EOFError) as error:
        return False, f"probe failed: {error}"
    return False, "probe has no handler; set exec, httpGet or tcpSocket"


async def _http_probe(
    action: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any], netns: Path | None
) -> tuple[bool, str]:
    """Send one HTTP/1.1 GET and read the status line; redirects are not followed."""
    host = str(action.get("host") or pod_ip)
    port = resolve_port(action.get("port"), container)
    scheme = str(action.get("scheme") or "HTTP").lower()
    path = str(action.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    context = None
    if scheme == "https":
        # Probes of HTTPS endpoints skip certificate checks, as the kubelet's do.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    headers = {"Host": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "User-Agent": "kube-probe/1.35",
               "Accept": "*/*", "Connection": "close"}  # fmt: skip
    for header in action.get("httpHeaders") or []:
        headers[str(header.get("name"))] = str(header.get("value", ""))

    reader, writer = await open_connection(host, port, netns=netns, ssl_context=context)
    try:
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").strip()
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()

    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"HTTP probe of {scheme}://{host}:{port}{path} got an invalid status line {status_line!r}")
    code = int(parts[1])
    return 200 <= code < 400, f"HTTP probe of {scheme}://{host}:{port}{path} returned {code}"


async def _tcp_probe(
    action: Mapping[str, Any], pod_ip: str, container: Mapping[str, Any], netns: Path | None
) -> tuple[bool, str]:
    host = str(action.get("host") or pod_ip)
    port = resolve_port(action.get("port"), container)
    _, writer = await open_connection(host, port, netns=netns)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True, f"TCP connection to {host}:{port} opened"


class ProbeWorker:
    """Run one probe of one container instance until ``stop``; see the module docstring."""

    def __init__(
        self,
        kind: ProbeKind,
        probe: Mapping[str, Any],
        *,
        container: Mapping[str, Any],
        pod_ip: str,
        exec_probe: ExecProbe,
        on_change: Callable[[], None],
        started_at: float,
        gate: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
        label: str = "",
        netns: Path | None = None,
    ) -> None:
        self.kind = kind
        self.probe = probe
        self.container = container
        self.pod_ip = pod_ip
        self.exec_probe = exec_probe
        self.on_change = on_change
        self.started_at = started_at
        self.gate = gate
        self.clock = clock
        self.label = label
        self.netns = netns
        self.result = INITIAL_RESULTS[kind]
        self.message = ""
        self.failed_for_good = False
        """True once a liveness or startup probe reached failureThreshold; the container must be killed."""
        self._successes = 0
        self._failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"probe-{self.kind.value}-{self.label}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def record(self, succeeded: bool, message: str) -> bool:
        """Count one attempt; return True when the result flipped."""
        self.message = message
        if succeeded:
            self._successes += 1
            self._failures = 0
            threshold = int(self.probe.get("successThreshold") or 1)
            if not self.result and self._successes >= threshold:
                self.result = True
                return True
        else:
            self._failures += 1
            self._successes = 0
            threshold = int(self.probe.get("failureThreshold") or 3)
            if self._failures >= threshold and (self.result or self.kind is not ProbeKind.READINESS):
                flipped = self.result
                self.result = False
                if self.kind is not ProbeKind.READINESS:
                    self.failed_for_good = True
                    return True
                return flipped
        return False

    async def _run(self) -> None:
        delay = float(self.probe.get("initialDelaySeconds") or 0)
        period = float(self.probe.get("periodSeconds") or 10)
        wait = self.started_at + delay - self.clock()
        if wait > 0:
            await asyncio.sleep(wait)
        while not self.failed_for_good:
            if self.gate() and not (self.kind is ProbeKind.STARTUP and self.result):
                succeeded, message = await run_probe(
                    self.probe, pod_ip=self.pod_ip, container=self.container, exec_probe=self.exec_probe,
                    netns=self.netns,
                )
                if self.record(succeeded, message):
                    log.info("probe result changed probe=%s container=%s result=%s message=%s",
                             self.kind.value, self.label, "success" if self.result else "failure", message)  # fmt: skip
                    self.on_change()
            await asyncio.sleep(period)
