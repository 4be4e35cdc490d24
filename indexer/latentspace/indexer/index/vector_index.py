"""The vector index interface: keys and unit vectors in, top-k inner products out.

A vector index is a derived, rebuildable view of a collection's store: it holds int64 keys (the
store's ``items.key``) and their vectors, and answers top-k inner-product searches, optionally
restricted to a set of allowed keys. It is not thread-safe; the collection serialises access.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: ``keys -> (keys found, their float32 vectors)``: where exact search and re-ranking read vectors.
VectorSource = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]

#: What an index hands back from ``save`` and takes in ``load``: small, JSON-serialisable state.
IndexState = dict[str, Any]


@dataclass(frozen=True)
class SearchParams:
    """Per-request ANN knobs; 0 means the index default. Exact indexes ignore them."""

    ef_search: int = 0
    nprobe: int = 0
    #: Candidates a compressed-code kind (PQ, SQ) re-ranks with exact vectors (at least k).
    rerank: int = 0


class VectorIndex(ABC):
    """Top-k inner-product search over keyed vectors."""

    dimension: int

    @abstractmethod
    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add ``vectors`` (n, dimension) under ``keys`` (n,); keys must not be in the index."""

    @abstractmethod
    def remove(self, keys: np.ndarray) -> None:
        """Remove these keys (absent keys are ignored). An index that cannot remove a vector in
        place may keep it as a tombstone: searches never return it, and ``ntotal`` excludes it."""

    @abstractmethod
    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_keys: np.ndarray | None = None,
        params: SearchParams | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` per query row: ``(scores float32 (n, k), keys int64 (n, k))``, best first.

        Empty slots have key -1 and score -inf. With ``allowed_keys`` only those keys may be
        returned. A row has ``min(k, number of searchable keys)`` hits, never fewer.
        """

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """Number of live (searchable) vectors."""

    @abstractmethod
    def save(self, path: Path) -> IndexState:
        """Write the index to ``path`` atomically; return the state ``load`` needs besides the file."""

    @classmethod
    @abstractmethod
    def load(cls, path: Path, state: IndexState, vector_source: VectorSource | None = None) -> VectorIndex:
        """Read an index written by ``save``; raise ``ValueError`` if the file does not match ``state``."""
