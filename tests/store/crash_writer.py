"""Write to a SQLite store until killed, printing each acknowledged write.

Run by test_sqlite_crash.py as a subprocess that the test kills with
SIGKILL. Each line on stdout is "<key> <revision> <kind>", printed only
after the store acknowledged the write. Values carry their own checksum so
the test can tell a torn value from a whole one.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys

from pykube_control.store.errors import KeyExistsError
from pykube_control.store.sqlite import SQLiteStore

WORKERS = 8


def make_value(key: str, seq: int, size: int) -> bytes:
    body = f"{key}|{seq}|".encode() + b"x" * size
    return body + b"|" + hashlib.sha256(body).hexdigest().encode()


async def worker(store: SQLiteStore, worker_id: int, round_id: str) -> None:
    seq = 0
    while True:
        seq += 1
        key = f"/crash/{round_id}/w{worker_id}/k{seq % 20}"
        value = make_value(key, seq, 100 + (seq * 7919) % 20000)
        try:
            kv = await store.create(key, value)
            kind = "create"
        except KeyExistsError:
            current = await store.get(key)
            kv = await store.update(key, value, expected_revision=current.mod_revision)
            kind = "update"
        sys.stdout.write(f"{key} {kv.mod_revision} {kind}\n")
        sys.stdout.flush()


async def main(path: str, round_id: str) -> None:
    store = await SQLiteStore.open(path)
    await asyncio.gather(*(worker(store, i, round_id) for i in range(WORKERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
