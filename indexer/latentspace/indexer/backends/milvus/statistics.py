"""The modality statistics of a Milvus collection (what calibrated scores are measured against).

:class:`~latentspace.indexer.modality_stats.ModalityStatistics` reads and saves through a
``StatisticsStore``; :class:`MilvusStatisticsStore` is that store over Milvus queries. Nothing is
persisted: ``load`` finds nothing, so the statistics are rebuilt by a scan of ``(id, modality,
vector)`` when the collection is opened, and ``save`` keeps nothing. After that, this server's own
upserts and deletes update them exactly (``ModalityStatistics.apply``). Writes by another server to
the same Milvus collection are not seen until the collection is opened again here: until then
calibrated scores are measured against slightly stale statistics (approximate, never wrong ranks
within one modality, since calibration is affine per query and modality).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from latentspace.indexer.items import StoredItem
from latentspace.indexer.modality import Modality
from latentspace.indexer.store.modality_stats_table import ModalityRow

from .expressions import ID_FIELD
from .layout import MODALITY_FIELD, VECTOR_FIELD

#: ``scan(expression, fields)``: the collection's rows matching ``expression``, batch by batch.
Scan = Callable[[str, list[str]], Iterator[list[dict[str, Any]]]]


class MilvusStatisticsStore:
    """A ``StatisticsStore`` over one Milvus collection (see the module docstring)."""

    def __init__(self, scan: Scan, get: Callable[[Sequence[str], bool], list[StoredItem]],
                 sequence: Callable[[], int]) -> None:
        self._scan = scan
        self._get = get
        self._sequence = sequence

    @property
    def sequence(self) -> int:
        """The collection's last write stamp from this server."""
        return self._sequence()

    def load_modality_stats(self) -> tuple[int, list[ModalityRow]] | None:
        """Nothing is persisted in Milvus: always rebuilt by a scan."""
        return None

    def save_modality_stats(self, rows: Sequence[ModalityRow], sequence: int) -> None:
        """Kept in memory only (the statistics object holds them)."""

    def scan_items(self, batch_size: int = 8192) -> Iterator[tuple[list[str], list[Modality], np.ndarray]]:
        """Every item's ``(ids, modalities, vectors)``, a query-iterator batch at a time."""
        for batch in self._scan("", [ID_FIELD, MODALITY_FIELD, VECTOR_FIELD]):
            yield ([e[ID_FIELD] for e in batch], [Modality(e[MODALITY_FIELD]) for e in batch],
                   np.asarray([e[VECTOR_FIELD] for e in batch], dtype=np.float32))

    def ids_of_modality(self, modality: Modality) -> list[str]:
        """The ids of every item of ``modality``."""
        return [e[ID_FIELD] for batch in self._scan(f'{MODALITY_FIELD} == "{modality.value}"', [ID_FIELD])
                for e in batch]

    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]:
        """Items by id (the collection's own get)."""
        return self._get(ids, with_vectors)
