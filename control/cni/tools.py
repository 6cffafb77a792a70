"""The external tools the plugin runs (``ip``, ``nft``, ``nsenter``) and how it runs them.

containerd passes its own PATH to plugins, which may lack /usr/sbin, so
the sbin directories are searched after PATH. A tool that exits non-zero
raises the caller's CNIError code with the command and its stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence

from pykube_control.cni.errors import IO_FAILURE, CNIError

_FALLBACK_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"
_found: dict[str, str] = {}


def find_tool(name: str) -> str:
    """Return the absolute path of the executable ``name``; raise CNIError 5 when it is not installed."""
    if name not in _found:
        search = os.environ.get("PATH", "") + os.pathsep + _FALLBACK_PATH
        path = shutil.which(name, path=search)
        if path is None:
            raise CNIError(IO_FAILURE, f"executable {name!r} not found", f"install it (searched {search})")
        _found[name] = path
    return _found[name]


def run_tool(argv: Sequence[str], *, code: int, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (its first item looked up with ``find_tool``) and return the completed process.

    When ``check`` is set, a non-zero exit raises CNIError ``code`` naming the command and its stderr.
    """
    command = [find_tool(argv[0]), *argv[1:]]
    completed = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if check and completed.returncode != 0:
        shown = " ".join(argv) if stdin is None else f"{' '.join(argv)} <<{stdin.strip()!r}"
        raise CNIError(code, f"command failed with exit status {completed.returncode}: {shown}", completed.stderr.strip())
    return completed
