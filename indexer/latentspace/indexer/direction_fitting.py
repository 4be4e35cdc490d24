"""Fitting a direction to labelled vectors, and measuring how well it separates them. Pure numpy.

Three fits of a raw direction ``w`` (unit-normalised by the caller) from positives ``P`` and
negatives ``N``; each class weighs half whatever its size, so an unbalanced label does not tilt
the fit:

- mean difference: ``mean(P) - mean(N)`` (with no negatives, ``mean(P)``);
- least squares: ridge regression of +1 (positives) / -1 (negatives) on the centred vectors,
  ``min_w sum_i s_i (w . x_i - y_i)^2 + RIDGE |w|^2``, solved in closed form on the smaller of
  the d x d and n x n systems;
- logistic: L2-regularised logistic regression, ``min_w sum_i s_i log(1 + exp(-y_i (w . x_i + b))) +
  L2/2 |w|^2``, by Nesterov-accelerated gradient descent with the step from the data's Lipschitz
  bound (deterministic, no random start).

Quality is the AUC of the projections: the chance that a positive projects higher than a negative
(ties count a half), from the Mann-Whitney rank sum.
"""

from __future__ import annotations

import numpy as np

from latentspace.indexer.directions import DirectionMethod

#: Ridge term of the least-squares probe, relative to the class-weighted covariance of unit vectors.
RIDGE = 1e-3
#: L2 term of the logistic probe.
LOGISTIC_L2 = 1e-4
LOGISTIC_ITERATIONS = 2000
_LOGISTIC_TOLERANCE = 1e-8


def fit_direction(positive: np.ndarray, negative: np.ndarray, method: DirectionMethod) -> np.ndarray:
    """The raw (un-normalised) direction pointing from the negatives towards the positives, float64."""
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    if method is DirectionMethod.MEAN_DIFFERENCE:
        return np.asarray(pos.mean(axis=0) - (neg.mean(axis=0) if len(neg) else 0.0))
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("a probe needs positives and negatives")
    x, y, s = _weighted(pos, neg)
    centred = x - s @ x
    if method is DirectionMethod.LEAST_SQUARES:
        return _ridge(centred, y, s)
    return _logistic(centred, y, s)


def _weighted(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos)), -np.ones(len(neg))])
    s = np.concatenate([np.full(len(pos), 0.5 / len(pos)), np.full(len(neg), 0.5 / len(neg))])
    return x, y, s


def _ridge(x: np.ndarray, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    n, d = x.shape
    if d <= n:  # (X' S X + r I) w = X' S y
        return np.asarray(np.linalg.solve(x.T @ (s[:, None] * x) + RIDGE * np.eye(d), x.T @ (s * y)))
    # The same minimiser through its dual: w = X' a with (S X X' + r I) a = S y.
    alpha = np.linalg.solve(s[:, None] * (x @ x.T) + RIDGE * np.eye(n), s * y)
    return np.asarray(x.T @ alpha)


def _logistic(x: np.ndarray, y: np.ndarray, s: np.ndarray) -> np.ndarray:
    d = x.shape[1]
    # The loss's gradient is Lipschitz with 0.25 * lambda_max(X' S X) + L2; estimate lambda_max by
    # power iteration from a fixed start.
    v = np.ones(d) / np.sqrt(d)
    for _ in range(50):
        u = x.T @ (s * (x @ v))
        norm = float(np.linalg.norm(u))
        if norm == 0.0:
            break
        v = u / norm
    lipschitz = 0.25 * 1.1 * float(v @ (x.T @ (s * (x @ v)))) + LOGISTIC_L2
    step = 1.0 / lipschitz
    params = np.zeros(d + 1)  # w, then the bias
    previous = params.copy()
    for k in range(1, LOGISTIC_ITERATIONS + 1):
        look = params + (k - 1) / (k + 2) * (params - previous)
        margin = y * (x @ look[:d] + look[d])
        g = -s * y * _sigmoid(-margin)
        grad = np.concatenate([x.T @ g + LOGISTIC_L2 * look[:d], [g.sum()]])
        previous, params = params, look - step * grad
        if float(np.linalg.norm(grad)) < _LOGISTIC_TOLERANCE:
            break
    return params[:d]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))  # no overflow for large |z|


def auc(positive_scores: np.ndarray, negative_scores: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting a half (Mann-Whitney U / (n m))."""
    pos = np.asarray(positive_scores, dtype=np.float64)
    neg = np.asarray(negative_scores, dtype=np.float64)
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs at least one positive and one negative score")
    scores = np.concatenate([pos, neg])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    average_rank = upper - (counts - 1) / 2.0  # 1-based ranks, ties sharing their mean
    rank_sum = float(average_rank[inverse][: len(pos)].sum())
    return (rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg))


def held_out_split(n: int, holdout: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` indices of n items: ``round(holdout * n)`` (at least 1) held out, at least 1 kept."""
    if n < 2:
        raise ValueError("a held-out split needs at least 2 items")
    test = min(n - 1, max(1, round(holdout * n)))
    order = rng.permutation(n)
    return np.sort(order[test:]), np.sort(order[:test])


def held_out_auc(positive: np.ndarray, negative: np.ndarray, method: DirectionMethod, holdout: float,
                 seed: int) -> tuple[float, int, int]:
    """``(auc, held-out positives, held-out negatives)``: fit on the rest of each side, score the held out.

    Deterministic for a seed; each side needs at least 2 items.
    """
    rng = np.random.default_rng(seed)
    pos_train, pos_test = held_out_split(len(positive), holdout, rng)
    neg_train, neg_test = held_out_split(len(negative), holdout, rng)
    w = fit_direction(positive[pos_train], negative[neg_train], method)
    value = auc(np.asarray(positive[pos_test], dtype=np.float64) @ w,
                np.asarray(negative[neg_test], dtype=np.float64) @ w)
    return value, len(pos_test), len(neg_test)


def leave_one_out_auc(targets: np.ndarray, neutrals: np.ndarray) -> float:
    """A text pair over T prompt templates: for each template, the direction from the other T - 1
    pairs' mean difference scores that template's target (a positive) and neutral (a negative)."""
    t = np.asarray(targets, dtype=np.float64)
    n = np.asarray(neutrals, dtype=np.float64)
    if len(t) != len(n) or len(t) < 2:
        raise ValueError("leave-one-out needs at least 2 template pairs")
    pos, neg = [], []
    for j in range(len(t)):
        keep = np.arange(len(t)) != j
        w = t[keep].mean(axis=0) - n[keep].mean(axis=0)
        w /= np.linalg.norm(w) or 1.0
        pos.append(t[j] @ w)
        neg.append(n[j] @ w)
    return auc(np.array(pos), np.array(neg))
