"""CNI plugin benchmarks: the time containerd waits for ``pykube-cni`` per pod start and stop.

Each round runs the installed ``pykube-cni`` executable once, as
containerd does, with the CNI_* variables and the configuration on
stdin, inside a network namespace that plays the node (entered with
``nsenter --net``, which adds well under a millisecond). "ADD" connects a
new pod namespace to the node's bridge, whose bridge, masquerade table
and IPAM state exist from the earlier rounds, as on a running node.
"DEL" removes one pod. The baselines run ``python -c pass`` the same
way, with site-packages ("interpreter start") and without them as the
installed plugin runs (``-S``, "interpreter start -S"). The difference
between ADD and "interpreter start -S" is the plugin's own work: its
imports, the IPAM lock, the 5 ``ip``, ``nsenter`` and ``nft`` processes
it starts (one or two more when the configuration has node routes), and
the kernel's work on links. DEL starts one process. The peer is the
reference ``bridge`` plugin with ``host-local`` IPAM (Go, from Debian's
containernetworking-plugins), doing the same ADD and DEL on a bridge of
its own in the same node namespace ("reference bridge ADD" and "DEL").
The machine is shared, so compare the ratios within one run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from pykube_control.cni.install import REFERENCE_PLUGIN_DIRS, install_plugin
from tests.cni.conftest import Node, make_node, plugin_config_json

ROUNDS = 30


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    with tempfile.TemporaryDirectory() as folder:
        created = make_node(Path(folder))
        try:
            yield created
        finally:
            created.cleanup()


@pytest.fixture(scope="module")
def plugin(node: Node) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield install_plugin(Path(folder))


def run_in_node(node: Node, argv: list[str], env: dict[str, str], stdin: str) -> None:
    completed = subprocess.run(
        ["nsenter", f"--net=/var/run/netns/{node.host}", *argv], input=stdin, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, (completed.stdout, completed.stderr)


def cni_env(command: str, container_id: str, netns: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}


@pytest.mark.benchmark(group="pod start and stop")
def bench_interpreter_start(benchmark: Any, node: Node) -> None:
    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run_in_node, args=(node, [sys.executable, "-c", "pass"], {}, ""), rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="pod start and stop")
def bench_interpreter_start_no_site(benchmark: Any, node: Node) -> None:
    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run_in_node, args=(node, [sys.executable, "-S", "-c", "pass"], {}, ""), rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="pod start and stop")
def bench_add(benchmark: Any, node: Node, plugin: Path) -> None:
    config = json.dumps(plugin_config_json(node.config))
    ids = count()
    pods: list[tuple[str, str]] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        # Delete the previous round's pod untimed, so every round adds to a node with the same pod count.
        if pods:
            container_id, netns = pods.pop()
            run_in_node(node, [str(plugin)], cni_env("DEL", container_id, netns), config)
        container_id, netns = f"add{next(ids)}", node.new_pod()
        pods.append((container_id, netns))
        return (node, [str(plugin)], cni_env("ADD", container_id, netns), config), {}

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run_in_node, setup=setup, rounds=ROUNDS, iterations=1)


@pytest.mark.benchmark(group="pod start and stop")
def bench_del(benchmark: Any, node: Node, plugin: Path) -> None:
    config = json.dumps(plugin_config_json(node.config))
    ids = count()

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        container_id, netns = f"del{next(ids)}", node.new_pod()
        run_in_node(node, [str(plugin)], cni_env("ADD", container_id, netns), config)
        return (node, [str(plugin)], cni_env("DEL", container_id, netns), config), {}

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run_in_node, setup=setup, rounds=ROUNDS, iterations=1)


def reference_bridge() -> tuple[Path, str]:
    """Return the reference bridge plugin's path and its CNI_PATH; skip when Debian's package is missing."""
    for directory in REFERENCE_PLUGIN_DIRS:
        if (directory / "bridge").exists() and (directory / "host-local").exists():
            return directory / "bridge", str(directory)
    pytest.skip("no reference bridge and host-local plugins (Debian package containernetworking-plugins)")


def reference_config(node: Node, data_dir: str) -> str:
    ipam = {"type": "host-local", "subnet": "10.251.1.0/24", "dataDir": data_dir}
    bridge = f"pkr{node.suffix}"
    return json.dumps({"cniVersion": "1.0.0", "name": "reference", "type": "bridge", "bridge": bridge, "isGateway": True,
                       "hairpinMode": True, "ipMasq": False, "ipam": ipam})  # fmt: skip


@pytest.mark.parametrize("variant", ["reference bridge ADD", "reference bridge DEL"])
@pytest.mark.benchmark(group="pod start and stop")
def bench_reference_bridge(benchmark: Any, node: Node, variant: str, tmp_path: Path) -> None:
    plugin, cni_path = reference_bridge()
    command = variant.split()[-1]
    config = reference_config(node, str(tmp_path / "host-local"))
    ids = count()
    pods: list[tuple[str, str]] = []

    def environment(verb: str, container_id: str, netns: str) -> dict[str, str]:
        return {**cni_env(verb, container_id, netns), "CNI_PATH": cni_path}

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        container_id, netns = f"ref{next(ids)}", node.new_pod()
        if command == "DEL":
            run_in_node(node, [str(plugin)], environment("ADD", container_id, netns), config)
        elif pods:
            # As for ADD above: remove the previous round's pod untimed.
            previous_id, previous_netns = pods.pop()
            run_in_node(node, [str(plugin)], environment("DEL", previous_id, previous_netns), config)
        pods.append((container_id, netns))
        return (node, [str(plugin)], environment(command, container_id, netns), config), {}

    benchmark.extra_info["ops"] = 1
    benchmark.pedantic(run_in_node, setup=setup, rounds=ROUNDS, iterations=1)
