"""Corpus readers: folder, JSONL, CSV and Parquet parsing, including bad records and their reasons."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.sources import (
    BadRecord,
    IgnoredFile,
    SourceEntry,
    SourceRecord,
    open_source,
)
from latentspace.indexer.pipeline.vector_blocks import VectorBlock


def _records(entries: list[SourceEntry]) -> list[SourceRecord]:
    return [e for e in entries if isinstance(e, SourceRecord)]


def _bad(entries: list[SourceEntry]) -> list[BadRecord]:
    return [e for e in entries if isinstance(e, BadRecord)]


def test_folder_walks_recursively_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "b" / "deep" / "c.JPG").write_bytes(b"jpg")
    (tmp_path / "b" / "notes.md").write_text("# notes", encoding="utf-8")
    (tmp_path / "readme.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "data.bin").write_bytes(b"\0")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text("x", encoding="utf-8")

    entries = list(open_source(tmp_path))
    records = _records(entries)
    assert [r.id for r in records] == ["a.png", "b/deep/c.JPG", "b/notes.md", "readme.txt"]
    assert [r.modality for r in records] == [Modality.IMAGE, Modality.IMAGE, Modality.TEXT, Modality.TEXT]
    assert records[1].payload == {"path": "b/deep/c.JPG", "folder": "b/deep"}
    assert records[0].payload == {"path": "a.png", "folder": "."}
    assert records[0].path == (tmp_path / "a.png").resolve()
    assert records[0].content_ref == str((tmp_path / "a.png").resolve())
    assert records[2].path is not None and records[2].text is None  # read later, by the pipeline
    assert [e.location for e in entries if isinstance(e, IgnoredFile)] == ["data.bin"]


def test_jsonl_records_and_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    lines = [
        json.dumps({"id": "t1", "text": "a cat", "payload": {"lang": "en"}, "source": "web"}),
        "",  # blank lines are passed over
        json.dumps({"id": "i1", "image": "img/cat.png"}),
        json.dumps({"text": "no id here"}),
        "{not json",
        json.dumps({"id": "both", "text": "x", "image": "y.png"}),
        json.dumps({"id": "none", "payload": {}}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "p", "text": "x", "payload": "not an object"}),
        json.dumps({"id": 7, "text": "numeric ids become strings"}),
        json.dumps({"id": "v", "vector": [1, 0, 0]}),
        json.dumps({"id": "abs", "image": str(tmp_path / "abs.png")}),
    ]
    source = tmp_path / "corpus.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    entries = list(open_source(source))
    records = {r.id: r for r in _records(entries)}
    assert list(records) == ["t1", "i1", "corpus.jsonl:4", "7", "abs"]
    # A run of vector records comes as one block: the lists become one array.
    blocks = [e for e in entries if isinstance(e, VectorBlock)]
    assert len(blocks) == 1 and blocks[0].ids == ["v"] and blocks[0].location(0) == f"{source}:11"
    np.testing.assert_array_equal(blocks[0].vectors, [[1.0, 0.0, 0.0]])
    assert records["t1"].text == "a cat"
    assert records["t1"].payload == {"lang": "en", "source": "web"}
    assert records["i1"].path == (tmp_path / "img" / "cat.png").resolve()
    assert records["i1"].content_ref == str((tmp_path / "img" / "cat.png").resolve())
    assert records["abs"].path == tmp_path / "abs.png"

    bad = {b.location.rsplit(":", 1)[1]: b.reason for b in _bad(entries)}
    assert set(bad) == {"5", "6", "7", "8", "9"}
    assert "not valid JSON" in bad["5"]
    assert "both text and image" in bad["6"]
    assert "no text, image or vector" in bad["7"]
    assert "expected a JSON object" in bad["8"]
    assert "payload must be a JSON object" in bad["9"]
    assert all(b.location.startswith(str(source)) for b in _bad(entries))


def test_jsonl_derived_ids_are_stable(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_text('{"text": "one"}\n{"text": "two"}\n', encoding="utf-8")
    first = [r.id for r in _records(list(open_source(source)))]
    assert first == [r.id for r in _records(list(open_source(source)))] == ["a.jsonl:1", "a.jsonl:2"]


def test_jsonl_bad_utf8_line_is_a_bad_record(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(b'{"text": "ok"}\n{"text": "\xff\xfe"}\n{"text": "also ok"}\n')
    entries = list(open_source(source))
    assert len(_records(entries)) == 2
    assert _bad(entries)[0].reason == "line is not UTF-8"


def test_csv_columns_payload_and_bad_rows(tmp_path: Path) -> None:
    source = tmp_path / "table.csv"
    source.write_text(
        "id,text,image,payload,author\n"
        't1,hello world,,"{""lang"": ""en""}",ann\n'
        "i1,,pics/a.png,,bob\n"
        ",no id,,,\n"
        "b1,text,pics/b.png,,\n"
        "b2,,,,carl\n"
        'b3,x,,"{broken",\n'
        "b4,x,,,,extra cell\n"
        '"multi","line\ntext",,,\n'
        "after,still counted right,,,\n",
        encoding="utf-8",
    )
    entries = list(open_source(source))
    records = {r.id: r for r in _records(entries)}
    assert list(records) == ["t1", "i1", "table.csv:4", "multi", "after"]
    assert records["t1"].payload == {"lang": "en", "author": "ann"}
    assert records["i1"].path == (tmp_path / "pics" / "a.png").resolve()
    assert records["i1"].payload == {"author": "bob"}
    assert records["multi"].text == "line\ntext"
    assert records["after"].location == f"{source}:11"
    bad = {b.location: b.reason for b in _bad(entries)}
    assert "both text and image" in bad[f"{source}:5"]
    assert "no text, image or vector" in bad[f"{source}:6"]
    assert "payload is not valid JSON" in bad[f"{source}:7"]
    assert "more cells than the header" in bad[f"{source}:8"]


def test_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    source = tmp_path / "bom.csv"
    source.write_bytes("id,text\nx,hello\n".encode("utf-8-sig"))
    assert [r.id for r in _records(list(open_source(source)))] == ["x"]


def test_csv_without_content_columns_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "t.csv"
    source.write_text("id,title\n1,hello\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no 'text', 'image' or 'vector' column"):
        list(open_source(source))


def test_parquet_typed_columns(tmp_path: Path) -> None:
    source = tmp_path / "t.parquet"
    table = pa.table({
        "id": ["a", None, "c", "d"],
        "text": ["first", "second", None, "both"],
        "image": [None, None, b"\x89PNG bytes", b"also bytes"],
        "year": [2001, 2002, None, 2004],
        "payload": ['{"k": 1}', None, None, None],
    })
    pq.write_table(table, source)
    entries = list(open_source(source))
    records = {r.id: r for r in _records(entries)}
    assert list(records) == ["a", "t.parquet:row 2", "c"]
    assert records["a"].payload == {"year": 2001, "k": 1}
    assert records["t.parquet:row 2"].payload == {"year": 2002}
    assert records["c"].image == b"\x89PNG bytes" and records["c"].modality is Modality.IMAGE
    assert records["c"].payload == {}
    [bad] = _bad(entries)
    assert bad.location == f"{source}:row 4" and "both text and image" in bad.reason


def test_parquet_hugging_face_image_struct(tmp_path: Path) -> None:
    source = tmp_path / "hf.parquet"
    pq.write_table(pa.table({"image": [{"bytes": b"raw", "path": "a.png"}], "label": [3]}), source)
    [record] = _records(list(open_source(source)))
    assert record.image == b"raw" and record.payload == {"label": 3}


def test_missing_and_unsupported_paths(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no such file or folder"):
        open_source(tmp_path / "nope")
    (tmp_path / "x.xlsx").write_bytes(b"")
    with pytest.raises(InvalidInput, match="expected a folder"):
        open_source(tmp_path / "x.xlsx")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match=r"cannot read .* as Parquet"):
        list(open_source(tmp_path / "bad.parquet"))
