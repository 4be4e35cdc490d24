"""Exports: items read as of one moment, written to Parquet, and read back into an identical collection."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentspace.indexer.collection import Collection
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.errors import InvalidInput, ModelMismatch
from latentspace.indexer.export_file import (
    METADATA_KEY,
    ExportHeader,
    load_export,
    read_export,
    read_export_header,
    write_export,
)
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality

DIM = 10


@pytest.fixture
def data(tmp_path: Path) -> Iterator[DataDir]:
    with DataDir.open(tmp_path / "data", background=False) as opened:
        yield opened


def fill(collection: Collection, rng: np.random.Generator, n: int = 300) -> None:
    modalities = [Modality.TEXT, Modality.IMAGE, Modality.VECTOR]
    collection.upsert([
        ItemRecord(f"id-{i}", rng.normal(size=DIM).astype(np.float32), modalities[i % 3],
                   {"i": i, "big": -(2**63) + i, "third": i / 3, "whole": 2.0, "text": "ünï", "nested": {"a": [i]}},
                   f"content {i}" if i % 3 != 2 else "")
        for i in range(n)
    ])
    collection.delete([f"id-{i}" for i in range(0, n, 7)])


def export(collection: Collection, path: Path, page_size: int = 64) -> ExportHeader:
    manifest = collection.manifest
    with collection.export_items() as items:
        header = ExportHeader(collection.name, manifest.model, manifest.fingerprint, manifest.dimension,
                              manifest.index_kind, items.count, items.sequence)
        write_export(path, header, iter(lambda: items.next_page(page_size, 1 << 20), []))
    return header


def test_an_export_loads_back_into_an_identical_collection(data: DataDir, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    original = data.create_collection("c", None, dimension=DIM, index_kind="HNSW8")
    fill(original, rng)
    header = export(original, tmp_path / "c.parquet")
    assert read_export_header(tmp_path / "c.parquet") == header
    assert (header.count, header.sequence, header.index_kind) == (original.count(), original.sequence, "HNSW8")
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.column_names == ["id", "modality", "vector", "payload", "content"]
    assert table.schema.field("vector").type == pa.list_(pa.float32(), DIM)

    copy = data.create_collection("copy", None, dimension=DIM)
    assert load_export(copy, tmp_path / "c.parquet", header) == original.count() == copy.count()
    ids = [f"id-{i}" for i in range(300)]
    mine = {item.id: item for item in original.get(ids, with_vectors=True)}
    theirs = {item.id: item for item in copy.get(ids, with_vectors=True)}
    assert mine.keys() == theirs.keys()
    for key, item in mine.items():
        other = theirs[key]
        assert np.array_equal(item.vector, other.vector)  # bit for bit
        assert (item.modality, item.content) == (other.modality, other.content)
        assert json.dumps(item.payload) == json.dumps(other.payload)  # 2.0 stays a float, big ints exact


def test_export_pages_are_the_items_as_of_one_moment(data: DataDir) -> None:
    rng = np.random.default_rng(2)
    collection = data.create_collection("c", None, dimension=DIM)
    fill(collection, rng, 100)
    before = {item.id for item in collection.get([f"id-{i}" for i in range(100)])}
    with collection.export_items() as items:
        first = items.next_page(10, 1 << 20)
        collection.upsert([ItemRecord("new", rng.normal(size=DIM).astype(np.float32), Modality.VECTOR)])
        collection.delete([f"id-{i}" for i in range(1, 100, 2)])
        rest = list(iter(lambda: items.next_page(25, 1 << 20), []))
        assert (items.count, items.sequence) == (len(before), 2)
    assert len(before) == 85 and [len(page) for page in rest] == [25, 25, 25]
    seen = [item.id for page in [first, *rest] for item in page]
    assert len(seen) == len(set(seen)) and set(seen) == before  # nothing written meanwhile shows


def test_pages_stay_under_their_byte_bound_but_hold_one_item_at_least(data: DataDir) -> None:
    collection = data.create_collection("c", None, dimension=DIM)
    big = "x" * 5000
    collection.upsert([ItemRecord(f"i{n}", np.ones(DIM, np.float32), Modality.TEXT, {}, big) for n in range(9)])
    with collection.export_items() as items:
        pages = list(iter(lambda: items.next_page(100, 12_000), []))
    assert [len(page) for page in pages] == [2, 2, 2, 2, 1]
    with collection.export_items() as items:
        assert [len(p) for p in iter(lambda: items.next_page(100, 10), [])] == [1] * 9


def test_an_export_only_loads_into_the_same_model_and_dimension(data: DataDir, tmp_path: Path) -> None:
    collection = data.create_collection("c", None, dimension=DIM)
    fill(collection, np.random.default_rng(3), 20)
    header = export(collection, tmp_path / "c.parquet")
    other = data.create_collection("other", None, dimension=DIM + 1)
    with pytest.raises(InvalidInput, match="10-d vectors"):
        load_export(other, tmp_path / "c.parquet", header)
    claimed = dataclasses.replace(header, model="sentence-transformers:all-MiniLM-L6-v2", fingerprint="f1")
    with pytest.raises(ModelMismatch, match="fingerprint f1"):
        load_export(collection, tmp_path / "c.parquet", claimed)


def test_other_files_are_not_exports(tmp_path: Path) -> None:
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"id": ["a"], "vector": [[1.0, 0.0]]}), plain)
    (tmp_path / "text.jsonl").write_text('{"id": "a", "text": "b"}\n')
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert read_export_header(plain) is None
    assert read_export_header(tmp_path / "text.jsonl") is None
    assert read_export_header(tmp_path / "bad.parquet") is None
    newer = plain.with_name("newer.parquet")
    table = pa.table({"id": ["a"]}).replace_schema_metadata({METADATA_KEY: json.dumps({"format": 99})})
    pq.write_table(table, newer)
    with pytest.raises(InvalidInput, match=r"metadata that cannot be read"):
        read_export_header(newer)


def test_a_list_vector_column_is_read_too(tmp_path: Path) -> None:
    header = ExportHeader("c", None, None, 2, "Flat", 2, 1)
    path = tmp_path / "hand.parquet"
    table = pa.table({"id": ["a", "b"], "modality": ["vector", "text"], "vector": [[1.0, 0.0], [0.0, 1.0]],
                      "payload": ['{"k": 1}', "{}"], "content": ["", "b"]})
    pq.write_table(table, path)
    (batch,) = read_export(path, header)
    assert [r.id for r in batch] == ["a", "b"] and batch[1].modality is Modality.TEXT
    assert batch[0].payload == {"k": 1} and np.array_equal(batch[1].vector, [0.0, 1.0])
    pq.write_table(table.set_column(2, "vector", pa.array([[1.0, 0.0], [1.0]])), path)
    with pytest.raises(InvalidInput, match="2 numbers"):
        list(read_export(path, header))


def test_an_export_of_other_than_its_count_is_not_written(tmp_path: Path) -> None:
    header = ExportHeader("c", None, None, 2, "Flat", count=3, sequence=1)
    item = ItemRecord("a", np.array([1.0, 0.0], np.float32), Modality.VECTOR)
    with pytest.raises(InvalidInput, match="holds 1 items, not the 3"):
        write_export(tmp_path / "short.parquet", header, [[item]])
    assert list(tmp_path.iterdir()) == []
