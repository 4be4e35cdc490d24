"""Ranking beyond plain cosine: calibrated scores across modalities, and diverse results (MMR).

**Calibrated** (``ScoreMode.CALIBRATED``): each hit ``x`` of modality ``m`` is scored
``z = (q . x - q . c_m) / sigma_m(q)`` (:mod:`latentspace.indexer.modality_stats`). The map is
increasing in the cosine for each modality, so the top k by ``z`` lie within the top k by cosine of
each modality: the collection is searched once per modality (a modality filter), the hits re-scored
and merged. ``score_threshold`` applies to ``z``.

**Diverse** (``diversity`` = lambda in [0, 1]): maximal marginal relevance over a pool of the
``pool`` best candidates (default ``diversity_pool_factor * k``). Hits are picked one by one; the
first is the best scored, then each next one maximises

    (1 - lambda) * score(x) - lambda * max over picked p of sim(p, x)

where ``score`` is the hit's score in the mode in use and ``sim`` is the cosine (raw mode) or the
calibrated score of ``x`` seen from ``p`` as the query (calibrated mode), so both terms are on one
scale. lambda 0 is the plain ranking. A pool equal to k can only reorder those k hits; a larger one
lets near-duplicates give way to the next-best different items. A hit's score stays its relevance,
so under diversity the list is no longer sorted by score.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import Hit, RankNote
from latentspace.indexer.limits import Limits
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.search_options import ScoreMode, SearchOptions


class RankingCollection(Protocol):
    """What a ranking needs: the cosine search (with a modality filter) and the modality statistics."""

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]: ...
    @property
    def modality_statistics(self) -> ModalityStatistics: ...


def pool_size(options: SearchOptions, limits: Limits, field: str = "options.pool") -> int:
    """The candidates a search ranks: k without diversity, else ``pool`` or the default, ``>= k``."""
    if options.diversity == 0.0:
        return options.k
    if options.pool == 0:
        return max(options.k, min(limits.diversity_pool_factor * options.k, limits.max_diversity_pool))
    if options.pool < options.k:
        raise InvalidInput(f"pool must be 0 (the default, {limits.diversity_pool_factor} x k) or at least k "
                           f"({options.k}), got {options.pool}", field=field)
    return options.pool


def ranked_search(collection: RankingCollection, queries: np.ndarray, options: SearchOptions,
                  limits: Limits) -> list[list[Hit]]:
    """The top ``options.k`` hits of each query row under ``options.score_mode`` and ``diversity``."""
    if options.plain:
        return collection.search(queries, options)
    diverse = options.diversity > 0.0
    candidates = dataclasses.replace(options, k=pool_size(options, limits), score_mode=ScoreMode.RAW,
                                     diversity=0.0, pool=0, with_vectors=options.with_vectors or diverse)
    stats = collection.modality_statistics if options.score_mode is ScoreMode.CALIBRATED else None
    if stats is not None:
        lists = _calibrated(collection, stats, queries, candidates, options.score_threshold)
    else:
        lists = collection.search(queries, candidates)
    if diverse:
        lists = [maximal_marginal_relevance(hits, options.k, options.diversity, stats) for hits in lists]
    out = [hits[: options.k] for hits in lists]
    if diverse and not options.with_vectors:
        out = [[dataclasses.replace(h, vector=None) for h in hits] for hits in out]
    return out


def _calibrated(collection: RankingCollection, stats: ModalityStatistics, queries: np.ndarray,
                options: SearchOptions, threshold: float | None) -> list[list[Hit]]:
    states = stats.states()
    wanted = [options.modality] if options.modality is not None else [m for m in Modality if m in states]
    merged: list[list[Hit]] = [[] for _ in range(len(queries))]
    unthresholded = dataclasses.replace(options, score_threshold=None)
    for modality in wanted:
        calibration = stats.calibration(queries, modality)
        if calibration is None:
            continue
        offsets, scales = calibration
        lists = collection.search(queries, dataclasses.replace(unthresholded, modality=modality))
        for i, hits in enumerate(lists):
            offset, scale = float(offsets[i]), float(scales[i])
            merged[i] += [dataclasses.replace(h, score=(h.score - offset) / scale,
                                              ranking=RankNote(h.score, offset, scale)) for h in hits]
    out = []
    for hits in merged:
        hits.sort(key=lambda h: -h.score)
        if threshold is not None:
            hits = [h for h in hits if h.score >= threshold]
        out.append(hits[: options.k])
    return out


#: MMR values closer than this are ties (float32 scores differ by ~1e-7 between engines).
TIE = 1e-6


def maximal_marginal_relevance(pool: list[Hit], k: int, diversity: float,
                               stats: ModalityStatistics | None = None) -> list[Hit]:
    """Pick ``k`` hits of ``pool`` (best first, with vectors) by MMR (see the module docstring).

    With ``stats`` the similarity of a candidate to a picked hit is calibrated like a score.
    """
    if not pool:
        return []
    vectors = np.stack([_vector(h) for h in pool]).astype(np.float64)
    relevance = np.array([h.score for h in pool])
    modalities = [h.modality for h in pool]
    best = np.full(len(pool), -np.inf)  # each candidate's largest similarity to a picked hit
    left = np.ones(len(pool), dtype=bool)
    picked: list[Hit] = []
    for step in range(min(k, len(pool))):
        value = relevance if step == 0 else (1.0 - diversity) * relevance - diversity * best
        open_value = np.where(left, value, -np.inf)
        # Near-equal values go to the more relevant candidate (the pool is best first): a query that
        # is itself an item makes every value after the first pick 0 up to rounding, and rounding
        # differs between engines.
        j = int(np.flatnonzero(open_value >= open_value.max() - TIE)[0])
        left[j] = False
        hit = pool[j]
        note = hit.ranking or RankNote(hit.score)
        redundancy = None if step == 0 else float(best[j])
        picked.append(dataclasses.replace(hit, ranking=dataclasses.replace(note, redundancy=redundancy)))
        best = np.maximum(best, _similarities(vectors[j], vectors, modalities, stats))
    return picked


def _similarities(seen_from: np.ndarray, vectors: np.ndarray, modalities: list[Modality],
                  stats: ModalityStatistics | None) -> np.ndarray:
    cos = vectors @ seen_from
    if stats is None:
        return cos
    out = cos.copy()
    for modality in set(modalities):
        calibration = stats.calibration(seen_from[None, :], modality)
        if calibration is None:
            continue
        mask = np.array([m is modality for m in modalities])
        out[mask] = (cos[mask] - calibration[0][0]) / calibration[1][0]
    return out


def _vector(hit: Hit) -> np.ndarray:
    if hit.vector is None:
        raise ValueError(f"hit {hit.id!r} has no vector for the diversity ranking")
    return hit.vector
