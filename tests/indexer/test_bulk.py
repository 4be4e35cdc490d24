"""The bulk batch loop: batching, bad files never abort a run, reports, the real store."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline import BatchResult, Reject, index_source, open_source
from latentspace.indexer.pipeline.sources import BadRecord, SourceEntry, SourceRecord
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
    skipped = {reject.location: reject.reason for reject in report.skipped}
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
    skipped = {reject.location: reject.reason for reject in report.skipped}
    assert set(skipped) == {f"{source}:{n}" for n in (3, 4, 5, 6)}
    assert "cannot read" in skipped[f"{source}:3"] and "missing.png" in skipped[f"{source}:3"]
    assert "over the limit of 200 (max_text_chars)" in skipped[f"{source}:4"]
    assert "vector has shape (3,)" in skipped[f"{source}:5"]
    assert "not valid JSON" in skipped[f"{source}:6"]
    assert sorted(reject.id for reject in report.skipped) == ["", "c", "d", "e"]  # a line that is not JSON has none


def test_streams_a_bounded_number_of_batches_ahead() -> None:
    """The source is read ahead of the writes by a few batches at most: a corpus is never held in memory."""
    pulled = 0

    def entries():
        nonlocal pulled
        for i in range(200):
            pulled += 1
            yield SourceRecord(f"t{i}", f"line {i}", Modality.TEXT, text=f"text {i}")

    collection = FakeCollection()
    ahead: list[int] = []

    def on_batch(result: BatchResult) -> None:
        ahead.append(pulled - 3 * result.number)

    report = index_source(collection, entries(), batch_size=3, queue_size=1, progress=False,
                          on_batch=on_batch, **LIMITS)
    assert report.indexed == 200 and report.batches == 67
    # Between the source and on_batch: the batch the read thread holds, 3 stages holding one batch
    # each and 4 queues of 1 (the last holds a result): 8 batches of 3 at most.
    assert max(ahead) <= 8 * 3
    assert [len(call) for call in collection.text_calls] == [3] * 66 + [2]


def test_batches_are_written_in_source_order(photo_folder: Path) -> None:
    """Images, texts and vectors interleaved over many batches come out in the order they went in."""
    rng = np.random.default_rng(1)
    records: list[SourceEntry] = []
    for i in range(60):
        kind = i % 3
        if kind == 0:
            records.append(SourceRecord(f"r{i}", f"loc{i}", Modality.TEXT, text=f"text {i}"))
        elif kind == 1:
            records.append(SourceRecord(f"r{i}", f"loc{i}", Modality.IMAGE, path=photo_folder / "red/0.png"))
        else:
            records.append(SourceRecord(f"r{i}", f"loc{i}", Modality.VECTOR,
                                        vector=tuple(rng.normal(size=8).tolist())))
        if i % 7 == 0:
            records.append(BadRecord(f"bad{i}", "broken line"))
    collection = FakeCollection()
    numbers: list[int] = []
    report = index_source(collection, records, batch_size=4, max_images_per_batch=2, progress=False,
                          on_batch=lambda result: numbers.append(result.number), **LIMITS)
    written = [record.id for batch in collection.upserts for record in batch]
    assert written == [f"r{i}" for i in range(60)]
    assert numbers == sorted(numbers) and len(numbers) == report.batches
    assert [reject.location for reject in report.skipped] == [f"bad{i}" for i in range(0, 60, 7)]
    # Each record got its own vector: texts by hash, images by colour, vectors as given.
    np.testing.assert_allclose(collection.items["r2"].vector,
                               np.asarray(records[3].vector) / np.linalg.norm(records[3].vector), rtol=1e-5)


class ModelBroke(RuntimeError):
    pass


def test_a_model_error_stops_the_run_and_keeps_the_batches_written_before() -> None:
    collection = FakeCollection()
    calls = 0

    def failing_encode(texts):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ModelBroke("out of memory")
        return FakeCollection.encode_texts(collection, texts)

    collection.encode_texts = failing_encode
    records = [SourceRecord(f"t{i}", f"loc{i}", Modality.TEXT, text=f"text {i}") for i in range(100)]
    results: list[BatchResult] = []
    with pytest.raises(ModelBroke, match="out of memory") as caught:
        index_source(collection, records, batch_size=10, progress=False, on_batch=results.append, **LIMITS)
    assert any("'encode' stage" in note for note in caught.value.__notes__)
    # Batches 1 and 2 were written and reported before the error reached the caller.
    assert [result.number for result in results] == [1, 2]
    assert sorted(collection.items) == sorted(f"t{i}" for i in range(20))
    assert not pipeline_threads()


def pipeline_threads() -> list[threading.Thread]:
    """The bulk pipeline's own threads still alive (other tests' servers run threads named latent-* too)."""
    return [t for t in threading.enumerate() if t.name.startswith(("latent-index", "latent-load"))]


def test_a_failing_on_batch_stops_the_run_cleanly() -> None:
    collection = FakeCollection()
    records = [SourceRecord(f"t{i}", f"loc{i}", Modality.TEXT, text=f"text {i}") for i in range(1000)]

    def on_batch(result: BatchResult) -> None:
        if result.number == 2:
            raise KeyboardInterrupt  # what Ctrl-C in the caller's thread looks like

    with pytest.raises(KeyboardInterrupt):
        index_source(collection, records, batch_size=10, progress=False, on_batch=on_batch, **LIMITS)
    assert not pipeline_threads()
    # The run stopped a few batches past the failure, not at the end of the source.
    assert 20 <= len(collection.items) < 1000


def test_a_source_of_only_bad_records_is_reported_in_bounded_batches() -> None:
    collection = FakeCollection()
    results: list[BatchResult] = []
    bad = [BadRecord(f"f.jsonl:{i}", "not valid JSON") for i in range(25)]
    report = index_source(collection, bad, batch_size=10, progress=False, on_batch=results.append, **LIMITS)
    assert report.indexed == 0 and report.batches == 0 and results == []
    assert report.skipped_count == 25 and report.skipped[0] == Reject("f.jsonl:0", "", "not valid JSON")
    assert collection.upserts == []


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
    assert report.skipped == [Reject("loc1", "t1", "items: refused ['t1']")]


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
        assert [reject.location for reject in report.skipped] == [f"{source}:51"]
        [hits] = collection.search(vectors[7:8].astype(np.float32) / np.linalg.norm(vectors[7]),
                                   SearchOptions(k=1))
        assert hits[0].id == "v7" and hits[0].payload == {"i": 7}


def test_a_rerun_skips_unchanged_items_and_re_encodes_changed_ones() -> None:
    collection = FakeCollection()

    def records(changed: str) -> list[SourceEntry]:
        return [SourceRecord(f"t{i}", f"loc{i}", Modality.TEXT, text=changed if i == 3 else f"text {i}",
                             payload={"i": i}) for i in range(20)]

    first = index_source(collection, records("text 3"), batch_size=6, progress=False, **LIMITS)
    assert (first.read, first.indexed, first.unchanged, first.encoded) == (20, 20, 0, 20)
    assert all(len(record.content_hash) == 32 for record in collection.items.values())
    calls = len(collection.text_calls)
    second = index_source(collection, records("text 3"), batch_size=6, progress=False, **LIMITS)
    assert (second.read, second.indexed, second.unchanged, second.encoded) == (20, 0, 20, 0)
    assert len(collection.text_calls) == calls  # the model never ran
    third = index_source(collection, records("a changed text"), batch_size=6, progress=False, **LIMITS)
    assert (third.indexed, third.unchanged, third.encoded) == (1, 19, 1)
    assert collection.text_calls[-1] == ["a changed text"]
    # Off: everything is encoded again.
    fourth = index_source(collection, records("a changed text"), batch_size=6, progress=False,
                          incremental=False, **LIMITS)
    assert (fourth.indexed, fourth.unchanged, fourth.encoded) == (20, 0, 20)


def test_delete_missing_removes_the_ids_the_source_no_longer_has() -> None:
    collection = FakeCollection()
    texts = [SourceRecord(f"t{i}", f"loc{i}", Modality.TEXT, text=f"text {i}") for i in range(10)]
    index_source(collection, texts, batch_size=4, progress=False, **LIMITS)
    # t6 is still named, by a record that is bad now: kept. t7-t9 are gone from the source: deleted.
    now = [*texts[:6], BadRecord("loc6", "record has no text, image or vector", "t6")]
    report = index_source(collection, now, batch_size=4, progress=False, delete_missing=True, **LIMITS)
    assert report.deleted == 3 and sorted(collection.items) == [f"t{i}" for i in range(7)]
    # Without the flag nothing is deleted.
    report = index_source(collection, texts[:2], batch_size=4, progress=False, **LIMITS)
    assert report.deleted == 0 and len(collection.items) == 7


def test_the_staged_pipeline_gives_each_image_its_thumbnail(photo_folder: Path) -> None:
    collection = FakeCollection()
    index_source(collection, open_source(photo_folder), batch_size=4, progress=False, thumbnail_side=16, **LIMITS)
    red = collection.items["red/0.png"].thumbnail
    assert red is not None and red.media_type == "image/webp"
    assert Image.open(io.BytesIO(red.data)).size == (12, 12)  # never enlarged
    assert collection.items["notes.txt"].thumbnail is None
    none = FakeCollection()
    index_source(none, open_source(photo_folder), batch_size=4, progress=False, thumbnail_side=0, **LIMITS)
    assert none.items["red/0.png"].thumbnail is None
