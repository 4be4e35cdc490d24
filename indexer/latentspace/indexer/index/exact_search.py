"""Exact top-k inner-product search in numpy, in bounded memory.

Used where an ANN index cannot answer exactly: a very selective filter, an untrained IVF, or
an ANN pass that came back short. Free functions over arrays, no state.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def empty_results(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, keys)`` of ``n`` rows with ``k`` empty slots each (-inf, -1)."""
    return np.full((n, k), -np.inf, dtype=np.float32), np.full((n, k), -1, dtype=np.int64)


def merge_top_k(
    scores: np.ndarray, keys: np.ndarray, more_scores: np.ndarray, more_keys: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row of the union of two result sets, best first (empty slots last)."""
    all_scores = np.concatenate([scores, more_scores], axis=1)
    all_keys = np.concatenate([keys, more_keys], axis=1)
    all_scores = np.where(all_keys < 0, -np.inf, all_scores).astype(np.float32)
    if all_scores.shape[1] > k:
        part = np.argpartition(-all_scores, k - 1, axis=1)[:, :k]
        all_scores = np.take_along_axis(all_scores, part, axis=1)
        all_keys = np.take_along_axis(all_keys, part, axis=1)
    # Stable sort on (-score): ties keep their order, so results are deterministic.
    order = np.argsort(-all_scores, axis=1, kind="stable")
    top_scores = np.take_along_axis(all_scores, order, axis=1)
    top_keys = np.take_along_axis(all_keys, order, axis=1)
    top_keys[~np.isfinite(top_scores) & (top_scores < 0)] = -1
    return top_scores, top_keys


def exact_top_k(
    queries: np.ndarray, k: int, batches: Iterable[tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of ``queries`` against ``(keys, vectors)`` batches."""
    scores, keys = empty_results(len(queries), k)
    for batch_keys, vectors in batches:
        if len(batch_keys) == 0:
            continue
        sims = queries @ vectors.T  # (n, batch)
        take = min(k, sims.shape[1])
        part = np.argpartition(-sims, take - 1, axis=1)[:, :take]
        scores, keys = merge_top_k(
            scores, keys, np.take_along_axis(sims, part, axis=1), batch_keys[part], k
        )
    return scores, keys
