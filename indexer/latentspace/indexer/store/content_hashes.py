"""Content hashes of the items a bulk run wrote: what makes re-runs incremental and kills resumable.

One row per item id that came from an indexing run, holding the hash of the source content the
item was made from (see :func:`latentspace.indexer.content_hash.item_hash`). The rows are written in
the same transaction as the items (so a batch and its hashes commit together, or neither does) and
dropped when the item is deleted or written again without a hash (e.g. by the server's Upsert): a
hash is only ever there while it describes the stored item. The table is created when missing, so
the schema version is unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

DDL = """
CREATE TABLE IF NOT EXISTS content_hashes (
    id   TEXT PRIMARY KEY,
    hash TEXT NOT NULL
) WITHOUT ROWID;
"""
#: Bound parameters per statement (see item_store._CHUNK).
_CHUNK = 900


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def record_hashes(conn: sqlite3.Connection, hashes: Sequence[tuple[str, str]]) -> None:
    """Inside the caller's write transaction: ``(id, hash)`` pairs to keep; an empty hash drops the id's."""
    given = [(item_id, value) for item_id, value in hashes if value]
    conn.executemany("INSERT OR REPLACE INTO content_hashes (id, hash) VALUES (?, ?)", given)
    forget_hashes(conn, [item_id for item_id, value in hashes if not value])


def forget_hashes(conn: sqlite3.Connection, ids: Sequence[str]) -> None:
    """Inside the caller's write transaction: drop the hashes of ``ids``."""
    for part in _chunks(ids):
        conn.execute(f"DELETE FROM content_hashes WHERE id IN ({','.join('?' * len(part))})", part)


def read_hashes(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    """The stored hash of each of ``ids`` that has one."""
    found: dict[str, str] = {}
    for part in _chunks(ids):
        sql = f"SELECT id, hash FROM content_hashes WHERE id IN ({','.join('?' * len(part))})"
        found.update(conn.execute(sql, part).fetchall())
    return found
