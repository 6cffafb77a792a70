"""The ``pykube-cni`` executable: read the CNI_* environment and the configuration, run the command, print the result.

containerd starts this program once for every pod start and stop, so it
imports the command modules only after reading CNI_COMMAND, and never
imports the API client or aiohttp. Success prints the result (ADD) or
the version list (VERSION), or nothing (DEL, CHECK, GC, STATUS), and
exits 0. Failure prints the CNI error object on stdout and exits 1.
Logs go to stderr, at WARNING unless PYKUBE_CNI_LOG_LEVEL sets another level
(control/cni/logs.py). Types are imported only for the type checker: the
plugin's modules load only what they run, since each import costs
milliseconds of every pod start.
"""

from __future__ import annotations

import json
import os
import sys

from pykube_control.cni.errors import DECODING_FAILURE, INCOMPATIBLE_VERSION, INVALID_ENVIRONMENT, CNIError
from pykube_control.cni.logs import PluginLog
from pykube_control.cni.spec import CURRENT_VERSION, SUPPORTED_VERSIONS, check_version, read_environment, version_tuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from pykube_control.cni.spec import Environment

    Handler = Callable[[Environment, Mapping[str, Any]], "dict[str, Any] | None"]

log = PluginLog("pykube.cni")

# Code for a failure the plugin did not anticipate; stderr has the traceback.
UNEXPECTED_ERROR = 199

# The oldest configuration version that defines each command.
_MIN_VERSION = {"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}


def parse_config(text: str, *, allow_empty: bool) -> dict[str, Any]:
    """Decode the configuration from stdin; raise CNIError 6 when it is not a JSON object."""
    if not text.strip() and allow_empty:
        return {}
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise CNIError(DECODING_FAILURE, "failed to decode the network configuration on stdin", str(exc)) from None
    if not isinstance(raw, dict):
        raise CNIError(DECODING_FAILURE, "failed to decode the network configuration on stdin", f"expected a JSON object, got {type(raw).__name__}")
    return raw


def serve(handler: Handler, environ: Mapping[str, str], stdin: str) -> tuple[int, str]:
    """Run one CNI invocation; returns the exit status and the stdout text."""
    version = CURRENT_VERSION
    try:
        env = read_environment(environ)
        raw = parse_config(stdin, allow_empty=env.command == "VERSION")
        requested = raw.get("cniVersion", CURRENT_VERSION)
        if env.command == "VERSION":
            reply = {"cniVersion": requested if requested in SUPPORTED_VERSIONS else CURRENT_VERSION, "supportedVersions": list(SUPPORTED_VERSIONS)}
            return 0, json.dumps(reply)
        check_version(requested)
        version = requested
        minimum = _MIN_VERSION.get(env.command)
        if minimum and version_tuple(version) < version_tuple(minimum):
            raise CNIError(INCOMPATIBLE_VERSION, f"{env.command} needs cniVersion {minimum} or later, got {version}", "raise cniVersion in the configuration")
        output = handler(env, raw)
        return 0, json.dumps(output) if output is not None else ""
    except CNIError as exc:
        log.warning("CNI command failed code=%d error=%s", exc.code, exc)
        return 1, json.dumps(exc.to_json(version))
    except Exception as exc:  # noqa: BLE001 -- the runtime must get a CNI error object, never a bare traceback
        log.exception("CNI command failed unexpectedly")
        return 1, json.dumps(CNIError(UNEXPECTED_ERROR, "unexpected plugin failure", repr(exc)).to_json(version))


def handle_bridge(env: Environment, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """Dispatch a command to the bridge network's implementation."""
    from pykube_control.cni import commands
    from pykube_control.cni.config import NetworkConfig
    from pykube_control.cni.spec import format_result

    config = NetworkConfig.from_json(raw)
    if env.command == "ADD":
        return format_result(commands.add(env, config), config.cni_version)
    if env.command == "DEL":
        commands.delete(env, config)
    elif env.command == "CHECK":
        commands.check(env, config, raw.get("prevResult"))
    elif env.command == "GC":
        commands.garbage_collect(config, raw)
    elif env.command == "STATUS":
        commands.status(config)
    else:
        raise unknown_command(env.command)
    return None


def unknown_command(command: str) -> CNIError:
    return CNIError(INVALID_ENVIRONMENT, f"invalid CNI_COMMAND {command!r}", "use ADD, DEL, CHECK, GC, STATUS or VERSION")


def run_main(handler: Handler) -> int:
    status, out = serve(handler, os.environ, sys.stdin.read())
    if out:
        sys.stdout.write(out + "\n")
    return status


def main() -> int:
    """Entry point of ``pykube-cni``."""
    return run_main(handle_bridge)
