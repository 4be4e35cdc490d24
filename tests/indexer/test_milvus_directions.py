"""Named directions and label reads on the Milvus backend (Milvus Lite): directions live in Milvus,
so two data dirs on one Milvus (two servers) share them; they are refused under another model's
fingerprint as the embedded store's are; they outlive no drop; ``items_matching`` selects exactly
what the library's filter semantics select."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.backends.milvus import MilvusCatalog, MilvusTarget
from latentspace.indexer.backends.milvus.layout import directions_name
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.directions import LabelsDirection
from latentspace.indexer.errors import DirectionExists, DirectionModelMismatch, DirectionNotFound
from latentspace.indexer.filters import PayloadFilter
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import DirectionPoint, EditPoint, IdPoint, NamedDirection, VectorDirection
from latentspace.indexer.search_options import SearchOptions
from tests.indexer.test_data_dir import FakeRegistry
from tests.indexer.test_milvus_collection import DIM, FILTERS, VECTORS, records


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusTarget]:
    target = MilvusTarget(str(tmp_path_factory.mktemp("milvus") / "lite.db"))
    keeper = MilvusCatalog(target)  # keeps Lite running across the module's data dirs
    yield target
    keeper.close()


@pytest.fixture
def dirs(lite: MilvusTarget, tmp_path: Path) -> Iterator[tuple[DataDir, DataDir]]:
    """Two data dirs on one Milvus, like two servers."""
    a = DataDir.open(tmp_path / "a", FakeRegistry(dimension=DIM), catalogs=[MilvusCatalog(lite)],
                     default_backend="milvus")
    b = DataDir.open(tmp_path / "b", FakeRegistry(dimension=DIM), catalogs=[MilvusCatalog(lite)])
    yield a, b
    for name in a.names():
        a.drop_collection(name)
    a.close()
    b.close()


def test_a_direction_made_through_one_data_dir_is_used_listed_and_deleted_through_another(
        dirs: tuple[DataDir, DataDir]) -> None:
    a, b = dirs
    made_in = a.create_collection("shared", None, dimension=DIM)
    made_in.upsert(records(20))
    ops_a, ops_b = LatentOperations(made_in), LatentOperations(b.collection("shared"))
    assert ops_b.list_directions() == []  # no directions collection yet: nothing to list
    made = ops_a.create_direction("axis", VectorDirection(VECTORS[3] * 2))
    (seen,) = ops_b.list_directions()
    assert seen.name == "axis" and seen.to_json() == made.to_json() and seen.norm == pytest.approx(2.0)
    np.testing.assert_array_equal(seen.vector, made.vector)
    with pytest.raises(DirectionExists):
        ops_b.create_direction("axis", VectorDirection(VECTORS[4]))
    edit = EditPoint(IdPoint("i1"), NamedDirection("axis"), strength=0.5)
    assert [h.id for h in ops_b.edit(edit, k=5).hits] == [h.id for h in ops_a.edit(edit, k=5).hits]
    (hits,) = ops_b.search([DirectionPoint(NamedDirection("axis"))], SearchOptions(k=1))
    assert hits[0].id == "i3"
    ops_b.delete_direction("axis")
    assert ops_a.list_directions() == [] and made_in.get_direction("axis") is None
    with pytest.raises(DirectionNotFound):
        ops_a.edit(edit, k=1)
    with pytest.raises(DirectionNotFound):
        ops_a.delete_direction("axis")


def test_directions_outlive_no_drop_and_are_never_listed_as_collections(lite: MilvusTarget,
                                                                         dirs: tuple[DataDir, DataDir]) -> None:
    a, b = dirs
    LatentOperations(a.create_collection("again", None, dimension=DIM)).create_direction(
        "tilt", VectorDirection(VECTORS[0]))
    catalog = MilvusCatalog(lite)
    try:
        assert catalog.connection.client.has_collection(directions_name("again"))
        assert a.names() == b.names() == ["again"]
        b.drop_collection("again")
        assert not catalog.connection.client.has_collection(directions_name("again"))
    finally:
        catalog.close()
    recreated = b.create_collection("again", None, dimension=4, backend="milvus")
    assert recreated.list_directions() == []


def test_a_direction_of_another_model_is_refused_as_on_the_embedded_store(dirs: tuple[DataDir, DataDir]) -> None:
    a, _ = dirs
    collection = a.create_collection("modelled", "minilm")
    collection.upsert(records(5))
    ops = LatentOperations(collection)
    made = ops.create_direction("blue", VectorDirection(VECTORS[2]))
    assert made.fingerprint == "fp-1"
    collection.delete_direction("blue")
    # The same direction as if made under other weights (a model changed under the collection).
    collection.save_direction(dataclasses.replace(made, fingerprint="fp-other"))
    assert [r.name for r in ops.list_directions()] == ["blue"]  # still listed, to be deleted
    for call in (lambda: ops.edit(EditPoint(IdPoint("i0"), NamedDirection("blue"))),
                 lambda: ops.search([DirectionPoint(NamedDirection("blue"))], SearchOptions(k=1))):
        with pytest.raises(DirectionModelMismatch) as caught:
            call()
        assert caught.value.reason == "DIRECTION_MODEL_MISMATCH" and "fp-other" in str(caught.value)
    ops.delete_direction("blue")


def test_items_matching_selects_what_the_library_semantics_select(dirs: tuple[DataDir, DataDir]) -> None:
    a, _ = dirs
    collection = a.create_collection("labelled", None, dimension=DIM)
    collection.upsert(records(60))
    for conditions in FILTERS:
        chosen = PayloadFilter(conditions)
        expected = {r.id for r in records(60) if chosen.matches(r.payload)}
        found = collection.items_matching(chosen, 1_000)
        assert {i.id for i in found} == expected, conditions
        assert all(i.vector is not None and i.vector.shape == (DIM,) for i in found)
        assert len(collection.items_matching(chosen, 2)) == min(2, len(expected))
    # Directions from payload labels read their items this way.
    labelled = [dataclasses.replace(r, payload={"side": "up" if i % 2 else "down"}) for i, r in enumerate(records(20))]
    collection.upsert(labelled)
    made = LatentOperations(collection).create_direction("up", LabelsDirection("side", "up", "down"))
    assert (made.quality.positives, made.quality.negatives) == (10, 10)
