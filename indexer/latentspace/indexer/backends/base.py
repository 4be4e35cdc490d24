"""The collection interface: what the operations layer, the data dir and the server use.

Every latent operation (mixes, edits, paths, analogies, distances) computes its query points in the
library before the k-NN step, so a backend only stores items and answers k-NN searches; the model
side is shared (:class:`~latentspace.indexer.collection_model.CollectionModel`).

A backend promises what the embedded store promises:

- ``upsert``/``delete`` return once the write is durable (the backend's own meaning of it is
  documented with the backend) and later searches see it;
- ``search`` returns, for each query row, the top ``options.k`` items by cosine similarity that
  pass the filter, the exclusions and the score threshold, best first, and k of them whenever k
  items pass;
- ids are unique; an upsert of an existing id replaces it;
- vectors are unit-normalised by the backend; ``get`` returns them as stored;
- named directions (:class:`~latentspace.indexer.directions.DirectionRecord`: a vector and a JSON
  object) are kept beside the items, are not items, and outlive no drop of the collection.

A backend other than the embedded one also has a :class:`CollectionCatalog`: how the data dir lists,
creates, opens and drops its collections.

Optional capabilities, which the interface itself does not require:

- exports (:class:`ExportsItems`): every item with its vector as of one moment, in pages. Any engine
  that can read its items as of one moment can offer it; the server's Export RPC needs it.
- thumbnails (:class:`StoresThumbnails`): the small preview each image record carries
  (``ItemRecord.thumbnail``), stored with the item, replaced and deleted with it, read back by id.
  A backend without it ignores ``ItemRecord.thumbnail``; the server's GetThumbnails RPC then answers
  FAILED_PRECONDITION (reason ``THUMBNAILS_NOT_STORED``), so a caller can tell "this engine keeps
  none" from "this item has none".
- content hashes (:class:`KeepsContentHashes`): the source-content hash a bulk run stored with an
  item, so a resumed or repeated ``latent index`` skips what is unchanged. Embedded only (its item
  store keeps them); on another backend every run encodes and writes every item again.
- backups (``Collection.backup``): embedded only. A snapshot is a copy of the embedded collection's
  folder (its SQLite store and FAISS index snapshot, :mod:`latentspace.indexer.backup`), so it is not
  part of any interface here; an engine with its own backups (Milvus's) keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from latentspace.indexer.directions import DirectionRecord
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import FailedPrecondition
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits
from latentspace.indexer.items import Hit, ItemRecord, StoredItem, Thumbnail
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.search_options import SearchOptions

if TYPE_CHECKING:
    from PIL import Image


@runtime_checkable
class CollectionBackend(Protocol):
    """One open collection, whatever engine holds its items."""

    name: str
    dimension: int
    manifest: CollectionManifest

    # ------------------------------------------------------------------ the model (shared)
    @property
    def modalities(self) -> frozenset[Modality]: ...
    @property
    def encoder(self) -> Encoder: ...
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    # ------------------------------------------------------------------ items
    def upsert(self, records: Sequence[ItemRecord]) -> int:
        """Insert or replace; the write's sequence number, once durable."""
        ...

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        """``(deleted count, sequence)``; unknown ids are ignored."""
        ...

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]: ...
    def count(self) -> int: ...
    def all_ids(self) -> Iterator[list[str]]:
        """Every stored id, in pages (any order)."""
        ...

    @property
    def sequence(self) -> int:
        """The sequence number of the last acknowledged write."""
        ...

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]: ...

    @property
    def modality_statistics(self) -> ModalityStatistics:
        """Per-modality counts, centroids and sampled vectors, kept through every write (calibrated scores)."""
        ...

    def items_matching(self, payload_filter: PayloadFilter, limit: int) -> list[StoredItem]:
        """Up to ``limit`` live items whose payload matches, with their vectors (any stable order)."""
        ...

    # ------------------------------------------------------------------ named directions (plain data)
    def save_direction(self, record: DirectionRecord) -> None:
        """Store a direction durably; ``DirectionExists`` (``directions.direction_exists``) when the name is taken."""
        ...

    def get_direction(self, name: str) -> DirectionRecord | None: ...
    def list_directions(self) -> list[DirectionRecord]:
        """Every stored direction, sorted by name."""
        ...

    def delete_direction(self, name: str) -> bool:
        """False when there was no direction by that name."""
        ...

    # ------------------------------------------------------------------ engine-specific upkeep
    @property
    def index_kind(self) -> str:
        """The index in use (a FAISS factory string, or the engine's own index type)."""
        ...

    def snapshot(self) -> None:
        """Make the index durable where the engine needs to be told (a no-op elsewhere)."""
        ...

    def compact(self) -> None: ...
    def reindex(self, index_kind: str) -> None: ...

    # ------------------------------------------------------------------ lifetime
    def mark_dropped(self) -> None: ...
    def close(self, *, dropped: bool = False) -> None: ...


#: ``schedule(job key, job)``: the data dir's maintenance queue, for a backend's background upkeep.
MaintenanceScheduler = Callable[[str, Callable[[], None]], None]
#: The model loader of a collection, from its manifest (None for a vector-only collection).
LoaderFor = Callable[[CollectionManifest], Callable[[], Encoder] | None]


class CollectionCatalog(Protocol):
    """The collections of one backend other than the embedded one, as the data dir lists, creates,
    opens and drops them (the embedded collections are the data dir's own folders)."""

    backend: str

    def names(self) -> list[str]:
        """The names of the collections the backend holds, sorted."""
        ...

    def exists(self, name: str) -> bool: ...

    def check_index_kind(self, index_kind: str, dimension: int, limits: IndexKindLimits | None = None) -> None:
        """Raise InvalidInput (field ``index_kind``) for a kind the backend cannot build."""
        ...

    def create(self, manifest: CollectionManifest) -> str:
        """Create the collection; AlreadyExists when it exists. Returns the manifest it holds after."""
        ...

    def manifest(self, name: str) -> tuple[CollectionManifest, str]:
        """The collection's manifest and its text; CollectionNotFound when it does not exist."""
        ...

    def open(self, name: str, encoder_loader: LoaderFor,
             maintenance: MaintenanceScheduler | None = None) -> CollectionBackend: ...

    def is_current(self, collection: object) -> bool:
        """Whether an open collection may still be handed out (another process may have dropped it)."""
        ...

    def drop(self, name: str) -> None: ...
    def close(self) -> None: ...


class ItemPages(Protocol):
    """Every live item of a collection as of one moment (``sequence``, ``count``), with its vector,
    page by page; writes made meanwhile are not in it. Close it (or use it as a context manager)."""

    sequence: int
    count: int

    def next_page(self, max_items: int, max_bytes: int) -> list[StoredItem]:
        """At most ``max_items`` items and about ``max_bytes`` (always at least one); empty at the end."""
        ...

    def close(self) -> None: ...
    def __enter__(self) -> ItemPages: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


@runtime_checkable
class ExportsItems(Protocol):
    """The optional export capability of a backend (see the module docstring)."""

    def export_items(self) -> ItemPages:
        """Every item with its vector as of one moment, in pages, while writes go on (close it)."""
        ...


@runtime_checkable
class StoresThumbnails(Protocol):
    """The optional thumbnail capability of a backend (see the module docstring)."""

    def thumbnails(self, ids: Sequence[str]) -> dict[str, Thumbnail]:
        """The thumbnails of the live items among ``ids`` that have one; other ids are left out."""
        ...


@runtime_checkable
class KeepsContentHashes(Protocol):
    """The optional content-hash capability of a backend (see the module docstring)."""

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        """The source-content hash a bulk run stored with each of ``ids`` (ids without one left out)."""
        ...


def exporter_of(collection: CollectionBackend) -> ExportsItems:
    """``collection`` as an exporter; FAILED_PRECONDITION (``BACKEND_UNSUPPORTED``) for a backend without
    the capability."""
    if not isinstance(collection, ExportsItems):
        raise FailedPrecondition(
            f"collection {collection.name!r} is on the {collection.manifest.backend} backend, which cannot read "
            "its items as of one moment; export it with its engine's own tools",
            field="collection", reason="BACKEND_UNSUPPORTED")
    return collection
