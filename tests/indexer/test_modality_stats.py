"""Per-modality statistics: exact through upserts, replacements and deletes, saved with the store,
and rebuilt from it when missing; a modality filter on the collection's search.

Checked against a brute force over the live items (counts, centroids, the bottom-k sample by id hash).
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import SAMPLE_SIZE, id_hash
from latentspace.indexer.search_options import SearchOptions

D = 16


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def records(rng, prefix: str, n: int, modality: Modality, axis: int) -> list[ItemRecord]:
    # Two cones, like CLIP's texts and images: each modality around its own axis.
    centre = np.eye(D)[axis] * 3
    return [ItemRecord(f"{prefix}{i}", unit(centre + rng.normal(size=D)), modality) for i in range(n)]


def brute_force(live: dict[str, ItemRecord]) -> dict[Modality, tuple[int, np.ndarray, list[str]]]:
    out = {}
    for modality in {r.modality for r in live.values()}:
        items = [r for r in live.values() if r.modality is modality]
        vectors = np.stack([r.vector for r in items]).astype(np.float64)
        sample = sorted((id_hash(r.id), r.id) for r in items)[:SAMPLE_SIZE]
        out[modality] = (len(items), vectors.mean(axis=0), sorted(i for _, i in sample))
    return out


def assert_matches(collection, live: dict[str, ItemRecord]) -> None:
    states = collection.modality_statistics.states()
    expected = brute_force(live)
    assert set(states) == set(expected)
    for modality, (count, centroid, sample) in expected.items():
        state = states[modality]
        assert state.count == count
        np.testing.assert_allclose(state.centroid, centroid, atol=1e-6)
        assert sorted(i for _, i in state.order) == sample
        for item_id in sample:
            np.testing.assert_allclose(state.vectors[item_id], live[item_id].vector, atol=1e-6)


@pytest.fixture
def data(tmp_path):
    opened = DataDir.open(tmp_path)
    yield opened
    opened.close()


def test_statistics_follow_upserts_replacements_and_deletes(data):
    rng = np.random.default_rng(0)
    collection = data.create_collection("c", None, dimension=D)
    live: dict[str, ItemRecord] = {}
    # More images than the sample holds, so the sample is a strict subset and eviction runs.
    for batch in (records(rng, "t", 40, Modality.TEXT, 0), records(rng, "i", SAMPLE_SIZE + 100, Modality.IMAGE, 1)):
        collection.upsert(batch)
        live.update((r.id, r) for r in batch)
    assert_matches(collection, live)
    # Replace some texts by images (a modality change) and some images by new vectors.
    replaced = [ItemRecord(f"t{i}", unit(rng.normal(size=D)), Modality.IMAGE) for i in range(10)]
    replaced += [ItemRecord(f"i{i}", unit(rng.normal(size=D)), Modality.IMAGE) for i in range(0, 300, 7)]
    collection.upsert(replaced)
    live.update((r.id, r) for r in replaced)
    assert_matches(collection, live)
    # Delete most images: the sample shrinks under half and is refilled from the store.
    doomed = [i for i in live if live[i].modality is Modality.IMAGE][: SAMPLE_SIZE + 50]
    assert collection.delete(doomed)[0] == len(doomed)
    for item_id in doomed:
        del live[item_id]
    assert_matches(collection, live)
    collection.delete([i for i in live if live[i].modality is Modality.TEXT])
    live = {i: r for i, r in live.items() if r.modality is not Modality.TEXT}
    assert_matches(collection, live)  # an emptied modality is gone


def test_statistics_are_saved_with_the_store_and_rebuilt_when_missing(tmp_path):
    rng = np.random.default_rng(1)
    batch = records(rng, "t", 30, Modality.TEXT, 0) + records(rng, "i", 50, Modality.IMAGE, 1)
    live = {r.id: r for r in batch}
    with DataDir.open(tmp_path) as data:
        data.create_collection("c", None, dimension=D).upsert(batch)
    with DataDir.open(tmp_path) as data:
        assert_matches(data.collection("c"), live)
    # A store whose statistics are missing (an older data dir) or behind it is rescanned on open.
    store = next(tmp_path.rglob("items.sqlite3"))
    with sqlite3.connect(store) as conn:
        conn.execute("DELETE FROM meta WHERE name = 'modality_stats_seq'")
        conn.execute("DELETE FROM modality_stats")
    with DataDir.open(tmp_path) as data:
        assert_matches(data.collection("c"), live)
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE meta SET value = '0' WHERE name = 'modality_stats_seq'")
        conn.execute("UPDATE modality_stats SET count = 1")
    with DataDir.open(tmp_path) as data:
        assert_matches(data.collection("c"), live)


def test_calibration_is_the_mean_and_spread_of_the_query_cosines_to_a_modality(data):
    rng = np.random.default_rng(2)
    collection = data.create_collection("c", None, dimension=D)
    texts, images = records(rng, "t", 20, Modality.TEXT, 0), records(rng, "i", 60, Modality.IMAGE, 1)
    collection.upsert(texts + images)
    queries = np.stack([unit(rng.normal(size=D)) for _ in range(5)])
    stats = collection.modality_statistics
    for modality, items in ((Modality.TEXT, texts), (Modality.IMAGE, images)):
        cosines = queries.astype(np.float64) @ np.stack([r.vector for r in items]).astype(np.float64).T
        offset, scale = stats.calibration(queries, modality)
        np.testing.assert_allclose(offset, cosines.mean(axis=1), atol=1e-6)
        np.testing.assert_allclose(scale, cosines.std(axis=1), atol=1e-6)  # every item is sampled here
    assert stats.calibration(queries, Modality.VECTOR) is None
    pairs = {(p.a, p.b): p for p in stats.distributions()}
    assert set(pairs) == {(Modality.TEXT, Modality.TEXT), (Modality.TEXT, Modality.IMAGE),
                          (Modality.IMAGE, Modality.IMAGE)}
    assert pairs[Modality.TEXT, Modality.TEXT].pairs == 20 * 19 // 2
    assert pairs[Modality.TEXT, Modality.IMAGE].pairs == 20 * 60
    # The two cones: same-modal cosines are far above cross-modal ones.
    assert pairs[Modality.TEXT, Modality.IMAGE].mean < pairs[Modality.TEXT, Modality.TEXT].mean - 0.3


def test_a_modality_filter_returns_k_items_of_that_modality_only(data):
    rng = np.random.default_rng(3)
    collection = data.create_collection("c", None, dimension=D)
    collection.upsert(records(rng, "t", 30, Modality.TEXT, 0) + records(rng, "i", 30, Modality.IMAGE, 1))
    text_axis = np.eye(D, dtype=np.float32)[:1]
    [plain] = collection.search(text_axis, SearchOptions(k=10))
    assert {h.modality for h in plain} == {Modality.TEXT}
    [images] = collection.search(text_axis, SearchOptions(k=10, modality=Modality.IMAGE))
    assert len(images) == 10 and {h.modality for h in images} == {Modality.IMAGE}
    [none] = collection.search(text_axis, SearchOptions(k=10, modality=Modality.VECTOR))
    assert none == []


def test_statistics_that_cannot_follow_a_write_are_rebuilt_and_never_fail_it(data):
    rng = np.random.default_rng(4)
    collection = data.create_collection("c", None, dimension=D)
    batch = records(rng, "t", 10, Modality.TEXT, 0) + records(rng, "i", 10, Modality.IMAGE, 1)
    collection.upsert(batch)
    live = {r.id: r for r in batch}
    stats = collection.modality_statistics
    stats._states = {}  # as if they had lost track: the next delete cannot subtract its rows
    assert collection.delete(["t0", "i0"])[0] == 2
    del live["t0"], live["i0"]
    assert_matches(collection, live)
