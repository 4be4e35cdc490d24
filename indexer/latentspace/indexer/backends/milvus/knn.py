"""Filtered k-NN on Milvus with the library's promise: k hits whenever k items pass.

What Milvus guarantees: a search with a filter expression returns the best ``limit`` rows that
match it *among the rows its index visits*. An exact index (FLAT) visits every row, so a short
answer means nothing else matches. An approximate one does not: an IVF search visits ``nprobe``
lists and an HNSW search a bounded part of its graph, so under a selective filter Milvus may return
fewer rows than ``limit`` while more match (Milvus Lite's IVF does, measured in the tests). On top
of that the expression selects a superset of the library's filter (:mod:`.expressions`), checked
again in Python, which may drop candidates.

How the gap is closed, per query row:

1. ask for ``k`` (plus excluded ids that cannot be written in the expression) hits;
2. keep those that pass the Python check, the exclusions and the threshold; done at ``k``, or at
   the first hit below the threshold (hits come best first);
3. a full answer (``limit`` rows) that kept fewer than ``k``: ask again for 4x more rows, with the
   index's knobs (``ef``, ``nprobe``) widened as much;
4. a short answer from an approximate index: count the rows the expression matches (one count per
   batch); if the answer held all of them the row is done, else widen as in 3;
5. after three widenings, or past Milvus's bound on ``limit`` (16,384), scan every matching row
   with its vector (``query_iterator``) and rank them exactly in numpy.

Step 5 reads every row the filter's expression selects, so it costs what an exact search over
them costs; it runs only when the index could not find k passing rows by itself.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.items import Hit
from latentspace.indexer.search_options import SearchOptions

from .index_kinds import MilvusIndex
from .layout import VECTOR_FIELD, hit

#: Milvus's bound on the hits of one search (``topk``).
MAX_LIMIT = 16_384
WIDENINGS = 3
GROWTH = 4

#: ``ask(rows, limit, widen) -> per row, Milvus's hits as {"id", "distance", "entity"}``.
Ask = Callable[[np.ndarray, int, int], list[list[dict[str, Any]]]]


@dataclass(frozen=True)
class KnnRequest:
    """One batch of query rows and what their hits must satisfy."""

    queries: np.ndarray
    options: SearchOptions
    index: MilvusIndex
    #: Excluded ids the expression could not carry: dropped here.
    excluded: frozenset[str] = frozenset()


class KnnSearch:
    """Runs :class:`KnnRequest` s through Milvus: ``ask`` searches, ``count`` counts the rows the
    expression matches, ``scan`` yields batches of every such row with its vector."""

    def __init__(self, ask: Ask, count: Callable[[], int], scan: Callable[[], Iterator[list[dict[str, Any]]]]):
        self._ask, self._count, self._scan = ask, count, scan

    def run(self, request: KnnRequest) -> list[list[Hit]]:
        options, index = request.options, request.index
        results: list[list[Hit] | None] = [None] * len(request.queries)
        pending = list(range(len(request.queries)))
        need = options.k + len(request.excluded)
        matching: int | None = None
        for attempt in range(WIDENINGS + 1):
            widen = GROWTH ** attempt
            limit = min(MAX_LIMIT, need * widen)
            answers = self._ask(request.queries[pending], limit, widen)
            still = []
            for row, answer in zip(pending, answers, strict=True):
                kept, cut = _keep(answer, request)
                if len(kept) >= options.k or cut:
                    results[row] = kept[: options.k]
                    continue
                if len(answer) < limit:
                    if index.exact:
                        results[row] = kept
                        continue
                    if matching is None:
                        matching = self._count()
                    if len(answer) >= matching:  # it held every row the expression matches
                        results[row] = kept
                        continue
                still.append(row)
            pending = still
            if not pending or (limit == MAX_LIMIT and not index.can_widen(options.ef_search, options.nprobe,
                                                                           GROWTH * widen)):
                break  # done, or neither more rows nor wider knobs are left to ask for
        if pending:
            for row, hits in zip(pending, self._exact(request, pending), strict=True):
                results[row] = hits
        return [r if r is not None else [] for r in results]

    def _exact(self, request: KnnRequest, rows: Sequence[int]) -> list[list[Hit]]:
        """Rank every row the expression matches, for these query rows (step 5)."""
        options = request.options
        queries = request.queries[list(rows)]
        best: list[list[tuple[float, int, Hit]]] = [[] for _ in rows]
        order = 0
        for batch in self._scan():
            entities = [e for e in batch if _passes(e, request)]
            if not entities:
                continue
            vectors = np.asarray([e[VECTOR_FIELD] for e in entities], dtype=np.float32)
            scores = queries @ vectors.T
            for i, heap in enumerate(best):
                for j in np.argsort(-scores[i], kind="stable")[: options.k]:
                    score = min(1.0, max(-1.0, float(scores[i, j])))
                    if options.score_threshold is not None and score < options.score_threshold:
                        break
                    order += 1
                    item = (score, -order, hit(entities[j], score, options.with_vectors))
                    if len(heap) < options.k:
                        heapq.heappush(heap, item)
                    elif item[:2] > heap[0][:2]:
                        heapq.heapreplace(heap, item)
        return [[h for _, _, h in sorted(heap, key=lambda x: x[:2], reverse=True)] for heap in best]


def _passes(entity: dict[str, Any], request: KnnRequest) -> bool:
    if entity["id"] in request.excluded:
        return False
    payload_filter: PayloadFilter = request.options.filter
    return not payload_filter or payload_filter.matches(entity.get("payload") or {})


def _keep(answer: list[dict[str, Any]], request: KnnRequest) -> tuple[list[Hit], bool]:
    """The hits of one answer that pass, up to k, and whether the threshold cut the answer short."""
    options = request.options
    kept: list[Hit] = []
    for found in answer:
        score = min(1.0, max(-1.0, float(found["distance"])))
        if options.score_threshold is not None and score < options.score_threshold:
            return kept, True
        entity = found["entity"]
        entity.setdefault("id", found.get("id"))
        if _passes(entity, request):
            kept.append(hit(entity, score, options.with_vectors))
            if len(kept) == options.k:
                break
    return kept, False
