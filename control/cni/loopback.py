"""The ``loopback`` plugin: set up the pod's ``lo``.

containerd's CRI plugin (1.6) adds a loopback network of its own to
every pod and runs a plugin named ``loopback`` from its CNI bin dir, so
a node without the reference plugins needs this one. ``install_plugin``
writes it next to ``pykube-cni``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pykube_control.cni.errors import CHECK_FAILED, CNIError
from pykube_control.cni.plugin import run_main, unknown_command
from pykube_control.cni.spec import Environment, format_result


def handle_loopback(env: Environment, raw: Mapping[str, Any]) -> dict[str, Any] | None:
    from pykube_control.cni import links

    version = str(raw.get("cniVersion", ""))
    if env.command == "ADD":
        env.require("CNI_CONTAINERID", "CNI_NETNS")
        links.run_ip(["link", "set", "dev", "lo", "up"], netns=env.netns)
        addresses = [f"{a}" for a in links.pod_addresses(env.netns, "lo")]
        result = {
            "interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": env.netns}],
            "ips": [{"address": address, "interface": 0} for address in addresses],
            "routes": [],
        }
        return format_result(result, version)  # type: ignore[arg-type]
    if env.command == "DEL":
        # Nothing to free: the loopback device lives and dies with the namespace.
        return None
    if env.command == "CHECK":
        env.require("CNI_CONTAINERID", "CNI_NETNS")
        info = links.link_info("lo", netns=env.netns)
        if info is None or "UP" not in info.get("flags", []):
            raise CNIError(CHECK_FAILED, f"loopback device is down in {env.netns}", "delete and re-add the pod network")
        return None
    if env.command in ("GC", "STATUS"):
        return None
    raise unknown_command(env.command)


def main() -> int:
    """Entry point of the ``loopback`` executable."""
    return run_main(handle_loopback)


if __name__ == "__main__":
    raise SystemExit(main())
