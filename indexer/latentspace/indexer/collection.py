"""A collection: one model, one metric, one vector index and its items, in one folder.

Folder layout (read through the manifest; nothing is inferred from the other files)::

    collection.json    the manifest (model spec, dimension, metric, index kind, fingerprint, ...)
    items.sqlite3      the truth: items, payloads, raw vectors, write sequence numbers (WAL mode)
    index.faiss        a snapshot of the vector index, as of ...
    index.meta.json    ... this sequence number, with the digest that ties it to that file

A write is acknowledged once SQLite has committed it; the in-memory index is then brought up to
date from the store. On open the snapshot is loaded and caught up with the writes made after it,
or rebuilt from the store when it is missing, damaged, or not this store's. So a crash at any
point loses no acknowledged write, and the index file is never trusted blindly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import (
    CollectionNotFound,
    InvalidInput,
    ModalityNotSupported,
    ModelMismatch,
    ModelUnavailable,
    Unavailable,
)
from latentspace.indexer.index import FaissIndex, SearchParams
from latentspace.indexer.index.snapshot import (
    INDEX_FILE,
    StoreState,
    read_snapshot,
    snapshot_files_exist,
    write_snapshot,
)
from latentspace.indexer.items import Hit, ItemRecord, StoredItem
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelFamily, parse_model_spec
from latentspace.indexer.search_options import SearchOptions
from latentspace.indexer.store import ItemStore
from latentspace.indexer.store.validation import check_ids, check_records

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

STORE_FILE = "items.sqlite3"
#: Default: snapshot the index after this many written rows (upserted + deleted) ...
SNAPSHOT_EVERY = 10_000
#: ... or after this share of the collection, whichever is larger. A snapshot costs the whole
#: index, catch-up on open costs the rows written since; scaling keeps the two in proportion.
_SNAPSHOT_FRACTION = 0.1

_FAMILY_MODALITIES = {
    ModelFamily.OPEN_CLIP: frozenset({Modality.TEXT, Modality.IMAGE}),
    ModelFamily.SENTENCE_TRANSFORMERS: frozenset({Modality.TEXT}),
}


class Collection:
    """One collection folder, open: validated writes, filtered top-k search, lazy model."""

    def __init__(
        self,
        folder: Path,
        encoder_loader: Callable[[], Encoder] | None = None,
        *,
        snapshot_every: int = SNAPSHOT_EVERY,
    ):
        """Open the collection in ``folder``; the model is loaded only when first needed."""
        self.folder = Path(folder)
        self.manifest = CollectionManifest.load(self.folder)
        self.name = self.manifest.name
        self.dimension = self.manifest.dimension
        self._encoder_loader = encoder_loader
        self._encoder: Encoder | None = None
        self._encoder_lock = threading.Lock()
        self._snapshot_every = snapshot_every
        # One lock orders writes, index updates and searches: FAISS indexes are not safe to search
        # while being modified, and a search must not see keys whose rows a delete just removed.
        # Reads of the store take it too: close() (e.g. from a drop) must not close the SQLite
        # connection under a reader, which would surface as a raw sqlite3.ProgrammingError.
        self._lock = threading.RLock()
        self._closed: str | None = None
        self._dropping = False  # set by the data dir before close(dropped=True): refuse new work
        self._store = ItemStore(self.folder / STORE_FILE, self.dimension)
        try:
            self._index: FaissIndex | None = None
            self._index_seq = 0
            self._snapshot_seq = -1  # sequence of the snapshot on disk; -1: none we can trust
            self._rows_since_snapshot = 0
            self._open_index()
        except BaseException:
            self._store.close()
            raise

    @staticmethod
    def initialize(folder: Path, manifest: CollectionManifest) -> None:
        """Write a new, empty collection into an existing empty ``folder`` (manifest + store)."""
        ItemStore(Path(folder) / STORE_FILE, manifest.dimension).close()
        manifest.save(Path(folder))

    # ------------------------------------------------------------------ model
    @property
    def modalities(self) -> frozenset[Modality]:
        """What this collection can encode, from the manifest's model spec (no model is loaded)."""
        if self.manifest.model is None:
            return frozenset()
        return _FAMILY_MODALITIES[parse_model_spec(self.manifest.model).family]

    @property
    def encoder(self) -> Encoder:
        """The collection's model, loaded on first use and checked against the manifest."""
        if self.manifest.model is None:
            raise ModalityNotSupported(
                f"collection {self.name!r} is vector-only (it has no model); query it with vectors or ids",
                field="model",
            )
        with self._encoder_lock:
            if self._encoder is None:
                if self._encoder_loader is None:
                    raise ModelUnavailable(
                        f"collection {self.name!r} needs model {self.manifest.model}, but no encoder "
                        "loader was configured", field="model")
                self._encoder = self._checked(self._encoder_loader())
            return self._encoder

    def _checked(self, encoder: Encoder) -> Encoder:
        wanted = self.manifest.fingerprint
        if wanted is not None and encoder.fingerprint != wanted:
            raise ModelMismatch(
                f"collection {self.name!r} was built with model {self.manifest.model} of fingerprint "
                f"{wanted}, but the loaded weights have fingerprint {encoder.fingerprint}; its vectors "
                "would not be comparable. Restore the original weights or re-index into a new collection.",
                field="model")
        if encoder.dimension != self.dimension:
            raise ModelMismatch(f"model {encoder.spec} gives {encoder.dimension}-d vectors; collection "
                                f"{self.name!r} holds {self.dimension}-d ones", field="model")
        return encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts with the collection's model: ``(len(texts), dimension)`` unit float32 rows."""
        self._require(Modality.TEXT, "query.text")
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Encode PIL images with the collection's model: ``(len(images), dimension)`` unit rows."""
        self._require(Modality.IMAGE, "query.image")
        if not images:
            return np.empty((0, self.dimension), dtype=np.float32)
        return np.asarray(self.encoder.encode_images(images), dtype=np.float32)

    def _require(self, modality: Modality, field: str) -> None:
        if modality not in self.modalities:
            model = self.manifest.model or "none (vector-only)"
            raise ModalityNotSupported(
                f"collection {self.name!r} (model {model}) cannot encode {modality.value} input; "
                + ("image input needs a CLIP model such as 'shapes-clip'" if modality is Modality.IMAGE
                   else "send vectors or ids instead"),
                field=field)

    # ------------------------------------------------------------------ writes
    def upsert(self, records: Sequence[ItemRecord]) -> int:
        """Insert or replace items; return the write's sequence number once it is durable.

        The whole batch is validated first (ids, vectors, payloads) and refused with
        :class:`InvalidInput` naming ``items[i].<field>`` before anything is written. Ids must be
        unique within a batch. Vectors are unit-normalised here.
        """
        self._check_open()
        checked = check_records(records, self.dimension)
        with self._lock:
            self._check_open()
            sequence = self._store.upsert(checked)
            self._after_write()
        return sequence

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        """Delete items by id (unknown ids are ignored): ``(deleted count, sequence)``."""
        self._check_open()
        wanted = check_ids(ids)
        with self._lock:
            self._check_open()
            deleted, sequence = self._store.delete(wanted)
            if deleted:
                self._after_write()
        return deleted, sequence

    def _after_write(self) -> None:
        """Bring the index up to date; never fails the (already durable) write."""
        try:
            self._catch_up()
            index = self._ready_index()
            if index.needs_compaction:
                log.info("collection %r: compacting the index (%d tombstones)", self.name,
                         index.tombstone_count)
                self._index = None
                self._ready_index()
        except Exception:
            # The write is committed; the index is only a view. Drop it and rebuild on next use.
            log.exception("collection %r: index update failed; it will be rebuilt from the store", self.name)
            self._index = None
            return
        if self._snapshot_due():
            self._try_snapshot()

    def _try_snapshot(self) -> None:
        """Snapshot, but only log a failure (e.g. a full disk): the index in memory is still right."""
        if self._dropping:
            return  # the folder is being moved away and deleted: nothing to write to
        try:
            self.snapshot()
        except Exception:
            log.exception("collection %r: index snapshot failed; the next open catches up instead", self.name)

    def _snapshot_due(self) -> bool:
        threshold = max(self._snapshot_every, _SNAPSHOT_FRACTION * self._store.count())
        return self._rows_since_snapshot >= threshold

    # ------------------------------------------------------------------ reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        """Items by id in request order; unknown ids are left out."""
        self._check_open()
        wanted = check_ids(ids)
        with self._lock:
            self._check_open()  # again, under the lock: a drop may have closed the store meanwhile
            return self._store.get(wanted, with_vectors=with_vectors)

    def count(self) -> int:
        """Number of items (kept in memory by the store: no database read, so no lock needed)."""
        self._check_open()
        return self._store.count()

    @property
    def sequence(self) -> int:
        """The sequence number of the last acknowledged write."""
        return self._store.sequence

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]:
        """Top-k items by cosine similarity for each query row, best first.

        Honours the payload filter, ``exclude_ids`` and ``score_threshold`` (hits scoring below it
        are dropped). Each row gets k hits whenever at least k items pass the filter and exclusions.
        """
        self._check_open()
        matrix = self._check_queries(queries)
        _check_options(options)
        with self._lock:
            self._check_open()
            index = self._ready_index()
            if len(matrix) == 0 or index.ntotal == 0:
                return [[] for _ in range(len(matrix))]
            allowed = self._store.keys_for_filter(options.filter) if options.filter else None
            excluded = self._store.keys_for_ids(options.exclude_ids) if options.exclude_ids else None
            k = options.k
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

    @staticmethod
    def _hits(scores: np.ndarray, keys: np.ndarray, items: dict[int, StoredItem],
              options: SearchOptions) -> list[Hit]:
        hits: list[Hit] = []
        for score, key in zip(scores.tolist(), keys.tolist(), strict=True):
            item = items.get(key) if key >= 0 else None
            if item is None:
                continue
            # Rounding can push a cosine of unit vectors just past 1; callers take arccos of it.
            score = min(1.0, max(-1.0, score))
            if options.score_threshold is not None and score < options.score_threshold:
                break  # rows are sorted best first
            hits.append(Hit(item.id, score, item.modality, item.payload, item.content, item.vector))
            if len(hits) == options.k:
                break
        return hits

    def _check_queries(self, queries: np.ndarray) -> np.ndarray:
        try:
            matrix = np.asarray(queries, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInput("query vectors must be numbers", field="query") from None
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            raise InvalidInput(f"query vectors have shape {matrix.shape}; collection {self.name!r} needs "
                               f"(n, {self.dimension})", field="query")
        if not np.all(np.isfinite(matrix)):
            raise InvalidInput("query vector contains NaN or infinity", field="query")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        if np.any(norms < 1e-12):
            raise InvalidInput("query vector is zero (it has no direction)", field="query")
        return np.ascontiguousarray(matrix / norms, dtype=np.float32)

    # ------------------------------------------------------------------ index lifecycle
    def _open_index(self) -> None:
        loaded = self._load_snapshot()
        if loaded is None:
            self._index = self._rebuild()
            self._index_seq = self._store.sequence
            rebuilt = self._store.count() > 0
        else:
            self._index, self._index_seq = loaded
            self._snapshot_seq = self._index_seq
            self._catch_up()
            rebuilt = False
        if rebuilt or self._rows_since_snapshot >= self._snapshot_every:
            self._try_snapshot()  # so the next open starts from here rather than redoing this work

    def _load_snapshot(self) -> tuple[FaissIndex, int] | None:
        if not snapshot_files_exist(self.folder):
            return None
        store = StoreState(self._store.uuid, self._store.sequence, self._store.removals_logged_after,
                           self.manifest.index_kind)
        try:
            return read_snapshot(self.folder, store, self._store.vectors_for_keys)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            log.warning("collection %r: index snapshot not usable (%s); rebuilding from %s",
                        self.name, exc, STORE_FILE)
            return None

    def _rebuild(self) -> FaissIndex:
        """A fresh index of every stored vector (the caller holds the lock: no writes meanwhile)."""
        index = FaissIndex(self.dimension, self.manifest.index_kind,
                           vector_source=self._store.vectors_for_keys)
        for keys, vectors in self._store.all_vectors():
            index.add(keys, vectors)
        self._snapshot_seq = -1
        return index

    def _ready_index(self) -> FaissIndex:
        if self._index is None:
            self._index = self._rebuild()
            self._index_seq = self._store.sequence
        return self._index

    def _catch_up(self) -> None:
        index = self._ready_index()
        changes = self._store.changes_since(self._index_seq)
        index.remove(changes.removed_keys)
        index.add(changes.added_keys, changes.added_vectors)
        self._index_seq = changes.sequence
        self._rows_since_snapshot += len(changes.added_keys) + len(changes.removed_keys)

    def snapshot(self) -> None:
        """Write the index and its sequence atomically (skipped when the snapshot is current)."""
        with self._lock:
            self._check_open()
            index = self._ready_index()
            if self._snapshot_seq == self._index_seq and (self.folder / INDEX_FILE).exists():
                return
            write_snapshot(self.folder, index, self._index_seq, self._store.uuid)
            self._snapshot_seq = self._index_seq
            self._rows_since_snapshot = 0
            self._store.forget_removed(self._index_seq)

    # ------------------------------------------------------------------ lifetime
    def _check_open(self) -> None:
        if self._closed == "dropped" or self._dropping:
            raise CollectionNotFound(f"collection {self.name!r} was dropped", field="collection")
        if self._closed:
            raise Unavailable(f"collection {self.name!r} is closed")

    def mark_dropped(self) -> None:
        """Refuse new work with :class:`CollectionNotFound` from now on, and write no more snapshots.

        The data dir calls this (without waiting for this collection's lock) before it moves the
        folder away; it then calls ``close(dropped=True)``, which waits for work in flight.
        """
        self._dropping = True

    def close(self, *, dropped: bool = False) -> None:
        """Snapshot the index if it changed, then close the store (idempotent).

        ``dropped=True`` (used by the data dir) skips the snapshot, and later calls on this object
        raise :class:`CollectionNotFound` instead of :class:`Unavailable`.
        """
        with self._lock:
            if self._closed:
                return
            dropped = dropped or self._dropping
            try:
                if not dropped and self._index is not None and self._snapshot_seq != self._index_seq:
                    self._try_snapshot()
            finally:
                self._closed = "dropped" if dropped else "closed"
                self._store.close()
                self._index = None

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, model={self.manifest.model!r}, dimension={self.dimension})"


def _check_options(options: SearchOptions) -> None:
    if isinstance(options.k, bool) or not isinstance(options.k, int) or options.k < 1:
        raise InvalidInput(f"k must be an integer >= 1, got {options.k!r}", field="k")
    threshold = options.score_threshold
    if threshold is not None and not np.isfinite(threshold):
        raise InvalidInput("score_threshold must be a finite number", field="score_threshold")
    for name in ("ef_search", "nprobe"):
        if getattr(options, name) < 0:
            raise InvalidInput(f"{name} must be >= 0 (0 = the index default)", field=name)
