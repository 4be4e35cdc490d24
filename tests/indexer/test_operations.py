"""LatentOperations over vector-only collections: the real ``Collection`` and a brute-force stand-in.

Every scenario runs against both (the stand-in is exact by construction), so the operations and the
real store cannot drift apart; batching is checked on the stand-in, which counts calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from latentspace.indexer import latent_math as lm
from latentspace.indexer.errors import InvalidInput, ItemNotFound, ModalityNotSupported
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import (
    AnalogyMethod,
    AnalogyPoint,
    EditMode,
    EditPoint,
    ExamplesDirection,
    IdPoint,
    InterpolationMethod,
    MixPoint,
    TextPairDirection,
    TextPoint,
    VectorDirection,
    VectorPoint,
)
from latentspace.indexer.search_options import SearchOptions
from tests.indexer.brute_force_collection import BruteForceCollection

D = 8
Items = dict[str, tuple[np.ndarray, Modality]]
Factory = Callable[[Items], LatentOperations]


def unit(v: np.ndarray) -> np.ndarray:
    return (np.asarray(v, dtype=np.float64) / np.linalg.norm(v)).astype(np.float32)


def random_items(n: int = 40, seed: int = 0) -> Items:
    rng = np.random.default_rng(seed)
    return {f"v{i}": (unit(rng.normal(size=D)), Modality.VECTOR) for i in range(n)}


@pytest.fixture(params=["brute", "real"])
def make_ops(request, tmp_path) -> Iterator[Factory]:
    opened = []

    def make(items: Items) -> LatentOperations:
        if request.param == "brute":
            brute = BruteForceCollection(D)
            for item_id, (v, modality) in items.items():
                brute.add(item_id, v, modality)
            return LatentOperations(brute)
        from latentspace.indexer.data_dir import DataDir

        data = DataDir.open(tmp_path / f"data{len(opened)}")
        opened.append(data)
        collection = data.create_collection("vec", None, dimension=D)
        collection.upsert([ItemRecord(i, v, m) for i, (v, m) in items.items()])
        return LatentOperations(collection)

    yield make
    for data in opened:
        data.close()


# ---------------------------------------------------------------- search and analogies


def analogy_items() -> Items:
    rng = np.random.default_rng(3)
    x, y, offset = (rng.normal(size=D) for _ in range(3))
    items = random_items(30, seed=4)
    items.update({name: (unit(v), Modality.VECTOR) for name, v in
                  {"a": x, "a_star": x + offset, "b": y, "answer": y + offset}.items()})
    return items


def test_search_finds_an_item_by_its_own_id(make_ops):
    ops = make_ops(random_items())
    [hits] = ops.search([IdPoint("v5")], SearchOptions(k=3))
    assert hits[0].id == "v5" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(hits) == 3


def test_analogy_excludes_its_inputs_unless_asked(make_ops):
    items = analogy_items()
    ops = make_ops(items)
    analogy = AnalogyPoint(IdPoint("a"), IdPoint("a_star"), IdPoint("b"))
    [hits] = ops.search([analogy], SearchOptions(k=len(items)))
    ids = [h.id for h in hits]
    assert ids[0] == "answer"
    assert not {"a", "a_star", "b"} & set(ids)
    assert len(ids) == len(items) - 3
    [hits] = ops.search([AnalogyPoint(IdPoint("a"), IdPoint("a_star"), IdPoint("b"), include_inputs=True)],
                        SearchOptions(k=len(items)))
    assert {"a", "a_star", "b"} <= {h.id for h in hits}
    # With a small k the exclusion still leaves k hits.
    [hits] = ops.search([analogy], SearchOptions(k=2))
    assert len(hits) == 2 and "b" not in {h.id for h in hits}


def test_cos_mul_ranks_every_candidate_by_the_3cosmul_score(make_ops):
    items = analogy_items()
    ops = make_ops(items)
    query = AnalogyPoint(IdPoint("a"), IdPoint("a_star"), IdPoint("b"), method=AnalogyMethod.COS_MUL)
    [hits] = ops.search([query], SearchOptions(k=5))
    others = [i for i in items if i not in {"a", "a_star", "b"}]
    scores = lm.cos_mul_scores(np.stack([items[i][0] for i in others]), items["a"][0], items["a_star"][0],
                               items["b"][0])
    expected = [others[j] for j in np.argsort(-scores, kind="stable")[:5]]
    assert [h.id for h in hits] == expected
    assert hits[0].score == pytest.approx(float(scores.max()), rel=1e-5)
    assert all(h.vector is None for h in hits)
    # The threshold applies to the 3CosMul score.
    cut = (hits[1].score + hits[2].score) / 2
    [kept] = ops.search([query], SearchOptions(k=5, score_threshold=cut, with_vectors=True))
    assert [h.id for h in kept] == expected[:2] and kept[0].vector is not None


def test_cos_mul_is_not_a_point(make_ops):
    ops = make_ops(analogy_items())
    cos_mul = AnalogyPoint(IdPoint("a"), IdPoint("a_star"), IdPoint("b"), method=AnalogyMethod.COS_MUL)
    with pytest.raises(InvalidInput, match="ranking") as caught:
        ops.distance([(cos_mul, IdPoint("a"))])
    assert caught.value.field == "pairs[0].a.analogy.method"
    with pytest.raises(InvalidInput) as caught:
        ops.interpolate(IdPoint("a"), cos_mul)
    assert caught.value.field == "b.analogy.method"
    with pytest.raises(InvalidInput) as caught:
        ops.encode([cos_mul])
    assert caught.value.field == "queries[0].analogy.method"
    with pytest.raises(InvalidInput) as caught:
        ops.search([MixPoint(((cos_mul, 1.0),))], SearchOptions(k=1))
    assert caught.value.field == "query.mix.parts[0].query.analogy.method"
    with pytest.raises(InvalidInput) as caught:
        ops.edit(EditPoint(cos_mul, VectorDirection(np.ones(D))))
    assert caught.value.field == "edit.base.analogy.method"


@pytest.mark.parametrize("k", [0, -1, 1001])
def test_search_k_out_of_range(make_ops, k):
    ops = make_ops(random_items(5))
    with pytest.raises(InvalidInput) as caught:
        ops.search([IdPoint("v1")], SearchOptions(k=k))
    assert caught.value.field == "options.k"


def test_errors_name_the_proto_field(make_ops):
    ops = make_ops(random_items(5))
    with pytest.raises(ItemNotFound) as caught:
        ops.search([IdPoint("nope")], SearchOptions(k=1))
    assert caught.value.field == "query.id" and "'nope'" in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        ops.search([VectorPoint(np.ones(3))], SearchOptions(k=1))
    assert str(caught.value) == "query.vector: expected 8 dimensions, got 3"
    mix = MixPoint(((IdPoint("v1"), 1.0), (VectorPoint(np.zeros(D)), 0.5)))
    with pytest.raises(InvalidInput) as caught:
        ops.search([IdPoint("v1"), mix], SearchOptions(k=1))
    assert caught.value.field == "queries[1].mix.parts[1].query.vector"
    assert caught.value.reason == "ZERO_VECTOR"
    with pytest.raises(InvalidInput) as caught:
        ops.search([MixPoint(((IdPoint("v1"), 1.0), (IdPoint("v1"), -1.0)))], SearchOptions(k=1))
    assert caught.value.field == "query.mix"
    with pytest.raises(ModalityNotSupported) as caught:
        ops.search([MixPoint(((IdPoint("v1"), 1.0), (TextPoint("hi"), 1.0)))], SearchOptions(k=1))
    assert caught.value.field == "query.mix.parts[1].query.text"
    with pytest.raises(InvalidInput) as caught:
        ops.search([TextPoint("  ")], SearchOptions(k=1))
    assert caught.value.field == "query.text"


def test_batched_search_matches_single_searches(make_ops):
    ops = make_ops(analogy_items())
    points = [IdPoint("v1"), AnalogyPoint(IdPoint("a"), IdPoint("a_star"), IdPoint("b")),
              MixPoint(((IdPoint("v2"), 1.0), (IdPoint("v3"), 2.0)))]
    together = ops.search(points, SearchOptions(k=4))
    alone = [ops.search([p], SearchOptions(k=4))[0] for p in points]
    assert [[h.id for h in hits] for hits in together] == [[h.id for h in hits] for hits in alone]


# ---------------------------------------------------------------- distance


def test_distance_values_and_cross_modal_flags(make_ops):
    items = random_items(4)
    items["txt"] = (unit(np.arange(1, D + 1)), Modality.TEXT)
    items["img"] = (unit(np.arange(D, 0, -1)), Modality.IMAGE)
    ops = make_ops(items)
    results = ops.distance([(IdPoint("txt"), IdPoint("img")), (IdPoint("txt"), IdPoint("txt")),
                            (VectorPoint(items["v0"][0]), IdPoint("img"))])
    cross, same, mixed = results
    cos = float(items["txt"][0].astype(np.float64) @ items["img"][0])
    assert cross.cosine == pytest.approx(cos, abs=1e-6)
    assert cross.angular == pytest.approx(np.arccos(cos) / np.pi, abs=1e-6)
    assert cross.euclidean == pytest.approx(np.sqrt(2 - 2 * cos), abs=1e-6)
    assert cross.cross_modal and (cross.a_modality, cross.b_modality) == (Modality.TEXT, Modality.IMAGE)
    assert not same.cross_modal and same.angular < 1e-6 and same.euclidean < 1e-6
    assert not mixed.cross_modal and mixed.a_modality is Modality.VECTOR


def test_distance_matrix_shapes(make_ops):
    items = random_items(6)
    items["txt"] = (unit(np.arange(1, D + 1)), Modality.TEXT)
    items["img"] = (unit(np.arange(D, 0, -1)), Modality.IMAGE)
    ops = make_ops(items)
    rows = [IdPoint("v0"), IdPoint("txt"), IdPoint("img")]
    m = ops.distance_matrix(rows, [IdPoint("img"), IdPoint("v1")])
    for array in (m.cosine, m.angular, m.euclidean, m.cross_modal):
        assert array.shape == (3, 2)
    assert m.cross_modal.tolist() == [[False, False], [True, False], [False, False]]
    square = ops.distance_matrix(rows)
    assert square.cosine.shape == (3, 3)
    assert np.allclose(square.cosine, square.cosine.T)
    assert np.allclose(np.diag(square.cosine), 1) and np.allclose(np.diag(square.angular), 0, atol=1e-6)
    assert square.column_modalities == square.row_modalities == (Modality.VECTOR, Modality.TEXT,
                                                                  Modality.IMAGE)


# ---------------------------------------------------------------- interpolate


def arc_items(n: int = 30) -> Items:
    """Items spread along the arc from A to B (with a little noise), plus the endpoints themselves."""
    rng = np.random.default_rng(5)
    a, b = unit(rng.normal(size=D)), unit(rng.normal(size=D))
    items = {"A": (a, Modality.VECTOR), "B": (b, Modality.VECTOR)}
    for i, t in enumerate(np.linspace(0, 1, n)):
        items[f"p{i}"] = (unit(lm.slerp(a, b, t) + 0.05 * rng.normal(size=D)), Modality.VECTOR)
    return items


def sequential_distinct(ops: LatentOperations, vectors: list[np.ndarray], k: int, banned: set[str]) -> list[list[str]]:
    """The reference: one exact search per step, excluding everything shown before."""
    shown: set[str] = set()
    out = []
    for v in vectors:
        [hits] = ops.search([VectorPoint(v)], SearchOptions(k=k, exclude_ids=frozenset(banned | shown)))
        out.append([h.id for h in hits])
        shown.update(out[-1])
    return out


@pytest.mark.parametrize("steps,k", [(5, 3), (10, 5)])
def test_distinct_path_never_repeats_and_drops_the_endpoints(make_ops, steps, k):
    items = arc_items()
    ops = make_ops(items)
    result = ops.interpolate(IdPoint("A"), IdPoint("B"), steps=steps, k=k, distinct=True)
    ids = [[h.id for h in step.hits] for step in result.steps]
    flat = [i for step in ids for i in step]
    assert len(flat) == len(set(flat))
    assert not {"A", "B"} & set(flat)
    assert ids == sequential_distinct(ops, [s.vector for s in result.steps], k, {"A", "B"})
    # Each step gets k while enough unseen items remain (32 items - 2 endpoints).
    assert [len(s) for s in ids] == [min(k, max(0, 30 - k * i)) for i in range(steps)]
    plain = ops.interpolate(IdPoint("A"), IdPoint("B"), steps=steps, k=k)
    assert plain.steps[0].hits[0].id == "A" and plain.steps[-1].hits[0].id == "B"


def test_path_reports_t_cosines_and_angle(make_ops):
    items = arc_items()
    ops = make_ops(items)
    a, b = items["A"][0], items["B"][0]
    result = ops.interpolate(IdPoint("A"), IdPoint("B"), steps=5)
    assert [s.t for s in result.steps] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert result.angle == pytest.approx(np.arccos(float(a.astype(np.float64) @ b)), abs=1e-6)
    cos_a = [s.cos_to_a for s in result.steps]
    assert cos_a[0] == pytest.approx(1, abs=1e-6) and cos_a == sorted(cos_a, reverse=True)
    assert result.steps[-1].cos_to_b == pytest.approx(1, abs=1e-6)
    assert all(s.hits == [] for s in result.steps)
    [mid] = ops.interpolate(IdPoint("A"), IdPoint("B")).steps
    assert mid.t == 0.5 and mid.cos_to_a == pytest.approx(mid.cos_to_b, abs=1e-6)
    lerp_mid = ops.interpolate(IdPoint("A"), IdPoint("B"), method=InterpolationMethod.LERP).steps[0]
    assert np.allclose(lerp_mid.vector, mid.vector, atol=1e-6)
    lerp_q = ops.interpolate(IdPoint("A"), IdPoint("B"), ts=[0.25], method=InterpolationMethod.LERP).steps[0]
    assert not np.allclose(lerp_q.vector, result.steps[1].vector, atol=1e-4)


def test_interpolate_validates_ts_steps_and_k(make_ops):
    ops = make_ops(arc_items())
    a, b = IdPoint("A"), IdPoint("B")
    for bad in ([0.0, 1.5], [-0.1], [float("nan")]):
        with pytest.raises(InvalidInput) as caught:
            ops.interpolate(a, b, ts=bad)
        assert caught.value.field == "ts"
    far = ops.interpolate(a, b, ts=[1.0, 1.5], allow_extrapolation=True).steps
    assert far[1].cos_to_a < far[0].cos_to_a
    for steps in (1, -2, 257):
        with pytest.raises(InvalidInput) as caught:
            ops.interpolate(a, b, steps=steps)
        assert caught.value.field == "steps"
    with pytest.raises(InvalidInput) as caught:
        ops.interpolate(a, b, k=-1)
    assert caught.value.field == "k"


def test_antipodal_endpoints_need_a_via_point(make_ops):
    ops = make_ops(random_items(5))
    v = unit(np.arange(1, D + 1))
    with pytest.raises(InvalidInput) as caught:
        ops.interpolate(VectorPoint(v), VectorPoint(-v), steps=3)
    assert caught.value.reason == "ANTIPODAL"
    via = np.zeros(D, dtype=np.float32)
    via[0], via[1] = 2.0, -1.0  # orthogonal to v
    result = ops.interpolate(VectorPoint(v), VectorPoint(-v), steps=3, via=VectorPoint(via))
    assert np.allclose(result.steps[1].vector, unit(via), atol=1e-6)
    assert result.angle == pytest.approx(np.pi, abs=1e-3)


# ---------------------------------------------------------------- edit


def test_edit_reports_how_far_the_point_moved(make_ops):
    items = random_items(20)
    ops = make_ops(items)
    base = items["v1"][0].astype(np.float64)
    raw = 3 * items["v2"][0].astype(np.float64) - items["v3"][0]
    d = raw / np.linalg.norm(raw)
    added = ops.edit(EditPoint(IdPoint("v1"), VectorDirection(raw)), k=3)
    expected = (base + d) / np.linalg.norm(base + d)
    assert np.allclose(added.vector, expected, atol=1e-6)
    assert added.direction_norm == pytest.approx(np.linalg.norm(raw), rel=1e-6)
    assert added.base_projection == pytest.approx(base @ d, abs=1e-6)
    assert added.result_projection == pytest.approx(expected @ d, abs=1e-6)
    assert added.result_projection > added.base_projection
    assert added.cos_to_base == pytest.approx(expected @ base, abs=1e-6)
    assert len(added.hits) == 3
    assert added.hits[0].score >= added.hits[1].score
    removed = ops.edit(EditPoint(IdPoint("v1"), VectorDirection(raw), EditMode.REMOVE))
    assert abs(removed.result_projection) < 1e-6 and removed.hits == []
    rotated = ops.edit(EditPoint(IdPoint("v1"), VectorDirection(raw), EditMode.ROTATE, 1.0))
    assert rotated.result_projection == pytest.approx(1, abs=1e-6)
    half = ops.edit(EditPoint(IdPoint("v1"), VectorDirection(raw), EditMode.ROTATE))  # default 0.5
    assert half.cos_to_base == pytest.approx(np.cos(np.arccos(base @ d) / 2), abs=1e-5)


def test_edit_with_examples_and_bad_strengths(make_ops):
    items = random_items(10)
    ops = make_ops(items)
    examples = ExamplesDirection((IdPoint("v2"), IdPoint("v3")), (IdPoint("v4"),))
    result = ops.edit(EditPoint(IdPoint("v1"), examples), k=1)
    raw = (items["v2"][0].astype(np.float64) + items["v3"][0]) / 2 - items["v4"][0]
    assert result.direction_norm == pytest.approx(np.linalg.norm(raw), rel=1e-5)
    with pytest.raises(InvalidInput) as caught:
        ops.edit(EditPoint(IdPoint("v1"), examples, EditMode.ROTATE, 1.5))
    assert caught.value.field == "edit.strength"
    with pytest.raises(InvalidInput) as caught:
        ops.edit(EditPoint(IdPoint("v1"), VectorDirection(np.zeros(D))))
    assert caught.value.field == "edit.direction.vector"
    with pytest.raises(ItemNotFound) as caught:
        ops.edit(EditPoint(IdPoint("v1"), ExamplesDirection((IdPoint("zz"),), ())))
    assert caught.value.field == "edit.direction.examples.positive[0].id"
    with pytest.raises(InvalidInput) as caught:
        ops.edit(EditPoint(IdPoint("v1"), examples), k=-1)
    assert caught.value.field == "k"


# ---------------------------------------------------------------- batching (the stand-in counts calls)


def test_one_model_call_per_modality_and_one_get_per_request():
    brute = BruteForceCollection(D, frozenset({Modality.TEXT}))
    for item_id, (v, m) in random_items(10).items():
        brute.add(item_id, v, m)
    ops = LatentOperations(brute)
    points = [
        TextPoint("a red circle"),
        MixPoint(((TextPoint("a blue square"), 1.0), (IdPoint("v1"), 0.5), (TextPoint("a red circle"), 1.0))),
        EditPoint(IdPoint("v2"), TextPairDirection("red", "blue", use_templates=True)),
        AnalogyPoint(TextPoint("a"), IdPoint("v3"), TextPoint("b")),
    ]
    resolved = ops.encode(points)
    assert brute.calls == {"encode_texts": 1, "get": 1}
    assert [r.modality for r in resolved] == [Modality.TEXT] + [Modality.VECTOR] * 3
    assert resolved[1].input_ids == {"v1"} and resolved[3].input_ids == {"v3"}
    ops.search(points, SearchOptions(k=2))
    assert brute.calls == {"encode_texts": 2, "get": 2, "search": 1}
