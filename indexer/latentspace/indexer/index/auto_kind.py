"""Index kinds that follow a collection's size, for collections created without an ``index_kind``.

Such a collection's manifest says ``auto``. It starts exact (``Flat``: every answer right, no build
cost) and, as it grows past ``hnsw_from`` items, is rebuilt in the background into ``HNSW32`` (fast
searches at a recall set by the HNSW defaults); past ``ivfpq_from`` into IVF + PQ codes, which keep
memory low, re-ranked with the exact vectors from the store. Rebuilds only go up: a collection that
shrinks keeps its kind until someone reindexes it. The thresholds are settings; the measurements
behind their defaults are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AUTO = "auto"


def _rank(kind: str) -> int:
    upper = kind.upper()
    if "IVF" in upper:
        return 2
    if "HNSW" in upper:
        return 1
    return 0


@dataclass(frozen=True)
class AutoIndexPolicy:
    """Which FAISS kind an ``auto`` collection of a given size uses."""

    #: From this many items on, HNSW32 (below it an exact scan is about as fast and needs no build).
    hnsw_from: int = 20_000
    #: From this many items on, IVF + PQ (HNSW's memory, ~1.6 KB a 384-d vector, gets expensive).
    ivfpq_from: int = 1_000_000

    def __post_init__(self) -> None:
        if not 0 < self.hnsw_from <= self.ivfpq_from:
            raise ValueError(f"auto index thresholds must satisfy 0 < hnsw_from <= ivfpq_from, got "
                             f"{self.hnsw_from} and {self.ivfpq_from}")

    def kind_for(self, count: int, dimension: int) -> str:
        """The kind a collection of ``count`` vectors of ``dimension`` should use."""
        if count < self.hnsw_from:
            return "Flat"
        if count < self.ivfpq_from:
            return "HNSW32"
        # nlist ~ 4 sqrt(n), a power of two (FAISS's guideline); PQ codes of dimension/4 bytes with
        # sub-vectors of 4 dimensions, which re-ranking with exact vectors makes up for.
        nlist = 1 << round(math.log2(4 * math.sqrt(count)))
        nlist = min(max(nlist, 1024), 65_536)
        m = next((m for m in (dimension // 4, dimension // 8, dimension // 2) if m and dimension % m == 0), 1)
        return f"IVF{nlist},PQ{m}x8"

    def upgrade(self, current: str, count: int, dimension: int) -> str | None:
        """The kind to rebuild into now, or None when ``current`` still fits (never a smaller one)."""
        target = self.kind_for(count, dimension)
        return target if _rank(target) > _rank(current) else None
