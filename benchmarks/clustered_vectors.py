"""Clustered unit vectors for search benchmarks: a seeded Gaussian mixture shaped like text embeddings.

Uniform random vectors are the wrong test for an ANN index: every point is nearly as far from a
query as every other, so recall is poor for reasons real data does not share. A flat mixture of
well-separated clusters is wrong the other way round, or, with wide clusters, hard in a way real
data is not (3000 centres scattered uniformly leave the greedy search no slope towards the right
one). Embeddings of text sit in between: topics, subjects within topics, items around subjects.
So the mixture has two levels:

- ``topics`` directions uniform on the sphere;
- ``centres`` centres, each a topic plus noise of norm about ``centre_spread``, renormalised;
- each vector a centre (picked uniformly) plus noise of norm about ``spread``, renormalised.

Queries are drawn the same way from the same centres and are not in the base set. With the
defaults (100 topics, 3000 centres, spreads 1.0 and 2.0, 100k x 384), HNSW32 built with FAISS's
own efConstruction (40) finds 0.71 of the exact top-10 at efSearch 16, 0.94 at 64 and 0.96 at 128:
about as hard as all-MiniLM-L6-v2 embeddings of 117k WordNet glosses (0.80, 0.92, 0.95). In trial
runs, one-level mixtures of 3000 centres were easier with spread 1.5 (0.77, 0.98, 0.99) and much
harder from spread 2.0 up (0.51, 0.84, 0.89 at 2.0). See ``hnsw_recall.py`` and
``benchmarks/README.md`` ("HNSW defaults").
"""

from __future__ import annotations

import numpy as np


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clustered_unit_vectors(
    count: int,
    queries: int,
    *,
    dimension: int = 384,
    centres: int = 3000,
    topics: int = 100,
    centre_spread: float = 1.0,
    spread: float = 2.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(count, dimension)`` base vectors and ``(queries, dimension)`` held-out queries, unit rows.

    Deterministic for a given seed and arguments. Noise is isotropic with per-coordinate standard
    deviation ``spread / sqrt(dimension)``, so its norm is about ``spread`` whatever the dimension.
    """
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(dimension)
    topic_rows = _unit(rng.standard_normal((topics, dimension), dtype=np.float32))
    centre_rows = _unit(topic_rows[rng.integers(topics, size=centres)]
                        + centre_spread * scale * rng.standard_normal((centres, dimension), dtype=np.float32))
    total = count + queries
    out = np.empty((total, dimension), dtype=np.float32)
    step = 50_000  # bounds the temporary noise array
    for start in range(0, total, step):
        rows = min(step, total - start)
        picks = rng.integers(centres, size=rows)
        noise = spread * scale * rng.standard_normal((rows, dimension), dtype=np.float32)
        out[start : start + rows] = _unit(centre_rows[picks] + noise)
    return out[:count], out[count:]
