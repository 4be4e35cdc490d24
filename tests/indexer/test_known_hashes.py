"""The compact hash lookup Ray replicas use to drop unchanged items."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.known_hashes import KnownHashes


def test_an_id_is_unchanged_only_with_its_own_content_hash() -> None:
    known = KnownHashes.from_pairs([(f"id{i}", f"hash{i}") for i in range(1000)])
    assert len(known) == 1000 and np.all(np.diff(known.ids.astype(np.float64)) >= 0)
    ids = ["id5", "id5", "id999", "new", "id0"]
    hashes = ["hash5", "hash6", "hash999", "hash5", "other"]
    np.testing.assert_array_equal(known.unchanged(ids, hashes), [True, False, True, False, False])
    assert known.unchanged([], []).shape == (0,)
    assert not KnownHashes.from_pairs([]).unchanged(["id5"], ["hash5"]).any()


def test_read_from_a_collection_holds_what_bulk_runs_stored(tmp_path: Path) -> None:
    with DataDir.open(tmp_path / "data") as data:
        collection = data.create_collection("vectors", None, dimension=4)
        rng = np.random.default_rng(0)
        records = []
        for i in range(70):
            vector = rng.standard_normal(4).astype(np.float32)
            records.append(ItemRecord(id=f"v{i}", vector=vector / np.linalg.norm(vector), modality=Modality.VECTOR,
                                      content_hash=f"h{i}" if i % 2 else ""))
        collection.upsert(records)
        known = KnownHashes.of(collection)
        assert known is not None and len(known) == 35  # items written without a hash are left out
        assert known.unchanged(["v1", "v3", "v2"], ["h1", "h4", ""]).tolist() == [True, False, False]
    assert KnownHashes.of(object()) is None
