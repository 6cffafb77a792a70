"""The external tools the plugin runs (``ip``, ``nft``, ``nsenter``) and how it runs them.

containerd passes its own PATH to plugins, which may lack /usr/sbin, so
the sbin directories are searched after PATH. A tool that exits non-zero
raises the caller's CNIError code with the command and its stderr.

Tools start with ``os.posix_spawn`` and exchange their input and output
through memory files (``memfd``) rather than through ``subprocess``,
whose import costs the plugin about 6 ms per start, and ``shutil``, which
costs 2 ms more. A memory file never fills up the way a pipe does, so
the tool runs to its end with no reader and no deadlock.
"""

from __future__ import annotations

import os

from pykube_control.cni.errors import IO_FAILURE, CNIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_FALLBACK_PATH = "/usr/sbin:/sbin:/usr/bin:/bin"
_found: dict[str, str] = {}


class Completed:
    """A finished tool: its exit status and its decoded stdout and stderr."""

    __slots__ = ("argv", "returncode", "stdout", "stderr")

    def __init__(self, argv: list[str], returncode: int, stdout: str, stderr: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def find_tool(name: str) -> str:
    """Return the absolute path of the executable ``name``; raise CNIError 5 when it is not installed."""
    if name not in _found:
        search = os.environ.get("PATH", "") + os.pathsep + _FALLBACK_PATH
        for directory in search.split(os.pathsep):
            candidate = os.path.join(directory, name)
            if directory and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                _found[name] = candidate
                break
        else:
            raise CNIError(IO_FAILURE, f"executable {name!r} not found", f"install it (searched {search})")
    return _found[name]


def run_tool(argv: Sequence[str], *, code: int, stdin: str | None = None, check: bool = True) -> Completed:
    """Run ``argv`` (its first item looked up with ``find_tool``) and return how it finished.

    When ``check`` is set, a non-zero exit raises CNIError ``code`` naming the command and its stderr.
    """
    command = [find_tool(argv[0]), *argv[1:]]
    completed = _spawn(command, stdin or "")
    if check and completed.returncode != 0:
        shown = " ".join(argv) if stdin is None else f"{' '.join(argv)} <<{stdin.strip()!r}"
        raise CNIError(code, f"command failed with exit status {completed.returncode}: {shown}", completed.stderr.strip())
    return completed


def _spawn(command: list[str], stdin: str) -> Completed:
    files = [os.memfd_create(name, os.MFD_CLOEXEC) for name in ("stdin", "stdout", "stderr")]
    try:
        os.write(files[0], stdin.encode())
        os.lseek(files[0], 0, os.SEEK_SET)
        actions = [(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in zip(files, (0, 1, 2))]
        try:
            pid = os.posix_spawn(command[0], command, os.environ, file_actions=actions)
        except OSError as exc:
            raise CNIError(IO_FAILURE, f"failed to start {command[0]}", str(exc)) from exc
        _, status = os.waitpid(pid, 0)
        return Completed(command, os.waitstatus_to_exitcode(status), _read_all(files[1]), _read_all(files[2]))
    finally:
        for fd in files:
            os.close(fd)


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")
