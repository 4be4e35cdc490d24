"""The stdlib demo collection: a real corpus of docstrings, real minilm, real questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from latentspace.indexer.demo.build import STDLIB_COLLECTION, build_demo
from latentspace.indexer.demo.stdlib_corpus import iter_stdlib_docs

pytestmark = pytest.mark.semantic


@pytest.fixture(scope="session")
def encoders() -> Any:
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry

    return EncoderRegistry(EncoderOptions(device="cpu", allow_download=False))


@pytest.fixture(scope="session")
def stdlib_data_dir(tmp_path_factory: pytest.TempPathFactory, encoders: Any) -> Path:
    """A data dir holding the stdlib demo collection, built once per session."""
    data_dir = tmp_path_factory.mktemp("stdlib-demo")
    report = build_demo(data_dir, encoders=encoders, progress=False, collections=[STDLIB_COLLECTION])
    [built] = report.collections
    assert built.report is not None and built.report.skipped_count == 0
    # The figures quoted in reports (shown with pytest -s).
    print(f"\nstdlib demo: {built.count} docs indexed in {built.report.seconds:.1f} s "
          f"({built.report.items_per_second:.0f} docs/s); whole build {report.seconds:.1f} s")
    return data_dir


def search_ids(data_dir: Path, encoders: Any, query: str, k: int) -> list[str]:
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.search_options import SearchOptions

    with DataDir.open(data_dir, encoders) as data:
        collection = data.collection(STDLIB_COLLECTION)
        [hits] = collection.search(collection.encode_texts([query]), SearchOptions(k=k))
    return [hit.id for hit in hits]


def test_corpus_is_large_real_and_deterministic() -> None:
    docs = list(iter_stdlib_docs())
    assert len(docs) >= 1000
    assert [d.id for d in docs] == [d.id for d in iter_stdlib_docs()]
    assert len({d.id for d in docs}) == len(docs)
    by_id = {d.id: d for d in docs}
    split = by_id["os.path.split"]
    assert split.text.startswith("os.path.split: Split a pathname.")
    assert split.payload == {"module": "os.path", "kind": "function", "name": "split"}
    assert by_id["pathlib.Path"].payload["kind"] == "class"
    assert by_id["json.JSONDecoder.decode"].payload == {"module": "json", "kind": "method",
                                                        "name": "JSONDecoder.decode"}
    assert not any(part.startswith("_") for d in docs for part in d.id.split("."))
    assert {d.payload["module"] for d in docs} >= {"os", "re", "itertools", "asyncio", "sqlite3", "typing"}


def test_split_a_path_finds_os_path_split(stdlib_data_dir: Path, encoders: Any) -> None:
    top3 = search_ids(stdlib_data_dir, encoders, "split a path into directory and file name", k=3)
    assert "os.path.split" in top3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("parse JSON text into a Python object", {"json.loads", "json.load", "json.JSONDecoder.decode"}),
        ("push an item onto a heap", {"heapq.heappush", "heapq.heappushpop"}),
        ("create a temporary directory", {"tempfile.mkdtemp", "tempfile.TemporaryDirectory"}),
    ],
)
def test_more_questions(stdlib_data_dir: Path, encoders: Any, query: str, expected: set[str]) -> None:
    assert expected & set(search_ids(stdlib_data_dir, encoders, query, k=5))


def test_the_collection_holds_the_whole_corpus_and_a_rebuild_is_a_no_op(
    stdlib_data_dir: Path, encoders: Any
) -> None:
    report = build_demo(stdlib_data_dir, encoders=encoders, progress=False, collections=[STDLIB_COLLECTION])
    [built] = report.collections
    assert report.already_built and built.report is None
    assert built.count >= 1000
    assert report.seconds < 10
