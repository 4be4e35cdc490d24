"""A collection's in-memory vector index, kept current with its item store while searches run.

Three locks, always taken in this order, each for its own job:

- the *maintenance* lock: one snapshot, compaction or rebuild at a time (they read the store's
  removal log, which a snapshot prunes);
- the *write* lock: one writer at a time changes the store and then the index; a snapshot holds it
  so the index does not change under the serialiser;
- the *index* lock (:class:`ReadWriteLock`): searches share it; a writer takes it alone only for the
  short steps that change the index (adding one chunk of rows, removing keys, swapping in an index
  built aside).

So searches never wait for a snapshot (it only reads the index), for a compaction or a rebuild
(built aside from a consistent read of the store, swapped in by one pointer assignment), nor for a
whole large write (graph kinds take their rows in chunks, releasing the lock between them).

Rows a write deletes or replaces stay readable by key in the store until the step that removes their
keys from the index, which purges them (``ItemStore.purge_retired``): a search always finds the row
of every key its index returns, and while a write's chunks go in, it may see both the old and the
new key of a replaced item, never neither (the collection keeps the better of the two).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from latentspace.indexer.errors import Unavailable
from latentspace.indexer.index import FaissIndex
from latentspace.indexer.index.snapshot import (
    INDEX_FILE,
    StoreState,
    read_snapshot,
    snapshot_files_exist,
    write_snapshot,
)
from latentspace.indexer.rw_lock import ReadWriteLock
from latentspace.indexer.store import Changes, ItemStore

log = logging.getLogger(__name__)

#: Rows per exclusive step when adding to a graph index (HNSW, NSG), whose adds are slow: a search
#: waits for at most one chunk. Other kinds add a whole write in one step (a copy of the vectors).
GRAPH_ADD_CHUNK = 64
#: Maintenance observer: ``(job, collection name, seconds)``, e.g. for metrics.
MaintenanceReport = Callable[[str, str, float], None]


def _is_graph_kind(factory: str) -> bool:
    return any(part in factory.upper() for part in ("HNSW", "NSG"))


class LiveIndex:
    """The index of one collection and the sequence of the store it is exact at."""

    def __init__(self, folder: Path, store: ItemStore, name: str, kind: str, dimension: int,
                 report: MaintenanceReport | None = None, *, any_snapshot_kind: bool = False) -> None:
        """Load the snapshot in ``folder`` and catch it up with ``store``, or build a ``kind`` index
        from ``store``. With ``any_snapshot_kind`` a snapshot of another kind is used as it is (and
        ``kind`` becomes its kind): the collection's kind follows its size."""
        self.folder = folder
        self.name = name
        self.kind = kind
        self._any_snapshot_kind = any_snapshot_kind
        self.dimension = dimension
        self._store = store
        self._report = report
        self._maintenance_lock = threading.RLock()  # a rebuild snapshots what it built
        self._write_lock = threading.RLock()
        self._index_lock = ReadWriteLock()
        self._index: FaissIndex | None = None
        self._index_seq = 0
        self._snapshot_seq = -1  # sequence of the snapshot on disk; -1: none we can trust
        self.rows_since_snapshot = 0
        #: Keys a write in progress will remove once its chunks are in (see the module docstring).
        self.removals_in_flight = 0
        self._closed = False
        self._stopping = False  # set by close(): maintenance in progress gives up early
        self._open()

    # ------------------------------------------------------------------ reading
    @contextlib.contextmanager
    def reading(self) -> Iterator[FaissIndex]:
        """Share the index with other searches; writers wait for at most one short step."""
        if self._index is None and not self._closed:
            with self._write_lock:
                if self._index is None and not self._closed:
                    self._swap_in(*self._build(self.kind))
        with self._index_lock.read():
            index = self._index
            if index is None:
                raise Unavailable(f"collection {self.name!r} is closed or its index is being rebuilt")
            yield index

    @property
    def sequence(self) -> int:
        """The store sequence the index is exact at."""
        return self._index_seq

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the write lock: write to the store inside, then call :meth:`catch_up`."""
        with self._write_lock:
            yield

    def catch_up(self) -> None:
        """Bring the index up to the store's sequence (the caller holds :meth:`writing`).

        Never fails the write that preceded it (that is durable already): on an error the index is
        dropped, and the next search rebuilds it from the store.
        """
        try:
            self._apply(self._store.changes_since(self._index_seq))
        except Exception:
            log.exception("collection %r: index update failed; it will be rebuilt from the store", self.name)
            with self._index_lock.write():
                self._index = None
                self.removals_in_flight = 0

    def _apply(self, changes: Changes) -> None:
        index = self._index
        if index is None:
            self._swap_in(*self._build(self.kind))
            return
        added, removed = len(changes.added_keys), len(changes.removed_keys)
        step = GRAPH_ADD_CHUNK if _is_graph_kind(self.kind) else max(added, 1)
        self.removals_in_flight = removed
        for start in range(0, added, step):
            with self._index_lock.write():
                index.add(changes.added_keys[start:start + step], changes.added_vectors[start:start + step])
        with self._index_lock.write():
            # One step: the keys leave the index and their rows the store together (readers hold the
            # index lock while they read rows, so none can find a key without its row).
            index.remove(changes.removed_keys)
            self.removals_in_flight = 0
            self._index_seq = changes.sequence
            self._store.purge_retired(changes.sequence)
        self.rows_since_snapshot += added + removed

    @property
    def needs_compaction(self) -> bool:
        index = self._index
        return index is not None and index.needs_compaction

    # ------------------------------------------------------------------ open, build, swap
    def _open(self) -> None:
        loaded = self._load_snapshot()
        if loaded is None:
            index, sequence = self._build(self.kind)
            self._swap_in(index, sequence)
            rebuilt = self._store.count() > 0
        else:
            self._index, self._index_seq = loaded
            self.kind = self._index.factory
            self._snapshot_seq = self._index_seq
            self._apply(self._store.changes_since(self._index_seq))
            rebuilt = False
        # Rows retired before a crash: their keys are out of the index by now.
        self._store.purge_retired()
        #: True when the index was rebuilt on open: a snapshot saves the next open that work.
        self.rebuilt_on_open = rebuilt

    def _load_snapshot(self) -> tuple[FaissIndex, int] | None:
        if not snapshot_files_exist(self.folder):
            return None
        store = StoreState(self._store.uuid, self._store.sequence, self._store.removals_logged_after,
                           None if self._any_snapshot_kind else self.kind)
        try:
            return read_snapshot(self.folder, store, self._store.vectors_for_keys)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            log.warning("collection %r: index snapshot not usable (%s); rebuilding from the item store",
                        self.name, exc)
            return None

    def _build(self, kind: str) -> tuple[FaissIndex, int]:
        """A fresh index of kind ``kind`` over every stored vector, and the sequence it is exact at.

        Reads the store in one consistent transaction and holds none of this index's locks, so
        writes and searches go on meanwhile (the caller catches it up before swapping it in).
        """
        index = FaissIndex(self.dimension, kind, vector_source=self._store.vectors_for_keys)
        with self._store.frozen_vectors() as (sequence, batches):
            for keys, vectors in batches:
                if self._stopping:
                    raise Unavailable(f"collection {self.name!r} is closing")
                index.add(keys, vectors)
        return index, sequence

    def _swap_in(self, index: FaissIndex, built_at: int) -> None:
        """Catch ``index`` up from ``built_at`` and make it the one searches use (holds the write lock)."""
        with self._write_lock:
            changes = self._store.changes_since(built_at)
            index.remove(changes.removed_keys)
            index.add(changes.added_keys, changes.added_vectors)
            with self._index_lock.write():
                self._index = index
                self._index_seq = changes.sequence
                self.removals_in_flight = 0
                self._store.purge_retired(changes.sequence)
            self.rows_since_snapshot = max(self.rows_since_snapshot, 1)  # the snapshot on disk is of the old index

    # ------------------------------------------------------------------ maintenance (one at a time)
    def compact(self) -> None:
        """Rebuild the index aside without its tombstones and swap it in."""
        self.rebuild(self.kind, job="compaction")

    def rebuild(self, kind: str, job: str = "rebuild") -> None:
        """Build an index of ``kind`` aside from the store, swap it in (searches go on meanwhile),
        and snapshot it, so that a restart does not start from the old kind's snapshot."""
        with self._maintenance_lock:
            if self._closed:
                return
            started = self._begin(job)
            index, built_at = self._build(kind)
            with self._write_lock:
                if self._closed:
                    return
                self.kind = kind
                self._swap_in(index, built_at)
            self._observe(job, started)
            if job != "compaction":
                self.snapshot(force=True)

    def snapshot(self, force: bool = False) -> bool:
        """Write the index and its sequence atomically, unless the snapshot on disk is current.

        Holds the write lock (writers wait) but not the index lock: searches go on. Returns whether
        a snapshot was written.
        """
        with self._maintenance_lock:
            return self._snapshot_holding_maintenance(force)

    def _snapshot_holding_maintenance(self, force: bool) -> bool:
        with self._write_lock:
            index = self._index
            if self._closed or index is None:
                return False
            if not force and self._snapshot_seq == self._index_seq and (self.folder / INDEX_FILE).exists():
                return False
            started = self._begin("snapshot")
            write_snapshot(self.folder, index, self._index_seq, self._store.uuid)
            self._snapshot_seq = self._index_seq
            self.rows_since_snapshot = 0
            self._store.forget_removed(self._index_seq)
            self._observe("snapshot", started)
            return True

    @contextlib.contextmanager
    def holding_snapshot(self) -> Iterator[int | None]:
        """Bring the index snapshot on disk up to date, keep it as it is, and yield its sequence
        (None: there is no index to snapshot, e.g. one being rebuilt after a failed update).

        The snapshot is written as :meth:`snapshot` writes it (searches go on, writes wait while the
        index is written). Then only the maintenance lock is held: searches and writes go on, while no
        snapshot, compaction or rebuild starts. So neither the snapshot files nor the store's removal
        log (which a snapshot prunes) change meanwhile, and a copy of the store made inside can always
        catch a copy of the snapshot up (a backup).
        """
        with self._maintenance_lock:
            if self._closed:
                raise Unavailable(f"collection {self.name!r} is closed")
            self._snapshot_holding_maintenance(force=False)
            trusted = self._snapshot_seq >= 0 and snapshot_files_exist(self.folder)
            yield self._snapshot_seq if trusted else None

    def _begin(self, job: str) -> float:
        # Logged at the start too: a long job shows in the log while it runs, not only after.
        log.info("collection %r: %s started", self.name, job)
        return time.perf_counter()

    def _observe(self, job: str, started: float) -> None:
        seconds = time.perf_counter() - started
        log.info("collection %r: %s took %.2fs", self.name, job, seconds)
        if self._report is not None:
            self._report(job, self.name, seconds)

    @property
    def snapshot_is_current(self) -> bool:
        return self._snapshot_seq == self._index_seq

    # ------------------------------------------------------------------ lifetime
    def close(self, snapshot: bool) -> None:
        """Stop maintenance, snapshot if asked and changed, and release the index (idempotent)."""
        self._stopping = True
        with self._maintenance_lock, self._write_lock:
            if self._closed:
                return
            try:
                if snapshot and self._index is not None and self._snapshot_seq != self._index_seq:
                    write_snapshot(self.folder, self._index, self._index_seq, self._store.uuid)
                    self._store.forget_removed(self._index_seq)
                    self._snapshot_seq = self._index_seq
            except Exception:
                log.exception("collection %r: index snapshot failed on close; the next open catches up",
                              self.name)
            finally:
                with self._index_lock.write():
                    self._closed = True
                    self._index = None
