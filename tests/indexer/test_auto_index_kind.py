"""Collections created without an index kind follow their size: Flat, then HNSW, then IVF + PQ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.index.auto_kind import AUTO, AutoIndexPolicy
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.search_options import SearchOptions

DIM = 16


def records(rng: np.random.Generator, start: int, count: int) -> list[ItemRecord]:
    vectors = rng.normal(size=(count, DIM)).astype(np.float32)
    return [ItemRecord(f"v{start + i}", vectors[i], Modality.VECTOR) for i in range(count)]


def test_policy_picks_kinds_by_size_and_never_shrinks() -> None:
    policy = AutoIndexPolicy(hnsw_from=100, ivfpq_from=10_000)
    assert policy.kind_for(99, 384) == "Flat"
    assert policy.kind_for(100, 384) == "HNSW32"
    assert policy.kind_for(1_000_000, 384) == "IVF4096,PQ96x8"
    assert policy.upgrade("Flat", 150, 384) == "HNSW32"
    assert policy.upgrade("HNSW32", 150, 384) is None
    assert policy.upgrade("HNSW32", 50, 384) is None  # a shrunk collection keeps its kind
    with pytest.raises(ValueError):
        AutoIndexPolicy(hnsw_from=10, ivfpq_from=5)


def test_an_auto_collection_is_rebuilt_as_it_grows_and_keeps_answering(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    policy = AutoIndexPolicy(hnsw_from=300, ivfpq_from=2_000)
    with DataDir.open(tmp_path / "data", background=False, auto_policy=policy) as data:
        collection = data.create_collection("c", None, dimension=DIM)
        assert collection.manifest.index_kind == AUTO and collection.index_kind == "Flat"
        collection.upsert(records(rng, 0, 250))
        assert collection.index_kind == "Flat"
        collection.upsert(records(rng, 250, 100))  # 350 items: past hnsw_from
        assert collection.index_kind == "HNSW32"
        probe = collection.get(["v7"], with_vectors=True)[0].vector
        assert probe is not None
        assert collection.search(probe[None, :], SearchOptions(k=1))[0][0].id == "v7"
        for start in range(350, 2_100, 350):
            collection.upsert(records(rng, start, 350))
        assert collection.index_kind.startswith("IVF") and collection.count() == 2_100
        assert collection.search(probe[None, :], SearchOptions(k=1))[0][0].id == "v7"
    with DataDir.open(tmp_path / "data", background=False, auto_policy=policy) as data:
        reopened = data.collection("c")  # from the snapshot the rebuild wrote, not rebuilt again
        assert reopened.index_kind.startswith("IVF") and reopened.index_sequence == reopened.sequence
        assert reopened.search(probe[None, :], SearchOptions(k=1))[0][0].id == "v7"


def test_reindex_changes_the_kind_without_reencoding(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    with DataDir.open(tmp_path / "data", background=False) as data:
        collection = data.create_collection("c", None, dimension=DIM, index_kind="Flat")
        collection.upsert(records(rng, 0, 500))
        query = rng.normal(size=(1, DIM)).astype(np.float32)
        before = [h.id for h in collection.search(query, SearchOptions(k=5))[0]]
        collection.reindex("HNSW16")
        assert collection.index_kind == "HNSW16" and collection.manifest.index_kind == "HNSW16"
        assert [h.id for h in collection.search(query, SearchOptions(k=5, ef_search=200))[0]] == before
    with DataDir.open(tmp_path / "data", background=False) as data:
        assert data.collection("c").index_kind == "HNSW16"
