"""Whole-store reads as of one moment, while writes go on: a file copy (backups) and item pages (exports).

Both read inside one SQLite read transaction on a connection of their own. In WAL mode the writer
keeps committing meanwhile, and nothing it commits after the transaction began shows in the copy or
in the pages. A long read holds WAL checkpoints back to its start (the WAL file grows until it
ends), so both are closed as soon as they are done.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from latentspace.indexer.items import StoredItem
from latentspace.indexer.store.atomic_files import fsync_file

_PAGE_COLUMNS = "key, id, modality, payload, content, seq, vector"


def _read_connection(path: Path) -> sqlite3.Connection:
    # mode=rw: never create an empty database where a store should be (a collection dropped meanwhile).
    uri = f"{Path(path).resolve().as_uri()}?mode=rw"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA query_only=ON")
    return conn


def _state(conn: sqlite3.Connection) -> tuple[int, int]:
    sequence = int(conn.execute("SELECT value FROM meta WHERE name = 'sequence'").fetchone()[0])
    count = int(conn.execute("SELECT count(*) FROM items").fetchone()[0])
    return sequence, count


def copy_store(source: Path, target: Path) -> tuple[int, int]:
    """Copy the store at ``source`` into a new file ``target`` with SQLite's online backup API.

    All pages are copied in one step, which SQLite runs inside one read transaction: the copy is
    the store exactly as of one committed write, and writers are never blocked. The copy is one
    self-contained file (rollback journal, no ``-wal``); opening it as a store turns WAL on again.
    Returns the copy's ``(sequence, item count)``.
    """
    if target.exists():
        raise FileExistsError(f"{target} exists")
    reader = _read_connection(source)
    try:
        copy = sqlite3.connect(target, isolation_level=None)
        try:
            reader.backup(copy)  # pages=-1: every page in one step, so one consistent read
            copy.execute("PRAGMA journal_mode=DELETE")
            state = _state(copy)
        finally:
            copy.close()
    finally:
        reader.close()
    fsync_file(target)
    return state


class FrozenItems:
    """Every live item of a store as of one moment, with its vector, page by page in key order.

    ``sequence`` and ``count`` describe that moment. Use it as a context manager, or call
    :meth:`close`; it may be read from any thread, one at a time.
    """

    def __init__(self, path: Path, to_item: Callable[[tuple[Any, ...]], StoredItem], vector_bytes: int):
        """Open the read transaction; ``to_item`` turns a ``(key, id, modality, payload, content,
        seq, vector)`` row into an item; ``vector_bytes`` is the size of one stored vector."""
        self._to_item = to_item
        self._vector_bytes = vector_bytes
        self._conn = _read_connection(path)
        try:
            self._conn.execute("BEGIN")
            self.sequence, self.count = _state(self._conn)
        except BaseException:
            self._conn.close()
            raise
        self._after_key = -1
        self._pending: deque[tuple[Any, ...]] = deque()
        self._exhausted = False

    def next_page(self, max_items: int, max_bytes: int) -> list[StoredItem]:
        """The next items: at most ``max_items``, and no more than ``max_bytes`` of ids, payloads,
        contents and vectors (but always one, whatever its size). Empty once every item was read."""
        page: list[StoredItem] = []
        size = 0
        while len(page) < max_items:
            if not self._pending and not self._fill(max_items):
                break
            row = self._pending[0]
            row_size = len(row[1]) + len(row[3]) + len(row[4]) + self._vector_bytes
            if page and size + row_size > max_bytes:
                break
            self._pending.popleft()
            page.append(self._to_item(row))
            size += row_size
        return page

    def _fill(self, rows: int) -> bool:
        if self._exhausted:
            return False
        fetched = self._conn.execute(
            f"SELECT {_PAGE_COLUMNS} FROM items WHERE key > ? ORDER BY key LIMIT ?", (self._after_key, rows)
        ).fetchall()
        if len(fetched) < rows:
            self._exhausted = True
        if fetched:
            self._after_key = fetched[-1][0]
            self._pending.extend(fetched)
        return bool(fetched)

    def close(self) -> None:
        """End the read transaction (idempotent)."""
        self._conn.close()

    def __enter__(self) -> FrozenItems:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
