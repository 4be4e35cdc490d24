"""Calibrated scores and diverse results (MMR) through the operations, against brute force.

A vector collection with two modality cones (texts around one axis, images around another, like
CLIP's) and clusters of near-duplicates; raw vectors, so no model is needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.limits import Limits
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import AnalogyMethod, AnalogyPoint, IdPoint, MixPoint, VectorPoint
from latentspace.indexer.search_options import ScoreMode, SearchOptions

D = 16
CLUSTERS = 12
PER_CLUSTER = 5


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """``(operations, records by id)``: 40 texts near axis 0, 60 images near axis 1, plus clusters of
    near-duplicate images (ids ``dup{c}-{j}``) around random points of the image cone."""
    rng = np.random.default_rng(0)
    data = DataDir.open(tmp_path_factory.mktemp("ranking"))
    collection = data.create_collection("c", None, dimension=D)
    items = [ItemRecord(f"t{i}", unit(np.eye(D)[0] * 3 + rng.normal(size=D)), Modality.TEXT) for i in range(40)]
    items += [ItemRecord(f"i{i}", unit(np.eye(D)[1] * 3 + rng.normal(size=D)), Modality.IMAGE) for i in range(60)]
    for c in range(CLUSTERS):
        centre = np.eye(D)[1] * 3 + rng.normal(size=D)
        items += [ItemRecord(f"dup{c}-{j}", unit(centre + 0.02 * rng.normal(size=D)), Modality.IMAGE)
                  for j in range(PER_CLUSTER)]
    collection.upsert(items)
    yield LatentOperations(collection), {r.id: r for r in items}
    data.close()


def brute_calibrated(query: np.ndarray, items: dict[str, ItemRecord]) -> list[tuple[str, float]]:
    """Every item's z = (q.x - mean_m) / std_m over its modality's items (each has < 256: all sampled)."""
    q = query.astype(np.float64)
    scored = []
    for modality in (Modality.TEXT, Modality.IMAGE):
        members = [r for r in items.values() if r.modality is modality]
        cos = np.stack([r.vector for r in members]).astype(np.float64) @ q
        scored += [(r.id, float((c - cos.mean()) / cos.std())) for r, c in zip(members, cos, strict=True)]
    return sorted(scored, key=lambda s: -s[1])


def test_calibrated_scores_are_the_standardised_cosines_and_rank_across_modalities(world):
    ops, items = world
    query = unit(np.eye(D)[0] + 0.9 * np.eye(D)[1])  # between the cones, nearer neither
    [raw] = ops.search([VectorPoint(query)], SearchOptions(k=20))
    [calibrated] = ops.search([VectorPoint(query)], SearchOptions(k=20, score_mode=ScoreMode.CALIBRATED))
    expected = brute_calibrated(query, items)[:20]
    assert [h.id for h in calibrated] == [i for i, _ in expected]
    np.testing.assert_allclose([h.score for h in calibrated], [z for _, z in expected], atol=1e-4)
    # Raw cosine favours one cone; calibrated lets the other in.
    assert {h.modality for h in calibrated} == {Modality.TEXT, Modality.IMAGE}
    assert len({h.modality for h in raw}) == 1 or sum(h.modality is Modality.TEXT for h in raw) != sum(
        h.modality is Modality.TEXT for h in calibrated)
    # Within a modality the order is the cosine's.
    for modality in (Modality.TEXT, Modality.IMAGE):
        [only] = ops.search([VectorPoint(query)], SearchOptions(k=200, modality=modality))
        mine = [h.id for h in calibrated if h.modality is modality]
        assert mine == [h.id for h in only][: len(mine)]


def test_calibrated_threshold_applies_to_the_calibrated_score(world):
    ops, _ = world
    [hits] = ops.search([VectorPoint(np.eye(D)[0])], SearchOptions(k=50, score_mode=ScoreMode.CALIBRATED,
                                                                     score_threshold=1.5))
    assert hits and min(h.score for h in hits) >= 1.5
    [all_hits] = ops.search([VectorPoint(np.eye(D)[0])], SearchOptions(k=50, score_mode=ScoreMode.CALIBRATED))
    assert [h.id for h in hits] == [h.id for h in all_hits if h.score >= 1.5]


def test_explain_under_calibration_reports_the_raw_cosine_shares_and_the_map(world):
    ops, _ = world
    point = MixPoint(((IdPoint("t0"), 1.0), (IdPoint("i0"), 0.7)))
    [hits] = ops.search([point], SearchOptions(k=15, score_mode=ScoreMode.CALIBRATED, explain=True))
    [raw] = ops.search([point], SearchOptions(k=200, explain=True))
    raw_cosines = {h.id: h.score for h in raw}
    for hit in hits:
        e = hit.explanation
        assert e is not None
        assert sum(t.share for t in e.terms) == pytest.approx(e.cosine, abs=1e-5)
        assert e.cosine == pytest.approx(raw_cosines[hit.id], abs=1e-5)
        assert hit.score == pytest.approx((e.cosine - e.offset) / e.scale, abs=1e-5)
        assert e.scale != 1.0 and e.redundancy is None
    assert all(h.explanation.offset == 0.0 and h.explanation.scale == 1.0 for h in raw)


def test_diversity_zero_is_plain_search(world):
    ops, _ = world
    query = [VectorPoint(unit(np.eye(D)[1] + 0.1))]
    for mode in ScoreMode:
        plain = ops.search(query, SearchOptions(k=15, score_mode=mode))[0]
        zero = ops.search(query, SearchOptions(k=15, score_mode=mode, diversity=0.0, pool=60))[0]
        assert [(h.id, h.score) for h in zero] == [(h.id, h.score) for h in plain]


def mmr_brute_force(pool: list, k: int, lam: float) -> list[str]:
    vectors = {h.id: h.vector.astype(np.float64) for h in pool}
    picked: list[str] = []
    left = [h for h in pool]
    while left and len(picked) < k:
        def value(h):
            if not picked:
                return h.score
            return (1 - lam) * h.score - lam * max(float(vectors[h.id] @ vectors[p]) for p in picked)
        best = max(left, key=value)  # max keeps the first of equals: the better-ranked
        picked.append(best.id)
        left.remove(best)
    return picked


def test_diversity_demotes_near_duplicates_and_matches_mmr_by_brute_force(world):
    ops, items = world
    centre = np.mean([items[f"dup3-{j}"].vector for j in range(PER_CLUSTER)], axis=0)
    query = [VectorPoint(centre)]
    [plain] = ops.search(query, SearchOptions(k=10))
    [diverse] = ops.search(query, SearchOptions(k=10, diversity=0.7, explain=True))
    clusters = lambda hits: [h.id.split("-")[0] for h in hits if h.id.startswith("dup")]  # noqa: E731
    assert clusters(plain)[:PER_CLUSTER] == ["dup3"] * PER_CLUSTER  # the whole cluster comes first
    assert clusters(diverse).count("dup3") == 1  # near-duplicates give way
    [pool] = ops.search(query, SearchOptions(k=40, with_vectors=True))  # the default pool: 4 x k
    assert [h.id for h in diverse] == mmr_brute_force(pool, 10, 0.7)
    # Scores stay relevances (cosines); the explanation names the redundancy that placed each hit.
    cosines = {h.id: h.score for h in pool}
    for rank, hit in enumerate(diverse):
        assert hit.score == pytest.approx(cosines[hit.id], abs=1e-6)
        e = hit.explanation
        assert sum(t.share for t in e.terms) == pytest.approx(hit.score, abs=1e-5)
        if rank == 0:
            assert e.redundancy is None
        else:
            earlier = np.stack([pool[[p.id for p in pool].index(h.id)].vector for h in diverse[:rank]])
            mine = pool[[p.id for p in pool].index(hit.id)].vector
            assert e.redundancy == pytest.approx(float(np.max(earlier @ mine)), abs=1e-5)
    assert all(h.vector is None for h in diverse)


def test_a_pool_equal_to_k_can_only_reorder(world):
    ops, items = world
    centre = np.mean([items[f"dup7-{j}"].vector for j in range(PER_CLUSTER)], axis=0)
    query = [VectorPoint(centre)]
    [plain] = ops.search(query, SearchOptions(k=8))
    [same_pool] = ops.search(query, SearchOptions(k=8, diversity=0.7, pool=8))
    [wide_pool] = ops.search(query, SearchOptions(k=8, diversity=0.7, pool=64))
    assert {h.id for h in same_pool} == {h.id for h in plain}
    assert [h.id for h in same_pool] != [h.id for h in plain]
    assert {h.id for h in wide_pool} != {h.id for h in plain}


def test_each_step_of_a_path_is_diversified(world):
    ops, _ = world
    a, b = IdPoint("dup1-0"), IdPoint("dup2-0")
    plain = ops.interpolate(a, b, steps=3, k=5)
    zero = ops.interpolate(a, b, steps=3, k=5, options=SearchOptions(diversity=0.0))
    diverse = ops.interpolate(a, b, steps=3, k=5, options=SearchOptions(diversity=0.6))
    assert [[h.id for h in s.hits] for s in zero.steps] == [[h.id for h in s.hits] for s in plain.steps]
    for p, d in zip(plain.steps, diverse.steps, strict=True):
        assert len(d.hits) == 5
        dup = lambda hits: max(  # noqa: E731
            [h.id.split("-")[0] for h in hits].count(c) for c in {h.id.split("-")[0] for h in hits})
        assert dup(d.hits) < dup(p.hits)
    calibrated = ops.interpolate(a, b, steps=3, k=5, options=SearchOptions(score_mode=ScoreMode.CALIBRATED,
                                                                          modality=Modality.TEXT))
    assert all(h.modality is Modality.TEXT for s in calibrated.steps for h in s.hits)


def test_ranking_options_are_checked(world):
    ops, _ = world
    query = [VectorPoint(np.eye(D)[0])]
    with pytest.raises(InvalidInput) as caught:
        ops.search(query, SearchOptions(k=5, diversity=1.5))
    assert caught.value.field == "options.diversity"
    with pytest.raises(InvalidInput) as caught:
        ops.search(query, SearchOptions(k=5, diversity=float("nan")))
    assert caught.value.field == "options.diversity"
    with pytest.raises(InvalidInput) as caught:
        ops.search(query, SearchOptions(k=10, diversity=0.5, pool=5))
    assert caught.value.field == "options.pool"
    with pytest.raises(LimitExceeded) as caught:
        ops.search(query, SearchOptions(k=10, diversity=0.5, pool=Limits().max_diversity_pool + 1))
    assert caught.value.field == "options.pool"
    tight = LatentOperations(ops.collection, Limits(max_hits=30))
    with pytest.raises(LimitExceeded) as caught:
        tight.search(query, SearchOptions(k=10, diversity=0.5))  # 4 x 10 candidates
    assert caught.value.field == "options.pool"
    analogy = AnalogyPoint(IdPoint("t0"), IdPoint("t1"), IdPoint("i0"), AnalogyMethod.COS_MUL)
    with pytest.raises(InvalidInput) as caught:
        ops.search([analogy], SearchOptions(k=5, score_mode=ScoreMode.CALIBRATED))
    assert caught.value.field == "options.score_mode"


def test_a_batch_ranks_each_point_as_alone_with_its_own_exclusions(world):
    ops, _ = world
    points = [VectorPoint(np.eye(D)[0]), AnalogyPoint(IdPoint("t0"), IdPoint("t1"), IdPoint("i0")),
              IdPoint("dup4-0")]
    for options in (SearchOptions(k=6, score_mode=ScoreMode.CALIBRATED), SearchOptions(k=6, diversity=0.6),
                    SearchOptions(k=6, score_mode=ScoreMode.CALIBRATED, diversity=0.3, exclude_ids=frozenset({"t2"}))):
        batch = ops.search(points, options)
        alone = [ops.search([p], options)[0] for p in points]
        pairs = [[(h.id, h.score) for h in hits] for hits in batch]
        assert pairs == [[(h.id, h.score) for h in hits] for hits in alone]
        assert not {"t0", "t1", "i0"} & {h.id for h in batch[1]}  # the analogy's inputs stay out
        assert "t2" not in {h.id for hits in batch for h in hits} or not options.exclude_ids
