"""Explained scores: for random query trees (mixes, edits of each mode, analogies, directions, nested),
each hit's shares add up to its score and equal a brute-force computation written out here.

The brute force recomputes every query point in float64 from its definition (``normalise(sum w q)``,
``normalise(b + a d)``, the slerp weights, ``b - a (b . d) d``, ``a* - a + b``), keeping each leaf's
coefficient along the way, and scores the hit's stored vector against each leaf.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from latentspace.indexer.directions import DirectionMethod
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.explanation import ScoreForm
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.latent_math import COS_MUL_EPS
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import (
    AnalogyMethod,
    AnalogyPoint,
    DirectionPoint,
    EditMode,
    EditPoint,
    ExamplesDirection,
    IdPoint,
    MixPoint,
    NamedDirection,
    VectorDirection,
    VectorPoint,
)
from latentspace.indexer.search_options import SearchOptions

D = 8
N_ITEMS = 40
STORED = np.random.default_rng(7).normal(size=D)


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    from latentspace.indexer.data_dir import DataDir

    data = DataDir.open(tmp_path_factory.mktemp("explain"))
    collection = data.create_collection("vec", None, dimension=D)
    rng = np.random.default_rng(0)
    collection.upsert([ItemRecord(f"v{i}", unit(rng.normal(size=D)).astype(np.float32), Modality.VECTOR)
                       for i in range(N_ITEMS)])
    operations = LatentOperations(collection)
    operations.create_direction("stored", VectorDirection(STORED))
    yield operations
    data.close()


# ---------------------------------------------------------------- the brute force


def reference(point, path: str, ops: LatentOperations) -> tuple[np.ndarray, list[tuple[str, float, np.ndarray]]]:
    """``(the point in float64, [(leaf path, coefficient, leaf vector)])`` from the definitions."""
    if isinstance(point, IdPoint):
        v = unit(ops.collection.get([point.id], with_vectors=True)[0].vector)
        return v, [(path, 1.0, v)]
    if isinstance(point, VectorPoint):
        v = unit(point.vector)
        return v, [(path, 1.0, v)]
    if isinstance(point, DirectionPoint):
        d = reference_direction(point.direction, ops)
        return d, [(f"{path}.direction", 1.0, d)]
    if isinstance(point, MixPoint):
        parts = [reference(p, f"{path}.mix.parts[{i}].query", ops) for i, (p, _) in enumerate(point.parts)]
        return combine([(part, w) for part, (_, w) in zip(parts, point.parts, strict=True)])
    if isinstance(point, EditPoint):
        base = reference(point.base, f"{path}.edit.base", ops)
        d = reference_direction(point.direction, ops)
        leaf = (d, [(f"{path}.edit.direction", 1.0, d)])
        s = point.effective_strength
        if point.mode is EditMode.ADD:
            return combine([(base, 1.0), (leaf, s)])
        if point.mode is EditMode.REMOVE:
            return combine([(base, 1.0), (leaf, -s * float(base[0] @ d))])
        omega = math.acos(max(-1.0, min(1.0, float(base[0] @ d))))
        if omega < 1e-7:  # the same point: the base, with the direction's term at 0
            return combine([(base, 1.0), (leaf, 0.0)])
        return combine([(base, math.sin((1 - s) * omega) / math.sin(omega)),
                        (leaf, math.sin(s * omega) / math.sin(omega))])
    if isinstance(point, AnalogyPoint):
        terms = [reference(getattr(point, n), f"{path}.analogy.{n}", ops) for n in ("a", "a_star", "b")]
        return combine(list(zip(terms, (-1.0, 1.0, 1.0), strict=True)))
    raise AssertionError(point)


def reference_direction(direction, ops: LatentOperations) -> np.ndarray:
    if isinstance(direction, VectorDirection):
        return unit(direction.vector)
    if isinstance(direction, NamedDirection):
        return unit(STORED)
    pos = np.mean([reference(p, "", ops)[0] for p in direction.positive], axis=0)
    neg = np.mean([reference(p, "", ops)[0] for p in direction.negative], axis=0) if direction.negative else 0.0
    return unit(pos - neg)


def combine(parts):
    raw = sum(w * vector for (vector, _), w in parts)
    norm = float(np.linalg.norm(raw))
    leaves = [(p, w * c / norm, v) for (_, terms), w in parts for p, c, v in terms]
    return raw / norm, leaves


# ---------------------------------------------------------------- random query trees

ids = st.integers(0, N_ITEMS - 1).map(lambda i: IdPoint(f"v{i}"))
vectors = st.lists(st.floats(-1, 1), min_size=D, max_size=D).filter(
    lambda v: np.linalg.norm(v) > 0.1).map(lambda v: VectorPoint(np.asarray(v, dtype=np.float32)))
leaves = ids | vectors
weights = st.floats(-2, 2).filter(lambda w: abs(w) > 0.05)


def directions(points):
    return st.one_of(
        vectors.map(lambda p: VectorDirection(p.vector)),
        st.just(NamedDirection("stored")),
        st.builds(lambda pos, neg: ExamplesDirection(tuple(pos), tuple(neg)),
                  st.lists(points, min_size=1, max_size=2), st.lists(points, max_size=2)),
    )


def composites(points):
    return st.one_of(
        st.lists(st.tuples(points, weights), min_size=1, max_size=3).map(lambda parts: MixPoint(tuple(parts))),
        st.builds(EditPoint, points, directions(points), st.sampled_from(list(EditMode)),
                  st.none() | st.floats(0, 1)),
        st.builds(AnalogyPoint, points, points, points),
        directions(points).map(DirectionPoint),
    )


query_points = st.recursive(leaves, composites, max_leaves=8)


def check_sum_form(hit, expected_terms) -> None:
    explanation = hit.explanation
    assert explanation is not None and explanation.form is ScoreForm.SUM
    assert abs(sum(t.share for t in explanation.terms) - hit.score) <= 1e-5
    assert [t.path for t in explanation.terms] == [p for p, _, _ in expected_terms]
    x = unit(hit_vector(hit))
    for term, (_, c, v) in zip(explanation.terms, expected_terms, strict=True):
        # Near-cancelling points have large coefficients: compare to float32 rounding of each share.
        assert term.share == pytest.approx(c * float(v @ x), rel=1e-6, abs=1e-5)
        assert term.coefficient == pytest.approx(c, rel=1e-4, abs=1e-6)


_VECTORS: dict[str, np.ndarray] = {}


def hit_vector(hit) -> np.ndarray:
    return _VECTORS[hit.id]


@pytest.fixture(scope="module", autouse=True)
def stored_vectors(ops):
    _VECTORS.update({it.id: it.vector for it in ops.collection.get([f"v{i}" for i in range(N_ITEMS)],
                                                                    with_vectors=True)})


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@PROPERTY
@given(point=query_points)
def test_shares_sum_to_each_score_and_match_the_brute_force(ops, point):
    try:
        [hits] = ops.search([point], SearchOptions(k=5, explain=True), ["query"])
    except InvalidInput:  # cancelling mixes and edits, antipodal rotations: refused, nothing to explain
        assume(False)
        return
    expected_vector, expected_terms = reference(point, "query", ops)
    [resolved] = ops.encode([point], ["query"])
    assert np.allclose(resolved.vector, expected_vector, atol=1e-5)
    assert hits and all(h.vector is None for h in hits)  # fetched to explain, not returned
    for hit in hits:
        check_sum_form(hit, expected_terms)
        used = [p for p in hit.explanation.projections]
        x = unit(hit_vector(hit))
        for projection in used:
            assert -1 - 1e-6 <= projection.projection <= 1 + 1e-6
            if projection.name == "stored":
                assert projection.projection == pytest.approx(float(unit(STORED) @ x), abs=1e-5)


@settings(PROPERTY, max_examples=60)
@given(a=query_points, b=query_points, steps=st.integers(2, 4))
def test_every_path_step_is_explained_by_its_ends(ops, a, b, steps):
    try:
        path = ops.interpolate(a, b, steps=steps, k=3, options=SearchOptions(explain=True))
    except InvalidInput:
        assume(False)
        return
    for step in path.steps:
        for hit in step.hits:
            terms = hit.explanation.terms
            assert abs(sum(t.share for t in terms) - hit.score) <= 1e-5
            assert all(t.path == "a" or t.path.startswith(("a.", "b")) for t in terms)


@PROPERTY
@given(base=query_points, strength=st.floats(0, 1), mode=st.sampled_from(list(EditMode)))
def test_edit_hits_are_explained_by_base_and_direction(ops, base, strength, mode):
    edit = EditPoint(base, NamedDirection("stored"), mode, strength)
    try:
        result = ops.edit(edit, k=4, options=SearchOptions(explain=True))
    except InvalidInput:
        assume(False)
        return
    _, expected_terms = reference(edit, "query", ops)
    terms = [(p.removeprefix("query."), c, v) for p, c, v in expected_terms]
    for hit in result.hits:
        check_sum_form(hit, terms)
        [projection] = [p for p in hit.explanation.projections if p.path == "edit.direction"]
        assert projection.name == "stored"
        assert projection.projection == pytest.approx(float(unit(STORED) @ unit(hit_vector(hit))), abs=1e-5)


def test_cos_mul_is_explained_by_its_three_factors(ops):
    analogy = AnalogyPoint(IdPoint("v1"), IdPoint("v2"), IdPoint("v3"), method=AnalogyMethod.COS_MUL)
    [hits] = ops.search([analogy], SearchOptions(k=5, explain=True))
    for hit in hits:
        e = hit.explanation
        assert e.form is ScoreForm.PRODUCT
        assert [(t.path, t.exponent) for t in e.terms] == [
            ("query.analogy.b", 1), ("query.analogy.a_star", 1), ("query.analogy.a", -1)]
        assert math.prod(t.factor ** t.exponent for t in e.terms) == pytest.approx(hit.score, rel=1e-5)
        x = unit(hit_vector(hit))
        a = unit(_VECTORS["v1"])
        assert e.terms[2].factor == pytest.approx((1 + a @ x) / 2 + COS_MUL_EPS, abs=1e-6)


def test_explain_keeps_vectors_only_when_asked_and_changes_no_ranking(ops):
    point = MixPoint(((IdPoint("v1"), 1.0), (IdPoint("v2"), -0.5)))
    plain = ops.search([point], SearchOptions(k=6))[0]
    explained = ops.search([point], SearchOptions(k=6, explain=True, with_vectors=True))[0]
    assert [(h.id, h.score) for h in plain] == [(h.id, h.score) for h in explained]
    assert all(h.explanation is None for h in plain)
    assert all(h.vector is not None for h in explained)


def test_a_direction_point_ranks_items_by_their_projection(ops):
    [hits] = ops.search([DirectionPoint(NamedDirection("stored"))], SearchOptions(k=N_ITEMS, explain=True))
    projections = [h.explanation.projections[0].projection for h in hits]
    assert projections == sorted(projections, reverse=True)
    assert [h.score for h in hits] == pytest.approx(projections, abs=1e-5)


def test_probe_methods_are_refused_for_a_raw_vector(ops):
    with pytest.raises(InvalidInput) as caught:
        ops.create_direction("probe", VectorDirection(STORED), DirectionMethod.LOGISTIC)
    assert caught.value.field == "method"
