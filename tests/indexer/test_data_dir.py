"""DataDir: creating, finding, listing and dropping collections, and the one-process lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import (
    AlreadyExists,
    CollectionNotFound,
    DataDirLocked,
    InvalidInput,
    ModelMismatch,
    ModelUnavailable,
    Unavailable,
)
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelSpec
from latentspace.indexer.search_options import SearchOptions

MINILM = "sentence-transformers:all-MiniLM-L6-v2"


class FakeEncoder(Encoder):
    def __init__(self, spec: ModelSpec, dimension: int, fingerprint: str):
        self.spec, self.dimension, self.fingerprint = spec, dimension, fingerprint
        self.modalities = frozenset({Modality.TEXT})

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.array([[len(t) + 1.0 + i for i in range(self.dimension)] for t in texts])
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


class FakeRegistry:
    """Stands in for EncoderRegistry: one cached encoder per spec, with a settable fingerprint."""

    def __init__(self, dimension: int = 6, fingerprint: str = "fp-1"):
        self.dimension, self.fingerprint = dimension, fingerprint
        self.loads: list[str] = []

    def get(self, spec: ModelSpec) -> Encoder:
        self.loads.append(spec.canonical)
        return FakeEncoder(spec, self.dimension, self.fingerprint)


@pytest.fixture
def data(tmp_path: Path) -> Iterator[DataDir]:
    d = DataDir.open(tmp_path / "data", FakeRegistry())
    yield d
    d.close()


def test_create_find_list_and_drop(data: DataDir) -> None:
    vec = data.create_collection("vec", None, dimension=4, index_kind="HNSW16")
    text = data.create_collection("text_1", "minilm")
    assert (vec.dimension, vec.manifest.model, vec.manifest.index_kind) == (4, None, "HNSW16")
    assert (text.dimension, text.manifest.model, text.manifest.fingerprint) == (6, MINILM, "fp-1")
    assert data.collection("vec") is vec  # opened once, cached
    assert [c.name for c in data.list_collections()] == ["text_1", "vec"]
    vec.upsert([ItemRecord("a", np.ones(4), Modality.VECTOR)])
    data.drop_collection("vec")
    assert not (data.path / "collections" / "vec").exists()
    with pytest.raises(CollectionNotFound, match="was dropped"):
        vec.search(np.ones((1, 4)), SearchOptions())  # a holder of the old object
    with pytest.raises(CollectionNotFound, match="'text_1'"):
        data.collection("vec")
    again = data.create_collection("vec", None, dimension=4)
    assert again is not vec and again.count() == 0


def test_collections_survive_reopen(tmp_path: Path) -> None:
    with DataDir.open(tmp_path / "data") as d:
        d.create_collection("v", None, dimension=3).upsert([ItemRecord("a", np.ones(3), Modality.VECTOR)])
    with DataDir.open(tmp_path / "data") as d:
        assert d.names() == ["v"] and d.collection("v").count() == 1
    with pytest.raises(Unavailable):
        d.collection("v")


@pytest.mark.parametrize("name", ["", "-x", "_x", "a/b", "..", "a b", "x" * 65, "é", ".tmp-x"])
def test_bad_names(data: DataDir, name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        data.create_collection(name, None, dimension=3)
    assert err.value.field == "name"
    with pytest.raises(CollectionNotFound):
        data.collection(name)


def test_longest_name_is_fine(data: DataDir) -> None:
    assert data.create_collection("a" * 64, None, dimension=2).name == "a" * 64


@pytest.mark.parametrize(
    ("model", "dimension", "kind", "error", "field"),
    [
        (None, None, None, InvalidInput, "dimension"),
        (None, 0, None, InvalidInput, "dimension"),
        (None, 65_537, None, InvalidInput, "dimension"),
        (None, 3, "NotAnIndex", InvalidInput, "index_kind"),
        ("minilm", 7, None, InvalidInput, "dimension"),  # the model gives 6
        ("no-such-model", None, None, InvalidInput, "model"),
    ],
)
def test_bad_create_arguments(data: DataDir, model: str | None, dimension: int | None, kind: str | None,
                              error: type[Exception], field: str) -> None:
    with pytest.raises(error) as err:
        data.create_collection("c", model, dimension=dimension, index_kind=kind)
    assert getattr(err.value, "field", None) == field
    assert data.names() == [] and list((data.path / "collections").iterdir()) == []


def test_already_exists_and_if_not_exists(data: DataDir) -> None:
    first = data.create_collection("c", "minilm")
    assert data.create_collection("c", MINILM, if_not_exists=True) is first
    with pytest.raises(AlreadyExists):
        data.create_collection("c", "minilm")
    with pytest.raises(AlreadyExists, match="vector-only"):
        data.create_collection("c", None, dimension=6, if_not_exists=True)


def test_model_needs_a_registry(tmp_path: Path) -> None:
    with DataDir.open(tmp_path / "data") as d, pytest.raises(ModelUnavailable):
        d.create_collection("c", "minilm")


def test_new_weights_are_refused_with_model_mismatch(tmp_path: Path) -> None:
    registry = FakeRegistry(fingerprint="fp-1")
    with DataDir.open(tmp_path / "data", registry) as d:
        d.create_collection("c", "minilm")
    registry.fingerprint = "fp-2"  # e.g. the weights in the cache were replaced
    with DataDir.open(tmp_path / "data", registry) as d:
        c = d.collection("c")
        assert c.search(np.ones((1, 6)), SearchOptions()) == [[]]  # no model needed for this
        with pytest.raises(ModelMismatch):
            c.encode_texts(["hello"])


def test_half_created_collection_is_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "data"
    DataDir.open(root).close()
    leftover = root / "collections" / ".tmp-c-1234"
    leftover.mkdir()
    (leftover / "collection.json").write_text("{}")
    with DataDir.open(root) as d:
        assert d.names() == [] and not leftover.exists()
        d.create_collection("c", None, dimension=2)


def test_second_open_in_process_fails_at_once_naming_the_pid(data: DataDir) -> None:
    with pytest.raises(DataDirLocked) as err:
        DataDir.open(data.path)
    message = str(err.value)
    assert f"pid {os.getpid()}" in message and str(data.path) in message and "--data" in message


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from latentspace.indexer.data_dir import DataDir
    d = DataDir.open(sys.argv[1])
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_lock_across_processes(tmp_path: Path) -> None:
    root = tmp_path / "data"
    # Another process tries while we hold it: it fails at once, naming us.
    with DataDir.open(root):
        probe = subprocess.run(
            [sys.executable, "-c", "import sys\nfrom latentspace.indexer.data_dir import DataDir\n"
             "DataDir.open(sys.argv[1])", str(root)],
            capture_output=True, text=True, timeout=60,
        )
        assert probe.returncode != 0
        assert "DataDirLocked" in probe.stderr and f"pid {os.getpid()}" in probe.stderr
    # Another process holds it: we fail at once naming it; once it is SIGKILLed, the lock is free.
    script = tmp_path / "holder.py"
    script.write_text(_HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(DataDirLocked, match=f"pid {holder.pid}"):
            DataDir.open(root)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    DataDir.open(root).close()
