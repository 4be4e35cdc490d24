"""What a search asks for besides its query point."""

from __future__ import annotations

from dataclasses import dataclass, field

from latentspace.indexer.filters import PayloadFilter


@dataclass(frozen=True)
class SearchOptions:
    """k, filter, exclusions, threshold, what to return and index knobs of one search."""

    k: int = 10
    filter: PayloadFilter = field(default_factory=PayloadFilter)
    exclude_ids: frozenset[str] = frozenset()
    score_threshold: float | None = None
    with_vectors: bool = False
    #: HNSW efSearch / IVF nprobe; 0 = the index default.
    ef_search: int = 0
    nprobe: int = 0
    #: Split each hit's score into the shares of the query's leaves (:mod:`latentspace.indexer.explain`).
    #: Handled by the operations, which ask the collection for the hits' vectors instead.
    explain: bool = False
