"""A SQLite store killed with SIGKILL in the middle of writes loses nothing.

The writer subprocess (crash_writer.py) runs eight concurrent writers and
prints each write after the store acknowledges it. The test kills it at a
random moment, reopens the store and checks that every acknowledged write
is there, that no value is torn, and that the log and the kv index agree.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pykube_control.store.sqlite import SQLiteStore

ROUNDS = 3
ACKS_BEFORE_KILL = (200, 600)
"""Range of acknowledged writes after which a round kills the writer."""

REPO_ROOT = Path(__file__).resolve().parents[2]


def value_is_whole(value: bytes) -> bool:
    body, _, digest = value.rpartition(b"|")
    return hashlib.sha256(body).hexdigest().encode() == digest


def run_and_kill(db: Path, round_id: str, acks_wanted: int) -> list[tuple[str, int]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_writer", str(db), round_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
        env=env,
        text=True,
    )
    acked: list[tuple[str, int]] = []
    deadline = time.monotonic() + 60
    try:
        assert proc.stdout is not None
        while len(acked) < acks_wanted and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, revision, _kind = line.split()
            acked.append((key, int(revision)))
    finally:
        proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=30)
    assert len(acked) >= acks_wanted, f"writer stopped early: {stderr}"
    return acked


def check_tables(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        revisions = [r[0] for r in conn.execute("SELECT rev FROM log ORDER BY rev")]
        assert revisions == list(range(1, len(revisions) + 1))
        newest = dict(
            conn.execute("SELECT key, MAX(rev) FROM log GROUP BY key HAVING type != 2").fetchall()
        )
        live = dict(conn.execute("SELECT key, mod_rev FROM kv").fetchall())
        assert live == newest
        torn = [rev for rev, value in conn.execute("SELECT rev, value FROM log WHERE type != 2") if not value_is_whole(value)]
        assert torn == []
    finally:
        conn.close()


@pytest.mark.slow
async def test_kill_mid_write_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    rng = random.Random(20261204)
    for round_number in range(ROUNDS):
        acked = run_and_kill(db, f"r{round_number}", rng.randint(*ACKS_BEFORE_KILL))
        check_tables(db)
        store = await SQLiteStore.open(db)
        try:
            for key, revision in acked:
                kv = await store.get(key, revision=revision)
                assert kv.mod_revision == revision
                assert value_is_whole(kv.value)
                assert kv.value.startswith(key.encode() + b"|")
        finally:
            await store.close()
