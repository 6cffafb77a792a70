"""Atomic writes of credential files: keys, certificates, tokens and kubeconfigs.

Each file is written to a temporary file in the same directory, flushed to
disk and renamed over the target, so a reader (or a restart after a crash)
reads either the old content or the new one, never a half-written key. The
temporary file is created with its final mode, so a secret is never
readable by others, not even for the moment between write and chmod.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_MODE = 0o600
"""Mode of files holding secrets: private keys, tokens, kubeconfigs."""

PUBLIC_MODE = 0o644
"""Mode of files anyone may read: certificates."""


def write_file_atomic(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` in one rename; create parent directories (0700) as needed."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    temporary = Path(temporary_name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            # mkstemp creates the file 0600, so a secret is private from the first byte.
            os.fchmod(stream.fileno(), mode)
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself, which lives in the directory entry."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
