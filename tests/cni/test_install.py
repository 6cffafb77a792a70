"""The installer: the executables containerd runs from its bin dir and the conflist it loads."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pykube_control.cni.config import NetworkConfig
from pykube_control.cni.install import REFERENCE_PLUGIN_DIRS, install_plugin, write_network_config
from tests.cni.conftest import Node, node_address, plugin_config_json, run


def test_install_plugin_executable(tmp_path: Path) -> None:
    path = install_plugin(tmp_path / "bin")
    assert path == tmp_path / "bin" / "pykube-cni"
    assert os.access(path, os.X_OK)
    assert path.read_text().startswith(f"#!{sys.executable} -S\n")
    assert os.access(tmp_path / "bin" / "loopback", os.X_OK)


def test_install_keeps_existing_loopback(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "loopback").write_text("#!/bin/sh\n")
    install_plugin(tmp_path / "bin")
    assert (tmp_path / "bin" / "loopback").read_text() == "#!/bin/sh\n"


def test_install_links_reference_loopback(tmp_path: Path) -> None:
    reference = tmp_path / "usr-lib-cni"
    reference.mkdir()
    (reference / "loopback").write_text("#!/bin/sh\n")
    (reference / "loopback").chmod(0o755)

    install_plugin(tmp_path / "bin", reference_dirs=(tmp_path / "missing", reference))

    assert os.readlink(tmp_path / "bin" / "loopback") == str(reference / "loopback")


def test_install_replaces_own_loopback_script_with_reference(tmp_path: Path) -> None:
    reference = tmp_path / "opt-cni-bin"
    reference.mkdir()
    (reference / "loopback").write_text("#!/bin/sh\n")
    (reference / "loopback").chmod(0o755)
    install_plugin(tmp_path / "bin", reference_dirs=())
    assert "pykube_control.cni.loopback" in (tmp_path / "bin" / "loopback").read_text()

    install_plugin(tmp_path / "bin", reference_dirs=(reference,))

    assert (tmp_path / "bin" / "loopback").resolve() == reference / "loopback"


def test_install_without_reference_writes_loopback_script(tmp_path: Path) -> None:
    install_plugin(tmp_path / "bin", reference_dirs=(tmp_path / "missing",))

    loopback = tmp_path / "bin" / "loopback"
    assert not loopback.is_symlink()
    assert loopback.read_text().startswith(f"#!{sys.executable} -S\n")


def test_installed_plugin_adds(node: Node, tmp_path: Path) -> None:
    plugin = install_plugin(tmp_path / "bin")
    pod = node.new_pod()
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": pod, "CNI_IFNAME": "eth0", "CNI_PATH": str(plugin.parent)}

    completed = run(["ip", "netns", "exec", node.host, str(plugin)], stdin=json.dumps(plugin_config_json(node.config)), env=env)

    assert node_address(json.loads(completed.stdout)) == node_address({"ips": [{"address": "10.250.1.2/24"}]})


@pytest.mark.parametrize("reference_dirs", [REFERENCE_PLUGIN_DIRS, ()], ids=["reference", "pykube"])
def test_installed_loopback_sets_lo_up(node: Node, tmp_path: Path, reference_dirs: tuple[Path, ...]) -> None:
    install_plugin(tmp_path / "bin", reference_dirs=reference_dirs)
    if reference_dirs and not (tmp_path / "bin" / "loopback").is_symlink():
        pytest.skip("no reference loopback plugin installed (Debian package containernetworking-plugins)")
    pod = node.new_pod()
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": pod, "CNI_IFNAME": "lo", "CNI_PATH": str(tmp_path / "bin")}
    # containerd 1.6 runs this configuration for every pod's lo.
    config = {"cniVersion": "0.3.1", "name": "cni-loopback", "type": "loopback"}

    completed = run(["ip", "netns", "exec", node.host, str(tmp_path / "bin" / "loopback")], stdin=json.dumps(config), env=env)
    result = json.loads(completed.stdout)
    flags = json.loads(node.pod_exec(pod, ["ip", "-json", "link", "show", "dev", "lo"]).stdout)[0]["flags"]

    assert "UP" in flags
    # The reference plugin 1.1 leaves out 0.3.1's "version"; containerd reads only eth0's result.
    assert {"address": "127.0.0.1/8", "interface": 0} in [{k: ip[k] for k in ("address", "interface")} for ip in result["ips"]]


def test_write_network_config(tmp_path: Path, node: Node) -> None:
    path = write_network_config(tmp_path / "net.d", node.config)
    conflist = json.loads(path.read_text())
    plugin = {"cniVersion": conflist["cniVersion"], "name": conflist["name"], **conflist["plugins"][0]}

    assert path.name == "10-pykube.conflist"
    assert (conflist["cniVersion"], conflist["name"], plugin["type"]) == ("1.0.0", "pykube", "pykube-cni")
    assert NetworkConfig.from_json(plugin) == node.config
    assert list((tmp_path / "net.d").iterdir()) == [path]


def test_loopback_check_and_del(node: Node) -> None:
    pod = node.new_pod()
    config = {"cniVersion": "1.0.0", "name": "cni-loopback", "type": "loopback"}
    module = "pykube_control.cni.loopback"
    added = node.plugin("ADD", container_id="c1", netns=pod, ifname="lo", config=config, module=module)
    assert added.returncode == 0, (added.output, added.stderr)

    check = node.plugin("CHECK", container_id="c1", netns=pod, ifname="lo", config=config, module=module)
    node.pod_exec(pod, ["ip", "link", "set", "dev", "lo", "down"])
    check_down = node.plugin("CHECK", container_id="c1", netns=pod, ifname="lo", config=config, module=module)
    delete = node.plugin("DEL", container_id="c1", netns="", ifname="lo", config=config, module=module)

    assert (check.returncode, check.output) == (0, None)
    assert check_down.output["code"] == 103
    assert (delete.returncode, delete.output) == (0, None)
