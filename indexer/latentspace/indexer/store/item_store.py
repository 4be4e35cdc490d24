"""The item store: the source of truth of one collection, in one SQLite file (WAL mode).

Every write (a batch upsert or a delete) is one transaction with the next sequence number, and
returns only after the commit is durable (``synchronous=FULL``, see ``schema.configure``). The
vector index is a derived view that asks :meth:`ItemStore.changes_since` what to replay.

Writes go through one connection, under a lock: the store is embedded in one process (the data
dir lock sees to that), so there is no second writer to coordinate with. Reads run concurrently,
each thread on its own read connection (WAL lets readers proceed beside the writer and each
other). A key's row never changes once written (keys are never reused), so rows read by key are
cached, and a row that a write deleted or replaced stays readable by key (``retired``) until the
collection has removed the key from its index and calls :meth:`ItemStore.purge_retired`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentspace.indexer.directions import DirectionRecord
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.items import ItemRecord, StoredItem, Thumbnail
from latentspace.indexer.modality import Modality
from latentspace.indexer.store import content_hashes, direction_table, modality_stats_table, schema, thumbnail_table
from latentspace.indexer.store.filter_sql import compile_filter
from latentspace.indexer.store.frozen_reads import FrozenItems, copy_store
from latentspace.indexer.store.modality_stats_table import ModalityRow

#: Bound parameters per statement; well under SQLite's limit (32766 since 3.32, 999 before).
_CHUNK = 900
_VECTOR_DTYPE = np.dtype("<f4")
#: Rows (without vectors) kept in memory for search hits; a hit then needs no database read.
DEFAULT_ROW_CACHE = 65_536
_ROW_COLUMNS = "key, id, modality, payload, content, seq"


@dataclass(frozen=True)
class Changes:
    """What happened after some sequence: rows to add to an index and keys to remove from it."""

    added_keys: np.ndarray  # int64 (n,)
    added_vectors: np.ndarray  # float32 (n, dimension)
    removed_keys: np.ndarray  # int64 (m,)
    sequence: int  # the store's sequence these changes bring the index up to


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def encode_payload(payload: dict[str, Any]) -> str:
    """The payload's stored JSON text (compact, UTF-8 rather than \\u escapes, no NaN)."""
    # ensure_ascii=False matters for filtering: SQLite matches path labels against raw key text.
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _RowCache:
    """A bounded LRU of ``key -> StoredItem`` (without vectors); safe to share between threads."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._rows: OrderedDict[int, StoredItem] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, keys: list[int]) -> tuple[dict[int, StoredItem], list[int]]:
        """The cached rows among ``keys``, and the keys that are not cached."""
        found: dict[int, StoredItem] = {}
        missing: list[int] = []
        with self._lock:
            for key in keys:
                row = self._rows.get(key)
                if row is None:
                    missing.append(key)
                else:
                    self._rows.move_to_end(key)
                    found[key] = row
        return found, missing

    def put(self, rows: dict[int, StoredItem]) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._rows.update(rows)
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)


class ItemStore:
    """Items, payloads and raw vectors of one collection, with a write sequence number."""

    def __init__(self, path: Path, dimension: int, *, row_cache: int = DEFAULT_ROW_CACHE):
        """Open (creating if absent) the store at ``path`` for vectors of ``dimension``."""
        self.path = Path(path)
        self.dimension = int(dimension)
        self._lock = threading.RLock()  # the write connection
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a write is exactly one transaction.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._cache = _RowCache(row_cache)
        try:
            schema.configure(self._conn)
            self.uuid = schema.create_or_check(self._conn)
            self._sequence = int(self._scalar("SELECT value FROM meta WHERE name = 'sequence'"))
            self._count = int(self._scalar("SELECT count(*) FROM items"))
            pruned = self._scalar("SELECT max(value) FROM meta WHERE name = 'removed_pruned_through'")
            self._pruned_through = int(pruned or 0)
            # Set before a write that retires rows commits, cleared by a purge: readers look in
            # `retired` only while it may hold rows.
            self._has_retired = bool(self._scalar("SELECT count(*) FROM retired"))
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params).fetchone()[0]

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a write never fails half-way on lock upgrade.
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use, closed with the store)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise sqlite3.ProgrammingError("the item store is closed")
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA query_only=ON")
            with self._readers_lock:
                self._readers.append(conn)
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same committed state."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _vectors(self, blobs: Iterable[bytes]) -> np.ndarray:
        data = b"".join(blobs)
        return np.frombuffer(data, dtype=_VECTOR_DTYPE).reshape(-1, self.dimension).astype(np.float32)

    def _blob(self, vector: np.ndarray) -> bytes:
        array = np.asarray(vector, dtype=_VECTOR_DTYPE)
        if array.shape != (self.dimension,):
            raise InvalidInput(f"vector has shape {array.shape}, expected ({self.dimension},)",
                               field="vector")
        return array.tobytes()

    def _by_key(self, conn: sqlite3.Connection, columns: str, keys: Sequence[int]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``keys`` from ``items`` and, while it may hold any, ``retired``."""
        tables = ("items", "retired") if self._has_retired else ("items",)
        for part in _chunks(keys):
            for table in tables:
                yield from conn.execute(f"SELECT {columns} FROM {table} WHERE key IN ({_marks(len(part))})", part)

    # ------------------------------------------------------------------ state
    @property
    def sequence(self) -> int:
        """The sequence number of the last committed write (0 for a new store)."""
        return self._sequence

    def count(self) -> int:
        """Number of items stored."""
        return self._count

    # ------------------------------------------------------------------ writes
    def upsert(self, records: Sequence[ItemRecord]) -> int:
        """Insert or replace ``records`` in one transaction; return its sequence number.

        Ids must be unique within ``records`` (the collection validates that). A replaced item's
        old key is logged as removed (its row retired, its thumbnail deleted) and the new row gets a
        new key, with the record's thumbnail if it has one. An empty batch writes nothing and returns
        the current sequence.
        """
        if not records:
            return self._sequence
        rows = [
            (r.id, Modality(r.modality).value, encode_payload(r.payload), r.content, self._blob(r.vector))
            for r in records
        ]
        ids = [r[0] for r in rows]
        with self._transaction() as conn:
            seq = self._sequence + 1
            replaced = self._retire_rows(conn, ids, seq)
            conn.executemany(
                "INSERT INTO items (id, modality, payload, content, vector, seq) VALUES (?, ?, ?, ?, ?, ?)",
                [(*row, seq) for row in rows],
            )
            thumbnail_table.insert(conn, [(r.id, r.thumbnail) for r in records if r.thumbnail is not None])
            content_hashes.record_hashes(conn, [(r.id, r.content_hash) for r in records])
            conn.execute("UPDATE meta SET value = ? WHERE name = 'sequence'", (str(seq),))
        self._sequence = seq
        self._count += len(rows) - replaced
        return seq

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        """Delete the items with these ids; return ``(deleted count, sequence)``.

        Unknown ids are ignored. When nothing is deleted no sequence number is used.
        """
        unique = list(dict.fromkeys(ids))
        with self._transaction() as conn:
            seq = self._sequence + 1
            deleted = self._retire_rows(conn, unique, seq)
            content_hashes.forget_hashes(conn, unique)
            if deleted:
                conn.execute("UPDATE meta SET value = ? WHERE name = 'sequence'", (str(seq),))
        if deleted:
            self._sequence = seq
            self._count -= deleted
        return deleted, self._sequence

    def _retire_rows(self, conn: sqlite3.Connection, ids: Sequence[str], seq: int) -> int:
        """Move rows by id from ``items`` to ``retired`` inside the caller's transaction, logging
        their keys as removed; return how many."""
        old: list[tuple[int, int]] = []
        for part in _chunks(ids):
            sql = f"SELECT key, seq FROM items WHERE id IN ({_marks(len(part))})"
            old += conn.execute(sql, part).fetchall()
        if not old:
            return 0
        self._has_retired = True  # before the commit: a reader must never miss a retired row
        for part in _chunks(old):
            keys = [k for k, _ in part]
            conn.execute(
                f"INSERT OR REPLACE INTO retired (key, id, modality, payload, content, vector, seq, retired_seq) "
                f"SELECT key, id, modality, payload, content, vector, seq, ? FROM items "
                f"WHERE key IN ({_marks(len(keys))})", [seq, *keys])
            conn.execute(f"DELETE FROM items WHERE key IN ({_marks(len(keys))})", keys)
            thumbnail_table.delete_keys(conn, keys)
        conn.executemany("INSERT INTO removed (key, seq, added_seq) VALUES (?, ?, ?)",
                         [(key, seq, added) for key, added in old])
        return len(old)

    def purge_retired(self, up_to_sequence: int | None = None) -> None:
        """Forget retired rows (of writes up to ``up_to_sequence``; all by default) once no index
        view can return their keys. Not fsynced: rows lost by a crash are purged at the next open."""
        with self._lock:
            if not self._has_retired:
                return
            self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._transaction() as conn:
                    if up_to_sequence is None:
                        conn.execute("DELETE FROM retired")
                    else:
                        conn.execute("DELETE FROM retired WHERE retired_seq <= ?", (up_to_sequence,))
                    remaining = conn.execute("SELECT count(*) FROM retired").fetchone()[0]
            finally:
                self._conn.execute("PRAGMA synchronous=FULL")
            self._has_retired = bool(remaining)

    def forget_removed(self, up_to_sequence: int) -> None:
        """Drop removal-log entries an index snapshot at ``up_to_sequence`` no longer needs.

        Records the point, so that an older snapshot (say, restored from a backup) is known to be
        impossible to catch up: see :attr:`removals_logged_after`.
        """
        up_to_sequence = max(up_to_sequence, self._pruned_through)
        with self._transaction() as conn:
            conn.execute("DELETE FROM removed WHERE seq <= ?", (up_to_sequence,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('removed_pruned_through', ?)",
                         (str(up_to_sequence),))
        self._pruned_through = up_to_sequence

    @property
    def removals_logged_after(self) -> int:
        """Removals are logged for every sequence above this; a snapshot older than it must be rebuilt."""
        return self._pruned_through

    # ------------------------------------------------------------------ reads (any thread)
    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """The source-content hash stored with each of ``ids`` that a bulk run wrote (see content_hashes.py)."""
        with self._read() as conn:
            return content_hashes.read_hashes(conn, ids)

    def all_ids(self, batch_size: int = 65_536) -> Iterator[list[str]]:
        """Every stored id in id order, in pages of ``batch_size`` (each page read on its own)."""
        last = ""
        while True:
            with self._read() as conn:
                page = [row[0] for row in conn.execute(
                    "SELECT id FROM items WHERE id > ? ORDER BY id LIMIT ?", (last, batch_size))]
            if not page:
                return
            yield page
            last = page[-1]

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        """Live items with these ids, in request order; unknown ids are left out."""
        found: dict[str, StoredItem] = {}
        unique = list(dict.fromkeys(ids))
        columns = _ROW_COLUMNS + (", vector" if with_vectors else ", NULL")
        with self._read() as conn:
            for part in _chunks(unique):
                sql = f"SELECT {columns} FROM items WHERE id IN ({_marks(len(part))})"
                for row in conn.execute(sql, part):
                    item = self._item(row)
                    found[item.id] = item
        return [found[i] for i in ids if i in found]

    def thumbnails(self, ids: Sequence[str]) -> dict[str, Thumbnail]:
        """The thumbnails of the live items among ``ids`` that have one (image items written since
        thumbnails exist)."""
        found: dict[str, Thumbnail] = {}
        with self._read() as conn:
            for part in _chunks(list(dict.fromkeys(ids))):
                found.update(thumbnail_table.select(conn, part))
        return found

    def _item(self, row: tuple[Any, ...]) -> StoredItem:
        _key, item_id, modality, payload, content, seq, blob = row
        vector = self._vectors([blob])[0] if blob is not None else None
        return StoredItem(item_id, Modality(modality), json.loads(payload), content, seq, vector)

    def items_by_keys(self, keys: Iterable[int], with_vectors: bool = False) -> dict[int, StoredItem]:
        """Items by index key, as ``{key: item}`` in the order of ``keys``; unknown keys left out.

        Reads retired rows too (see the module docstring). Rows without vectors come from the cache
        when they can; the payload dicts are shared with it, so callers must not modify them.
        """
        wanted = [int(k) for k in keys if k >= 0]
        if with_vectors:
            found: dict[int, StoredItem] = {}
            with self._read() as conn:
                for row in self._by_key(conn, _ROW_COLUMNS + ", vector", wanted):
                    found[row[0]] = self._item(row)
        else:
            found, missing = self._cache.take(wanted)
            if missing:
                fetched: dict[int, StoredItem] = {}
                with self._read() as conn:
                    for row in self._by_key(conn, _ROW_COLUMNS + ", NULL", missing):
                        fetched[row[0]] = self._item(row)
                self._cache.put(fetched)
                found.update(fetched)
        return {k: found[k] for k in wanted if k in found}

    def keys_for_ids(self, ids: Iterable[str]) -> np.ndarray:
        """Sorted index keys of the items with these ids, including retired keys that an index view
        may still return (unknown ids contribute nothing)."""
        unique = list(dict.fromkeys(ids))
        tables = ("items", "retired") if self._has_retired else ("items",)
        keys: list[int] = []
        with self._read() as conn:
            for part in _chunks(unique):
                for table in tables:
                    sql = f"SELECT key FROM {table} WHERE id IN ({_marks(len(part))})"
                    keys += [r[0] for r in conn.execute(sql, part)]
        return np.asarray(sorted(keys), dtype=np.int64)

    def keys_for_filter(self, payload_filter: PayloadFilter, *, retired: bool = True) -> np.ndarray:
        """Sorted index keys of the items (retired ones included unless ``retired=False``) whose payload
        matches ``payload_filter``.

        The filter is evaluated in SQL with ``json_extract``; the few conditions SQLite cannot
        express exactly are checked in Python on the rows the SQL part selected.
        """
        compiled = compile_filter(payload_filter)
        residual = compiled.residual
        columns = "key, payload" if residual else "key"
        tables = ("items", "retired") if self._has_retired and retired else ("items",)
        rows: list[tuple[Any, ...]] = []
        with self._read() as conn:
            for table in tables:
                rows += conn.execute(f"SELECT {columns} FROM {table} WHERE {compiled.where}",
                                     compiled.params).fetchall()
        if residual:
            rows = [r for r in rows if residual.matches(json.loads(r[1]))]
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))

    def vectors_for_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(keys found, their vectors)`` for the given index keys (retired ones included), in
        ascending key order."""
        found: list[tuple[int, bytes]] = []
        with self._read() as conn:
            found += self._by_key(conn, "key, vector", sorted({int(k) for k in keys}))
        found.sort()
        return (np.asarray([k for k, _ in found], dtype=np.int64), self._vectors(b for _, b in found))

    # ------------------------------------------------------------------ for the index (writer thread)
    def changes_since(self, sequence: int) -> Changes:
        """Rows added and keys removed by writes with a sequence number above ``sequence``.

        A row both added and removed after ``sequence`` appears in neither list, so replaying the
        result onto an index that is exact at ``sequence`` makes it exact at ``Changes.sequence``.
        """
        with self._transaction() as conn:
            current = int(conn.execute("SELECT value FROM meta WHERE name = 'sequence'").fetchone()[0])
            added = conn.execute(
                "SELECT key, vector FROM items WHERE seq > ? ORDER BY key", (sequence,)
            ).fetchall()
            removed = conn.execute(
                "SELECT key FROM removed WHERE seq > ? AND added_seq <= ? ORDER BY key", (sequence, sequence)
            ).fetchall()
        return Changes(
            added_keys=np.asarray([r[0] for r in added], dtype=np.int64),
            added_vectors=self._vectors(r[1] for r in added),
            removed_keys=np.asarray([r[0] for r in removed], dtype=np.int64),
            sequence=current,
        )

    @contextlib.contextmanager
    def frozen_vectors(self, batch_size: int = 65_536) -> Iterator[tuple[int, Iterator[tuple[np.ndarray, np.ndarray]]]]:
        """``(sequence, batches)``: every live ``(keys, vectors)`` exactly as of ``sequence``.

        One read transaction on a connection of its own, so writes go on meanwhile and the pages
        stay consistent with each other; for building an index aside (a rebuild, a compaction).
        """
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA query_only=ON")
            conn.execute("BEGIN")
            sequence = int(conn.execute("SELECT value FROM meta WHERE name = 'sequence'").fetchone()[0])

            def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                last = -1
                while True:
                    rows = conn.execute("SELECT key, vector FROM items WHERE key > ? ORDER BY key LIMIT ?",
                                        (last, batch_size)).fetchall()
                    if not rows:
                        return
                    last = rows[-1][0]
                    yield np.asarray([r[0] for r in rows], dtype=np.int64), self._vectors(r[1] for r in rows)

            yield sequence, batches()
        finally:
            conn.close()

    def all_vectors(self, batch_size: int = 65_536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every live ``(keys, vectors)`` in ascending key order, ``batch_size`` rows at a time,
        from one consistent read (see :meth:`frozen_vectors`)."""
        with self.frozen_vectors(batch_size) as (_, batches):
            yield from batches

    # ------------------------------------------------------------------ named directions
    def insert_direction(self, record: DirectionRecord) -> bool:
        """Store a named direction durably; False when the name is taken."""
        with self._transaction() as conn:
            return direction_table.insert(conn, record)

    def directions(self, name: str | None = None) -> list[DirectionRecord]:
        """The direction named ``name`` (at most one), or all of them by name."""
        with self._read() as conn:
            return direction_table.select(conn, name)

    def delete_direction(self, name: str) -> bool:
        """Delete a named direction; False when there was none."""
        with self._transaction() as conn:
            return direction_table.delete(conn, name)

    # ------------------------------------------------------------------ whole-store reads (any thread)
    def backup_to(self, target: Path) -> tuple[int, int]:
        """Copy the store into the new file ``target`` as of one moment, while writes go on (SQLite's
        online backup); returns the copy's ``(sequence, item count)``."""
        return copy_store(self.path, Path(target))

    def frozen_items(self) -> FrozenItems:
        """Every live item with its vector as of one moment, in pages, while writes go on (close it)."""
        return FrozenItems(self.path, self._item, self.dimension * _VECTOR_DTYPE.itemsize)

    # ------------------------------------------------------------------ modality statistics
    def keys_for_modality(self, modality: Modality) -> np.ndarray:
        """Sorted index keys of the items of ``modality``, retired ones included (like a filter's)."""
        tables = ("items", "retired") if self._has_retired else ("items",)
        with self._read() as conn:
            keys = modality_stats_table.keys_of(conn, modality, tables)
        return np.asarray(sorted(keys), dtype=np.int64)

    def load_modality_stats(self) -> tuple[int, list[ModalityRow]] | None:
        """``(sequence, rows)`` of the saved modality statistics, or None when never saved."""
        with self._read() as conn:
            return modality_stats_table.load(conn)

    def save_modality_stats(self, rows: Sequence[ModalityRow], sequence: int) -> None:
        """Save statistics rows exact at ``sequence``. Not fsynced (they are derived: a store whose
        saved statistics are behind its sequence is rescanned on open)."""
        with self._lock:
            self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._transaction() as conn:
                    modality_stats_table.save(conn, rows, sequence)
            finally:
                self._conn.execute("PRAGMA synchronous=FULL")

    def scan_items(self, batch_size: int = 8192) -> Iterator[tuple[list[str], list[Modality], np.ndarray]]:
        """Every live item's ``(ids, modalities, vectors)``, ``batch_size`` at a time, from one read."""
        with self._read() as conn:
            for rows in modality_stats_table.scan(conn, batch_size):
                yield ([r[0] for r in rows], [Modality(r[1]) for r in rows], self._vectors(r[2] for r in rows))

    def ids_of_modality(self, modality: Modality) -> list[str]:
        """The ids of every live item of ``modality``."""
        with self._read() as conn:
            return modality_stats_table.ids_of(conn, modality)

    def close(self) -> None:
        """Close the write connection and every thread's read connection (idempotent).

        The caller makes sure no read is in progress (the collection holds its index lock)."""
        with self._lock:
            self._closed = True
            self._conn.close()
            with self._readers_lock:
                readers, self._readers = self._readers, []
            for conn in readers:
                conn.close()
