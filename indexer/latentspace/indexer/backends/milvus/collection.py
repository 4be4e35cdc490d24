"""A collection whose items live in one Milvus collection (the ``milvus`` backend).

k-NN, filtered k-NN and get run in Milvus; the model side is the shared
:class:`~latentspace.indexer.collection_model.CollectionModel`, so every latent operation (mixes,
edits, paths, analogies, distances) computes its points here exactly as for the embedded store and
only the k-NN step goes to Milvus.

**Writes.** Validated by the same rules as the embedded store (``check_records``), plus Milvus's
field limits (:func:`.layout.row`). Writes to one collection are serialised within a process (the
one-writer rule); several processes may write to one Milvus collection, and Milvus orders their
writes (an id's last write wins). An upsert or delete returns once Milvus has acknowledged it:
on a cluster, once the write is in Milvus's write-ahead log (durable as the log's storage is); on
Milvus Lite, once it is in the Lite file's log (it survives a crash of the process; it is synced to
disk when Lite flushes). Rows written are flushed into sealed segments after ``flush_every`` rows
(in the background), on :meth:`snapshot` and on close; Milvus Lite searches unflushed rows far more
slowly than flushed ones.

**Reads** use the target's consistency level (``Strong`` by default): a search, get or count that
starts after a write was acknowledged, by this server or any other, sees it.

**Staleness.** Another server may drop the collection, or drop and create it again with another
model. Every write, and a read at most every ``recheck_s`` seconds, first compares the manifest in
Milvus with this one; when it differs or is gone, this object answers :class:`CollectionNotFound`
from then on and the data dir opens the collection afresh.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from latentspace.indexer.backends.base import MaintenanceScheduler
from latentspace.indexer.collection_model import CollectionModel
from latentspace.indexer.directions import DirectionRecord, direction_exists
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import CollectionNotFound, Unavailable
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.items import Hit, ItemRecord, StoredItem
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.search_checks import check_query_matrix, check_search_options
from latentspace.indexer.search_options import SearchOptions
from latentspace.indexer.validation import check_ids, check_records

from .connection import MilvusConnection
from .directions import MilvusDirections
from .expressions import ID_FIELD, both, compile_filter, ids_expression, is_quotable
from .index_kinds import milvus_index
from .knn import KnnRequest, KnnSearch
from .layout import (
    MANIFEST_PROPERTY,
    MODALITY_FIELD,
    ROW_FIELDS,
    VECTOR_FIELD,
    milvus_name,
    row,
    stamps,
    stored_item,
)
from .statistics import MilvusStatisticsStore

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: Rows per Milvus request (upsert, get, delete): keeps messages and expressions small.
CHUNK = 1_000
#: Flush after this many rows written since the last flush (Milvus seals segments itself too).
FLUSH_EVERY = 10_000
#: Seconds between two manifest checks on the read path (every write checks).
RECHECK_S = 5.0
SCAN_BATCH = 1_000

class MilvusCollection:
    """One latentspace collection kept in Milvus; implements ``CollectionBackend``."""

    def __init__(self, connection: MilvusConnection, manifest: CollectionManifest,
                 encoder_loader: Callable[[], Encoder] | None = None, *, manifest_text: str | None = None,
                 flush_every: int = FLUSH_EVERY, recheck_s: float = RECHECK_S,
                 maintenance: MaintenanceScheduler | None = None) -> None:
        """Open the collection that ``manifest`` describes; ``manifest_text`` is its property as read
        from Milvus (what later checks compare with; default: the manifest's own text)."""
        self.manifest = manifest
        self._manifest_text = manifest_text if manifest_text is not None else manifest.to_text()
        self.name = manifest.name
        self.dimension = manifest.dimension
        self.physical = milvus_name(manifest.name)
        self._connection = connection
        self._client = connection.client
        self._model = CollectionModel(manifest, encoder_loader)
        self._index = milvus_index(manifest.index_kind, manifest.dimension)
        self._directions = MilvusDirections(connection, manifest.name, manifest.dimension)
        self._flush_every = flush_every
        self._recheck_s = recheck_s
        self._maintenance = maintenance
        self._write_lock = threading.Lock()
        self._sequence = 0
        self._unflushed = 0
        self._checked_at = time.monotonic()
        self._state: str | None = None  # "dropped" or "closed"
        self._dropping = False
        self._ensure_loaded()
        # Rebuilt by a scan on open, then kept by this server's writes (see .statistics).
        self._stats = ModalityStatistics(MilvusStatisticsStore(self._scan, self.get, lambda: self._sequence),
                                         self.dimension)

    # ------------------------------------------------------------------ the model (shared)
    @property
    def modalities(self) -> frozenset[Modality]:
        return self._model.modalities

    @property
    def encoder(self) -> Encoder:
        return self._model.encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode_texts(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._model.encode_images(images)

    # ------------------------------------------------------------------ Milvus calls
    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return self._connection.call(what, method, self.physical, *args, collection=self.name, **kwargs)
        except CollectionNotFound:
            self._state = "dropped"
            raise

    def _read_kwargs(self) -> dict[str, Any]:
        return {"consistency_level": self._connection.target.consistency}

    def _ensure_loaded(self) -> None:
        # A collection created or released elsewhere is not searchable until loaded (idempotent).
        state = self._call("load-state check", self._client.get_load_state).get("state")
        if getattr(state, "name", str(state)) != "Loaded":
            self._call("load", self._client.load_collection)

    # ------------------------------------------------------------------ writes
    def upsert(self, records: Sequence[ItemRecord]) -> int:
        """Insert or replace items; the write's stamp once Milvus acknowledged every row."""
        self._check_open()
        checked = check_records(records, self.dimension)
        with self._write_lock:
            self._check_current(force=True)
            sequence = stamps.next()
            rows = [row(r, sequence, f"items[{i}]") for i, r in enumerate(checked)]
            replaced = self._current_rows([r.id for r in checked])
            for start in range(0, len(rows), CHUNK):
                self._call("upsert", self._client.upsert, rows[start:start + CHUNK])
            if rows:
                self._sequence = sequence
                self._unflushed += len(rows)
                self._stats.apply(replaced, checked, sequence)
        self._after_write()
        return sequence if rows else self._sequence

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        """Delete items by id (unknown ids are ignored): ``(deleted count, sequence)``."""
        self._check_open()
        wanted = [i for i in dict.fromkeys(check_ids(ids)) if is_quotable(i)]  # others were never stored
        with self._write_lock:
            self._check_current(force=True)
            removed: list[StoredItem] = []
            sequence = self._sequence
            for start in range(0, len(wanted), CHUNK):
                # Milvus counts the ids it was asked to delete, not the rows it removed: look first.
                present = self._current_rows(wanted[start:start + CHUNK])
                if present:
                    sequence = stamps.next()
                    self._call("delete", self._client.delete, filter=ids_expression([i.id for i in present]))
                    removed += present
            deleted = len(removed)
            if deleted:
                self._sequence = sequence
                self._unflushed += deleted
                self._stats.apply(removed, [], sequence)
        if deleted:
            self._after_write()
        return deleted, sequence

    def _current_rows(self, ids: list[str]) -> list[StoredItem]:
        """The stored rows of ``ids``, with vectors, read at Strong consistency (what a write replaces)."""
        found: list[StoredItem] = []
        for start in range(0, len(ids), CHUNK):
            entities = self._call("read", self._client.query, filter=ids_expression(ids[start:start + CHUNK]),
                                  output_fields=[*ROW_FIELDS, VECTOR_FIELD], consistency_level="Strong")
            found += [stored_item(e) for e in entities]
        return found

    def _after_write(self) -> None:
        if self._unflushed >= self._flush_every:
            self._schedule_flush()

    def _schedule_flush(self) -> None:
        def flush() -> None:
            if self._state or self._dropping:
                return
            try:
                self.snapshot()
            except Exception:
                log.exception("collection %r: flush failed; Milvus keeps the rows in its log", self.name)

        if self._maintenance is None:
            flush()
        else:
            self._maintenance(f"{self.name}:flush", flush)

    # ------------------------------------------------------------------ reads
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        """Items by id in request order; unknown ids are left out."""
        self._check_open()
        wanted = check_ids(ids)
        self._check_current()
        unique = [i for i in dict.fromkeys(wanted) if is_quotable(i)]
        fields = ROW_FIELDS + ([VECTOR_FIELD] if with_vectors else [])
        found: dict[str, StoredItem] = {}
        for start in range(0, len(unique), CHUNK):
            entities = self._call("get", self._client.query, filter=ids_expression(unique[start:start + CHUNK]),
                                  output_fields=fields, **self._read_kwargs())
            found.update((e["id"], stored_item(e)) for e in entities)
        return [found[i] for i in wanted if i in found]

    def all_ids(self) -> Iterator[list[str]]:
        """Every stored id, in Milvus's scan order, in pages (a query iterator)."""
        self._check_open()
        self._check_current()
        return ([e[ID_FIELD] for e in batch] for batch in self._scan("", [ID_FIELD]))

    def count(self) -> int:
        """Number of items (a ``count(*)`` query: exact, at the consistency level)."""
        self._check_open()
        return self._count("")

    def _count(self, expression: str) -> int:
        result = self._call("count", self._client.query, filter=expression, output_fields=["count(*)"],
                            **self._read_kwargs())
        return int(result[0]["count(*)"]) if result else 0

    @property
    def sequence(self) -> int:
        """The stamp of the last write this process made to the collection (0 before any)."""
        return self._sequence

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]:
        """Top-k items by cosine similarity per query row, best first; k whenever k items pass
        (see :mod:`.knn` for how that is kept on an approximate index)."""
        self._check_open()
        matrix = check_query_matrix(queries, self.dimension, self.name)
        check_search_options(options)
        if len(matrix) == 0:
            return []
        self._check_current()
        compiled = compile_filter(options.filter)
        if compiled.never:
            return [[] for _ in range(len(matrix))]
        sayable = sorted(i for i in options.exclude_ids if is_quotable(i))
        excluded = frozenset(i for i in options.exclude_ids if not is_quotable(i))
        of_modality = f'{MODALITY_FIELD} == "{options.modality.value}"' if options.modality is not None else ""
        expression = both(compiled.expression, of_modality, ids_expression(sayable, negate=True) if sayable else "")
        fields = [*ROW_FIELDS, VECTOR_FIELD] if options.with_vectors else ROW_FIELDS

        def ask(rows: np.ndarray, limit: int, widen: int) -> list[list[dict[str, Any]]]:
            params = self._index.search_params(limit, options.ef_search, options.nprobe, widen)
            answers = self._call("search", self._client.search, data=rows.tolist(), anns_field=VECTOR_FIELD,
                                 limit=limit, filter=expression, output_fields=fields, search_params=params,
                                 **self._read_kwargs())
            return [list(answer) for answer in answers]

        knn = KnnSearch(ask, lambda: self._count(expression), lambda: self._scan(expression))
        return knn.run(KnnRequest(matrix, options, self._index, excluded))

    def _scan(self, expression: str, fields: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        iterator = self._call("scan", self._client.query_iterator, batch_size=SCAN_BATCH, filter=expression,
                              output_fields=fields or [*ROW_FIELDS, VECTOR_FIELD], **self._read_kwargs())
        try:
            while True:
                batch = self._connection.call("scan", lambda timeout: iterator.next(), collection=self.name)
                if not batch:
                    return
                yield list(batch)
        finally:
            iterator.close()

    @property
    def modality_statistics(self) -> ModalityStatistics:
        """Per-modality counts, centroids and samples: scanned on open, kept by this server's writes."""
        return self._stats

    def items_matching(self, payload_filter: PayloadFilter, limit: int) -> list[StoredItem]:
        """Up to ``limit`` items (with vectors) whose payload matches, in Milvus's scan order (by id)."""
        self._check_open()
        self._check_current()
        compiled = compile_filter(payload_filter)
        found: list[StoredItem] = []
        if compiled.never or limit <= 0:
            return found
        for batch in self._scan(compiled.expression):  # a superset where Milvus compares differently
            found += [stored_item(e) for e in batch if payload_filter.matches(e.get("payload") or {})]
            if len(found) >= limit:
                break
        return found[:limit]

    # ------------------------------------------------------------------ named directions (in Milvus)
    def save_direction(self, record: DirectionRecord) -> None:
        """Store a named direction in Milvus; :class:`DirectionExists` when the name is taken."""
        self._check_open()
        with self._write_lock:
            self._check_current(force=True)
            if not self._directions.insert(record):
                raise direction_exists(record.name, self.name)

    def get_direction(self, name: str) -> DirectionRecord | None:
        """The direction stored under ``name`` (by any server), or None."""
        self._check_open()
        self._check_current()
        return self._directions.get(name)

    def list_directions(self) -> list[DirectionRecord]:
        """Every stored direction, by name."""
        self._check_open()
        self._check_current()
        return self._directions.all()

    def delete_direction(self, name: str) -> bool:
        """Delete a stored direction; False when there was none by that name."""
        self._check_open()
        with self._write_lock:
            self._check_current(force=True)
            return self._directions.delete(name)

    # ------------------------------------------------------------------ engine upkeep
    @property
    def index_kind(self) -> str:
        """The Milvus index in use, e.g. ``HNSW(M=32,efConstruction=80)`` or ``AUTOINDEX``."""
        return self._index.label

    def snapshot(self) -> None:
        """Flush written rows into sealed segments (Milvus's own durability step; see the module)."""
        self._check_open()
        if self._unflushed:
            self._unflushed = 0
            self._call("flush", self._client.flush)

    def compact(self) -> None:
        """Ask Milvus to merge segments and purge deleted rows (it also does so by itself)."""
        self._check_open()
        self._call("compaction", self._client.compact)

    def reindex(self, index_kind: str) -> None:
        """Rebuild the vector index as ``index_kind`` (see :mod:`.index_kinds`). Milvus needs the
        collection released meanwhile: searches get UNAVAILABLE until it is loaded again."""
        self._check_open()
        index = milvus_index(index_kind, self.dimension)
        with self._write_lock:
            self._check_current(force=True)
            manifest = dataclasses.replace(self.manifest, index_kind=index_kind)
            self._call("release", self._client.release_collection)
            try:
                self._call("index drop", self._client.drop_index, VECTOR_FIELD)
                params = self._client.prepare_index_params()
                params.add_index(VECTOR_FIELD, index_type=index.index_type, metric_type="IP", params=index.params)
                self._call("index build", self._client.create_index, params, sync=False)
                text = manifest.to_text()
                self._call("manifest update", self._client.alter_collection_properties,
                           properties={MANIFEST_PROPERTY: text})
                self.manifest = self._model.manifest = manifest
                self._manifest_text = text
                self._index = index
            finally:
                self._call("load", self._client.load_collection)

    # ------------------------------------------------------------------ staleness and lifetime
    def _check_current(self, force: bool = False) -> None:
        """Refuse to go on when the collection in Milvus is no longer the one this object opened."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._recheck_s:
            return
        described = self._call("describe", self._client.describe_collection)
        if (described.get("properties") or {}).get(MANIFEST_PROPERTY) != self._manifest_text:
            self._state = "dropped"
            raise CollectionNotFound(f"collection {self.name!r} was dropped or re-created by another server; "
                                     "retry to use the current one", field="name")
        self._checked_at = now

    @property
    def is_current(self) -> bool:
        """False once this object learnt that the collection is gone from Milvus (or closed)."""
        return self._state is None and not self._dropping

    def _check_open(self) -> None:
        if self._state == "dropped" or self._dropping:
            raise CollectionNotFound(f"collection {self.name!r} was dropped", field="name")
        if self._state:
            raise Unavailable(f"collection {self.name!r} is closed")

    def mark_dropped(self) -> None:
        """Refuse new work with :class:`CollectionNotFound` from now on (the data dir drops it next)."""
        self._dropping = True

    def close(self, *, dropped: bool = False) -> None:
        """Flush what this process wrote (unless dropped) and forget the collection (idempotent)."""
        if self._state:
            return
        try:
            if not (dropped or self._dropping) and self._unflushed:
                self._call("flush", self._client.flush)
        except Exception:
            log.exception("collection %r: flush on close failed; Milvus keeps the rows in its log", self.name)
        finally:
            self._state = "dropped" if dropped or self._dropping else "closed"

    def __repr__(self) -> str:
        return f"MilvusCollection({self.name!r}, model={self.manifest.model!r}, dimension={self.dimension})"


if TYPE_CHECKING:
    from latentspace.indexer.backends.base import CollectionBackend

    def _is_a_backend(collection: MilvusCollection) -> CollectionBackend:
        return collection  # mypy checks that the Milvus collection implements the interface
