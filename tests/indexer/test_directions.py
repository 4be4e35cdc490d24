"""Named directions in the library: fitting and AUC, the store's table, making them from each source,
using them by name, and every refusal (on vector-only collections: no model needed)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from latentspace.indexer import direction_fitting as fitting
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.directions import DirectionMethod, LabelsDirection, QualityBasis
from latentspace.indexer.errors import (
    DirectionExists,
    DirectionModelMismatch,
    DirectionNotFound,
    InvalidInput,
    ModalityNotSupported,
)
from latentspace.indexer.filters import Equals, PayloadFilter
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import (
    DirectionPoint,
    EditPoint,
    ExamplesDirection,
    IdPoint,
    MixPoint,
    NamedDirection,
    TextPairDirection,
    VectorDirection,
)
from latentspace.indexer.search_options import SearchOptions

D = 16
AXIS = np.eye(D)[0]  # the labelled attribute lives along the first axis


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def labelled_items(n: int = 30, seed: int = 0, spread: float = 0.6) -> list[ItemRecord]:
    """Items of two colours along AXIS with noise, plus some that are neither; captions with a colour too."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        for colour, sign in (("blue", 1.0), ("red", -1.0)):
            v = sign * AXIS + spread * rng.normal(size=D)
            records.append(ItemRecord(f"{colour}-{i}", unit(v), Modality.VECTOR, {"color": colour, "kind": "image"}))
    records += [ItemRecord(f"green-{i}", unit(rng.normal(size=D)), Modality.VECTOR, {"color": "green"})
                for i in range(3)]
    # "Captions" whose colour label runs against AXIS: a filter on kind must keep them out.
    records += [ItemRecord(f"caption-{i}", unit(-AXIS + 0.1 * rng.normal(size=D)), Modality.VECTOR,
                           {"color": "blue", "kind": "caption"}) for i in range(3)]
    return records


@pytest.fixture
def data(tmp_path):
    opened = DataDir.open(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def ops(data):
    collection = data.create_collection("vec", None, dimension=D)
    collection.upsert(labelled_items())
    return LatentOperations(collection)


IMAGES = PayloadFilter((Equals("kind", "image"),))


def blue_vs_red(**kwargs) -> LabelsDirection:
    return LabelsDirection("color", "blue", "red", **kwargs)


# ---------------------------------------------------------------- fitting


@pytest.mark.parametrize("seed", range(5))
def test_auc_is_the_share_of_correctly_ordered_pairs(seed):
    rng = np.random.default_rng(seed)
    pos, neg = rng.integers(0, 5, size=7).astype(float), rng.integers(0, 5, size=9).astype(float)
    brute = np.mean([1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg])
    assert fitting.auc(pos, neg) == pytest.approx(brute)


@pytest.mark.parametrize("method", list(DirectionMethod))
def test_every_method_finds_a_planted_direction(method):
    rng = np.random.default_rng(1)
    pos = AXIS + 0.5 * rng.normal(size=(40, D))
    neg = -AXIS + 0.5 * rng.normal(size=(25, D))  # unbalanced on purpose
    w = fitting.fit_direction(pos, neg, method)
    assert float(unit(w) @ AXIS) > 0.8
    value, test_pos, test_neg = fitting.held_out_auc(pos, neg, method, 0.25, seed=3)
    assert value > 0.95 and (test_pos, test_neg) == (10, 6)


def test_held_out_split_is_deterministic_for_a_seed_and_keeps_one_on_each_side():
    a = fitting.held_out_split(10, 0.3, np.random.default_rng(5))
    b = fitting.held_out_split(10, 0.3, np.random.default_rng(5))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len(a[1]) == 3 and sorted([*a[0], *a[1]]) == list(range(10))
    assert [len(part) for part in fitting.held_out_split(2, 0.9, np.random.default_rng(0))] == [1, 1]


def test_leave_one_template_out_auc():
    rng = np.random.default_rng(2)
    targets = AXIS + 0.1 * rng.normal(size=(7, D))
    neutrals = -AXIS + 0.1 * rng.normal(size=(7, D))
    assert fitting.leave_one_out_auc(targets, neutrals) == 1.0
    # Pairs whose differences share nothing: the other templates' direction does not order a held-out pair.
    noise = rng.normal(size=(2, 7, D))
    assert fitting.leave_one_out_auc(noise[0], noise[1]) < 0.8


# ---------------------------------------------------------------- making directions


@pytest.mark.parametrize("method", list(DirectionMethod))
def test_labels_direction_separates_its_labels(ops, method):
    record = ops.create_direction(f"blue-{method.value}", blue_vs_red(filter=IMAGES), method, seed=4)
    assert float(record.vector @ AXIS) > 0.85
    assert np.linalg.norm(record.vector) == pytest.approx(1.0, abs=1e-6) and record.norm > 0
    q = record.quality
    assert q.evaluated_on is QualityBasis.HELD_OUT and q.auc is not None and q.auc > 0.95
    assert (q.positives, q.negatives, q.held_out_positives, q.held_out_negatives) == (30, 30, 8, 8)
    assert record.description == 'color == "blue" against color == "red" among items where kind == "image"'
    assert record.fingerprint == "" and record.method is method
    # Deterministic: the same request made under another name measures the same AUC.
    again = ops.create_direction(f"again-{method.value}", blue_vs_red(filter=IMAGES), method, seed=4)
    assert again.quality.auc == q.auc and np.array_equal(again.vector, record.vector)


def test_mean_difference_is_the_difference_of_the_means(ops):
    record = ops.create_direction("blue", blue_vs_red(filter=IMAGES))
    items = {r.id: r.vector.astype(np.float64) for r in labelled_items()}
    raw = np.mean([items[f"blue-{i}"] for i in range(30)], axis=0) - np.mean([items[f"red-{i}"] for i in range(30)],
                                                                             axis=0)
    assert np.allclose(record.vector, raw / np.linalg.norm(raw), atol=1e-6)
    assert record.norm == pytest.approx(np.linalg.norm(raw), rel=1e-5)


def test_the_filter_decides_which_items_count(ops):
    with_captions = ops.create_direction("all", blue_vs_red())
    assert with_captions.quality.positives == 33  # the three captions labelled blue count here
    assert ops.create_direction("images", blue_vs_red(filter=IMAGES)).quality.positives == 30


def test_examples_direction_by_mean_difference_equals_the_inline_one(ops):
    examples = ExamplesDirection((IdPoint("blue-0"), IdPoint("blue-1"), IdPoint("blue-2")),
                                 (IdPoint("red-0"), IdPoint("red-1")))
    record = ops.create_direction("ex", examples, seed=1)
    inline = ops.resolver.direction(examples, "edit.direction")
    assert np.array_equal(record.vector, inline.vector) and record.norm == pytest.approx(inline.norm)
    assert record.quality.evaluated_on is QualityBasis.HELD_OUT
    assert (record.quality.held_out_positives, record.quality.held_out_negatives) == (1, 1)
    lone = ops.create_direction("lone", ExamplesDirection((IdPoint("blue-0"),), (IdPoint("red-0"),)))
    assert lone.quality.auc is None and lone.quality.evaluated_on is QualityBasis.NONE


def test_raw_vector_direction(ops):
    record = ops.create_direction("axis", VectorDirection(3.0 * AXIS))
    assert np.allclose(record.vector, AXIS) and record.norm == pytest.approx(3.0)
    assert record.quality.auc is None


def test_named_direction_edits_like_the_same_inline_vector(ops):
    ops.create_direction("blue", blue_vs_red(filter=IMAGES))
    stored = ops.collection.get_direction("blue")
    for mode_edit in (EditPoint(IdPoint("red-3"), NamedDirection("blue")),
                      EditPoint(IdPoint("red-3"), NamedDirection("blue"), strength=0.5)):
        named = ops.edit(mode_edit, k=5)
        inline = ops.edit(EditPoint(mode_edit.base, VectorDirection(stored.vector), strength=mode_edit.strength), k=5)
        assert [h.id for h in named.hits] == [h.id for h in inline.hits]
        assert named.direction_norm == pytest.approx(stored.norm)
    moved = ops.edit(EditPoint(IdPoint("red-3"), NamedDirection("blue"), strength=2.0), k=5,
                     options=SearchOptions(filter=IMAGES))
    assert all(h.payload["color"] == "blue" for h in moved.hits)


def test_a_named_direction_is_a_point_in_mixes(ops):
    ops.create_direction("blue", blue_vs_red(filter=IMAGES))
    mixed = MixPoint(((IdPoint("red-3"), 1.0), (DirectionPoint(NamedDirection("blue")), 2.0)))
    edited = EditPoint(IdPoint("red-3"), NamedDirection("blue"), strength=2.0)
    [a], [b] = ops.encode([mixed]), ops.encode([edited])
    assert np.allclose(a.vector, b.vector, atol=1e-6)  # ADD with strength s is the mix (1, s)
    [hits] = ops.search([DirectionPoint(NamedDirection("blue"))], SearchOptions(k=5, filter=IMAGES))
    assert all(h.payload["color"] == "blue" for h in hits)


def test_list_and_delete(ops):
    for name in ("b", "a"):
        ops.create_direction(name, VectorDirection(AXIS))
    assert [r.name for r in ops.list_directions()] == ["a", "b"]
    ops.delete_direction("a")
    assert [r.name for r in ops.list_directions()] == ["b"]
    with pytest.raises(DirectionNotFound):
        ops.delete_direction("a")


# ---------------------------------------------------------------- refusals


def test_refusals_name_the_field(ops):
    ops.create_direction("taken", VectorDirection(AXIS))
    cases = [
        (lambda: ops.create_direction("taken", VectorDirection(AXIS)), DirectionExists, "name"),
        (lambda: ops.create_direction("bad name", VectorDirection(AXIS)), InvalidInput, "name"),
        (lambda: ops.create_direction("x", VectorDirection(np.ones(3))), InvalidInput, "source.vector"),
        (lambda: ops.create_direction("x", VectorDirection(np.zeros(D))), InvalidInput, "source.vector"),
        (lambda: ops.create_direction("x", blue_vs_red(), holdout=1.0), InvalidInput, "holdout"),
        (lambda: ops.create_direction("x", LabelsDirection("color", "blue", "green")), InvalidInput,
         "source.labels.negative"),
        (lambda: ops.create_direction("x", LabelsDirection("color", "blue", "nope")), InvalidInput,
         "source.labels.negative"),
        (lambda: ops.create_direction("x", LabelsDirection("color", "blue", "blue")), InvalidInput,
         "source.labels.negative"),
        (lambda: ops.create_direction("x", LabelsDirection("", "blue", "red")), InvalidInput, "source.labels.field"),
        (lambda: ops.create_direction("x", TextPairDirection("a", "b")), ModalityNotSupported,
         "source.text_pair.neutral"),
        (lambda: ops.create_direction("x", ExamplesDirection((IdPoint("blue-0"),), ()), DirectionMethod.LOGISTIC),
         InvalidInput, "source.examples.negative"),
        (lambda: ops.create_direction("x", ExamplesDirection((IdPoint("missing"),), ())), Exception,
         "source.examples.positive[0].id"),
        (lambda: ops.edit(EditPoint(IdPoint("red-0"), NamedDirection("nope"))), DirectionNotFound,
         "edit.direction.name"),
        # A name no direction could have is a malformed request, on every use.
        (lambda: ops.edit(EditPoint(IdPoint("red-0"), NamedDirection("../x"))), InvalidInput,
         "edit.direction.name"),
        (lambda: ops.delete_direction("bad name"), InvalidInput, "name"),
    ]
    for call, error, field in cases:
        with pytest.raises(error) as caught:
            call()
        assert caught.value.field == field, (field, str(caught.value))
    with pytest.raises(InvalidInput) as caught:
        ops.create_direction("x", LabelsDirection("color", "blue", "green"))
    assert caught.value.reason == "TOO_FEW_ITEMS"
    assert '3 items have color == "green"' in str(caught.value) and "at least 4" in str(caught.value)
    assert [r.name for r in ops.list_directions()] == ["taken"]  # nothing refused was stored


def test_a_direction_from_another_model_is_refused(tmp_path):
    data = DataDir.open(tmp_path / "data")
    collection = data.create_collection("vec", None, dimension=D)
    collection.upsert(labelled_items(n=5))
    LatentOperations(collection).create_direction("blue", blue_vs_red())
    data.close()
    # The collection's model changes under the stored direction (its manifest now names other weights).
    manifest = tmp_path / "data" / "collections" / "vec" / "collection.json"
    fields = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**fields, "fingerprint": "sha256:other"}))
    data = DataDir.open(tmp_path / "data")
    try:
        ops = LatentOperations(data.collection("vec"))
        assert [r.name for r in ops.list_directions()] == ["blue"]  # still listed, to be deleted
        for call in (lambda: ops.edit(EditPoint(IdPoint("red-0"), NamedDirection("blue"))),
                     lambda: ops.search([DirectionPoint(NamedDirection("blue"))], SearchOptions(k=1))):
            with pytest.raises(DirectionModelMismatch) as caught:
                call()
            assert caught.value.reason == "DIRECTION_MODEL_MISMATCH"
        ops.delete_direction("blue")
    finally:
        data.close()


def test_directions_survive_reopening_and_old_stores_gain_the_table(tmp_path):
    data = DataDir.open(tmp_path / "data")
    collection = data.create_collection("vec", None, dimension=D)
    collection.upsert(labelled_items(n=5))
    made = LatentOperations(collection).create_direction("blue", blue_vs_red(), seed=9)
    data.close()
    store = tmp_path / "data" / "collections" / "vec" / "items.sqlite3"
    data = DataDir.open(tmp_path / "data")
    try:
        [again] = data.collection("vec").list_directions()
        assert np.array_equal(again.vector, made.vector) and again.quality == made.quality
        assert again.to_json() == made.to_json()
    finally:
        data.close()
    # A store written before directions existed has no such table: opening it adds one.
    with sqlite3.connect(store) as conn:
        conn.execute("DROP TABLE directions")
    data = DataDir.open(tmp_path / "data")
    try:
        assert data.collection("vec").list_directions() == []
        assert data.collection("vec").count() == 10 + 3 + 3
    finally:
        data.close()
