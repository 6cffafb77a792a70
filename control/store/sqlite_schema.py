"""Tables and SQL of the SQLite store.

Two tables carry the data:

``log``
    One row per committed write, keyed by its revision: the write's key, its
    type (create, update or delete), the key's create revision, the revision
    of the version it replaced, and the new value (empty for a delete, whose
    value is the replaced version's). History reads, ``list`` at a past
    revision and watch replay all come from this table.

``kv``
    One small row per live key pointing at the log row of its current
    version, so reads of the latest state never scan history.

Values are stored once, in ``log``. ``meta`` keeps the compaction point.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 1

TYPE_CREATE = 0
TYPE_UPDATE = 1
TYPE_DELETE = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    rev        INTEGER PRIMARY KEY,
    key        TEXT    NOT NULL,
    type       INTEGER NOT NULL,
    create_rev INTEGER NOT NULL,
    prev_rev   INTEGER,
    value      BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_rev ON log (key, rev);
CREATE TABLE IF NOT EXISTS kv (
    key        TEXT    PRIMARY KEY,
    mod_rev    INTEGER NOT NULL,
    create_rev INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""

# Each column list below is the shape that the row converters in sqlite.py
# expect: (key, value, create_rev, mod_rev).
SELECT_LATEST = """
SELECT kv.key, log.value, kv.create_rev, kv.mod_rev
FROM kv JOIN log ON log.rev = kv.mod_rev
WHERE kv.key = ?
"""

SELECT_AT_REVISION = """
SELECT key, value, create_rev, rev, type FROM log
WHERE key = ? AND rev <= ? ORDER BY rev DESC LIMIT 1
"""

LIST_LATEST = """
SELECT kv.key, log.value, kv.create_rev, kv.mod_rev
FROM kv JOIN log ON log.rev = kv.mod_rev
WHERE kv.key >= ? AND kv.key < ?
ORDER BY kv.key LIMIT ?
"""

COUNT_LATEST = "SELECT COUNT(*) FROM kv WHERE key >= ? AND key < ?"

# The newest version at or before a revision of every key in a range, minus
# the keys whose newest version is a delete.
LIST_AT_REVISION = """
SELECT log.key, log.value, log.create_rev, log.rev
FROM (SELECT MAX(rev) AS rev FROM log
      WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key) AS newest
JOIN log ON log.rev = newest.rev
WHERE log.type != 2
ORDER BY log.key LIMIT ?4
"""

COUNT_AT_REVISION = """
SELECT COUNT(*)
FROM (SELECT MAX(rev) AS rev FROM log
      WHERE key >= ?1 AND key < ?2 AND rev <= ?3 GROUP BY key) AS newest
JOIN log ON log.rev = newest.rev
WHERE log.type != 2
"""

# Events after a revision, with the replaced version's value joined in: a
# delete's value and every update's prev_value come from there.
SELECT_EVENTS = """
SELECT log.rev, log.key, log.type, log.create_rev, log.value, prev.value
FROM log LEFT JOIN log AS prev ON prev.rev = log.prev_rev
WHERE log.rev > ? AND log.rev <= ? AND log.key >= ? AND log.key < ?
ORDER BY log.rev LIMIT ?
"""

# Rows before the compaction point that no read at or after it can reach:
# deletes, and versions replaced by a write at or before the point.
COMPACT_RANGE = """
DELETE FROM log WHERE rev >= ?1 AND rev < ?2 AND (
    type = 2 OR EXISTS (
        SELECT 1 FROM log AS newer
        WHERE newer.key = log.key AND newer.rev > log.rev AND newer.rev <= ?3))
"""


def connect(path: str, *, readonly: bool) -> sqlite3.Connection:
    """Open a connection with the pragmas every connection of the store uses.

    The journal is a WAL so readers never block the writer. synchronous=FULL
    makes each commit fsync the WAL before it returns, so an acknowledged
    write survives power loss, not only a process crash.
    """
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    if not readonly:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA cache_size = -65536")
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
    conn.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('compact_rev', 0)")
    row = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    if row[0] != SCHEMA_VERSION:
        raise RuntimeError(
            f"store schema version {row[0]} is not supported by this pykube "
            f"(expects {SCHEMA_VERSION}); use a matching pykube release"
        )


def read_current_revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT MAX(rev) FROM log").fetchone()
    value = row[0] if row and row[0] is not None else 0
    # After compaction of everything the log still contains the newest row,
    # and the compaction point is the floor either way.
    compacted = read_compact_revision(conn)
    return max(int(value), compacted)


def read_compact_revision(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = 'compact_rev'").fetchone()
    return int(row[0]) if row else 0


def prefix_end(prefix: str) -> str:
    """Return the smallest string greater than every string starting with ``prefix``."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def key_after(key: str) -> str:
    """Return the smallest valid-key bound greater than ``key``.

    Keys never contain control characters (validate_key rejects them), so
    ``key + "\\x01"`` sorts after ``key`` and before every longer key that
    starts with it.
    """
    return key + "\x01"
