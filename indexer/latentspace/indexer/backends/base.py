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

Optional capabilities, which the interface itself does not require:

- exports (:class:`ExportsItems`): every item with its vector as of one moment, in pages. Any engine
  that can read its items as of one moment can offer it; the server's Export RPC needs it.
- backups (``Collection.backup``): embedded only. A snapshot is a copy of the embedded collection's
  folder (its SQLite store and FAISS index snapshot, :mod:`latentspace.indexer.backup`), so it is not
  part of any interface here; an engine with its own backups (Milvus's) keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from latentspace.indexer.directions import DirectionRecord
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.items import Hit, ItemRecord, StoredItem
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
