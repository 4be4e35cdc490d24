"""The item store: the source of truth of one collection, in one SQLite file (WAL mode).

Every write (a batch upsert or a delete) is one transaction with the next sequence number, and
returns only after the commit is durable (``synchronous=FULL``, see ``schema.configure``). The
vector index is a derived view that asks :meth:`ItemStore.changes_since` what to replay.

One connection, guarded by a lock, serves every thread: the store is embedded in one process
(the data dir lock sees to that), so there is no second writer to coordinate with, and a single
connection keeps reads after a write trivially consistent with it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.items import ItemRecord, StoredItem
from latentspace.indexer.modality import Modality
from latentspace.indexer.store import schema
from latentspace.indexer.store.filter_sql import compile_filter

#: Bound parameters per statement; well under SQLite's limit (32766 since 3.32, 999 before).
_CHUNK = 900
_VECTOR_DTYPE = np.dtype("<f4")


@dataclass(frozen=True)
class Changes:
    """What happened after some sequence: rows to add to an index and keys to remove from it."""

    added_keys: np.ndarray  # int64 (n,)
    added_vectors: np.ndarray  # float32 (n, dimension)
    removed_keys: np.ndarray  # int64 (m,)
    sequence: int  # the store's sequence these changes bring the index up to


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def encode_payload(payload: dict[str, Any]) -> str:
    """The payload's stored JSON text (compact, UTF-8 rather than \\u escapes, no NaN)."""
    # ensure_ascii=False matters for filtering: SQLite matches path labels against raw key text.
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class ItemStore:
    """Items, payloads and raw vectors of one collection, with a write sequence number."""

    def __init__(self, path: Path, dimension: int):
        """Open (creating if absent) the store at ``path`` for vectors of ``dimension``."""
        self.path = Path(path)
        self.dimension = int(dimension)
        self._lock = threading.RLock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a write is exactly one transaction.
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            schema.configure(self._conn)
            self.uuid = schema.create_or_check(self._conn)
            self._sequence = int(self._scalar("SELECT value FROM meta WHERE name = 'sequence'"))
            self._count = int(self._scalar("SELECT count(*) FROM items"))
            pruned = self._scalar("SELECT max(value) FROM meta WHERE name = 'removed_pruned_through'")
            self._pruned_through = int(pruned or 0)
        except BaseException:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ plumbing
    def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(sql, params).fetchone()[0]

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so a write never fails half-way on lock upgrade.
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _vectors(self, blobs: Iterable[bytes]) -> np.ndarray:
        data = b"".join(blobs)
        return np.frombuffer(data, dtype=_VECTOR_DTYPE).reshape(-1, self.dimension).astype(np.float32)

    def _blob(self, vector: np.ndarray) -> bytes:
        array = np.asarray(vector, dtype=_VECTOR_DTYPE)
        if array.shape != (self.dimension,):
            raise InvalidInput(f"vector has shape {array.shape}, expected ({self.dimension},)",
                               field="vector")
        return array.tobytes()

    def _item(self, row: tuple[Any, ...], with_vectors: bool) -> StoredItem:
        item_id, modality, payload, content, seq, blob = row
        vector = self._vectors([blob])[0] if with_vectors else None
        return StoredItem(item_id, Modality(modality), json.loads(payload), content, seq, vector)

    def _columns(self, with_vectors: bool) -> str:
        return "id, modality, payload, content, seq, " + ("vector" if with_vectors else "NULL")

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
        old key is logged as removed and the new row gets a new key. An empty batch writes
        nothing and returns the current sequence.
        """
        if not records:
            return self._sequence
        rows = [
            (r.id, Modality(r.modality).value, encode_payload(r.payload), r.content, self._blob(r.vector))
            for r in records
        ]
        ids = [r[0] for r in rows]
        with self._transaction(write=True) as conn:
            seq = self._sequence + 1
            replaced = self._drop_rows(conn, ids, seq)
            conn.executemany(
                "INSERT INTO items (id, modality, payload, content, vector, seq) VALUES (?, ?, ?, ?, ?, ?)",
                [(*row, seq) for row in rows],
            )
            conn.execute("UPDATE meta SET value = ? WHERE name = 'sequence'", (str(seq),))
        self._sequence = seq
        self._count += len(rows) - replaced
        return seq

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        """Delete the items with these ids; return ``(deleted count, sequence)``.

        Unknown ids are ignored. When nothing is deleted no sequence number is used.
        """
        unique = list(dict.fromkeys(ids))
        with self._transaction(write=True) as conn:
            seq = self._sequence + 1
            deleted = self._drop_rows(conn, unique, seq)
            if deleted:
                conn.execute("UPDATE meta SET value = ? WHERE name = 'sequence'", (str(seq),))
        if deleted:
            self._sequence = seq
            self._count -= deleted
        return deleted, self._sequence

    def _drop_rows(self, conn: sqlite3.Connection, ids: Sequence[str], seq: int) -> int:
        """Delete rows by id inside the caller's transaction, logging their keys; return how many."""
        old: list[tuple[int, int]] = []
        for part in _chunks(ids):
            sql = f"SELECT key, seq FROM items WHERE id IN ({_marks(len(part))})"
            old += conn.execute(sql, part).fetchall()
        for part in _chunks(old):
            conn.execute(f"DELETE FROM items WHERE key IN ({_marks(len(part))})", [k for k, _ in part])
        conn.executemany("INSERT INTO removed (key, seq, added_seq) VALUES (?, ?, ?)",
                         [(key, seq, added) for key, added in old])
        return len(old)

    def forget_removed(self, up_to_sequence: int) -> None:
        """Drop removal-log entries an index snapshot at ``up_to_sequence`` no longer needs.

        Records the point, so that an older snapshot (say, restored from a backup) is known to be
        impossible to catch up: see :attr:`removals_logged_after`.
        """
        up_to_sequence = max(up_to_sequence, self._pruned_through)
        with self._transaction(write=True) as conn:
            conn.execute("DELETE FROM removed WHERE seq <= ?", (up_to_sequence,))
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('removed_pruned_through', ?)",
                         (str(up_to_sequence),))
        self._pruned_through = up_to_sequence

    @property
    def removals_logged_after(self) -> int:
        """Removals are logged for every sequence above this; a snapshot older than it must be rebuilt."""
        return self._pruned_through

    # ------------------------------------------------------------------ reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        """Items with these ids, in request order; unknown ids are left out."""
        found: dict[str, StoredItem] = {}
        unique = list(dict.fromkeys(ids))
        with self._transaction(write=False) as conn:
            for part in _chunks(unique):
                sql = f"SELECT {self._columns(with_vectors)} FROM items WHERE id IN ({_marks(len(part))})"
                for row in conn.execute(sql, part):
                    found[row[0]] = self._item(row, with_vectors)
        return [found[i] for i in ids if i in found]

    def items_by_keys(self, keys: Iterable[int], with_vectors: bool = False) -> dict[int, StoredItem]:
        """Items by index key, as ``{key: item}`` in the order of ``keys``; unknown keys left out."""
        wanted = [int(k) for k in keys if k >= 0]
        found: dict[int, StoredItem] = {}
        with self._transaction(write=False) as conn:
            for part in _chunks(wanted):
                columns = self._columns(with_vectors)
                sql = f"SELECT key, {columns} FROM items WHERE key IN ({_marks(len(part))})"
                for row in conn.execute(sql, part):
                    found[row[0]] = self._item(row[1:], with_vectors)
        return {k: found[k] for k in wanted if k in found}

    def keys_for_ids(self, ids: Iterable[str]) -> np.ndarray:
        """Index keys of the items with these ids (unknown ids contribute nothing)."""
        unique = list(dict.fromkeys(ids))
        keys: list[int] = []
        with self._transaction(write=False) as conn:
            for part in _chunks(unique):
                sql = f"SELECT key FROM items WHERE id IN ({_marks(len(part))})"
                keys += [r[0] for r in conn.execute(sql, part)]
        return np.asarray(sorted(keys), dtype=np.int64)

    def keys_for_filter(self, payload_filter: PayloadFilter) -> np.ndarray:
        """Sorted index keys of the items whose payload matches ``payload_filter``.

        The filter is evaluated in SQL with ``json_extract``; the few conditions SQLite cannot
        express exactly are checked in Python on the rows the SQL part selected.
        """
        compiled = compile_filter(payload_filter)
        residual = compiled.residual
        columns = "key, payload" if residual else "key"
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"SELECT {columns} FROM items WHERE {compiled.where} ORDER BY key",
                                compiled.params).fetchall()
        if residual:
            rows = [r for r in rows if residual.matches(json.loads(r[1]))]
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_for_keys(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(keys found, their vectors)`` for the given index keys, in ascending key order."""
        out_keys: list[int] = []
        blobs: list[bytes] = []
        with self._transaction(write=False) as conn:
            for part in _chunks(sorted({int(k) for k in keys})):
                for key, blob in conn.execute(
                    f"SELECT key, vector FROM items WHERE key IN ({_marks(len(part))}) ORDER BY key", part
                ):
                    out_keys.append(key)
                    blobs.append(blob)
        return np.asarray(out_keys, dtype=np.int64), self._vectors(blobs)

    def changes_since(self, sequence: int) -> Changes:
        """Rows added and keys removed by writes with a sequence number above ``sequence``.

        A row both added and removed after ``sequence`` appears in neither list, so replaying the
        result onto an index that is exact at ``sequence`` makes it exact at ``Changes.sequence``.
        """
        with self._transaction(write=False) as conn:
            current = int(self._scalar("SELECT value FROM meta WHERE name = 'sequence'"))
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

    def all_vectors(self, batch_size: int = 65_536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every ``(keys, vectors)`` in ascending key order, ``batch_size`` rows at a time.

        Pages by key (not OFFSET), so each batch is one indexed range scan; the lock is released
        between batches. Callers that need a consistent view hold off writes meanwhile.
        """
        last = -1
        while True:
            with self._transaction(write=False) as conn:
                rows = conn.execute("SELECT key, vector FROM items WHERE key > ? ORDER BY key LIMIT ?",
                                    (last, batch_size)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield np.asarray([r[0] for r in rows], dtype=np.int64), self._vectors(r[1] for r in rows)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self._conn.close()
