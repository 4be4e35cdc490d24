"""A collection whose SQLite file is damaged is refused with a clear error; the others keep serving.

The refusal is FAILED_PRECONDITION with reason ``STORE_DAMAGED``, naming the collection and never
the server's paths; listing, stats and every other collection are unaffected, and the damaged one
can be dropped (then created again).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.conftest import ServerThread
from tests.server.wire import Stubs, reason_of, search, vec

DIM = 8
ITEMS = 400  # enough rows for the items table to span many pages


def build(data: Path) -> np.ndarray:
    vectors = np.random.default_rng(0).normal(size=(ITEMS, DIM)).astype(np.float32)
    with DataDir.open(data) as data_dir:
        for name in ("good", "bad"):
            collection = data_dir.create_collection(name, None, dimension=DIM)
            collection.upsert([ItemRecord(f"{name}-{i}", vectors[i], Modality.VECTOR, {"i": i, "text": "x" * 40})
                               for i in range(ITEMS)])
    return vectors


def damage_header(store: Path) -> None:
    """Garbage over the header: SQLite no longer recognises the file."""
    with open(store, "r+b") as f:
        f.write(np.random.default_rng(1).bytes(100))


def damage_pages(store: Path) -> None:
    """A valid header but garbage in the table pages: found only when the rows are read."""
    size = store.stat().st_size
    with open(store, "r+b") as f:
        f.seek(4096)
        f.write(np.random.default_rng(2).bytes(size - 4096))


def truncate(store: Path) -> None:
    """Cut off at half: pages the schema points at are gone."""
    with open(store, "r+b") as f:
        f.truncate(store.stat().st_size // 2)


@pytest.mark.parametrize("damage", [damage_header, damage_pages, truncate], ids=lambda d: d.__name__)
def test_damaged_store_is_refused_and_the_others_serve(tmp_path: Path, start_server: Callable[..., ServerThread],
                                                       damage: Callable[[Path], None]) -> None:
    data = tmp_path / "data"
    vectors = build(data)
    damage(data / "collections" / "bad" / "items.sqlite3")
    server = start_server(data)
    stubs = Stubs(server.address)
    try:
        calls = {
            "Search": lambda: search(stubs, "bad", pb.Query(vector=vec(vectors[0]))),
            "Describe": lambda: stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name="bad"),
                                                                     timeout=30),
            "Get": lambda: stubs.collections.Get(api.GetRequest(collection="bad", ids=["bad-1"]), timeout=30),
            "Upsert": lambda: stubs.collections.Upsert(
                api.UpsertRequest(collection="bad", items=[api.UpsertItem(id="n", vector=vec(vectors[0]))]),
                timeout=30),
        }
        for name, call in calls.items():
            with pytest.raises(grpc.RpcError) as caught:
                call()
            error = caught.value
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, (name, error.code(), error.details())
            assert reason_of(error) == "STORE_DAMAGED", name
            assert "'bad'" in error.details() and str(tmp_path) not in error.details(), error.details()

        # The others serve, and so do the calls over every collection.
        hits = search(stubs, "good", pb.Query(vector=vec(vectors[3])), k=1)
        assert hits[0].id == "good-3"
        stubs.collections.Upsert(api.UpsertRequest(collection="good", items=[api.UpsertItem(
            id="new", vector=vec(vectors[5]))]), timeout=30)
        listed = stubs.collections.ListCollections(api.ListCollectionsRequest(), timeout=30)
        assert [c.name for c in listed.collections] == ["good"]
        stats = stubs.collections.Stats(api.StatsRequest(), timeout=30)
        assert [(c.name, c.count) for c in stats.collections] == [("good", ITEMS + 1)]

        # The way out: drop it, and the name is free again.
        stubs.collections.DropCollection(api.DropCollectionRequest(name="bad"), timeout=30)
        stubs.collections.CreateCollection(api.CreateCollectionRequest(name="bad", dimension=DIM), timeout=30)
        assert search(stubs, "bad", pb.Query(vector=vec(vectors[0]))) == []
    finally:
        stubs.close()
