"""Latent-space maths on unit vectors: normalise, distances, slerp, mixes, directions, edits, analogies.

Pure numpy, free functions. Inputs and outputs are float32; the arithmetic runs in float64 where
rounding matters (angles near 0 or pi, cancellation in mixes), then the result is normalised again
and cast back, so every vector returned has unit norm to float32 precision.

Every degenerate case (a zero or non-finite vector, a mixture that cancels, antipodal endpoints) is
an :class:`InvalidInput` with a stable ``reason`` (``ZERO_VECTOR``, ``NON_FINITE``, ``ANTIPODAL``) and
the request field when the caller names one.

Every composite (mix, edits, slerp and lerp steps, 3CosAdd) is a linear combination of its inputs,
and each has a ``*_coefficients`` function giving that combination's coefficients on the inputs as
passed; the vector functions are :func:`combine` over them, and the resolver composes the same
coefficients down to a query's leaves to explain scores (:mod:`latentspace.indexer.resolved_point`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from latentspace.indexer.errors import InvalidInput

#: cos(a, b) below this counts as antipodal: the great circle through a and b is not unique.
ANTIPODAL_COS = -1.0 + 1e-6
#: Angles (radians) below this count as "the same point" for slerp.
SAME_POINT_ANGLE = 1e-7
#: A result whose norm is below this fraction of the norm its terms could reach has cancelled:
#: normalising it would blow float noise up into an arbitrary direction.
CANCEL_TOLERANCE = 1e-6
#: The denominator guard of 3CosMul (Levy & Goldberg 2014), as in the proto.
COS_MUL_EPS = 1e-3


def _finite(v: np.ndarray, field: str | None) -> None:
    if not np.all(np.isfinite(v)):
        raise InvalidInput("vector has NaN or infinite components", field=field, reason="NON_FINITE")


def _unit64(v: ArrayLike, field: str | None, scale: float = 0.0,
            zero_message: str | None = None) -> np.ndarray:
    """Normalise one vector in float64.

    ``scale`` is the norm the vector would have had without cancellation (0: only an exact zero is
    refused); ``zero_message`` explains a cancelled result.
    """
    x, norm = _with_norm(v, field, scale, zero_message)
    return x / norm


def _with_norm(v: ArrayLike, field: str | None, scale: float = 0.0,
               zero_message: str | None = None) -> tuple[np.ndarray, float]:
    """``(v as float64, its norm)``, refusing what :func:`_unit64` refuses."""
    x = np.asarray(v, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise InvalidInput(f"expected a non-empty 1-D vector, got shape {x.shape}", field=field)
    # NaN or infinity in x makes the norm non-finite, so one dot product checks both; the
    # element-wise pass runs only to give a refusal its reason.
    norm = math.sqrt(float(x @ x))
    if not math.isfinite(norm):
        _finite(x, field)
    if norm == 0.0 or norm <= CANCEL_TOLERANCE * scale or not math.isfinite(norm):
        raise InvalidInput(zero_message or "the vector is zero and has no direction; send a non-zero vector",
                           field=field, reason="ZERO_VECTOR")
    return x, norm


def combine(vectors: Sequence[ArrayLike] | np.ndarray, coefficients: Sequence[float] | np.ndarray) -> np.ndarray:
    """``sum_i coefficients[i] * vectors[i]`` in float64, returned as float32.

    Every composite point (mix, edit, analogy, path step) is computed this way from the coefficients
    its ``*_coefficients`` function gives, so the same coefficients explain its scores exactly
    (:mod:`latentspace.indexer.explain`).
    """
    return (np.asarray(coefficients, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64)).astype(np.float32)


def normalize(v: ArrayLike, *, field: str | None = None) -> np.ndarray:
    """Return ``v / |v|`` as float32. A zero or non-finite vector is :class:`InvalidInput`."""
    return _unit64(v, field).astype(np.float32)


def normalize_rows(m: ArrayLike, *, field: str | None = None) -> np.ndarray:
    """Normalise every row of an ``(n, d)`` matrix to unit length (float32).

    A zero or non-finite row is :class:`InvalidInput` naming ``field[i]``.
    """
    x = np.asarray(m, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInput(f"expected an (n, d) matrix, got shape {x.shape}", field=field)
    norms = np.linalg.norm(x, axis=1)
    bad = ~np.isfinite(x).all(axis=1) | (norms == 0.0)
    if bad.any():
        i = int(np.argmax(bad))
        row_field = f"{field}[{i}]" if field else f"row {i}"
        _unit64(x[i], row_field)  # raises with the precise reason
    return (x / norms[:, None]).astype(np.float32)


def _as_unit_rows(m: ArrayLike) -> np.ndarray:
    # Distances re-normalise in float64: a float32 "unit" vector is 1 +- 6e-8 long, and arccos near 1
    # turns that into an angle of ~1e-4 between a vector and itself.
    x = np.atleast_2d(np.asarray(m, dtype=np.float64))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0.0, 1.0, norms)


def cosine(a: ArrayLike, b: ArrayLike) -> float:
    """Cosine similarity of two vectors, in [-1, 1]."""
    return float(pairwise_cosines(np.atleast_2d(a), np.atleast_2d(b))[0])


def pairwise_cosines(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Cosine of each row of ``a`` with the same row of ``b``: ``(n, d), (n, d) -> (n,)`` float64."""
    x, y = _as_unit_rows(a), _as_unit_rows(b)
    if x.shape != y.shape:
        raise InvalidInput(f"pair lists differ in shape: {x.shape} vs {y.shape}")
    return np.clip(np.einsum("ij,ij->i", x, y), -1.0, 1.0)


def cosine_matrix(rows: ArrayLike, cols: ArrayLike) -> np.ndarray:
    """Cosine of every row against every column: ``(n, d), (m, d) -> (n, m)`` float64."""
    return np.clip(_as_unit_rows(rows) @ _as_unit_rows(cols).T, -1.0, 1.0)


def angular_from_cosine(cos: ArrayLike) -> np.ndarray:
    """Angular distance ``arccos(cos) / pi``: a true metric on the sphere, in [0, 1]."""
    return np.asarray(np.arccos(np.clip(np.asarray(cos, dtype=np.float64), -1.0, 1.0)) / np.pi)


def euclidean_from_cosine(cos: ArrayLike) -> np.ndarray:
    """Chord length between unit vectors, ``sqrt(max(0, 2 - 2 cos))``, in [0, 2]."""
    return np.asarray(np.sqrt(np.maximum(0.0, 2.0 - 2.0 * np.asarray(cos, dtype=np.float64))))


def distance_triple(cos: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cosine, angular, euclidean)`` for cosines of any shape (pairs or matrices)."""
    c = np.clip(np.asarray(cos, dtype=np.float64), -1.0, 1.0)
    return c, angular_from_cosine(c), euclidean_from_cosine(c)


def angle_between(a: ArrayLike, b: ArrayLike) -> float:
    """The angle between two vectors in radians, accurate near 0 and pi (atan2 of chord lengths)."""
    x, y = _as_unit_rows(a)[0], _as_unit_rows(b)[0]
    return float(2.0 * np.arctan2(np.linalg.norm(x - y), np.linalg.norm(x + y)))


def slerp(a: ArrayLike, b: ArrayLike, t: float, *, field: str | None = None) -> np.ndarray:
    """Spherical interpolation ``sin((1-t)W)/sin W * a + sin(tW)/sin W * b`` with ``W = angle(a, b)``.

    Returns ``a`` when W is ~0. Antipodal ``a`` and ``b`` have no unique great circle and raise
    :class:`InvalidInput` with reason ``ANTIPODAL`` (go through a ``via`` point with :func:`slerp_via`).
    ``t`` outside [0, 1] extrapolates along the same circle.
    """
    return combine([a, b], slerp_coefficients(a, b, t, field=field))


def slerp_coefficients(a: ArrayLike, b: ArrayLike, t: float, *, field: str | None = None) -> tuple[float, float]:
    """``(ca, cb)`` with ``slerp(a, b, t) = ca * a + cb * b`` (the inputs as given, not normalised)."""
    x, na = _with_norm(a, field)
    y, nb = _with_norm(b, field)
    x, y = x / na, y / nb
    if float(x @ y) < ANTIPODAL_COS:
        raise InvalidInput(
            "the two points are antipodal (cos = -1): no unique great circle joins them; "
            "give a `via` point to interpolate through",
            field=field,
            reason="ANTIPODAL",
        )
    omega = 2.0 * np.arctan2(np.linalg.norm(x - y), np.linalg.norm(x + y))
    if omega < SAME_POINT_ANGLE:
        return 1.0 / na, 0.0
    s = np.sin(omega)
    wa, wb = np.sin((1.0 - t) * omega) / s, np.sin(t * omega) / s
    out = float(np.linalg.norm(wa * x + wb * y))
    return float(wa / (na * out)), float(wb / (nb * out))


def lerp(a: ArrayLike, b: ArrayLike, t: float, *, field: str | None = None) -> np.ndarray:
    """Along the chord, then normalised: ``normalise((1-t) a + t b)``.

    Antipodal endpoints are ``ANTIPODAL`` whatever t, as for :func:`slerp`: their chord passes through
    0 at t = 0.5, so a path would jump from near a to near b.
    """
    return combine([a, b], lerp_coefficients(a, b, t, field=field))


def lerp_coefficients(a: ArrayLike, b: ArrayLike, t: float, *, field: str | None = None) -> tuple[float, float]:
    """``(ca, cb)`` with ``lerp(a, b, t) = ca * a + cb * b``."""
    x, na = _with_norm(a, field)
    y, nb = _with_norm(b, field)
    x, y = x / na, y / nb
    if float(x @ y) < ANTIPODAL_COS:
        raise InvalidInput("the two points are antipodal: the chord between them passes through zero; "
                           "give a `via` point", field=field, reason="ANTIPODAL")
    out = float(np.linalg.norm((1.0 - t) * x + t * y))
    if out <= CANCEL_TOLERANCE * (abs(1.0 - t) + abs(t)):
        raise InvalidInput("the chord between the two points passes through zero here (antipodal points); "
                           "give a `via` point", field=field, reason="ANTIPODAL")
    return (1.0 - t) / (na * out), t / (nb * out)


def _leg(t: float) -> tuple[bool, float]:
    # t in [0, 0.5] maps to the first leg, (0.5, 1] to the second; outside [0, 1] extrapolates the
    # nearer leg so extrapolation stays continuous.
    return (True, 2.0 * t) if t <= 0.5 else (False, 2.0 * t - 1.0)


def via_coefficients(a: ArrayLike, via: ArrayLike, b: ArrayLike, t: float, *, lerp_legs: bool = False,
                     field: str | None = None) -> tuple[float, float, float]:
    """``(ca, cvia, cb)`` of the two-leg path ``a -> via`` (t in [0, 0.5]) then ``via -> b``."""
    first, u = _leg(t)
    leg = lerp_coefficients if lerp_legs else slerp_coefficients
    if first:
        ca, cv = leg(a, via, u, field=field)
        return ca, cv, 0.0
    cv, cb = leg(via, b, u, field=field)
    return 0.0, cv, cb


def slerp_via(a: ArrayLike, via: ArrayLike, b: ArrayLike, t: float, *,
              field: str | None = None) -> np.ndarray:
    """Two slerp legs, ``a -> via`` for t in [0, 0.5] and ``via -> b`` for t in [0.5, 1]."""
    return combine([a, via, b], via_coefficients(a, via, b, t, field=field))


def lerp_via(a: ArrayLike, via: ArrayLike, b: ArrayLike, t: float, *, field: str | None = None) -> np.ndarray:
    """Two lerp legs, ``a -> via`` then ``via -> b``, split at t = 0.5 like :func:`slerp_via`."""
    return combine([a, via, b], via_coefficients(a, via, b, t, lerp_legs=True, field=field))


def path_ts(steps: int, *, field: str = "steps") -> np.ndarray:
    """``steps`` evenly spaced t in [0, 1] including both ends (``steps >= 2``)."""
    if steps < 2:
        raise InvalidInput(f"a path needs at least 2 steps (both ends), got {steps}", field=field)
    return np.linspace(0.0, 1.0, steps)


def mix(vectors: ArrayLike, weights: Sequence[float] | np.ndarray, *, field: str | None = None) -> np.ndarray:
    """``normalise(sum_i w_i * q_i)`` over unit vectors ``q_i`` (rows of an ``(n, d)`` matrix).

    Weights may be negative. A mixture that cancels to (near) zero is :class:`InvalidInput`.
    """
    return combine(np.asarray(vectors, dtype=np.float64), mix_coefficients(vectors, weights, field=field))


def mix_coefficients(vectors: ArrayLike, weights: Sequence[float] | np.ndarray, *,
                     field: str | None = None) -> np.ndarray:
    """``c`` with ``mix(vectors, weights) = sum_i c_i * vectors[i]``: ``w / |sum_i w_i q_i|``."""
    q = np.asarray(vectors, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] == 0:
        raise InvalidInput("a mix needs at least one part", field=field)
    if w.shape != (q.shape[0],):
        raise InvalidInput(f"{q.shape[0]} parts but {w.size} weights", field=field)
    if not np.all(np.isfinite(w)):
        raise InvalidInput("mix weights must be finite numbers", field=field, reason="NON_FINITE")
    total = w @ q
    # Relative to sum |w|, the norm the mixture has when every part points the same way.
    scale = float(np.abs(w).sum())
    if scale == 0.0 or np.linalg.norm(total) <= CANCEL_TOLERANCE * scale:
        raise InvalidInput("the mixture cancels to the zero vector (all weights zero, or parts that "
                           "cancel each other); change the weights", field=field, reason="ZERO_VECTOR")
    return np.asarray(w / np.linalg.norm(total))


def direction_from_examples(positive: ArrayLike, negative: ArrayLike, *,
                            field: str | None = None) -> tuple[np.ndarray, float]:
    """``normalise(mean(positive) - mean(negative))`` and the raw difference's norm.

    With no negatives the direction points from the origin to the positives' mean. A small raw norm
    means a weak, noisy direction; a zero one is :class:`InvalidInput`. A text-pair direction is this
    with the target's encodings as positives and the neutral's as negatives (one row each, or one per
    prompt template).
    """
    pos = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negative, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[0] == 0:
        raise InvalidInput("a direction needs at least one positive example", field=field)
    diff = pos.mean(axis=0) - (neg.mean(axis=0) if neg.size else 0.0)
    _finite(diff, field)
    raw = float(np.linalg.norm(diff))
    if raw <= CANCEL_TOLERANCE:
        raise InvalidInput("the examples give no direction: positive and negative encode to the same "
                           "point", field=field, reason="ZERO_VECTOR")
    return (diff / raw).astype(np.float32), raw


def edit_add(base: ArrayLike, direction: ArrayLike, strength: float, *,
             field: str | None = None) -> np.ndarray:
    """``normalise(base + strength * direction)``."""
    return combine([base, direction], edit_add_coefficients(base, direction, strength, field=field))


def edit_add_coefficients(base: ArrayLike, direction: ArrayLike, strength: float, *,
                          field: str | None = None) -> tuple[float, float]:
    """``(cb, cd)`` with ``edit_add(base, direction, strength) = cb * base + cd * direction``."""
    x, nb = _with_norm(base, field)
    d, nd = _with_norm(direction, field)
    _, out = _with_norm(x / nb + strength * d / nd, field, scale=1.0 + abs(strength),
                        zero_message="base + strength * direction cancels to zero (the base points opposite "
                        "the direction); use a different strength")
    return 1.0 / (nb * out), strength / (nd * out)


def edit_rotate(base: ArrayLike, direction: ArrayLike, fraction: float, *,
                field: str | None = None) -> np.ndarray:
    """Slerp from ``base`` towards ``direction`` by ``fraction`` of the angle between them (0..1)."""
    return combine([base, direction], edit_rotate_coefficients(base, direction, fraction, field=field))


def edit_rotate_coefficients(base: ArrayLike, direction: ArrayLike, fraction: float, *,
                             field: str | None = None) -> tuple[float, float]:
    """``(cb, cd)`` of :func:`edit_rotate`: slerp is a linear combination of its ends."""
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInput(f"a rotation takes a fraction of the angle in [0, 1], got {fraction}", field=field)
    return slerp_coefficients(base, direction, fraction, field=field)


def edit_remove(base: ArrayLike, direction: ArrayLike, strength: float, *,
                field: str | None = None) -> np.ndarray:
    """Project the direction out: ``normalise(base - strength * (base . d) d)``."""
    return combine([base, direction], edit_remove_coefficients(base, direction, strength, field=field))


def edit_remove_coefficients(base: ArrayLike, direction: ArrayLike, strength: float, *,
                             field: str | None = None) -> tuple[float, float]:
    """``(cb, cd)`` of :func:`edit_remove`: linear in base and d once ``base . d`` is known."""
    x, nb = _with_norm(base, field)
    d, nd = _with_norm(direction, field)
    x, d = x / nb, d / nd
    projection = float(x @ d)
    _, out = _with_norm(x - strength * projection * d, field, scale=1.0 + abs(strength),
                        zero_message="the base lies along the direction, so removing the direction leaves "
                        "nothing; use a strength below 1")
    return 1.0 / (nb * out), -strength * projection / (nd * out)


def analogy_cos_add(a: ArrayLike, a_star: ArrayLike, b: ArrayLike, *, field: str | None = None) -> np.ndarray:
    """3CosAdd's point for ``a : a_star :: b : ?``, ``normalise(a_star - a + b)``."""
    return combine([a, a_star, b], analogy_cos_add_coefficients(a, a_star, b, field=field))


def analogy_cos_add_coefficients(a: ArrayLike, a_star: ArrayLike, b: ArrayLike, *,
                                 field: str | None = None) -> tuple[float, float, float]:
    """``(ca, ca_star, cb)`` with ``analogy_cos_add(a, a_star, b) = ca * a + ca_star * a_star + cb * b``."""
    x, na = _with_norm(a, field)
    xs, ns = _with_norm(a_star, field)
    y, nb = _with_norm(b, field)
    _, out = _with_norm(xs / ns - x / na + y / nb, field, scale=3.0,
                        zero_message="the analogy point a* - a + b cancels to zero (b equals a - a*)")
    return -1.0 / (na * out), 1.0 / (ns * out), 1.0 / (nb * out)


def cos_mul_scores(candidates: ArrayLike, a: ArrayLike, a_star: ArrayLike, b: ArrayLike,
                   eps: float = COS_MUL_EPS) -> np.ndarray:
    """3CosMul scores ``cos'(x,b) * cos'(x,a_star) / (cos'(x,a) + eps)`` with ``cos' = (1 + cos) / 2``.

    ``candidates`` is ``(n, d)``; returns ``(n,)`` float32. Shifting cosines into [0, 1] keeps the
    product and quotient monotone (Levy & Goldberg 2014).
    """
    x = _as_unit_rows(candidates)
    refs = _as_unit_rows(np.stack([np.asarray(a), np.asarray(a_star), np.asarray(b)]))
    shifted = (1.0 + np.clip(x @ refs.T, -1.0, 1.0)) / 2.0
    return (shifted[:, 2] * shifted[:, 1] / (shifted[:, 0] + eps)).astype(np.float32)
