"""The SQLite schema of a collection's item store, and the connection settings it relies on.

``items.key`` is the FAISS id of the row's vector. It is ``AUTOINCREMENT`` so a key is never
reused, even after the row with the highest key is deleted: an index snapshot (or an HNSW
tombstone) that still mentions an old key can then never be confused with a newer item.
An upsert of an existing id therefore deletes the old row, logs its key in ``removed`` and
inserts a new row under a new key.

``seq`` is the sequence number of the write transaction that produced a row (one number per
committed write, shared by every row of a batch). ``removed`` keeps, for each deleted row, the
sequence of the delete and of the write that had added it, so an index snapshot taken at sequence
S is caught up by removing ``removed.seq > S AND added_seq <= S`` and adding ``items.seq > S``.

``retired`` keeps the rows a write deleted or replaced until the in-memory index has dropped their
keys, so that a search running on the index as it was before the write can still read the rows it
finds (a key's row never changes, so reading it late is never wrong). Added in place (the table is
created when missing), so the schema version is unchanged; so are ``thumbnails``, a small preview per
image row (``thumbnail_table.py``): a store written before it simply has none, ``directions``, the
collection's named directions (see ``direction_table.py``), ``modality_stats`` (see
``modality_stats_table.py``) and ``content_hashes`` (see ``content_hashes.py``).
"""

from __future__ import annotations

import sqlite3
import uuid

from latentspace.indexer.store import content_hashes

SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE IF NOT EXISTS items (
    key      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT    NOT NULL UNIQUE,
    modality TEXT    NOT NULL,
    payload  TEXT    NOT NULL,           -- a JSON object
    content  TEXT    NOT NULL,
    vector   BLOB    NOT NULL,           -- float32, little-endian, unit norm
    seq      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS items_seq ON items (seq);
CREATE TABLE IF NOT EXISTS removed (
    key       INTEGER PRIMARY KEY,
    seq       INTEGER NOT NULL,          -- the delete's (or replacing upsert's) sequence
    added_seq INTEGER NOT NULL           -- the sequence that had added the removed row
);
CREATE INDEX IF NOT EXISTS removed_seq ON removed (seq);
-- Rows deleted or replaced whose keys an index view may still return: readable by key until the
-- index has dropped the key, then purged (see ItemStore.purge_retired).
CREATE TABLE IF NOT EXISTS retired (
    key         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL,
    modality    TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    vector      BLOB    NOT NULL,
    seq         INTEGER NOT NULL,
    retired_seq INTEGER NOT NULL
);
-- One preview per image row, deleted with the row's retirement (store/thumbnail_table.py).
CREATE TABLE IF NOT EXISTS thumbnails (
    key        INTEGER PRIMARY KEY,      -- items.key
    media_type TEXT    NOT NULL,         -- image/webp (or image/jpeg)
    data       BLOB    NOT NULL
);
-- Named directions (store/direction_table.py): not items, so no sequence number and no index.
CREATE TABLE IF NOT EXISTS directions (
    name   TEXT PRIMARY KEY,
    vector BLOB NOT NULL,                -- float32, little-endian, unit norm
    record TEXT NOT NULL                 -- a JSON object: norm, source, method, quality, fingerprint, ...
);
-- Per-modality statistics (store/modality_stats_table.py): counts, vector sums, sampled ids.
CREATE TABLE IF NOT EXISTS modality_stats (
    modality   TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    vector_sum BLOB    NOT NULL,         -- float64, little-endian: the sum of the unit vectors
    threshold  REAL    NOT NULL,         -- the sample holds every item whose id hash is <= this
    sample     TEXT    NOT NULL          -- a JSON list of item ids
);
CREATE INDEX IF NOT EXISTS items_modality ON items (modality);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def configure(conn: sqlite3.Connection) -> None:
    """Apply the durability settings every connection to an item store must use."""
    # WAL: readers never block the writer, and a commit is one append to the log.
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise sqlite3.OperationalError(f"could not switch the item store to WAL mode (got {mode!r})")
    # FULL, not NORMAL: with NORMAL a WAL commit is not fsynced, so a power loss or OS crash can
    # drop transactions we already acknowledged. The design promises that an acknowledged write
    # survives any crash; FULL fsyncs the WAL at every commit. Batched upserts amortise the cost.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # Wait instead of failing at once if an external reader (a backup, sqlite3 shell) holds a lock.
    conn.execute("PRAGMA busy_timeout=5000")


def create_or_check(conn: sqlite3.Connection) -> str:
    """Create the tables if absent, check the schema version, and return the store's uuid.

    The uuid lets an index snapshot prove it was built from this very database file (and not
    from one restored or copied over it), so a snapshot is never caught up against the wrong data.
    """
    # The connection is in autocommit mode (isolation_level=None); DDL is transactional in SQLite,
    # so a crash mid-creation leaves either no tables or all of them.
    conn.executescript("BEGIN IMMEDIATE;" + _DDL + content_hashes.DDL + "COMMIT;")
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        if "schema_version" not in rows:
            rows = {"schema_version": str(SCHEMA_VERSION), "sequence": "0", "store_uuid": uuid.uuid4().hex}
            conn.executemany("INSERT INTO meta VALUES (?, ?)", rows.items())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if int(rows["schema_version"]) != SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"item store schema version {rows['schema_version']} is not supported "
            f"(this latentspace reads version {SCHEMA_VERSION})"
        )
    return str(rows["store_uuid"])
