"""Install the plugin for containerd: the executables in its CNI bin dir and the conflist in its conf dir.

``install_plugin`` writes ``pykube-cni`` and ``loopback`` as small
Python scripts whose shebang is this interpreter, so containerd runs the
plugin with the Python that has pykube installed, whatever its PATH is.
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

_SCRIPT = """#!{python} -S
# Written by pykube's CNI installer. Python runs without site-packages (-S),
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


def install_plugin(bin_dir: Path, *, loopback: bool = True) -> Path:
    """Write the ``pykube-cni`` executable (and ``loopback`` when ``loopback`` is set) into ``bin_dir``; returns its path.

    An existing ``loopback`` is kept, because it is usually the reference
    plugin from the OS's CNI package.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    plugin = bin_dir / PLUGIN_TYPE
    _write_atomically(plugin, _script("pykube_control.cni.plugin"), mode=0o755)
    if loopback and not (bin_dir / LOOPBACK_NAME).exists():
        _write_atomically(bin_dir / LOOPBACK_NAME, _script("pykube_control.cni.loopback"), mode=0o755)
    return plugin


def _script(module: str) -> str:
    package = Path(pykube_control.__file__).parent
    return _SCRIPT.format(python=sys.executable, init=str(package / "__init__.py"), package=str(package), module=module)


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
