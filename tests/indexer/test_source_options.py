"""Sources of precomputed vectors (.npy with ids beside it, Parquet vector columns), field mapping,
remote URLs (refused unless asked; fetched from a real local HTTP server), and the size estimate."""

from __future__ import annotations

import http.server
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.pipeline import index_source, open_source
from latentspace.indexer.pipeline.read_options import ReadOptions, fetch_url
from latentspace.indexer.pipeline.source_size import estimate_records
from latentspace.indexer.pipeline.vector_blocks import BLOCK_ROWS, VectorBlock
from tests.indexer.fake_collection import FakeCollection

LIMITS = {"max_pixels": 1_000_000, "max_text_chars": 200}


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_npy_with_ids_beside_it_is_read_in_blocks_and_checked_as_arrays(tmp_path: Path) -> None:
    rows = BLOCK_ROWS + 500
    vectors = np.random.default_rng(0).normal(size=(rows, 8)).astype(np.float32)
    vectors[7] = np.nan
    vectors[9] = 0.0
    np.save(tmp_path / "emb.npy", vectors)
    (tmp_path / "emb.ids.txt").write_text("\n".join(f"doc-{i}" for i in range(rows)) + "\n", encoding="utf-8")

    entries = open_source(tmp_path / "emb.npy")
    collection = FakeCollection(dimension=8)
    report = index_source(collection, entries, batch_size=512, progress=False, **LIMITS)
    assert report.indexed == rows - 2 and report.encoded == 0 and collection.text_calls == []
    assert len(collection.upserts) == 2  # one write per block of rows
    assert {(r.location, r.id) for r in report.skipped} == {(f"{tmp_path / 'emb.npy'}:row 7", "doc-7"),
                                                            (f"{tmp_path / 'emb.npy'}:row 9", "doc-9")}
    np.testing.assert_allclose(collection.items["doc-4100"].vector, unit(vectors[4100:4101])[0], rtol=1e-6)
    assert collection.items["doc-0"].payload == {} and collection.items["doc-0"].content_hash

    again = index_source(collection, open_source(tmp_path / "emb.npy"), progress=False, delete_missing=True,
                         **LIMITS)
    assert (again.indexed, again.unchanged, again.deleted) == (0, rows - 2, 0)
    np.save(tmp_path / "emb.npy", vectors[:100])
    (tmp_path / "emb.ids.txt").write_text("\n".join(f"doc-{i}" for i in range(100)) + "\n", encoding="utf-8")
    fewer = index_source(collection, open_source(tmp_path / "emb.npy"), progress=False, delete_missing=True,
                         **LIMITS)
    assert (fewer.unchanged, fewer.deleted, len(collection.items)) == (98, rows - 100, 98)
    assert estimate_records(tmp_path / "emb.npy") == 100


def test_npy_without_ids_numbers_its_rows_and_a_short_ids_file_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float64))
    collection = FakeCollection(dimension=3)
    index_source(collection, open_source(tmp_path / "v.npy"), progress=False, **LIMITS)
    assert sorted(collection.items) == ["0", "1", "2"]
    (tmp_path / "v.ids.txt").write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"2 lines but .* 3 rows"):
        open_source(tmp_path / "v.npy")
    np.save(tmp_path / "flat.npy", np.ones(4))
    with pytest.raises(InvalidInput, match=r"shape \(4,\)"):
        open_source(tmp_path / "flat.npy")


def test_parquet_vector_columns_flow_as_blocks(tmp_path: Path) -> None:
    vectors = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    column = [list(map(float, v)) for v in vectors]
    column[2] = None  # type: ignore[call-overload]
    column[3] = [1.0, 2.0]
    table = pa.table({"key": ["a", "b", "c", "d", "e"], "vec": column, "tag": ["x", "y", "z", "w", "v"],
                      "noise": [1, 2, 3, 4, 5]})
    pq.write_table(table, tmp_path / "v.parquet")
    options = ReadOptions(id_field="key", vector_field="vec", payload_fields=("tag",))
    entries = list(open_source(tmp_path / "v.parquet", options))
    assert len(entries) == 1 and isinstance(entries[0], VectorBlock)
    collection = FakeCollection(dimension=4)
    report = index_source(collection, entries, progress=False, **LIMITS)
    assert sorted(collection.items) == ["a", "b", "e"]
    assert collection.items["e"].payload == {"tag": "v"}
    np.testing.assert_allclose(collection.items["b"].vector, unit(vectors[1:2])[0], rtol=1e-6)
    reasons = {r.id: r.reason for r in report.skipped}
    assert reasons == {"c": "record has no vector", "d": "vector has 2 numbers, others in this file 4"}


def test_field_flags_map_columns_onto_the_item(tmp_path: Path) -> None:
    rows = [{"doc_id": "one", "body": "first text", "title": "T1", "lang": "en", "text": "not this one"},
            {"doc_id": "two", "title": "T2"}]
    source = tmp_path / "docs.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    options = ReadOptions(id_field="doc_id", text_field="body", payload_fields=("title",))
    collection = FakeCollection()
    report = index_source(collection, open_source(source, options), progress=False, **LIMITS)
    assert list(collection.items) == ["one"]
    assert collection.items["one"].content == "first text" and collection.items["one"].payload == {"title": "T1"}
    assert [(r.id, r.reason) for r in report.skipped] == [("two", "record has no text, image or vector")]
    csv_source = tmp_path / "docs.csv"
    csv_source.write_text("doc_id,title\n1,x\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="--text-field"):
        list(open_source(csv_source, options))


@pytest.fixture
def image_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 serving a small PNG and a large file."""
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), (200, 10, 10)).save(buffer, format="PNG")
    (tmp_path / "red.png").write_bytes(buffer.getvalue())
    (tmp_path / "big.bin").write_bytes(b"\0" * 200_000)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_remote_urls_are_fetched_only_when_asked(tmp_path: Path, image_server: str) -> None:
    rows = [{"id": "red", "image": f"{image_server}/red.png"}, {"id": "gone", "image": f"{image_server}/no.png"}]
    source = tmp_path / "remote.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")

    collection = FakeCollection()
    report = index_source(collection, open_source(source), progress=False, **LIMITS)
    assert collection.items == {} and all("--fetch-urls" in r.reason for r in report.skipped)

    report = index_source(collection, open_source(source, ReadOptions(fetch_urls=True)), progress=False, **LIMITS)
    assert list(collection.items) == ["red"] and collection.items["red"].content == f"{image_server}/red.png"
    assert collection.items["red"].vector[0] > collection.items["red"].vector[1]  # the red one, decoded
    assert [r.id for r in report.skipped] == ["gone"] and "404" in report.skipped[0].reason
    with pytest.raises(OSError, match="limit"):
        fetch_url(f"{image_server}/big.bin", max_bytes=100_000)
    assert len(fetch_url(f"{image_server}/big.bin")) == 200_000


def test_estimates_count_records_without_parsing(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "x"}\n{"text": "y"}\n{"text": "z"}', encoding="utf-8")
    (tmp_path / "b.csv").write_text("text\nx\ny\n", encoding="utf-8")
    folder = tmp_path / "f"
    (folder / "sub").mkdir(parents=True)
    for name in ("sub/a.png", "b.txt", "c.bin", ".hidden.txt"):
        (folder / name).write_bytes(b"")
    assert estimate_records(tmp_path / "a.jsonl") == 3
    assert estimate_records(tmp_path / "b.csv") == 2
    assert estimate_records(folder) == 2
    assert estimate_records(tmp_path / "missing.jsonl") is None


def test_jsonl_vectors_become_blocks_and_odd_runs_are_checked_one_by_one(tmp_path: Path) -> None:
    vectors = np.random.default_rng(3).normal(size=(6, 4))
    lines = [json.dumps({"id": f"v{i}", "vector": v.tolist(), "payload": {"i": i}}) for i, v in enumerate(vectors)]
    lines.insert(3, json.dumps({"id": "t", "text": "a text between two runs"}))
    lines.append(json.dumps({"id": "s", "vector": ["1", 2, 3, 4]}))  # strings are not numbers
    lines.append(json.dumps({"id": "r", "vector": [1, 2]}))  # another length: checked alone, refused later
    source = tmp_path / "v.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    entries = list(open_source(source))
    # The second run holds a bad row, so its rows are checked one by one (each a record or a bad one).
    assert [type(e).__name__ for e in entries] == ["VectorBlock", "SourceRecord", "SourceRecord", "SourceRecord",
                                                   "SourceRecord", "BadRecord", "SourceRecord"]
    collection = FakeCollection(dimension=4)
    report = index_source(collection, entries, progress=False, **LIMITS)
    assert sorted(collection.items) == ["t", *[f"v{i}" for i in range(6)]]
    assert collection.items["v4"].payload == {"i": 4}
    np.testing.assert_allclose(collection.items["v4"].vector, unit(vectors[4:5])[0], rtol=1e-6)
    assert {r.id: r.location for r in report.skipped} == {"s": f"{source}:8", "r": f"{source}:9"}
