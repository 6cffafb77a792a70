"""Install the plugin for containerd: the executables in its CNI bin dir and the conflist in its conf dir.

``install_plugin`` writes ``pykube-cni`` as a small Python script whose
shebang is this interpreter, so containerd runs the plugin with the
Python that has pykube installed, whatever its PATH is. For ``loopback``,
which containerd runs for every pod, it links the reference plugin from
the OS's CNI package (Debian's containernetworking-plugins) when one is
installed: it starts in about 3 ms against about 40 ms for Python. Only
without it does ``loopback`` become a Python script too.
The scripts run Python with ``-S``, because site-packages and their
``.pth`` hooks cost tens of milliseconds per start, about as much as the
plugin's own work. The plugin needs only the standard library, so the
script loads ``pykube_control`` from its directory at install time.
Both writers write a temporary file and rename it, so containerd, which
watches its conf dir and may run the plugin at any moment, never sees a
half-written file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pykube_control

from pykube_control.cni.config import PLUGIN_TYPE, NetworkConfig

CONFLIST_NAME = "10-pykube.conflist"
LOOPBACK_NAME = "loopback"
REFERENCE_PLUGIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"), Path("/usr/libexec/cni"))
"""Directories where OS packages install the reference CNI plugins, searched in this order."""
_SCRIPT_MARK = "# Written by pykube's CNI installer."

_SCRIPT = """#!{python} -S
{mark} Python runs without site-packages (-S),
# so the package is loaded from where it was at install time.
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("pykube_control", {init!r}, submodule_search_locations=[{package!r}])
package = importlib.util.module_from_spec(spec)
sys.modules["pykube_control"] = package
spec.loader.exec_module(package)

from {module} import main

raise SystemExit(main())
"""


def install_plugin(bin_dir: Path, *, loopback: bool = True, reference_dirs: tuple[Path, ...] = REFERENCE_PLUGIN_DIRS) -> Path:
    """Write the ``pykube-cni`` executable (and ``loopback`` when ``loopback`` is set) into ``bin_dir``; returns its path.

    ``loopback`` becomes a link to the first reference plugin found in
    ``reference_dirs``, else pykube's Python script. A regular file named
    ``loopback`` that pykube did not write is kept.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    plugin = bin_dir / PLUGIN_TYPE
    _write_atomically(plugin, _script("pykube_control.cni.plugin"), mode=0o755)
    if loopback:
        _install_loopback(bin_dir / LOOPBACK_NAME, reference_dirs)
    return plugin


def _install_loopback(path: Path, reference_dirs: tuple[Path, ...]) -> None:
    if path.exists() and not path.is_symlink() and not _written_by_pykube(path):
        return
    reference = next((d / LOOPBACK_NAME for d in reference_dirs if os.access(d / LOOPBACK_NAME, os.X_OK)), None)
    if reference is None:
        _write_atomically(path, _script("pykube_control.cni.loopback"), mode=0o755)
        return
    if path.is_symlink() and os.readlink(path) == str(reference):
        return
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(reference)
    os.replace(temporary, path)


def _written_by_pykube(path: Path) -> bool:
    with open(path, "rb") as f:
        return _SCRIPT_MARK.encode() in f.read(256)


def _script(module: str) -> str:
    package = Path(pykube_control.__file__).parent
    return _SCRIPT.format(mark=_SCRIPT_MARK, python=sys.executable, init=str(package / "__init__.py"), package=str(package), module=module)


def write_network_config(conf_dir: Path, config: NetworkConfig) -> Path:
    """Write ``10-pykube.conflist`` for ``config`` into ``conf_dir``; returns its path."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / CONFLIST_NAME
    _write_atomically(path, json.dumps(config.conflist_json(), indent=2) + "\n", mode=0o644)
    return path


def _write_atomically(path: Path, text: str, *, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(temporary, mode)
    os.replace(temporary, path)
