"""DataDir: creating, finding, listing and dropping collections, and the one-process lock."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.collection import Collection
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import (
    AlreadyExists,
    CollectionNotFound,
    DataDirLocked,
    InvalidInput,
    ModelMismatch,
    ModelUnavailable,
    PermissionDenied,
    Unavailable,
)
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_access import ModelAccess
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
        self.users: dict[str, int] = {}  # open collections (and creates in progress) per model

    def get(self, spec: ModelSpec) -> Encoder:
        self.loads.append(spec.canonical)
        return FakeEncoder(spec, self.dimension, self.fingerprint)

    def acquire(self, spec: ModelSpec) -> None:
        self.users[spec.canonical] = self.users.get(spec.canonical, 0) + 1

    def release(self, spec: ModelSpec) -> None:
        self.users[spec.canonical] -= 1


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


def test_a_model_is_used_while_a_collection_of_it_is_open(tmp_path: Path) -> None:
    registry = FakeRegistry()
    with DataDir.open(tmp_path / "data", registry) as d:
        d.create_collection("a", "minilm")
        d.create_collection("b", "minilm")
        d.create_collection("v", None, dimension=4)
        assert registry.users == {MINILM: 2}  # the creates' own holds are released
        d.drop_collection("a")
        assert registry.users == {MINILM: 1}
        with pytest.raises(InvalidInput):  # a failed create (after loading its model) releases it too
            d.create_collection("c", "minilm", dimension=3)
        assert registry.users == {MINILM: 1}
    assert registry.users == {MINILM: 0}  # closing the data dir closes (and releases) the rest
    with DataDir.open(tmp_path / "data", registry) as d:
        d.collection("b")  # reopened: used again until closed
        assert registry.users == {MINILM: 1}
    assert registry.users == {MINILM: 0}


def test_model_access_is_checked_before_anything_is_read(tmp_path: Path) -> None:
    registry = FakeRegistry()
    with DataDir.open(tmp_path / "data", registry) as d:
        with pytest.raises(PermissionDenied) as caught:
            d.create_collection("x", "open_clip:/etc", model_access=ModelAccess())
        assert caught.value.reason == "MODEL_PATH_NOT_ALLOWED" and caught.value.field == "model"
        assert registry.loads == [] and d.names() == []
        # Even when the name exists: the spec is vetted first.
        d.create_collection("v", None, dimension=4)
        with pytest.raises(PermissionDenied):
            d.create_collection("v", "open_clip:/etc", model_access=ModelAccess(tmp_path / "models"))
        # The operator's own tools pass no access policy.
        d.create_collection("local", f"open_clip:{tmp_path}")
        assert registry.loads == [f"open_clip:{tmp_path.resolve()}"]


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


# --------------------------------------------------------------------------- slow work off the data dir's lock
class BlockingRegistry(FakeRegistry):
    """A registry whose model load blocks until the test releases it (a slow load, without a clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.loading, self.unblock = threading.Event(), threading.Event()

    def get(self, spec: ModelSpec) -> Encoder:
        self.loading.set()
        assert self.unblock.wait(timeout=60), "the test never released the model load"
        return super().get(spec)


def test_a_create_loading_its_model_does_not_block_other_collections(tmp_path: Path) -> None:
    registry = BlockingRegistry()
    with DataDir.open(tmp_path / "data", registry) as d:
        other = d.create_collection("other", None, dimension=4)
        other.upsert([ItemRecord("a", np.ones(4), Modality.VECTOR)])
        created: list[object] = []
        creator = threading.Thread(target=lambda: created.append(d.create_collection("slow", "minilm")))
        creator.start()
        try:
            assert registry.loading.wait(timeout=60)  # the create is inside the model load now
            # Neither the lookup nor the search waits for it (before, the lookup held on the lock).
            assert d.collection("other") is other
            assert [h.id for h in other.search(np.ones((1, 4)), SearchOptions(k=1))[0]] == ["a"]
            assert d.names() == ["other"]  # and the half-made collection is not visible
            assert creator.is_alive() and not created
        finally:
            registry.unblock.set()
            creator.join(timeout=60)
        assert len(created) == 1 and d.collection("slow") is created[0]
        assert sorted(p.name for p in (d.path / "collections").iterdir()) == ["other", "slow"]


def test_two_creates_of_one_name_race_to_one_collection(tmp_path: Path) -> None:
    registry = BlockingRegistry()
    with DataDir.open(tmp_path / "data", registry) as d:
        results: list[object] = []

        def create() -> None:
            try:
                results.append(d.create_collection("c", "minilm", if_not_exists=True))
            except Exception as exc:  # pragma: no cover - reported below
                results.append(exc)

        threads = [threading.Thread(target=create) for _ in range(2)]
        for t in threads:
            t.start()
        assert registry.loading.wait(timeout=60)
        registry.unblock.set()
        for t in threads:
            t.join(timeout=60)
        assert len(results) == 2 and results[0] is results[1] is d.collection("c")
        assert [p.name for p in (d.path / "collections").iterdir()] == ["c"]  # no temp folder left


def test_a_drop_waiting_for_work_in_flight_does_not_block_other_collections(data: DataDir) -> None:
    victim = data.create_collection("victim", None, dimension=4)
    other = data.create_collection("other", None, dimension=4)
    in_flight, finish = threading.Event(), threading.Event()

    def search_in_flight() -> None:  # holds the index shared, as a long search does
        with victim._live.reading():
            in_flight.set()
            finish.wait(timeout=60)

    holder = threading.Thread(target=search_in_flight)
    holder.start()
    assert in_flight.wait(timeout=60)
    dropper = threading.Thread(target=data.drop_collection, args=("victim",))
    dropper.start()
    recreated: list[object] = []
    creator = threading.Thread(target=lambda: recreated.append(data.create_collection("victim", None, dimension=4)))
    try:
        # The drop is waiting for the search, yet the data dir answers, and the name is already gone.
        for _ in range(6000):  # bounded: a drop holding the data dir's lock would hang here until finish
            if "victim" not in data.names() or not dropper.is_alive():
                break
            dropper.join(timeout=0.01)
        assert dropper.is_alive()
        assert data.collection("other") is other and data.names() == ["other"]
        with pytest.raises(CollectionNotFound):
            data.collection("victim")
        with pytest.raises(CollectionNotFound, match="was dropped"):
            victim.count()  # a holder of the old object, at once
        # A new collection of that name waits until the old object is closed (it may still write by path).
        creator.start()
        creator.join(timeout=0.2)
        assert creator.is_alive() and not recreated
    finally:
        finish.set()
        holder.join(timeout=60)
        dropper.join(timeout=60)
        if creator.ident is not None:
            creator.join(timeout=60)
    assert not dropper.is_alive() and len(recreated) == 1 and recreated[0] is not victim
    assert data.names() == ["other", "victim"] and data.collection("victim").count() == 0
    assert not [p for p in (data.path / "collections").iterdir() if p.name.startswith(".")]


def test_reads_racing_a_drop_get_collection_not_found_only(data: DataDir) -> None:
    wanted = [f"i{n}" for n in range(20_000)]  # mostly unknown: validating them takes a while
    raw: list[BaseException] = []
    for trial in range(10):
        c = data.create_collection("c", None, dimension=4)
        c.upsert([ItemRecord(f"i{n}", np.arange(1, 5) + n, Modality.VECTOR) for n in range(300)])
        started = threading.Barrier(3)

        def read(c: Collection = c, started: threading.Barrier = started) -> None:
            started.wait(timeout=30)
            for _ in range(10_000):  # bounded; ends at the first library error
                try:
                    c.get(wanted)
                    c.search(np.ones((1, 4)), SearchOptions(k=3))
                except CollectionNotFound:
                    return
                except BaseException as exc:
                    raw.append(exc)
                    return

        threads = [threading.Thread(target=read) for _ in range(2)]
        for t in threads:
            t.start()
        started.wait(timeout=30)
        time.sleep(0.002 * (trial % 5))  # lands the drop at different points of the readers' loop
        data.drop_collection("c")
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    assert raw == []


# --------------------------------------------------------------------------- index kinds tried at create
@pytest.mark.parametrize(("kind", "why"), [
    ("IVF2,Flat,RFlat", "refine stages are left out"),  # its every search would fail
    ("NSG16", "NSG is left out"),  # cannot add after its first build
    ("HNSW1", "HNSW's M must be 4..128"),  # would segfault the process on the second add
    ("IVF1000000,Flat", "nlist must be 1..65536"),  # 160 MB while empty
    ("PQ7", "must divide the dimension 8"),
])
def test_an_index_kind_that_cannot_serve_is_refused_at_create(data: DataDir, kind: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(why)) as err:
        data.create_collection("c", None, dimension=8, index_kind=kind)
    assert err.value.field == "index_kind" and repr(kind) in str(err.value)
    assert data.names() == [] and list((data.path / "collections").iterdir()) == []


def test_index_kind_limits_are_passed_through_create(data: DataDir) -> None:
    limits = IndexKindLimits(max_index_nlist=8)
    with pytest.raises(InvalidInput, match=r"nlist must be 1\.\.8 \(limit max_index_nlist\)") as err:
        data.create_collection("c", None, dimension=8, index_kind="IVF16,Flat", index_kind_limits=limits)
    assert err.value.field == "index_kind"
    assert data.create_collection("c", None, 8, "IVF8,Flat", False, limits).manifest.index_kind == "IVF8,Flat"


@pytest.mark.parametrize("kind", ["IVF1024,PQ4", "OPQ4,IVF2,PQ4", "HNSW16", "IVF4,SQ8"])
def test_index_kinds_that_work_are_created(data: DataDir, kind: str) -> None:
    c = data.create_collection("c", None, dimension=8, index_kind=kind)
    c.upsert([ItemRecord(f"i{n}", np.arange(1, 9) * (n + 1) % 7 + 1.0, Modality.VECTOR) for n in range(50)])
    assert len(c.search(np.ones((1, 8)), SearchOptions(k=5))[0]) == 5
