"""Maps: a seeded sample, PCA, spherical k-means and labels, over a real embedded collection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.collection import Collection
from latentspace.indexer.errors import FailedPrecondition, InvalidInput, LimitExceeded
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.limits import Limits
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.maps import MapSpec, auto_clusters, make_map, principal_axes, spherical_kmeans
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import IdPoint, VectorPoint

DIM, GROUPS, PER_GROUP = 16, 5, 40


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def blob_records(seed: int = 0) -> list[ItemRecord]:
    """Five tight groups of image-like vectors, and one text item at each group's centre."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((GROUPS, DIM)))
    records = []
    for g, centre in enumerate(centres):
        for i in range(PER_GROUP):
            vector = unit(centre + 0.15 * rng.standard_normal(DIM))
            records.append(ItemRecord(f"g{g}-{i:02d}", vector.astype(np.float32), Modality.IMAGE,
                                      {"group": f"group {g}", "n": i}, ""))
        records.append(ItemRecord(f"text-{g}", centre.astype(np.float32), Modality.TEXT, {"group": f"group {g}"},
                                  f"the centre of group {g}"))
    return records


def open_collection(folder: Path, records: list[ItemRecord]) -> Collection:
    folder.mkdir(parents=True)
    Collection.initialize(folder, CollectionManifest.new(folder.name, None, DIM, "Flat", None))
    collection = Collection(folder)
    for start in range(0, len(records), 37):
        collection.upsert(records[start: start + 37])
    return collection


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[Collection]:
    collection = open_collection(tmp_path / "blobs", blob_records())
    yield collection
    collection.close()


def test_clusters_are_the_groups_and_are_labelled_by_their_text_item(blobs: Collection) -> None:
    result = make_map(blobs, LatentOperations(blobs), MapSpec(sample_size=500, seed=3, clusters=GROUPS,
                                                             color_by="group"))
    assert result.count == len(result.points) == GROUPS * (PER_GROUP + 1)
    for cluster_index in range(GROUPS):
        groups = Counter(p.color for p in result.points if p.cluster == cluster_index)
        (group, n), = groups.most_common(1)
        assert n == sum(groups.values()) == PER_GROUP + 1, groups  # every cluster is one whole group
        cluster = result.clusters[cluster_index]
        assert cluster.size == n
        assert cluster.label == f"the centre of {group}" and cluster.label_id == f"text-{group[-1]}"
        assert cluster.nearest_id == cluster.label_id
    share_x, share_y = result.explained_variance
    assert 0 < share_y <= share_x and share_x + share_y <= 1


def test_a_map_is_the_same_for_a_seed_whatever_order_the_items_were_written_in(tmp_path: Path) -> None:
    records = blob_records()
    first = open_collection(tmp_path / "a", records)
    second = open_collection(tmp_path / "b", records[::-1])
    try:
        spec = MapSpec(sample_size=60, seed=11, color_by="n")
        one = make_map(first, LatentOperations(first), spec)
        two = make_map(second, LatentOperations(second), spec)
        assert one == two
        assert len(one.points) == 60 and len(one.clusters) == auto_clusters(60) == 5
        other = make_map(first, LatentOperations(first), MapSpec(sample_size=60, seed=12))
        assert {p.id for p in other.points} != {p.id for p in one.points}
    finally:
        first.close()
        second.close()


def test_query_points_land_where_their_items_are(blobs: Collection) -> None:
    target = blob_records()[7]
    result = make_map(blobs, LatentOperations(blobs), MapSpec(clusters=GROUPS),
                      [IdPoint("g0-07"), VectorPoint(-target.vector)])
    on_map = next(p for p in result.points if p.id == "g0-07")
    placed, opposite = result.queries
    assert (placed.x, placed.y, placed.cluster) == pytest.approx((on_map.x, on_map.y, on_map.cluster), abs=1e-5)
    assert placed.modality is Modality.IMAGE and opposite.modality is Modality.VECTOR
    assert np.sign(opposite.x) == -np.sign(placed.x)


def test_bad_specs_are_refused(blobs: Collection) -> None:
    operations = LatentOperations(blobs, Limits(max_map_sample=100))
    with pytest.raises(LimitExceeded, match="max_map_sample"):
        make_map(blobs, operations, MapSpec(sample_size=101))
    with pytest.raises(InvalidInput, match="clusters"):
        make_map(blobs, operations, MapSpec(clusters=65))
    with pytest.raises(FailedPrecondition) as refused:
        make_map(object(), operations, MapSpec())
    assert refused.value.reason == "MAP_NOT_SUPPORTED"
    small = make_map(blobs, operations, MapSpec(sample_size=3, clusters=10))
    assert len(small.points) == 3 and len(small.clusters) == 3


def test_an_empty_collection_has_an_empty_map(tmp_path: Path) -> None:
    empty = open_collection(tmp_path / "empty", [])
    try:
        result = make_map(empty, LatentOperations(empty), MapSpec())
        assert (result.points, result.clusters, result.count) == ([], [], 0)
    finally:
        empty.close()


def test_principal_axes_are_signed_and_ordered() -> None:
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((200, 3)) * [5.0, 1.0, 0.1]
    _, axes, (x_share, y_share) = principal_axes(rows)
    assert np.allclose(np.abs(axes), [[1, 0, 0], [0, 1, 0]], atol=0.05)
    assert axes[0, 0] > 0 and axes[1, 1] > 0 and x_share > 0.9 > y_share > 0
    _, flat, shares = principal_axes(np.ones((4, 3)))
    assert not flat.any() and shares == (0.0, 0.0)


def test_kmeans_is_deterministic_and_separates_far_groups() -> None:
    vectors = unit(np.repeat(np.eye(4), 10, axis=0) + 0.05 * np.random.default_rng(1).standard_normal((40, 4)))
    one, centres = spherical_kmeans(vectors, 4, seed=5)
    two, _ = spherical_kmeans(vectors, 4, seed=5)
    assert np.array_equal(one, two)
    assert sorted(Counter(one).values()) == [10] * 4
    assert np.allclose(np.linalg.norm(centres, axis=1), 1)
