"""Delete UDP conntrack entries that point at endpoints that went away.

UDP has no connection close, so a client that keeps its source port keeps
hitting the conntrack entry, and with it the DNAT to the old backend, until
the entry times out. So after a sync that changes a UDP service port's
endpoints, the entries of its frontends whose reply source is a removed
endpoint are deleted. When a port goes from no endpoints to some, all
entries of its frontends are deleted, in case one was created while the
port had none.

The `conntrack` tool (conntrack-tools) does the deletes, run under
`ip netns exec` when the proxy serves another network namespace.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

log = logging.getLogger("pykube.proxy")

CONNTRACK_TIMEOUT = 10.0
"""Seconds one conntrack run may take before it is abandoned."""


@dataclass(frozen=True)
class FlowFilter:
    """UDP flows to one frontend, optionally only those answered by one backend."""

    destination: str
    port: int
    reply_source: str | None = None

    def arguments(self) -> list[str]:
        """Return the conntrack -D arguments that select these flows."""
        args = ["-D", "-p", "udp", "--orig-dst", self.destination, "--orig-port-dst", str(self.port)]
        if self.reply_source is not None:
            args += ["--reply-src", self.reply_source]
        return args


class ConntrackCleaner:
    """Run conntrack deletes in one network namespace (None: the process's own)."""

    def __init__(self, netns: str | None = None, *, binary: str = "conntrack") -> None:
        self.netns = netns
        self.binary = binary

    async def delete(self, flows: list[FlowFilter]) -> int:
        """Delete the matching flows; return how many conntrack runs failed.

        conntrack exits with 1 when no entry matched, which is not a failure.
        """
        failures = 0
        for flow in flows:
            command = [self.binary, *flow.arguments()]
            if self.netns is not None:
                command = ["ip", "netns", "exec", self.netns, *command]
            try:
                process = await asyncio.create_subprocess_exec(
                    *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
                )
                _, stderr = await asyncio.wait_for(process.communicate(), CONNTRACK_TIMEOUT)
            except (OSError, asyncio.TimeoutError) as exc:
                log.warning("conntrack delete failed flow=%s error=%s", flow, exc)
                failures += 1
                continue
            if process.returncode not in (0, 1):
                log.warning(
                    "conntrack delete failed flow=%s code=%s error=%s",
                    flow, process.returncode, stderr.decode(errors="replace").strip(),
                )
                failures += 1
        return failures
