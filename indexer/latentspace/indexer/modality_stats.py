"""Per-collection statistics of each modality: what calibrated scores are measured against.

CLIP-like models put texts and images in two cones: a text query's matching images score far below
unrelated captions, so one raw cosine ranks the two modalities on different scales. For each item
modality ``m`` a collection keeps, updated on every write and saved in its item store:

- ``n_m``, the item count, and ``s_m``, the float64 sum of the unit vectors, so the centroid is
  ``c_m = s_m / n_m`` and the mean cosine of any point ``q`` to the items of ``m`` is exactly ``q . c_m``;
- a uniform sample ``S_m`` of at most :data:`SAMPLE_SIZE` items (bottom-k by a hash of the id: the
  sample is every item whose hash is at most a threshold, so deletes keep it uniform, only smaller;
  under half full it is refilled from the store), whose vectors are kept in memory.

A hit ``x`` of modality ``m`` found by a query point ``q`` gets the calibrated score

    z(q, x) = (q . x - q . c_m) / sigma_m(q),    sigma_m(q) = std over y in S_m of q . y

(the cosine standardised against the cosines of ``q`` to all items of its own modality), which is
affine in the cosine for one (query, modality) pair: the ranking within a modality is the cosine's,
while the modalities land on one scale. The pairwise cosine distributions of the samples (same-modal
and cross-modal) are reported by :meth:`ModalityStatistics.distributions`.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from latentspace.indexer.items import ItemRecord, StoredItem
from latentspace.indexer.modality import Modality
from latentspace.indexer.store.modality_stats_table import ModalityRow

log = logging.getLogger(__name__)

#: Items sampled per modality for the spread of cosines (and the pair distributions).
SAMPLE_SIZE = 256
#: A spread below this is taken as this (a modality of identical items).
MIN_SCALE = 1e-6


class StatisticsStore(Protocol):
    """What the statistics read from and save to (the embedded :class:`ItemStore`)."""

    @property
    def sequence(self) -> int: ...
    def load_modality_stats(self) -> tuple[int, list[ModalityRow]] | None: ...
    def save_modality_stats(self, rows: Sequence[ModalityRow], sequence: int) -> None: ...
    def scan_items(self, batch_size: int = 8192) -> Iterator[tuple[list[str], list[Modality], np.ndarray]]: ...
    def ids_of_modality(self, modality: Modality) -> list[str]: ...
    def get(self, ids: Sequence[str], with_vectors: bool = False) -> list[StoredItem]: ...


def id_hash(item_id: str) -> float:
    """A stable pseudo-random number in [0, 1) for an id (the sample's order)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big") / 2.0**64


@dataclass(frozen=True, eq=False)
class ModalityState:
    """One modality's statistics at one write (immutable: a write makes a new one)."""

    modality: Modality
    count: int
    vector_sum: np.ndarray
    #: The sample is every item whose :func:`id_hash` is <= this (inf: every item).
    threshold: float
    #: ``(hash, id)`` sorted, and the vectors by id.
    order: tuple[tuple[float, str], ...]
    vectors: dict[str, np.ndarray]

    @property
    def centroid(self) -> np.ndarray:
        """The mean of the modality's unit vectors (not normalised), float64."""
        return self.vector_sum / max(self.count, 1)

    def sample_matrix(self) -> np.ndarray:
        """The sampled vectors, ``(len(sample), d)`` float64."""
        if not self.order:
            return np.zeros((0, len(self.vector_sum)))
        return np.stack([self.vectors[i] for _, i in self.order]).astype(np.float64)

    def row(self) -> ModalityRow:
        return ModalityRow(self.modality, self.count, self.vector_sum, self.threshold,
                           tuple(i for _, i in self.order))


@dataclass(frozen=True)
class PairDistribution:
    """Cosines between sampled items of two modalities (distinct pairs when the same)."""

    a: Modality
    b: Modality
    pairs: int
    mean: float
    std: float
    p05: float
    p50: float
    p95: float


class ModalityStatistics:
    """The statistics of one collection's modalities, kept exact through its writes.

    Writes call :meth:`apply` under the collection's write lock after their store write commits;
    readers take :meth:`states` (a dict replaced whole by each write), so they never wait.
    """

    def __init__(self, store: StatisticsStore, dimension: int, sample_size: int = SAMPLE_SIZE) -> None:
        self._store = store
        self._dimension = dimension
        self._sample_size = sample_size
        self._states: dict[Modality, ModalityState] = {}
        self._distributions: tuple[dict[Modality, ModalityState], list[PairDistribution]] | None = None
        self._lock = threading.Lock()  # writers only
        loaded = store.load_modality_stats()
        if loaded is not None and loaded[0] == store.sequence:
            self._states = {row.modality: self._from_row(row) for row in loaded[1] if row.count > 0}
        else:
            self._rescan()

    # ------------------------------------------------------------------ reads
    def states(self) -> dict[Modality, ModalityState]:
        """Each modality with items, as of the last write."""
        return self._states

    def calibration(self, queries: np.ndarray, modality: Modality) -> tuple[np.ndarray, np.ndarray] | None:
        """``(offset, scale)`` per query row against ``modality``: ``q . c_m`` and ``sigma_m(q)``.

        None when the collection has no item of ``modality``. With fewer than two sampled items the
        scale is 1 (only the offset applies).
        """
        state = self._states.get(modality)
        if state is None or state.count == 0:
            return None
        q = np.asarray(queries, dtype=np.float64)
        offset = q @ state.centroid
        sample = state.sample_matrix()
        if len(sample) < 2:
            return offset, np.ones(len(q))
        return offset, np.maximum((q @ sample.T).std(axis=1), MIN_SCALE)

    def distributions(self) -> list[PairDistribution]:
        """The same-modal and cross-modal cosine distributions of the samples, one per modality pair
        (computed once per write that changed them)."""
        current = self._states
        cached = self._distributions
        if cached is not None and cached[0] is current:
            return cached[1]
        result = self._measure(current)
        self._distributions = (current, result)
        return result

    @staticmethod
    def _measure(by_modality: dict[Modality, ModalityState]) -> list[PairDistribution]:
        states = [by_modality[m] for m in Modality if m in by_modality]
        out = []
        for i, a in enumerate(states):
            for b in states[i:]:
                cos = a.sample_matrix() @ b.sample_matrix().T
                values = cos[np.triu_indices(len(cos), k=1)] if a is b else cos.ravel()
                if len(values) == 0:
                    continue
                p05, p50, p95 = np.percentile(values, [5, 50, 95])
                out.append(PairDistribution(a.modality, b.modality, len(values), float(values.mean()),
                                            float(values.std()), float(p05), float(p50), float(p95)))
        return out

    # ------------------------------------------------------------------ writes
    def apply(self, replaced: Sequence[StoredItem], written: Sequence[ItemRecord], sequence: int) -> None:
        """Account for one committed write: ``replaced`` are the rows it removed (with vectors: the
        old rows of upserted ids, or the deleted items), ``written`` the rows it added.

        Never fails the write it follows (that is already durable): on any error the statistics are
        rebuilt from the store instead.
        """
        with self._lock:
            try:
                self._apply(replaced, written, sequence)
            except Exception:
                log.exception("modality statistics: updating them failed; rebuilding them from the store")
                try:
                    self._rescan()
                except Exception:  # saved as behind the store, so the next open rescans
                    log.exception("modality statistics: the rebuild failed too; they stay stale until reopened")

    def _apply(self, replaced: Sequence[StoredItem], written: Sequence[ItemRecord], sequence: int) -> None:
        states = dict(self._states)
        builders = {m: _Builder(s) for m, s in states.items()}
        for item in replaced:
            if item.vector is None or item.modality not in builders:
                raise ValueError(f"a replaced row ({item.id!r}) the statistics cannot account for")
            builders[item.modality].remove(item.id, item.vector)
        for record in written:
            modality = Modality(record.modality)
            if modality not in builders:
                builders[modality] = _Builder.empty(modality, self._dimension)
            builders[modality].add(record.id, np.asarray(record.vector, dtype=np.float32), self._sample_size)
        changed = {item.modality for item in replaced} | {Modality(r.modality) for r in written}
        for modality in changed:
            builder = builders[modality]
            if builder.needs_refill(self._sample_size):
                self._refill(builder)
            states[modality] = builder.build()
        self._states = {m: s for m, s in states.items() if s.count > 0}
        self._store.save_modality_stats([states[m].row() for m in changed], sequence)

    def _refill(self, builder: _Builder) -> None:
        ids = self._store.ids_of_modality(builder.modality)
        chosen = sorted((id_hash(i), i) for i in ids)[: self._sample_size]
        found = {item.id: item.vector for item in self._store.get([i for _, i in chosen], with_vectors=True)}
        builder.reset_sample([(h, i, v) for h, i in chosen if (v := found.get(i)) is not None],
                             full=len(ids) > self._sample_size)

    def _rescan(self) -> None:
        builders: dict[Modality, _Builder] = {}
        for ids, modalities, vectors in self._store.scan_items():
            for item_id, modality, vector in zip(ids, modalities, vectors, strict=True):
                if modality not in builders:
                    builders[modality] = _Builder.empty(modality, self._dimension)
                builders[modality].add(item_id, vector, self._sample_size)
        self._states = {m: b.build() for m, b in builders.items() if b.count > 0}
        self._store.save_modality_stats([s.row() for s in self._states.values()], self._store.sequence)
        if self._states:
            log.info("modality statistics rebuilt from %d items", sum(s.count for s in self._states.values()))

    def _from_row(self, row: ModalityRow) -> ModalityState:
        found = {item.id: item.vector for item in self._store.get(list(row.sample), with_vectors=True)}
        order = tuple(sorted((id_hash(i), i) for i in row.sample if found.get(i) is not None))
        vectors = {i: v for i, v in found.items() if v is not None}
        return ModalityState(row.modality, row.count, row.vector_sum, row.threshold, order, vectors)


class _Builder:
    """A mutable copy of one modality's state for the span of one write."""

    def __init__(self, state: ModalityState) -> None:
        self.modality = state.modality
        self.count = state.count
        self.vector_sum = state.vector_sum.copy()
        self.threshold = state.threshold
        self.order = list(state.order)
        self.vectors = dict(state.vectors)

    @classmethod
    def empty(cls, modality: Modality, dimension: int) -> _Builder:
        return cls(ModalityState(modality, 0, np.zeros(dimension), math.inf, (), {}))

    def add(self, item_id: str, vector: np.ndarray, size: int) -> None:
        self.count += 1
        self.vector_sum += vector
        h = id_hash(item_id)
        if h > self.threshold:
            return
        if item_id in self.vectors:  # an upsert of a sampled id: same hash, new vector
            self.vectors[item_id] = vector
            return
        bisect.insort(self.order, (h, item_id))
        self.vectors[item_id] = vector
        if len(self.order) > size:
            _, evicted = self.order.pop()
            del self.vectors[evicted]
            self.threshold = self.order[-1][0]

    def remove(self, item_id: str, vector: np.ndarray) -> None:
        self.count -= 1
        self.vector_sum -= vector
        if item_id in self.vectors:
            del self.vectors[item_id]
            self.order.remove((id_hash(item_id), item_id))

    def needs_refill(self, size: int) -> bool:
        return self.count > len(self.order) and len(self.order) < size // 2

    def reset_sample(self, chosen: Iterable[tuple[float, str, np.ndarray]], full: bool) -> None:
        entries = list(chosen)
        self.order = [(h, i) for h, i, _ in entries]
        self.vectors = {i: v for _, i, v in entries}
        self.threshold = self.order[-1][0] if full and self.order else math.inf

    def build(self) -> ModalityState:
        if self.count == 0:  # drift-free restart of an emptied modality
            self.vector_sum = np.zeros_like(self.vector_sum)
        return ModalityState(self.modality, self.count, self.vector_sum, self.threshold, tuple(self.order),
                             self.vectors)
