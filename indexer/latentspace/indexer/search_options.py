"""What a search asks for besides its query point."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.modality import Modality


class ScoreMode(StrEnum):
    """How hits are scored and ranked (:mod:`latentspace.indexer.ranking`)."""

    RAW = "raw"  # cosine similarity
    CALIBRATED = "calibrated"  # the cosine standardised against the hit's modality (see modality_stats)


@dataclass(frozen=True)
class SearchOptions:
    """k, filter, exclusions, threshold, what to return, index knobs and ranking of one search."""

    k: int = 10
    filter: PayloadFilter = field(default_factory=PayloadFilter)
    exclude_ids: frozenset[str] = frozenset()
    #: Drop hits scoring below this (the score of ``score_mode``).
    score_threshold: float | None = None
    with_vectors: bool = False
    #: HNSW efSearch / IVF nprobe; 0 = the index default.
    ef_search: int = 0
    nprobe: int = 0
    #: Split each hit's score into the shares of the query's leaves (:mod:`latentspace.indexer.explain`).
    #: Handled by the operations, which ask the collection for the hits' vectors instead.
    explain: bool = False
    #: Only items of this modality (None: any). The collection applies it like a filter.
    modality: Modality | None = None
    #: Handled by the operations (:mod:`latentspace.indexer.ranking`); the collection ignores the three.
    score_mode: ScoreMode = ScoreMode.RAW
    #: Maximal marginal relevance in [0, 1]: 0 = plain ranking, 1 = only novelty counts.
    diversity: float = 0.0
    #: Candidates MMR picks from; 0 = the limit ``diversity_pool_factor`` times k. Must be >= k.
    pool: int = 0

    @property
    def plain(self) -> bool:
        """True when the hits are the collection's own top k by cosine (no calibration, no MMR)."""
        return self.score_mode is ScoreMode.RAW and self.diversity == 0.0
