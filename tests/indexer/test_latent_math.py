"""Properties of the latent-space maths, on random unit vectors (no model)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from latentspace.indexer import latent_math as lm
from latentspace.indexer.errors import InvalidInput

#: Applied per test (a profile would change hypothesis settings for every other module too).
props = settings(deadline=None, max_examples=150)

ATOL = 2e-6


def raw_vectors(dim: int) -> st.SearchStrategy[np.ndarray]:
    return arrays(np.float32, dim, elements=st.floats(-1, 1, width=32)).filter(
        lambda v: float(np.linalg.norm(v)) > 1e-2)


def unit(v: np.ndarray) -> np.ndarray:
    return lm.normalize(v)


dims = st.integers(2, 12)
pairs = dims.flatmap(lambda d: st.tuples(raw_vectors(d), raw_vectors(d)))
triples = dims.flatmap(lambda d: st.tuples(raw_vectors(d), raw_vectors(d), raw_vectors(d)))
fractions = st.floats(0, 1)


def not_antipodal(a: np.ndarray, b: np.ndarray) -> bool:
    return lm.cosine(a, b) > -1 + 1e-3


# ---------------------------------------------------------------- normalise


@props
@given(raw_vectors(16))
def test_normalize_gives_unit_float32(v):
    u = lm.normalize(v)
    assert u.dtype == np.float32
    assert abs(np.linalg.norm(u) - 1) < 1e-6


@pytest.mark.parametrize("bad,reason", [(np.zeros(4), "ZERO_VECTOR"), ([1.0, np.nan, 0, 0], "NON_FINITE"),
                                        ([np.inf, 0, 0, 0], "NON_FINITE")])
def test_normalize_refuses_zero_and_non_finite(bad, reason):
    with pytest.raises(InvalidInput) as caught:
        lm.normalize(bad, field="query.vector")
    assert caught.value.reason == reason
    assert caught.value.field == "query.vector"


def test_normalize_rows_names_the_bad_row():
    m = np.eye(3, dtype=np.float32)
    m[1] = 0
    with pytest.raises(InvalidInput) as caught:
        lm.normalize_rows(m, field="rows")
    assert caught.value.field == "rows[1]"
    assert np.allclose(np.linalg.norm(lm.normalize_rows(np.eye(3) * 5), axis=1), 1)


# ---------------------------------------------------------------- slerp


@props
@given(pairs, fractions)
def test_slerp_returns_unit_vectors(pair, t):
    a, b = map(unit, pair)
    assume(not_antipodal(a, b))
    assert abs(np.linalg.norm(lm.slerp(a, b, t)) - 1) < 1e-6


@props
@given(pairs)
def test_slerp_hits_both_endpoints(pair):
    a, b = map(unit, pair)
    assume(not_antipodal(a, b))
    assert np.allclose(lm.slerp(a, b, 0.0), a, atol=ATOL)
    assert np.allclose(lm.slerp(a, b, 1.0), b, atol=ATOL)


@props
@given(pairs, fractions)
def test_slerp_is_symmetric(pair, t):
    a, b = map(unit, pair)
    assume(not_antipodal(a, b))
    assert np.allclose(lm.slerp(a, b, t), lm.slerp(b, a, 1 - t), atol=1e-5)


@props
@given(pairs, st.integers(2, 20))
def test_cos_to_a_falls_monotonically_along_an_even_path(pair, steps):
    a, b = map(unit, pair)
    assume(not_antipodal(a, b))
    path = np.stack([lm.slerp(a, b, t) for t in lm.path_ts(steps)])
    cos_a = lm.cosine_matrix(path, a[None])[:, 0]
    cos_b = lm.cosine_matrix(path, b[None])[:, 0]
    assert np.all(np.diff(cos_a) <= 1e-6)
    assert np.all(np.diff(cos_b) >= -1e-6)


@props
@given(pairs)
def test_slerp_midpoint_is_equidistant_and_on_the_arc(pair):
    a, b = map(unit, pair)
    assume(not_antipodal(a, b))
    m = lm.slerp(a, b, 0.5)
    assert abs(lm.cosine(m, a) - lm.cosine(m, b)) < 1e-5
    assert abs(lm.angle_between(a, m) * 2 - lm.angle_between(a, b)) < 1e-4


def test_slerp_of_a_point_with_itself_returns_it():
    a = unit(np.array([0.3, -0.2, 0.9], dtype=np.float32))
    assert np.array_equal(lm.slerp(a, a, 0.7), a)


def test_slerp_refuses_antipodal_points_and_via_goes_around():
    a = unit(np.array([1.0, 2.0, 3.0, 0.0], dtype=np.float32))
    with pytest.raises(InvalidInput) as caught:
        lm.slerp(a, -a, 0.5, field="b")
    assert caught.value.reason == "ANTIPODAL" and caught.value.field == "b"
    via = unit(np.array([0.0, 0.0, 0.0, 1.0], dtype=np.float32))
    assert np.allclose(lm.slerp_via(a, via, -a, 0.0), a, atol=ATOL)
    assert np.allclose(lm.slerp_via(a, via, -a, 0.5), via, atol=ATOL)
    assert np.allclose(lm.slerp_via(a, via, -a, 1.0), -a, atol=ATOL)
    with pytest.raises(InvalidInput, match="antipodal"):
        lm.lerp(a, -a, 0.5)


@props
@given(pairs, fractions)
def test_lerp_is_unit_and_matches_the_normalised_chord(pair, t):
    a, b = map(unit, pair)
    assume(lm.cosine(a, b) > -0.9)
    out = lm.lerp(a, b, t)
    chord = (1 - t) * a.astype(np.float64) + t * b
    assert np.allclose(out, chord / np.linalg.norm(chord), atol=ATOL)


def test_path_ts_is_even_and_needs_two_steps():
    assert lm.path_ts(5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    with pytest.raises(InvalidInput) as caught:
        lm.path_ts(1)
    assert caught.value.field == "steps"


# ---------------------------------------------------------------- mixes and edits


@props
@given(triples, st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_mix_is_unit_or_refused(vectors, weights):
    q = np.stack([unit(v) for v in vectors])
    raw = np.asarray(weights) @ q.astype(np.float64)
    assume(np.linalg.norm(raw) > 1e-3)
    out = lm.mix(q, weights)
    assert abs(np.linalg.norm(out) - 1) < 1e-6
    assert np.allclose(out, raw / np.linalg.norm(raw), atol=1e-5)


def test_a_mix_that_cancels_is_refused():
    a = unit(np.array([0.1, 0.7, -0.3], dtype=np.float32))
    with pytest.raises(InvalidInput) as caught:
        lm.mix(np.stack([a, a]), [1.0, -1.0], field="query.mix")
    assert caught.value.reason == "ZERO_VECTOR" and caught.value.field == "query.mix"
    with pytest.raises(InvalidInput):
        lm.mix(np.stack([a]), [0.0])
    with pytest.raises(InvalidInput):
        lm.mix(np.zeros((0, 3)), [])


@props
@given(pairs, st.floats(-2, 2))
def test_edit_add_is_unit_and_moves_along_the_direction(pair, strength):
    base, d = map(unit, pair)
    raw = base.astype(np.float64) + strength * d
    assume(np.linalg.norm(raw) > 1e-3)
    out = lm.edit_add(base, d, strength)
    assert abs(np.linalg.norm(out) - 1) < 1e-6
    assert np.allclose(out, raw / np.linalg.norm(raw), atol=1e-5)


@props
@given(pairs, fractions)
def test_edit_rotate_is_unit_and_ends_on_the_direction(pair, fraction):
    base, d = map(unit, pair)
    assume(not_antipodal(base, d))
    assert abs(np.linalg.norm(lm.edit_rotate(base, d, fraction)) - 1) < 1e-6
    assert np.allclose(lm.edit_rotate(base, d, 1.0), d, atol=ATOL)
    assert np.allclose(lm.edit_rotate(base, d, 0.0), base, atol=ATOL)
    with pytest.raises(InvalidInput):
        lm.edit_rotate(base, d, 1.5)


@props
@given(pairs)
def test_edit_remove_projects_the_direction_out(pair):
    base, d = map(unit, pair)
    assume(abs(lm.cosine(base, d)) < 0.999)
    out = lm.edit_remove(base, d, 1.0)
    assert abs(np.linalg.norm(out) - 1) < 1e-6
    assert abs(float(out @ d)) < 1e-5


def test_removing_a_direction_from_itself_is_refused():
    d = unit(np.array([1.0, 1.0, 0.0], dtype=np.float32))
    with pytest.raises(InvalidInput) as caught:
        lm.edit_remove(d, d, 1.0)
    assert caught.value.reason == "ZERO_VECTOR"
    with pytest.raises(InvalidInput):
        lm.edit_add(d, -d, 1.0)


@props
@given(dims.flatmap(lambda d: st.tuples(st.lists(raw_vectors(d), min_size=1, max_size=4),
                                        st.lists(raw_vectors(d), min_size=0, max_size=4))))
def test_direction_from_examples_is_the_unit_mean_difference(examples):
    pos, neg = (np.stack([unit(v) for v in vs]) if vs else np.zeros((0, len(examples[0][0])))
                for vs in examples)
    raw = pos.mean(axis=0) - (neg.mean(axis=0) if len(neg) else 0)
    assume(np.linalg.norm(raw) > 1e-3)
    d, norm = lm.direction_from_examples(pos, neg)
    assert abs(np.linalg.norm(d) - 1) < 1e-6
    assert norm == pytest.approx(np.linalg.norm(raw), rel=1e-5)


def test_identical_examples_give_no_direction():
    a = unit(np.array([0.2, 0.3, 0.4], dtype=np.float32))
    with pytest.raises(InvalidInput) as caught:
        lm.direction_from_examples(a[None], a[None], field="edit.direction.examples")
    assert caught.value.reason == "ZERO_VECTOR"


# ---------------------------------------------------------------- distances


@props
@given(triples)
def test_angular_distance_is_a_metric(triple):
    a, b, c = map(unit, triple)
    ab, bc, ac = (float(lm.angular_from_cosine(lm.cosine(x, y))) for x, y in ((a, b), (b, c), (a, c)))
    assert ac <= ab + bc + 1e-6
    assert 0 <= ab <= 1
    assert float(lm.angular_from_cosine(lm.cosine(a, a))) < 1e-6
    assert ab == pytest.approx(float(lm.angular_from_cosine(lm.cosine(b, a))), abs=1e-12)


@props
@given(pairs)
def test_euclidean_squared_is_two_minus_two_cos(pair):
    a, b = map(unit, pair)
    cos, ang, euc = lm.distance_triple(lm.pairwise_cosines(a[None], b[None]))
    assert euc[0] ** 2 == pytest.approx(2 - 2 * cos[0], abs=1e-9)
    assert euc[0] == pytest.approx(np.linalg.norm(a.astype(np.float64) - b), abs=1e-5)
    assert ang[0] == pytest.approx(lm.angle_between(a, b) / np.pi, abs=1e-6)


def test_distance_shapes_for_pairs_and_matrices():
    rng = np.random.default_rng(0)
    rows, cols = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    assert lm.cosine_matrix(rows, cols).shape == (3, 4)
    c, a, e = lm.distance_triple(lm.cosine_matrix(rows, rows))
    assert np.allclose(np.diag(c), 1) and np.allclose(np.diag(a), 0, atol=1e-7)
    assert np.allclose(np.diag(e), 0, atol=1e-7)
    assert lm.pairwise_cosines(rows, cols[:3]).shape == (3,)


# ---------------------------------------------------------------- analogies


@props
@given(triples)
def test_cos_add_is_the_normalised_offset(triple):
    a, a_star, b = map(unit, triple)
    raw = a_star.astype(np.float64) - a + b
    assume(np.linalg.norm(raw) > 1e-3)
    assert np.allclose(lm.analogy_cos_add(a, a_star, b), raw / np.linalg.norm(raw), atol=1e-5)


def test_cos_mul_scores_follow_the_formula():
    rng = np.random.default_rng(1)
    cands = lm.normalize_rows(rng.normal(size=(6, 4)))
    a, a_star, b = (unit(rng.normal(size=4).astype(np.float32)) for _ in range(3))
    shifted = [(1 + cands.astype(np.float64) @ v) / 2 for v in (a, a_star, b)]
    expected = shifted[2] * shifted[1] / (shifted[0] + 1e-3)
    assert np.allclose(lm.cos_mul_scores(cands, a, a_star, b), expected, rtol=1e-5)
    # The candidate equal to a scores lowest-ish: it sits at cos'(x, a) = 1.
    assert lm.cos_mul_scores(a[None], a, a_star, b)[0] <= 1 / (1 + 1e-3)


def test_lerp_refuses_antipodal_points_whatever_the_steps():
    a = np.ones(4, dtype=np.float32) / 2
    for t in (0.0, 1 / 3, 2 / 3, 1.0):  # none of them lands on the zero at t = 0.5
        with pytest.raises(InvalidInput) as caught:
            lm.lerp(a, -a, t)
        assert caught.value.reason == "ANTIPODAL"
