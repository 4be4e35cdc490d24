"""What every backend checks before a k-NN search: the query matrix and the search options.

The rules are the embedded collection's (``collection.py``), so a bad search gets the same error
whichever engine holds the collection.
"""

from __future__ import annotations

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.search_options import SearchOptions


def check_query_matrix(queries: np.ndarray, dimension: int, collection: str) -> np.ndarray:
    """``queries`` as contiguous unit float32 rows of ``dimension``; InvalidInput naming the fix."""
    matrix = np.asarray(queries)
    if matrix.dtype != np.float32:
        try:
            matrix = matrix.astype(np.float32)
        except (TypeError, ValueError):
            raise InvalidInput("query vectors must be numbers", field="query") from None
    if matrix.ndim != 2 or matrix.shape[1] != dimension:
        raise InvalidInput(f"query vectors have shape {matrix.shape}; collection {collection!r} needs "
                           f"(n, {dimension})", field="query")
    # One pass: NaN or infinity anywhere in a row makes its norm non-finite.
    norms = np.sqrt(np.einsum("ij,ij->i", matrix, matrix))
    low, high = (float(norms.min()), float(norms.max())) if len(norms) else (1.0, 1.0)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise InvalidInput("query vector contains NaN or infinity", field="query")
    if low < 1e-12:
        raise InvalidInput("query vector is zero (it has no direction)", field="query")
    if abs(low - 1.0) < 1e-6 and abs(high - 1.0) < 1e-6:
        return np.ascontiguousarray(matrix)
    return np.ascontiguousarray(matrix / norms[:, None], dtype=np.float32)


def check_search_options(options: SearchOptions) -> None:
    """k >= 1, a finite threshold, knobs >= 0."""
    if isinstance(options.k, bool) or not isinstance(options.k, int) or options.k < 1:
        raise InvalidInput(f"k must be an integer >= 1, got {options.k!r}", field="k")
    threshold = options.score_threshold
    if threshold is not None and not np.isfinite(threshold):
        raise InvalidInput("score_threshold must be a finite number", field="score_threshold")
    for name in ("ef_search", "nprobe", "rerank"):
        if getattr(options, name) < 0:
            raise InvalidInput(f"{name} must be >= 0 (0 = the index default)", field=name)
