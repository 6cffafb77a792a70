"""Lifecycle hooks: postStart after a container starts, preStop before it is stopped.

A hook is an exec command (run through CRI ExecSync), an httpGet against
the pod IP, or a sleep. postStart runs right after StartContainer, and a
failing postStart kills the container, as the kubelet does. preStop runs
before SIGTERM and may use the whole grace period, so the caller bounds it
with the time that is left and then stops the container anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pykube_control.agent.probes import ExecProbe, run_probe


async def run_hook(
    handler: Mapping[str, Any],
    *,
    pod_ip: str,
    container: Mapping[str, Any],
    exec_probe: ExecProbe,
    timeout: float,
    netns: Path | None = None,
) -> tuple[bool, str]:
    """Run one hook handler within ``timeout`` seconds; return (succeeded, message)."""
    if "sleep" in handler:
        seconds = float(handler["sleep"].get("seconds") or 0)
        await asyncio.sleep(min(seconds, timeout))
        return True, ""
    # A hook runs like a probe attempt whose timeout is the time the hook may take.
    as_probe = {key: value for key, value in handler.items() if key in ("exec", "httpGet", "tcpSocket")}
    if not as_probe:
        return False, "hook has no handler; set exec, httpGet or sleep"
    as_probe["timeoutSeconds"] = max(1, int(timeout))
    return await run_probe(as_probe, pod_ip=pod_ip, container=container, exec_probe=exec_probe, netns=netns)
