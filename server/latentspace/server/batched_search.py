"""A collection shared by concurrent requests: their searches run as common FAISS batches.

Searches are grouped by their options (k, filter, exclusions, threshold, knobs: what FAISS and the
collection need per call); each group runs as one ``CollectionBackend.search`` over all its query rows,
so the result of every row is the one a search of it alone would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.backends.base import CollectionBackend
from latentspace.indexer.directions import DirectionRecord
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.items import Hit, StoredItem
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.search_options import SearchOptions
from latentspace.server.batching import Batcher, BatchObserver

if TYPE_CHECKING:
    from PIL import Image

_Search = tuple[np.ndarray, SearchOptions]


class BatchedSearch:
    """``collection`` with its ``search`` behind a batcher; everything else is the collection's own."""

    def __init__(self, collection: CollectionBackend, *, max_batch: int, max_wait: float, concurrency: int,
                 enabled: bool = True, observer: BatchObserver | None = None) -> None:
        self.collection = collection
        self._enabled = enabled
        self._batcher: Batcher[_Search, list[list[Hit]]] = Batcher(
            "search", self._run, max_batch=max_batch, max_wait=max_wait, concurrency=concurrency,
            size=lambda item: len(item[0]), observer=observer)

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]:
        """The top ``options.k`` hits of each query row, searched together with other requests'."""
        if not self._enabled:
            return self.collection.search(queries, options)
        return self._batcher.submit((queries, options))

    def _run(self, items: list[_Search]) -> list[list[list[Hit]]]:
        groups: dict[SearchOptions, list[int]] = {}
        for i, (_, options) in enumerate(items):
            groups.setdefault(options, []).append(i)
        out: list[list[list[Hit]]] = [[] for _ in items]
        for options, members in groups.items():
            if len(members) == 1:
                queries = items[members[0]][0]
                out[members[0]] = self.collection.search(queries, options)
                continue
            matrices = [np.asarray(items[i][0], dtype=np.float32) for i in members]
            hits = self.collection.search(np.concatenate(matrices), options)
            start = 0
            for i, matrix in zip(members, matrices, strict=True):
                out[i] = hits[start:start + len(matrix)]
                start += len(matrix)
        return out

    # ------------------------------------------------------------------ the rest is the collection's
    @property
    def name(self) -> str:
        return self.collection.name

    @property
    def dimension(self) -> int:
        return self.collection.dimension

    @property
    def manifest(self) -> CollectionManifest:
        return self.collection.manifest

    @property
    def modalities(self) -> frozenset[Modality]:
        return self.collection.modalities

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.collection.encode_texts(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.collection.encode_images(images)

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        return self.collection.get(ids, with_vectors)

    def count(self) -> int:
        return self.collection.count()

    @property
    def modality_statistics(self) -> ModalityStatistics:
        return self.collection.modality_statistics

    def items_matching(self, payload_filter: PayloadFilter, limit: int) -> list[StoredItem]:
        return self.collection.items_matching(payload_filter, limit)

    def save_direction(self, record: DirectionRecord) -> None:
        self.collection.save_direction(record)

    def get_direction(self, name: str) -> DirectionRecord | None:
        return self.collection.get_direction(name)

    def list_directions(self) -> list[DirectionRecord]:
        return self.collection.list_directions()

    def delete_direction(self, name: str) -> bool:
        return self.collection.delete_direction(name)
