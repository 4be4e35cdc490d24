"""A collection: one model, one metric, one vector index and its items, in one folder.

Folder layout (read through the manifest; nothing is inferred from the other files)::

    collection.json    the manifest (model spec, dimension, metric, index kind, fingerprint, ...)
    items.sqlite3      the truth: items, payloads, raw vectors, write sequence numbers (WAL mode)
    index.faiss        a snapshot of the vector index, as of ...
    index.meta.json    ... this sequence number, with the digest that ties it to that file

A write is acknowledged once SQLite has committed it and the in-memory index has caught up with it
(:mod:`latentspace.indexer.live_index`). On open the snapshot is loaded and caught up with the writes
made after it, or rebuilt from the store when it is missing, damaged, or not this store's. So a
crash at any point loses no acknowledged write, and the index file is never trusted blindly.

Searches run concurrently with each other and with snapshots and compactions; writes are serialised.
Snapshots and compactions run as maintenance jobs, on the caller's scheduler (the data dir's
background thread) or inline when there is none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.collection_model import CollectionModel
from latentspace.indexer.directions import DirectionRecord, direction_exists
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import (
    CollectionNotFound,
    StoreDamaged,
    Unavailable,
)
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.index import FaissIndex, SearchParams
from latentspace.indexer.index.auto_kind import AUTO, AutoIndexPolicy
from latentspace.indexer.index.snapshot import INDEX_FILE, INDEX_META_FILE
from latentspace.indexer.items import Hit, ItemRecord, StoredItem, Thumbnail
from latentspace.indexer.live_index import LiveIndex, MaintenanceReport
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.search_checks import check_query_matrix, check_search_options
from latentspace.indexer.search_options import SearchOptions
from latentspace.indexer.store import ItemStore
from latentspace.indexer.store.atomic_files import fsync_file, remove_temp_files
from latentspace.indexer.store.frozen_reads import FrozenItems
from latentspace.indexer.validation import check_ids, check_records

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

STORE_FILE = "items.sqlite3"
#: Default: snapshot the index after this many written rows (upserted + deleted) ...
SNAPSHOT_EVERY = 10_000
#: ... or after this share of the collection, whichever is larger. A snapshot costs the whole
#: index, catch-up on open costs the rows written since; scaling keeps the two in proportion.
_SNAPSHOT_FRACTION = 0.1

#: ``schedule(job key, job)``: runs maintenance (snapshots, compactions) off the caller's thread.
MaintenanceScheduler = Callable[[str, Callable[[], None]], None]


class Collection:
    """One collection folder, open: validated writes, concurrent filtered top-k search, lazy model."""

    def __init__(
        self,
        folder: Path,
        encoder_loader: Callable[[], Encoder] | None = None,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
        maintenance: MaintenanceScheduler | None = None,
        report: MaintenanceReport | None = None,
        auto_policy: AutoIndexPolicy | None = None,
    ):
        """Open the collection in ``folder``; the model is loaded only when first needed.

        ``maintenance`` runs snapshots, compactions and rebuilds (inline when None); ``report``
        hears how long each took; ``auto_policy`` picks the index kind of a collection whose
        manifest says ``auto``.
        """
        self.folder = Path(folder)
        self.manifest = CollectionManifest.load(self.folder)
        self.name = self.manifest.name
        self.dimension = self.manifest.dimension
        self._model = CollectionModel(self.manifest, encoder_loader)
        self._snapshot_every = snapshot_every
        self._maintenance = maintenance
        self._jobs_pending: set[str] = set()
        self._jobs_lock = threading.Lock()
        self._closed: str | None = None
        self._dropping = False  # set by the data dir before close(dropped=True): refuse new work
        self._policy = auto_policy or AutoIndexPolicy()
        remove_temp_files(self.folder)  # left by a process killed mid-snapshot
        with self._store_damage():
            self._store = ItemStore(self.folder / STORE_FILE, self.dimension)
            try:
                auto = self.manifest.index_kind == AUTO
                kind = self._policy.kind_for(self._store.count(), self.dimension) if auto \
                    else self.manifest.index_kind
                self._live = LiveIndex(self.folder, self._store, self.name, kind, self.dimension, report,
                                       any_snapshot_kind=auto)
                self._stats = ModalityStatistics(self._store, self.dimension)
            except BaseException:
                self._store.close()
                raise
        if self._live.rebuilt_on_open or self._live.rows_since_snapshot >= snapshot_every:
            self._schedule("snapshot")  # so the next open starts from here rather than redoing this work

    @staticmethod
    def initialize(folder: Path, manifest: CollectionManifest) -> None:
        """Write a new, empty collection into an existing empty ``folder`` (manifest + store)."""
        ItemStore(Path(folder) / STORE_FILE, manifest.dimension).close()
        manifest.save(Path(folder))

    # ------------------------------------------------------------------ model
    @property
    def modalities(self) -> frozenset[Modality]:
        """What this collection can encode, from the manifest's model spec (no model is loaded)."""
        return self._model.modalities

    @property
    def encoder(self) -> Encoder:
        """The collection's model, loaded on first use and checked against the manifest."""
        return self._model.encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts with the collection's model: ``(len(texts), dimension)`` unit float32 rows."""
        return self._model.encode_texts(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Encode PIL images with the collection's model: ``(len(images), dimension)`` unit rows."""
        return self._model.encode_images(images)

    # ------------------------------------------------------------------ writes
    def upsert(self, records: Sequence[ItemRecord]) -> int:
        """Insert or replace items; return the write's sequence number once it is durable.

        The whole batch is validated first (ids, vectors, payloads) and refused with
        :class:`InvalidInput` naming ``items[i].<field>`` before anything is written. Ids must be
        unique within a batch. Vectors are unit-normalised here. Searches started after this
        returns see the write.
        """
        self._check_open()
        checked = check_records(records, self.dimension)
        with self._store_damage(), self._live.writing():
            self._check_open()
            replaced = self._store.get([r.id for r in checked], with_vectors=True)
            sequence = self._store.upsert(checked)
            self._live.catch_up()
            self._stats.apply(replaced, checked, sequence)
        self._after_write()
        return sequence

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        """Delete items by id (unknown ids are ignored): ``(deleted count, sequence)``."""
        self._check_open()
        wanted = check_ids(ids)
        with self._store_damage(), self._live.writing():
            self._check_open()
            removed = self._store.get(wanted, with_vectors=True)
            deleted, sequence = self._store.delete(wanted)
            if deleted:
                self._live.catch_up()
                self._stats.apply(removed, [], sequence)
        if deleted:
            self._after_write()
        return deleted, sequence

    def _after_write(self) -> None:
        """Schedule a rebuild when an ``auto`` collection outgrew its kind, a compaction when
        tombstones pile up, else a snapshot when one is due."""
        if self._grown_out_of_kind():
            self._schedule("rebuild")
        elif self._live.needs_compaction:
            self._schedule("compaction")
        elif self._snapshot_due():
            self._schedule("snapshot")

    def _grown_out_of_kind(self) -> bool:
        return self.manifest.index_kind == AUTO and \
            self._policy.upgrade(self._live.kind, self._store.count(), self.dimension) is not None

    def _snapshot_due(self) -> bool:
        threshold = max(self._snapshot_every, _SNAPSHOT_FRACTION * self._store.count())
        return self._live.rows_since_snapshot >= threshold

    def _schedule(self, job: str) -> None:
        """Run a maintenance job (once, however often asked before it starts) and log its failure."""
        with self._jobs_lock:
            if job in self._jobs_pending:
                return
            self._jobs_pending.add(job)

        def run() -> None:
            with self._jobs_lock:
                self._jobs_pending.discard(job)
            if self._closed or self._dropping:
                return
            try:
                if job == "rebuild":
                    target = self._policy.upgrade(self._live.kind, self._store.count(), self.dimension)
                    if target is not None:
                        log.info("collection %r: %d items, rebuilding its index %s -> %s", self.name,
                                 self._store.count(), self._live.kind, target)
                        self._live.rebuild(target)
                elif job == "compaction":
                    self._live.compact()
                else:
                    self._live.snapshot()
            except Exception:
                if not (self._closed or self._dropping):  # a drop or close may pull the store away
                    log.exception("collection %r: %s failed; the index in memory is still right",
                                  self.name, job)

        if self._maintenance is None:
            run()
        else:
            self._maintenance(f"{self.name}:{job}", run)

    # ------------------------------------------------------------------ reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        """Items by id in request order; unknown ids are left out."""
        self._check_open()
        wanted = check_ids(ids)
        with self._reading():
            return self._store.get(wanted, with_vectors=with_vectors)

    def thumbnails(self, ids: Sequence[str]) -> dict[str, Thumbnail]:
        """The stored thumbnails of the items among ``ids`` that have one (see ``StoresThumbnails``)."""
        self._check_open()
        wanted = check_ids(ids)
        with self._reading():
            return self._store.thumbnails(wanted)

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """The source-content hash a bulk run stored with each of ``ids`` (ids without one left out)."""
        self._check_open()
        with self._reading():
            return self._store.content_hashes(list(ids))

    def all_ids(self) -> Iterator[list[str]]:
        """Every stored id, in id order, in pages."""
        self._check_open()
        return self._store.all_ids()

    def count(self) -> int:
        """Number of items (kept in memory by the store: no database read, so no lock needed)."""
        self._check_open()
        return self._store.count()

    @property
    def sequence(self) -> int:
        """The sequence number of the last acknowledged write."""
        return self._store.sequence

    @property
    def index_kind(self) -> str:
        """The FAISS kind in use (for an ``auto`` collection, the one its size called for so far)."""
        return self._live.kind

    @property
    def index_sequence(self) -> int:
        """The sequence the in-memory index is exact at (equals :attr:`sequence` between writes)."""
        return self._live.sequence

    def index_keys(self) -> np.ndarray:
        """The store keys the in-memory index can return, sorted (for consistency checks: between
        writes they are exactly the keys of the stored items)."""
        with self._reading() as index:
            return index.live_keys()

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]:
        """Top-k items by cosine similarity for each query row, best first.

        Honours the payload filter, ``modality``, ``exclude_ids`` and ``score_threshold`` (hits
        scoring below it are dropped); the ranking options (``score_mode``, ``diversity``) are the
        operations' (:mod:`latentspace.indexer.ranking`). Each row gets k hits whenever at least k
        items pass the filter and exclusions. Many searches run at once; payload dicts of hits are
        shared, so do not modify them.
        """
        self._check_open()
        matrix = check_query_matrix(queries, self.dimension, self.name)
        check_search_options(options)
        with self._reading() as index:
            if len(matrix) == 0 or index.ntotal == 0:
                return [[] for _ in range(len(matrix))]
            allowed = self._store.keys_for_filter(options.filter) if options.filter else None
            if options.modality is not None:
                of_modality = self._store.keys_for_modality(options.modality)
                allowed = of_modality if allowed is None else np.intersect1d(allowed, of_modality, assume_unique=True)
            excluded = self._store.keys_for_ids(options.exclude_ids) if options.exclude_ids else None
            # A write whose chunks are going in may show a replaced item under both keys: ask for
            # enough extra slots that dropping the second copy still leaves k.
            k = options.k + self._live.removals_in_flight
            if excluded is not None and allowed is not None:
                allowed = np.setdiff1d(allowed, excluded, assume_unique=True)
            elif excluded is not None:
                k += len(excluded)  # excluded keys can take at most this many of the top slots
            # Never allocate more result slots than there are candidates (k may be huge).
            k = min(k, index.ntotal if allowed is None else len(allowed))
            if k == 0:
                return [[] for _ in range(len(matrix))]
            params = SearchParams(ef_search=options.ef_search, nprobe=options.nprobe)
            scores, keys = index.search(matrix, k, allowed, params)
            if excluded is not None and len(excluded):
                keys = np.where(np.isin(keys, excluded), -1, keys)
            items = self._store.items_by_keys(np.unique(keys[keys >= 0]), with_vectors=options.with_vectors)
        return [self._hits(s, k_, items, options) for s, k_ in zip(scores, keys, strict=True)]

    @contextlib.contextmanager
    def _reading(self) -> Iterator[FaissIndex]:
        """Share the index with other readers; a drop or close in between reads as such."""
        self._check_open()
        try:
            with self._live.reading() as index:
                self._check_open()  # again, inside: a close may have run while we waited
                yield index
        except (Unavailable, sqlite3.Error) as error:
            # A drop moves the folder away before it closes the store: a reader opening its own
            # connection then cannot find the file. Say what happened, not how.
            self._check_open()
            if isinstance(error, sqlite3.Error) and _is_damage(error):
                raise self._damaged(error) from error
            raise

    @contextlib.contextmanager
    def _store_damage(self) -> Iterator[None]:
        """Turn SQLite's "corrupt" and "not a database" into :class:`StoreDamaged` for this collection."""
        try:
            yield
        except sqlite3.DatabaseError as error:
            if not _is_damage(error):
                raise
            raise self._damaged(error) from error

    def _damaged(self, error: sqlite3.Error) -> StoreDamaged:
        log.error("collection %r: item store damaged: %s", self.name, error)
        # SQLite's own words ("database disk image is malformed") name no path.
        return StoreDamaged(f"collection {self.name!r} cannot be served: its item store is damaged ({error}). "
                            "Restore the collection from a backup, or drop it")

    @staticmethod
    def _hits(scores: np.ndarray, keys: np.ndarray, items: dict[int, StoredItem],
              options: SearchOptions) -> list[Hit]:
        hits: list[Hit] = []
        seen: set[str] = set()
        for score, key in zip(scores.tolist(), keys.tolist(), strict=True):
            item = items.get(key) if key >= 0 else None
            if item is None or item.id in seen:
                continue
            seen.add(item.id)
            # Rounding can push a cosine of unit vectors just past 1; callers take arccos of it.
            score = min(1.0, max(-1.0, score))
            if options.score_threshold is not None and score < options.score_threshold:
                break  # rows are sorted best first
            hits.append(Hit(item.id, score, item.modality, item.payload, item.content, item.vector, key))
            if len(hits) == options.k:
                break
        return hits

    @property
    def modality_statistics(self) -> ModalityStatistics:
        """Per-modality counts, centroids and cosine spreads, exact as of the last write."""
        self._check_open()
        return self._stats

    def items_matching(self, payload_filter: PayloadFilter, limit: int) -> list[StoredItem]:
        """Up to ``limit`` items (with vectors) whose payload matches, oldest first."""
        self._check_open()
        keys = self._store.keys_for_filter(payload_filter, retired=False)[:limit]
        return list(self._store.items_by_keys(keys, with_vectors=True).values())

    # ------------------------------------------------------------------ named directions
    def save_direction(self, record: DirectionRecord) -> None:
        """Store a named direction durably; :class:`DirectionExists` when the name is taken."""
        self._check_open()
        if not self._store.insert_direction(record):
            raise direction_exists(record.name, self.name)

    def get_direction(self, name: str) -> DirectionRecord | None:
        """The direction stored under ``name``, or None."""
        self._check_open()
        found = self._store.directions(name)
        return found[0] if found else None

    def list_directions(self) -> list[DirectionRecord]:
        """Every stored direction, by name."""
        self._check_open()
        return self._store.directions()

    def delete_direction(self, name: str) -> bool:
        """Delete a stored direction; False when there was none by that name."""
        self._check_open()
        return self._store.delete_direction(name)

    # ------------------------------------------------------------------ maintenance
    def snapshot(self) -> None:
        """Write the index and its sequence atomically (skipped when the snapshot is current).

        Searches go on meanwhile; writes wait for it.
        """
        self._check_open()
        self._live.snapshot()

    def compact(self) -> None:
        """Rebuild the index without tombstones, aside, and swap it in; searches go on meanwhile."""
        self._check_open()
        self._live.compact()

    def reindex(self, index_kind: str) -> None:
        """Rebuild the index as ``index_kind`` (a vetted FAISS factory string, or ``auto``) from the
        stored vectors, without re-encoding; searches go on meanwhile. The manifest records the kind
        first, so a crash before the swap rebuilds into it on the next open."""
        self._check_open()
        with self._live.writing():
            self.manifest = self._model.manifest = dataclasses.replace(self.manifest, index_kind=index_kind)
            self.manifest.save(self.folder)
        kind = self._policy.kind_for(self._store.count(), self.dimension) if index_kind == AUTO else index_kind
        self._live.rebuild(kind, job="reindex")

    def backup(self, folder: Path) -> CopyState:
        """Write a consistent copy of this collection into the empty ``folder``, while it serves.

        The copy holds the manifest, the collection's index snapshot, brought up to date first, and
        then the store as of one moment (SQLite's online backup), which may be ahead of the index
        snapshot by the writes made meanwhile: opening the copy catches the index up from it (or
        rebuilds it, when there is no index to copy). Searches never wait; writes wait only while an
        out-of-date index snapshot is written (as for the periodic snapshots), never while the store
        is copied; snapshots and compactions of this collection wait for the whole copy.
        """
        self._check_open()
        try:
            with self._live.holding_snapshot() as index_sequence:
                if index_sequence is not None:
                    for name in (INDEX_FILE, INDEX_META_FILE):
                        shutil.copyfile(self.folder / name, folder / name)
                        fsync_file(folder / name)
                sequence, count = self._store.backup_to(folder / STORE_FILE)
        except (OSError, sqlite3.Error):
            self._check_open()  # a drop moved the folder away meanwhile: say so
            raise
        self.manifest.save(folder)
        return CopyState(sequence, count, index_sequence)

    def export_items(self) -> FrozenItems:
        """Every item with its vector as of one moment, in pages, while writes go on (close it)."""
        self._check_open()
        try:
            return self._store.frozen_items()
        except sqlite3.Error:
            self._check_open()
            raise

    # ------------------------------------------------------------------ lifetime
    def _check_open(self) -> None:
        if self._closed == "dropped" or self._dropping:
            raise CollectionNotFound(f"collection {self.name!r} was dropped", field="collection")
        if self._closed:
            raise Unavailable(f"collection {self.name!r} is closed")

    def mark_dropped(self) -> None:
        """Refuse new work with :class:`CollectionNotFound` from now on, and write no more snapshots.

        The data dir calls this (without waiting for this collection's locks) before it moves the
        folder away; it then calls ``close(dropped=True)``, which waits for work in flight.
        """
        self._dropping = True

    def close(self, *, dropped: bool = False) -> None:
        """Snapshot the index if it changed, then close the store (idempotent).

        ``dropped=True`` (used by the data dir) skips the snapshot, and later calls on this object
        raise :class:`CollectionNotFound` instead of :class:`Unavailable`.
        """
        if self._closed:
            return
        dropped = dropped or self._dropping
        try:
            self._live.close(snapshot=not dropped)  # waits for searches and writes in flight
        finally:
            self._closed = "dropped" if dropped else "closed"
            self._store.close()

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, model={self.manifest.model!r}, dimension={self.dimension})"


@dataclass(frozen=True)
class CopyState:
    """What :meth:`Collection.backup` copied: the store as of ``sequence`` (``count`` items), and the
    index snapshot as of ``index_sequence`` (None: no index was copied)."""

    sequence: int
    count: int
    index_sequence: int | None


def _is_damage(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


if TYPE_CHECKING:
    from latentspace.indexer.backends.base import CollectionBackend, ExportsItems, StoresThumbnails

    def _is_a_backend(collection: Collection) -> CollectionBackend:
        return collection  # mypy checks that the embedded collection implements the interface

    def _exports_items(collection: Collection) -> ExportsItems:
        return collection  # ... and the optional export capability

    def _stores_thumbnails(collection: Collection) -> StoresThumbnails:
        return collection  # ... and the optional thumbnail capability
