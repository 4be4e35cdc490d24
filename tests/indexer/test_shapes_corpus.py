"""The shapes demo corpus: files, records, determinism."""

from __future__ import annotations

import json
from pathlib import Path

from latentspace.indexer.demo.shapes_corpus import write_shapes_corpus
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline import SourceRecord, open_source


def test_corpus_files_and_records(tmp_path: Path) -> None:
    corpus = write_shapes_corpus(tmp_path / "a", n=50)
    assert corpus.images == 50 and len(list((tmp_path / "a" / "images").glob("*.png"))) == 50
    images = [e for e in open_source(corpus.images_jsonl) if isinstance(e, SourceRecord)]
    captions = [e for e in open_source(corpus.captions_jsonl) if isinstance(e, SourceRecord)]
    assert len(images) == 50 and len(captions) == corpus.captions
    assert all(r.modality is Modality.IMAGE and r.path is not None and r.path.is_file() for r in images)
    assert images[0].id == "small-red-circle-00" and images[48].id == "small-red-circle-01"
    assert images[0].payload == {"kind": "image", "color": "red", "shape": "circle", "size": "small"}
    texts = {r.text: r.payload for r in captions}
    assert texts["a small red circle"] == {"kind": "caption", "color": "red", "shape": "circle", "size": "small"}
    assert texts["a red circle"] == {"kind": "caption", "color": "red", "shape": "circle"}
    assert len(texts) == len(captions)  # each caption once


def test_full_corpus_size_and_determinism(tmp_path: Path) -> None:
    first = write_shapes_corpus(tmp_path / "a")
    second = write_shapes_corpus(tmp_path / "b")
    assert (first.images, first.captions) == (480, 144)  # 48 combinations x 10; 4 templates, sized or not
    assert first.captions_jsonl.read_bytes() == second.captions_jsonl.read_bytes()
    for name in ("small-red-circle-00.png", "large-orange-star-09.png"):
        assert (tmp_path / "a" / "images" / name).read_bytes() == (tmp_path / "b" / "images" / name).read_bytes()
    lines = [json.loads(line) for line in first.images_jsonl.read_text(encoding="utf-8").splitlines()]
    assert len({line["id"] for line in lines}) == 480
