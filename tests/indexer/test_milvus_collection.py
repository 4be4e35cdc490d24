"""The Milvus backend against a real Milvus (Milvus Lite, in this process): the collection
interface, filter semantics equal to the embedded store's, k hits whenever k pass, the catalog.

One Lite file serves the module (starting Lite costs about a second); each test uses its own
collection names and two data dirs, each with its own catalog (its own client), as two servers.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.backends.base import exporter_of
from latentspace.indexer.backends.milvus import MilvusCatalog, MilvusCollection, MilvusTarget
from latentspace.indexer.backends.milvus.layout import milvus_name
from latentspace.indexer.backup import BackupDir
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.errors import (
    AlreadyExists,
    CollectionNotFound,
    FailedPrecondition,
    InvalidInput,
    ModelMismatch,
)
from latentspace.indexer.filters import AnyOf, Condition, Equals, PayloadFilter, Range
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.search_options import SearchOptions
from tests.indexer.test_data_dir import MINILM, FakeRegistry

DIM = 8
_names = itertools.count()


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusTarget]:
    target = MilvusTarget(str(tmp_path_factory.mktemp("milvus") / "lite.db"))
    keeper = MilvusCatalog(target)  # keeps Lite running across the module's data dirs
    yield target
    keeper.close()


@pytest.fixture
def dirs(lite: MilvusTarget, tmp_path: Path) -> Iterator[tuple[DataDir, DataDir]]:
    """Two data dirs on one Milvus, like two servers: A creates, B finds."""
    a = DataDir.open(tmp_path / "a", FakeRegistry(dimension=DIM), catalogs=[MilvusCatalog(lite)],
                     default_backend="milvus")
    b = DataDir.open(tmp_path / "b", FakeRegistry(dimension=DIM), catalogs=[MilvusCatalog(lite)])
    yield a, b
    for name in a.names():
        if name.startswith("t"):
            a.drop_collection(name)
    a.close()
    b.close()


def fresh(prefix: str = "t") -> str:
    return f"{prefix}{next(_names)}"


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


VECTORS = unit(np.random.default_rng(7).normal(size=(60, DIM)))
#: Payloads where the library's rules and Milvus's own differ: booleans vs 1/0, 1 vs 1.0, null vs
#: missing, numbers vs strings, nesting, characters no expression carries.
PAYLOADS = [
    {"k": True}, {"k": 1}, {"k": 1.0}, {"k": "1"}, {"k": None}, {}, {"k": {"j": 2}}, {"k": [1, 2]},
    {"k": 2.5}, {"k": False}, {"k": 0}, {"k": 'q"q'}, {"k": "tab\t"}, {"k": -3}, {"k": {"j": None}},
]


def records(n: int = 60) -> list[ItemRecord]:
    return [ItemRecord(f"i{i}", VECTORS[i], Modality.VECTOR, PAYLOADS[i % len(PAYLOADS)] | {"i": i}, f"c{i}")
            for i in range(n)]


def exact(conditions: tuple[Condition, ...], query: np.ndarray, k: int, exclude: frozenset[str] = frozenset(),
          threshold: float | None = None) -> list[str]:
    """The answer the library's semantics give, by brute force."""
    chosen = PayloadFilter(conditions)
    scores = VECTORS @ query
    ranked = [f"i{i}" for i in np.argsort(-scores, kind="stable")
              if chosen.matches(records()[i].payload) and f"i{i}" not in exclude
              and (threshold is None or scores[i] >= threshold)]
    return ranked[:k]


FILTERS: list[tuple[Condition, ...]] = [
    (Equals("k", True),), (Equals("k", 1),), (Equals("k", 1.0),), (Equals("k", "1"),), (Equals("k", None),),
    (Equals("k", False),), (Equals("k", 0),), (Equals("k.j", 2),), (Equals("k.j", None),), (Equals("k", 'q"q'),),
    (Equals("k", "tab\t"),), (AnyOf("k", (True, "1", None)),), (AnyOf("k", ()),), (Range("k", gt=0),),
    (Range("k", gte=-3, lt=1),), (Range("k"),), (Equals("missing", 1),), (Range("i", lt=30), Equals("k", 1)),
]


@pytest.mark.parametrize("conditions", FILTERS, ids=[repr(f) for f in FILTERS])
def test_filters_select_exactly_what_the_library_semantics_select(dirs: tuple[DataDir, DataDir],
                                                                    conditions: tuple[Condition, ...]) -> None:
    a, _ = dirs
    c = a.create_collection(fresh(), None, dimension=DIM, index_kind="Flat")
    c.upsert(records())
    query = VECTORS[:1]
    for k in (1, 3, 60):
        options = SearchOptions(k=k, filter=PayloadFilter(conditions))
        assert [h.id for h in c.search(query, options)[0]] == exact(conditions, query[0], k)


def test_exclusions_threshold_and_scores(dirs: tuple[DataDir, DataDir]) -> None:
    a, _ = dirs
    c = a.create_collection(fresh(), None, dimension=DIM, index_kind="Flat")
    c.upsert(records())
    query = VECTORS[5]
    excluded = frozenset({"i5", "i7", 'never"seen'})
    hits = c.search(query[None], SearchOptions(k=10, exclude_ids=excluded, score_threshold=0.1,
                                               with_vectors=True))[0]
    assert [h.id for h in hits] == exact((), query, 10, excluded, 0.1)
    for h in hits:
        assert h.score == pytest.approx(float(VECTORS[int(h.id[1:])] @ query), abs=1e-5)
        assert h.vector is not None and np.allclose(h.vector, VECTORS[int(h.id[1:])], atol=1e-6)
        assert h.key == -1  # no row key outlives a write on Milvus


def test_candidates_the_python_check_drops_are_made_up_for(dirs: tuple[DataDir, DataDir]) -> None:
    # Milvus Lite's `payload["k"] == true` also matches 1: its answer is full of rows the library's
    # rules refuse, so the backend must ask again for more until k pass.
    a, _ = dirs
    c = a.create_collection(fresh(), None, dimension=DIM, index_kind="Flat")
    vectors = unit(np.random.default_rng(11).normal(size=(200, DIM)))
    c.upsert([ItemRecord(f"v{i}", vectors[i], Modality.VECTOR, {"k": True if i % 20 == 0 else 1})
              for i in range(200)])
    query = vectors[3]
    wanted = [f"v{i}" for i in np.argsort(-(vectors @ query), kind="stable") if i % 20 == 0]
    for k in (1, 5, 10, 50):
        hits = c.search(query[None], SearchOptions(k=k, filter=PayloadFilter((Equals("k", True),))))[0]
        assert [h.id for h in hits] == wanted[:k]


def test_an_approximate_index_still_returns_k_whenever_k_match(dirs: tuple[DataDir, DataDir]) -> None:
    a, _ = dirs
    name = fresh()
    c = a.create_collection(name, None, dimension=16, index_kind="IVF32,Flat")
    vectors = unit(np.random.default_rng(3).normal(size=(3000, 16)))
    c.upsert([ItemRecord(f"v{i}", vectors[i], Modality.VECTOR, {"g": i % 50}) for i in range(3000)])
    c.snapshot()  # flushed; Milvus Lite builds the IVF index in the background, or at a load:
    c._client.release_collection(milvus_name(name))
    c._client.load_collection(milvus_name(name))

    def raw(nprobe: int) -> int:
        found = c._client.search(milvus_name(name), data=[vectors[7].tolist()], limit=20,
                                 filter='payload["g"] == 3',
                                 search_params={"metric_type": "IP", "params": {"nprobe": nprobe}})
        return len(found[0])

    # Milvus itself (its IVF visits nprobe lists) returns fewer rows than asked while 60 match.
    assert raw(2) < 20 and raw(8) < 20
    # The backend closes the gap: 20 hits, all matching, whatever the knob.
    for nprobe in (0, 2, 8, 32):
        options = SearchOptions(k=20, filter=PayloadFilter((Equals("g", 3),)), nprobe=nprobe)
        hits = c.search(vectors[7:8], options)[0]
        assert len(hits) == 20 and all(h.payload["g"] == 3 for h in hits), nprobe
    assert len(c.search(vectors[7:8], SearchOptions(k=100, filter=options.filter))[0]) == 60


def test_upsert_get_delete_count_like_the_embedded_store(dirs: tuple[DataDir, DataDir]) -> None:
    a, _ = dirs
    c = a.create_collection(fresh(), None, dimension=DIM)
    assert c.count() == 0 and c.search(VECTORS[:1], SearchOptions(k=3)) == [[]]
    first = c.upsert(records(10))
    assert c.count() == 10
    items = c.get(["i3", "nope", "i3"], with_vectors=True)
    assert [i.id for i in items] == ["i3", "i3"] and items[0].sequence == first
    assert items[0].content == "c3" and items[0].payload == PAYLOADS[3] | {"i": 3}
    assert np.allclose(items[0].vector, VECTORS[3], atol=1e-6)
    second = c.upsert([ItemRecord("i3", VECTORS[9], Modality.TEXT, {"new": True}, "text")])
    assert second > first and c.count() == 10
    (replaced,) = c.get(["i3"])
    assert (replaced.payload, replaced.modality, replaced.sequence) == ({"new": True}, Modality.TEXT, second)
    assert c.delete(["i1", "i2", "nope", "i1"]) [0] == 2 and c.count() == 8
    assert c.get(["i1", "i2"]) == []
    assert c.delete(["nope"])[0] == 0


def test_writes_milvus_cannot_hold_are_refused_before_any_is_written(dirs: tuple[DataDir, DataDir]) -> None:
    a, _ = dirs
    c = a.create_collection(fresh(), None, dimension=DIM)
    bad = [
        (ItemRecord("line\nbreak", VECTORS[0], Modality.VECTOR), "items[1].id"),
        (ItemRecord("ok", VECTORS[0], Modality.VECTOR, {"big": "x" * 70_000}), "items[1].payload"),
        (ItemRecord("ok", VECTORS[0], Modality.VECTOR, content="y" * 70_000), "items[1].content"),
        (ItemRecord("ok", VECTORS[0][:3], Modality.VECTOR), "items[1].vector"),
    ]
    for record, field in bad:
        with pytest.raises(InvalidInput) as refused:
            c.upsert([ItemRecord("first", VECTORS[1], Modality.VECTOR), record])
        assert refused.value.field == field
    assert c.count() == 0


def test_a_second_data_dir_on_the_same_milvus_serves_what_the_first_created(dirs: tuple[DataDir, DataDir]) -> None:
    a, b = dirs
    name = fresh()
    created = a.create_collection(name, "minilm", index_kind="HNSW16")
    assert created.manifest.backend == "milvus" and created.manifest.fingerprint == "fp-1"
    assert name in b.names() and not list((b.path / "collections").iterdir())  # nothing on B's disk
    found = b.collection(name)
    assert isinstance(found, MilvusCollection)
    assert found.manifest == created.manifest and found.index_kind == "HNSW(M=16,efConstruction=80)"
    # A write through A is seen by B's very next read (consistency Strong), and the other way round.
    created.upsert(records(5))
    assert found.count() == 5 and [i.id for i in found.get(["i4"])] == ["i4"]
    assert found.search(VECTORS[4:5], SearchOptions(k=1))[0][0].id == "i4"
    found.delete(["i4"])
    assert created.get(["i4"]) == [] and created.count() == 4
    # Texts are encoded with the model the manifest names, checked against its fingerprint.
    assert found.encode_texts(["hello"]).shape == (1, DIM)
    with pytest.raises(AlreadyExists):
        b.create_collection(name, None, dimension=DIM, backend="milvus")
    assert b.create_collection(name, "minilm", if_not_exists=True, backend="milvus") is found


def test_a_model_with_another_fingerprint_is_refused(lite: MilvusTarget, tmp_path: Path) -> None:
    name = fresh()
    with DataDir.open(tmp_path / "a", FakeRegistry(dimension=DIM, fingerprint="fp-1"),
                      catalogs=[MilvusCatalog(lite)]) as a:
        a.create_collection(name, "minilm", backend="milvus")
        with DataDir.open(tmp_path / "b", FakeRegistry(dimension=DIM, fingerprint="fp-2"),
                          catalogs=[MilvusCatalog(lite)]) as b:
            other = b.collection(name)
            assert other.manifest.model == MINILM
            with pytest.raises(ModelMismatch, match=r"fp-1.*fp-2"):
                other.encode_texts(["a"])
        a.drop_collection(name)


def test_drops_and_re_creates_by_another_server_are_noticed(dirs: tuple[DataDir, DataDir]) -> None:
    a, b = dirs
    dropped = a.create_collection(fresh(), None, dimension=DIM)
    b.drop_collection(dropped.name)
    with pytest.raises(CollectionNotFound):
        dropped.search(VECTORS[:1], SearchOptions(k=1))
    with pytest.raises(CollectionNotFound):
        a.collection(dropped.name)
    name = fresh()
    old = a.create_collection(name, None, dimension=DIM)
    old.upsert(records(3))
    b.drop_collection(name)
    b.create_collection(name, None, dimension=4, backend="milvus")  # same name, another shape
    with pytest.raises(CollectionNotFound, match="re-created by another server"):
        old.upsert(records(1))  # a stale object never writes into the new collection
    assert a.collection(name).dimension == 4  # the data dir hands out the current one


def test_reindex_rebuilds_in_milvus_and_records_the_kind_there(dirs: tuple[DataDir, DataDir]) -> None:
    a, b = dirs
    name = fresh()
    c = a.create_collection(name, None, dimension=DIM, index_kind="Flat")
    c.upsert(records())
    before = c.search(VECTORS[:2], SearchOptions(k=5))
    c.reindex("HNSW32")
    assert c.index_kind == "HNSW(M=32,efConstruction=80)"
    assert [[h.id for h in row] for row in c.search(VECTORS[:2], SearchOptions(k=5, ef_search=64))] == \
        [[h.id for h in row] for row in before]
    assert b.collection(name).manifest.index_kind == "HNSW32"
    with pytest.raises(InvalidInput, match="no Milvus counterpart"):
        c.reindex("OPQ4,IVF4,PQ4")


def test_backends_are_chosen_at_create_and_refused_when_not_configured(dirs: tuple[DataDir, DataDir],
                                                                        tmp_path: Path) -> None:
    a, _ = dirs
    embedded = a.create_collection(fresh(), None, dimension=DIM, backend="embedded")
    assert embedded.manifest.backend == "embedded" and (a.path / "collections" / embedded.name).is_dir()
    with pytest.raises(InvalidInput, match="not known"):
        a.create_collection(fresh(), None, dimension=DIM, backend="cassandra")
    with pytest.raises(InvalidInput, match="no Milvus counterpart"):
        a.create_collection(fresh(), None, dimension=DIM, index_kind="PCA4,Flat")
    with DataDir.open(tmp_path / "plain") as plain:
        with pytest.raises(FailedPrecondition, match="--milvus-uri") as refused:
            plain.create_collection(fresh(), None, dimension=DIM, backend="milvus")
        assert refused.value.reason == "BACKEND_NOT_CONFIGURED"


def test_a_milvus_collection_holds_its_model_while_open_as_an_embedded_one_does(lite: MilvusTarget,
                                                                                tmp_path: Path) -> None:
    registry = FakeRegistry(dimension=DIM)
    name = fresh()
    with DataDir.open(tmp_path / "a", registry, catalogs=[MilvusCatalog(lite)], default_backend="milvus") as a:
        a.create_collection(name, "minilm")
        assert registry.users == {MINILM: 1}  # the open collection; the create's own hold is released
        a.drop_collection(name)
        assert registry.users == {MINILM: 0}  # released: the registry evicts the model
        a.create_collection(name, "minilm")
    assert registry.users == {MINILM: 0}  # closing the data dir releases it too
    with DataDir.open(tmp_path / "a", registry, catalogs=[MilvusCatalog(lite)]) as a:
        a.drop_collection(name)


def test_snapshots_exports_and_restores_over_a_milvus_name_are_refused(dirs: tuple[DataDir, DataDir],
                                                                      tmp_path: Path) -> None:
    a, _ = dirs
    milvus = a.create_collection(fresh(), None, dimension=DIM)
    backups = BackupDir(tmp_path / "backups")
    with pytest.raises(FailedPrecondition, match="own backups") as refused:
        backups.snapshot(milvus)
    assert refused.value.reason == "BACKEND_UNSUPPORTED"
    with pytest.raises(FailedPrecondition, match="export it with") as refused:
        exporter_of(milvus)
    assert refused.value.reason == "BACKEND_UNSUPPORTED"
    embedded = a.create_collection(fresh(), None, dimension=DIM, backend="embedded")
    embedded.upsert(records(3))
    backups.snapshot(embedded, "snap")
    with pytest.raises(AlreadyExists):  # a name is unique across backends
        backups.restore(a, "snap", milvus.name)
    assert a.collection(milvus.name) is milvus
    assert backups.restore(a, "snap", fresh()).count() == 3


def test_a_lite_file_held_by_this_process_is_refused_to_another_with_the_way_out(lite: MilvusTarget) -> None:
    script = ("from latentspace.indexer.backends.milvus import MilvusCatalog, MilvusTarget\n"
              "from latentspace.indexer.errors import LatentSpaceError\n"
              f"try:\n    MilvusCatalog(MilvusTarget({lite.uri!r}))\n"
              "except LatentSpaceError as e:\n    print(type(e).__name__, e.reason, e)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("FailedPrecondition BACKEND_UNAVAILABLE"), out
    assert "milvus-lite server" in out and lite.uri not in out  # the fix, never the server's path


def _statistics(c: MilvusCollection) -> dict[Modality, tuple[int, np.ndarray, tuple[str, ...]]]:
    return {m: (s.count, s.centroid, tuple(i for _, i in s.order)) for m, s in c.modality_statistics.states().items()}


def test_modality_statistics_follow_this_servers_writes_as_a_fresh_scan_sees_them(
        dirs: tuple[DataDir, DataDir]) -> None:
    a, b = dirs
    name = fresh()
    c = a.create_collection(name, None, dimension=DIM)
    assert isinstance(c, MilvusCollection) and c.modality_statistics.states() == {}
    texts = [ItemRecord(f"x{i}", VECTORS[40 + i], Modality.TEXT, {}, "t") for i in range(8)]
    c.upsert(records(30) + texts)
    c.upsert([ItemRecord("i3", VECTORS[50], Modality.TEXT, {}, "now a text"), records(31)[30]])
    c.delete(["i1", "x0", "nope"])
    kept = _statistics(c)
    assert {m: n for m, (n, _, _) in kept.items()} == {Modality.VECTOR: 29, Modality.TEXT: 8}
    live = {item.id: item for item in c.get([f"i{i}" for i in range(31)] + [f"x{i}" for i in range(8)],
                                            with_vectors=True)}
    for modality, (_, centroid, sample) in kept.items():
        vectors = [i.vector for i in live.values() if i.modality is modality and i.vector is not None]
        np.testing.assert_allclose(centroid, np.mean(vectors, axis=0), atol=1e-5)
        assert sorted(sample) == sorted(i for i, item in live.items() if item.modality is modality)
    other = b.collection(name)  # another server opens it: statistics rebuilt by its scan
    assert isinstance(other, MilvusCollection)
    rebuilt = _statistics(other)
    assert rebuilt.keys() == kept.keys()
    for modality in kept:
        assert rebuilt[modality][0] == kept[modality][0] and rebuilt[modality][2] == kept[modality][2]
        np.testing.assert_allclose(rebuilt[modality][1], kept[modality][1], atol=1e-5)
    calibrated = c.modality_statistics.calibration(VECTORS[:2], Modality.TEXT)
    assert calibrated is not None and calibrated[1].shape == (2,) and np.all(calibrated[1] > 0)


def test_all_ids_pages_every_id_and_bulk_runs_re_encode_without_content_hashes(dirs: tuple[DataDir, DataDir]) -> None:
    from latentspace.indexer.backends.base import KeepsContentHashes
    from latentspace.indexer.pipeline.bulk import index_source
    from latentspace.indexer.pipeline.sources import SourceRecord

    a, _ = dirs
    c = a.create_collection(fresh(), None, dimension=DIM)
    assert not isinstance(c, KeepsContentHashes)
    c.upsert([*records(25), ItemRecord("gone", VECTORS[0], Modality.VECTOR, {}, "")])
    assert sorted(i for page in c.all_ids() for i in page) == sorted([f"i{i}" for i in range(25)] + ["gone"])
    source = [SourceRecord(f"i{i}", f"src:{i}", Modality.VECTOR, vector=tuple(float(v) for v in VECTORS[i]))
              for i in range(25)]
    reports = [index_source(c, source, max_pixels=1_000_000, progress=False, delete_missing=True)
               for _ in range(2)]  # no hashes kept: the second run writes every item again, and still works
    assert [(r.indexed, r.unchanged, r.deleted) for r in reports] == [(25, 0, 1), (25, 0, 0)]
    assert c.count() == 25 and c.get(["gone"]) == []
