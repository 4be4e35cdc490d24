"""The bulk batch loop: batching, bad files never abort a run, reports, the real store."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline import BatchResult, index_source, open_source
from latentspace.indexer.pipeline.sources import BadRecord, SourceRecord
from tests.indexer.fake_collection import FakeCollection

LIMITS = {"max_pixels": 1_000_000, "max_text_chars": 200}


def write_png(path: Path, color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), color).save(path)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for i in range(7):
        write_png(folder / f"red/{i}.png", (200 + i, 20, 20))
    write_png(folder / "blue/a.png", (20, 20, 200))
    (folder / "blue" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (folder / "notes.txt").write_text("holiday photos", encoding="utf-8")
    (folder / "empty.md").write_text("  \n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "Thumbs.db").write_bytes(b"\0\0")
    return folder


def test_folder_with_a_corrupt_image_indexes_the_rest(photo_folder: Path) -> None:
    collection = FakeCollection()
    report = index_source(collection, open_source(photo_folder), batch_size=4, progress=False, **LIMITS)
    assert report.indexed == 9  # 8 images + notes.txt
    assert set(collection.items) == {*(f"red/{i}.png" for i in range(7)), "blue/a.png", "notes.txt"}
    skipped = dict(report.skipped)
    assert set(skipped) == {"blue/broken.jpg", "empty.md", "latin1.txt"}
    assert "cannot decode" in skipped["blue/broken.jpg"]
    assert skipped["empty.md"].startswith("text is empty")
    assert skipped["latin1.txt"] == "text file is not UTF-8"
    assert report.skipped_count == 3 and report.ignored == 1
    assert report.batches == 3  # 12 records in batches of 4
    assert all(len(batch) <= 4 for batch in collection.upserts)
    # One model call per modality per batch, never per item.
    assert sum(collection.image_calls) == 8 and len(collection.image_calls) <= report.batches
    assert report.seconds > 0 and report.items_per_second == pytest.approx(9 / report.seconds)

    image = collection.items["red/0.png"]
    assert image.modality is Modality.IMAGE
    assert image.payload == {"path": "red/0.png", "folder": "red"}
    assert image.content == str(photo_folder.resolve() / "red" / "0.png")
    assert collection.items["notes.txt"].content == "holiday photos"


def test_jsonl_with_missing_image_files_and_bad_lines(tmp_path: Path) -> None:
    write_png(tmp_path / "img" / "ok.png", (10, 200, 10))
    lines = [
        {"id": "a", "text": "first"},
        {"id": "b", "image": "img/ok.png", "payload": {"tag": "green"}},
        {"id": "c", "image": "img/missing.png"},
        {"id": "d", "text": "x" * 201},
        {"id": "e", "vector": [1, 2, 3]},  # wrong dimension for the collection
    ]
    source = tmp_path / "c.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n{oops\n", encoding="utf-8")

    collection = FakeCollection()
    report = index_source(collection, open_source(source), batch_size=64, progress=False, **LIMITS)
    assert sorted(collection.items) == ["a", "b"]
    assert collection.items["b"].payload == {"tag": "green"}
    skipped = dict(report.skipped)
    assert set(skipped) == {f"{source}:{n}" for n in (3, 4, 5, 6)}
    assert "cannot read" in skipped[f"{source}:3"] and "missing.png" in skipped[f"{source}:3"]
    assert "over the limit of 200 (max_text_chars)" in skipped[f"{source}:4"]
    assert "vector has shape (3,)" in skipped[f"{source}:5"]
    assert "not valid JSON" in skipped[f"{source}:6"]


def test_streams_batch_by_batch() -> None:
    """The source is consumed one batch ahead at most: a corpus is never held in memory."""
    pulled = 0

    def entries():  # type: ignore[no-untyped-def]
        nonlocal pulled
        for i in range(10):
            pulled += 1
            yield SourceRecord(f"t{i}", f"line {i}", Modality.TEXT, text=f"text {i}")

    collection = FakeCollection()
    seen: list[tuple[int, int]] = []

    def on_batch(result: BatchResult) -> None:
        seen.append((result.number, pulled))

    report = index_source(collection, entries(), batch_size=3, progress=False, on_batch=on_batch, **LIMITS)
    assert report.indexed == 10 and report.batches == 4
    assert seen == [(1, 3), (2, 6), (3, 9), (4, 10)]
    assert [len(call) for call in collection.text_calls] == [3, 3, 3, 1]


def test_a_batch_closes_early_at_the_image_cap(photo_folder: Path) -> None:
    collection = FakeCollection()
    report = index_source(collection, open_source(photo_folder), batch_size=100, max_images_per_batch=3,
                          progress=False, **LIMITS)
    assert report.indexed == 9
    # 9 image files in sorted order; blue/broken.jpg (in the first batch) cannot be decoded.
    assert collection.image_calls == [2, 3, 3]


def test_batch_results_carry_the_resume_point() -> None:
    results: list[BatchResult] = []
    records = [SourceRecord(f"t{i}", f"f.jsonl:{i + 1}", Modality.TEXT, text="x") for i in range(5)]
    index_source(FakeCollection(), [*records, BadRecord("f.jsonl:6", "broken")], batch_size=2,
                 progress=False, on_batch=results.append, **LIMITS)
    assert [r.last_location for r in results] == ["f.jsonl:2", "f.jsonl:4", "f.jsonl:5"]
    assert [r.sequence for r in results] == [2, 4, 5]


def test_a_record_the_store_refuses_costs_only_itself() -> None:
    collection = FakeCollection()
    collection.refuse_ids = {"t1"}
    records = [SourceRecord(f"t{i}", f"loc{i}", Modality.TEXT, text=f"text {i}") for i in range(3)]
    report = index_source(collection, records, batch_size=8, progress=False, **LIMITS)
    assert sorted(collection.items) == ["t0", "t2"]
    assert report.indexed == 2
    assert report.skipped == [("loc1", "items: refused ['t1']")]


def test_bad_batch_size() -> None:
    with pytest.raises(InvalidInput, match="batch size"):
        index_source(FakeCollection(), [], batch_size=0, progress=False, **LIMITS)


def test_inline_parquet_image_bytes(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 250)).save(out, format="PNG")
    pq.write_table(pa.table({"id": ["p"], "image": [out.getvalue()]}), tmp_path / "t.parquet")
    collection = FakeCollection()
    report = index_source(collection, open_source(tmp_path / "t.parquet"), batch_size=4, progress=False,
                          **LIMITS)
    assert report.indexed == 1 and collection.items["p"].content.startswith("sha256:")


def test_into_a_real_vector_only_collection(tmp_path: Path) -> None:
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.search_options import SearchOptions

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 6))
    source = tmp_path / "v.jsonl"
    with source.open("w", encoding="utf-8") as out:
        for i, vector in enumerate(vectors):
            out.write(json.dumps({"id": f"v{i}", "vector": vector.tolist(), "payload": {"i": i}}) + "\n")
        out.write(json.dumps({"id": "t", "text": "no model here"}) + "\n")

    encoders = EncoderRegistry(EncoderOptions(device="cpu", allow_download=False))
    with DataDir.open(tmp_path / "data", encoders) as data:
        collection = data.create_collection("vectors", None, dimension=6)
        report = index_source(collection, open_source(source), batch_size=16, progress=False, **LIMITS)
        assert report.indexed == 50 and collection.count() == 50
        assert [location for location, _ in report.skipped] == [f"{source}:51"]
        [hits] = collection.search(vectors[7:8].astype(np.float32) / np.linalg.norm(vectors[7]),
                                   SearchOptions(k=1))
        assert hits[0].id == "v7" and hits[0].payload == {"i": 7}
