"""Explained scores: each hit's score split into the shares of the leaves of the query that found it.

A query point is ``q = sum_j c_j v_j`` over its leaves (:mod:`latentspace.indexer.resolved_point`), and
the point searched is that very ``q``, so an item's score is

    score(x) = q . x = sum_j c_j (v_j . x)

and the share of leaf j is ``c_j (v_j . x)``: the shares add up to the score (up to float32
rounding, well under 1e-5). For a mix ``normalise(sum_i w_i p_i)`` the coefficient of a part is
``w_i / |sum_i w_i p_i|`` times its own leaves' coefficients; an ADD edit's are ``1/|b + a d|`` and
``a/|b + a d|``, a ROTATE edit's the slerp weights, a REMOVE edit's ``1/N`` and ``-a (b . d)/N``, a
3CosAdd analogy's ``-1/N, 1/N, 1/N`` for ``a, a*, b``.

A 3CosMul analogy is a ranking, not a point: its score is the product
``cos'(x, b) * cos'(x, a*) / (cos'(x, a) + eps)`` with ``cos' = (1 + cos) / 2``, so it is explained by
its three factors (exponents 1, 1 and -1) instead of shares.

Every explanation also carries the hit's projection ``x . d`` on each direction the query used.

Under a calibrated or diverse ranking (:mod:`latentspace.indexer.ranking`) the shares are still those
of the raw cosine: the explanation carries that ``cosine`` and the calibration, so that
``score = (cosine - offset) / scale``, and the MMR ``redundancy`` that placed the hit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from latentspace.indexer.explanation import DirectionProjection, Explanation, ScoreForm, ScoreTerm
from latentspace.indexer.items import Hit
from latentspace.indexer.latent_math import COS_MUL_EPS
from latentspace.indexer.resolved_point import CosMulTerms, LinearForm, UsedDirection


def explain_hits(hits: Sequence[Hit], form: LinearForm | None, directions: Sequence[UsedDirection],
                 cos_mul: CosMulTerms | None = None, *, keep_vectors: bool = False) -> list[Hit]:
    """``hits`` with their explanation set; each hit must carry its stored vector.

    ``form`` is the searched point's linear form (None for a 3CosMul ranking, given as ``cos_mul``).
    The vectors are dropped from the returned hits unless ``keep_vectors``.
    """
    if not hits:
        return []
    x = np.stack([_vector(h) for h in hits]).astype(np.float64)
    if cos_mul is not None:
        explained = _product(x, cos_mul)
    elif form is not None:
        explained = _sum(x, form)
    else:
        raise ValueError("explain_hits needs a linear form or 3CosMul terms")
    projections = _projections(x, directions)
    return [
        dataclasses.replace(hit, explanation=_explanation(hit, score_form, terms, p),
                            vector=hit.vector if keep_vectors else None)
        for hit, (score_form, terms), p in zip(hits, explained, projections, strict=True)
    ]


def _explanation(hit: Hit, form: ScoreForm, terms: tuple[ScoreTerm, ...],
                 projections: tuple[DirectionProjection, ...]) -> Explanation:
    note = hit.ranking
    if note is None:
        return Explanation(form, terms, projections, cosine=hit.score)
    return Explanation(form, terms, projections, cosine=note.cosine, offset=note.offset, scale=note.scale,
                       redundancy=note.redundancy)


def _vector(hit: Hit) -> np.ndarray:
    if hit.vector is None:
        raise ValueError(f"hit {hit.id!r} has no vector to explain its score with")
    return hit.vector


def _sum(x: np.ndarray, form: LinearForm) -> list[tuple[ScoreForm, tuple[ScoreTerm, ...]]]:
    cosines = x @ form.matrix().T  # (hits, leaves)
    shares = cosines * form.coefficients
    return [
        (ScoreForm.SUM, tuple(
            ScoreTerm(path, float(cos), coefficient=float(c), share=float(share))
            for path, cos, c, share in zip(form.paths, row, form.coefficients, shares_row, strict=True)))
        for row, shares_row in zip(cosines, shares, strict=True)
    ]


def _product(x: np.ndarray, terms: CosMulTerms) -> list[tuple[ScoreForm, tuple[ScoreTerm, ...]]]:
    refs = np.stack([terms.a, terms.a_star, terms.b]).astype(np.float64)
    refs /= np.linalg.norm(refs, axis=1, keepdims=True)
    units = x / np.linalg.norm(x, axis=1, keepdims=True)
    cosines = np.clip(units @ refs.T, -1.0, 1.0)
    shifted = (1.0 + cosines) / 2.0
    path_a, path_a_star, path_b = terms.paths
    out: list[tuple[ScoreForm, tuple[ScoreTerm, ...]]] = []
    for cos, s in zip(cosines, shifted, strict=True):
        out.append((ScoreForm.PRODUCT, (
            ScoreTerm(path_b, float(cos[2]), factor=float(s[2]), exponent=1),
            ScoreTerm(path_a_star, float(cos[1]), factor=float(s[1]), exponent=1),
            ScoreTerm(path_a, float(cos[0]), factor=float(s[0] + COS_MUL_EPS), exponent=-1),
        )))
    return out


def _projections(x: np.ndarray, directions: Sequence[UsedDirection]) -> list[tuple[DirectionProjection, ...]]:
    if not directions:
        return [() for _ in x]
    values = x @ np.stack([d.vector for d in directions]).astype(np.float64).T
    return [tuple(DirectionProjection(d.path, d.name, float(v)) for d, v in zip(directions, row, strict=True))
            for row in values]
