"""Collection: validated writes, search semantics, snapshots and catch-up, crash safety, the lazy model."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentspace.indexer.collection import Collection
from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import (
    FailedPrecondition,
    InvalidInput,
    LatentSpaceError,
    ModalityNotSupported,
    ModelMismatch,
    Unavailable,
)
from latentspace.indexer.filters import Equals, PayloadFilter, Range
from latentspace.indexer.index.snapshot import INDEX_FILE, INDEX_META_FILE
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.search_options import SearchOptions

DIM = 8


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def vectors(n: int, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, DIM)))


def records(n: int, seed: int = 0, prefix: str = "i") -> list[ItemRecord]:
    return [ItemRecord(f"{prefix}{i}", v, Modality.VECTOR, {"n": i, "even": i % 2 == 0, "tag": f"t{i % 5}"},
                       f"content {i}") for i, v in enumerate(vectors(n, seed))]


def make(folder: Path, model: str | None = None, kind: str = "Flat", fingerprint: str | None = None,
         **kwargs: Any) -> Collection:
    folder.mkdir(parents=True, exist_ok=True)
    Collection.initialize(folder, CollectionManifest.new(folder.name, model, DIM, kind, fingerprint))
    return Collection(folder, **kwargs)


@pytest.fixture
def coll(tmp_path: Path) -> Iterator[Collection]:
    c = make(tmp_path / "c")
    yield c
    c.close()


def ids(hits: Sequence[Any]) -> list[str]:
    return [h.id for h in hits]


def brute_ids(c: Collection, query: np.ndarray, k: int, keep: Any = lambda item: True) -> list[str]:
    items = [i for i in c.get([f"i{n}" for n in range(10_000)], with_vectors=True) if keep(i)]
    scores = np.array([float(query @ i.vector) for i in items])
    return [items[j].id for j in np.argsort(-scores, kind="stable")[:k]]


# --------------------------------------------------------------------------- writes and reads


def test_upsert_get_replace_delete_and_search_after_delete(coll: Collection) -> None:
    seq = coll.upsert(records(50))
    assert seq == 1 and coll.sequence == 1 and coll.count() == 50
    got = coll.get(["i3", "nope", "i1"], with_vectors=True)
    assert ids(got) == ["i3", "i1"] and got[0].payload["n"] == 3 and got[0].content == "content 3"
    assert got[0].vector is not None
    np.testing.assert_allclose(got[0].vector, vectors(50)[3], atol=1e-6)

    new = unit(np.ones(DIM))
    assert coll.upsert([ItemRecord("i3", new * 5, Modality.VECTOR, {"replaced": True})]) == 2
    (item,) = coll.get(["i3"], with_vectors=True)
    assert item.payload == {"replaced": True} and coll.count() == 50
    assert item.vector is not None
    np.testing.assert_allclose(item.vector, new, atol=1e-6)  # normalised on the way in
    assert ids(coll.search(new[None], SearchOptions(k=1))[0]) == ["i3"]

    assert coll.delete(["i3", "i4", "ghost"]) == (2, 3)
    assert coll.delete(["ghost"]) == (0, 3)
    hits = coll.search(vectors(50)[[3, 4]], SearchOptions(k=50))
    assert all(len(row) == 48 and not {"i3", "i4"} & set(ids(row)) for row in hits)


def test_search_is_top_k_by_cosine(coll: Collection) -> None:
    coll.upsert(records(200))
    q = unit(np.random.default_rng(5).standard_normal((3, DIM)))
    for row, query in zip(coll.search(q, SearchOptions(k=7)), q, strict=True):
        assert ids(row) == brute_ids(coll, query, 7)
        assert all(a.score >= b.score for a, b in itertools.pairwise(row))
        assert all(-1.0 <= h.score <= 1.0 for h in row)
        assert row[0].modality is Modality.VECTOR and row[0].vector is None


@pytest.mark.parametrize("kind", ["Flat", "HNSW16"])
def test_filtered_search_returns_exactly_k(tmp_path: Path, kind: str) -> None:
    c = make(tmp_path / "c", kind=kind)
    c.upsert(records(2000))
    q = vectors(4, seed=9)
    only_t3 = PayloadFilter((Equals("tag", "t3"),))  # 20% match
    rare = PayloadFilter((Range("n", lt=12), Equals("even", True)))  # 6 of 2000 match
    for row in c.search(q, SearchOptions(k=10, filter=only_t3)):
        assert len(row) == 10 and all(h.payload["tag"] == "t3" for h in row)
    for row in c.search(q, SearchOptions(k=10, filter=rare)):
        assert sorted(ids(row)) == ["i0", "i10", "i2", "i4", "i6", "i8"]
    if kind == "Flat":
        assert ids(c.search(q[:1], SearchOptions(k=10, filter=only_t3))[0]) == brute_ids(
            c, q[0], 10, lambda i: i.payload["tag"] == "t3")
    c.close()


def test_exclude_ids_with_and_without_filter(coll: Collection) -> None:
    coll.upsert(records(100))
    q = vectors(100)[:1]
    top = ids(coll.search(q, SearchOptions(k=5))[0])
    excluded = frozenset(top[:3]) | {"ghost"}
    row = coll.search(q, SearchOptions(k=5, exclude_ids=excluded))[0]
    assert len(row) == 5 and not excluded & set(ids(row)) and ids(row)[:2] == top[3:]
    row = coll.search(q, SearchOptions(k=5, exclude_ids=frozenset({"i0"}), filter=PayloadFilter((
        Equals("even", True),))))[0]
    assert len(row) == 5 and "i0" not in ids(row) and all(h.payload["even"] for h in row)


def test_score_threshold_and_with_vectors(coll: Collection) -> None:
    coll.upsert(records(100))
    q = vectors(100)[:1]
    full = coll.search(q, SearchOptions(k=100))[0]
    cut = full[10].score
    row = coll.search(q, SearchOptions(k=100, score_threshold=cut, with_vectors=True))[0]
    assert ids(row) == ids(full)[: len(row)] and all(h.score >= cut for h in row) and len(row) >= 11
    assert row[0].vector is not None and row[0].vector.shape == (DIM,)
    assert coll.search(q, SearchOptions(k=5, score_threshold=1.01)) == [[]]


def test_empty_collection_and_k_beyond_count(coll: Collection) -> None:
    assert coll.search(vectors(2), SearchOptions(k=3)) == [[], []]
    coll.upsert(records(4))
    assert [len(r) for r in coll.search(vectors(2), SearchOptions(k=10**9))] == [4, 4]


# --------------------------------------------------------------------------- bad input


def _record(**overrides: Any) -> ItemRecord:
    fields: dict[str, Any] = {"id": "ok", "vector": np.ones(DIM), "modality": Modality.VECTOR, "payload": {}}
    fields.update(overrides)
    return ItemRecord(**fields)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (_record(vector=np.ones(DIM + 1)), "items[1].vector"),
        (_record(vector=np.full(DIM, np.nan)), "items[1].vector"),
        (_record(vector=np.r_[np.inf, np.ones(DIM - 1)]), "items[1].vector"),
        (_record(vector=np.zeros(DIM)), "items[1].vector"),
        (_record(vector="not numbers"), "items[1].vector"),
        (_record(id=""), "items[1].id"),
        (_record(id="x" * 513), "items[1].id"),
        (_record(id=7), "items[1].id"),
        (_record(id="good"), "items[1].id"),  # a duplicate within the batch
        (_record(payload={"when": object()}), "items[1].payload.when"),
        (_record(payload={"x": float("nan")}), "items[1].payload.x"),
        (_record(payload={"a": {"b": [1, {2, 3}]}}), "items[1].payload.a.b[1]"),
        (_record(payload={1: "int key"}), "items[1].payload"),
        (_record(payload={"big": 2**64}), "items[1].payload.big"),
        (_record(payload={"s": "nul\x00"}), "items[1].payload.s"),
        (_record(payload=["not", "a", "dict"]), "items[1].payload"),
        (_record(modality="audio"), "items[1].modality"),
        (_record(content=None), "items[1].content"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(coll: Collection, bad: ItemRecord, field: str) -> None:
    coll.upsert(records(3))
    before = (coll.count(), coll.sequence)
    with pytest.raises(InvalidInput) as err:
        coll.upsert([_record(id="good"), bad])
    assert err.value.field == field
    assert (coll.count(), coll.sequence) == before and coll.get(["good"]) == []


@pytest.mark.parametrize(
    ("options", "queries", "field"),
    [
        (SearchOptions(k=0), vectors(1), "k"),
        (SearchOptions(k=-3), vectors(1), "k"),
        (SearchOptions(k=1), np.ones((1, DIM + 1)), "query"),
        (SearchOptions(k=1), np.ones(DIM), "query"),
        (SearchOptions(k=1), np.full((1, DIM), np.nan), "query"),
        (SearchOptions(k=1), np.zeros((1, DIM)), "query"),
        (SearchOptions(k=1, score_threshold=float("nan")), vectors(1), "score_threshold"),
    ],
)
def test_bad_searches(coll: Collection, options: SearchOptions, queries: np.ndarray, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        coll.search(queries, options)
    assert err.value.field == field


# --------------------------------------------------------------------------- persistence


def _snapshot_sequence(folder: Path) -> int:
    return int(json.loads((folder / INDEX_META_FILE).read_text())["sequence"])


@pytest.mark.parametrize("kind", ["Flat", "HNSW16"])
def test_reopen_gives_identical_results(tmp_path: Path, kind: str) -> None:
    c = make(tmp_path / "c", kind=kind)
    c.upsert(records(300))
    c.delete([f"i{n}" for n in range(0, 300, 7)])
    q = vectors(5, seed=3)
    opts = SearchOptions(k=10, filter=PayloadFilter((Equals("even", False),)))
    before = [[(h.id, h.score) for h in row] for row in c.search(q, opts)]
    c.close()
    c = Collection(tmp_path / "c")
    assert _snapshot_sequence(tmp_path / "c") == c.sequence == 2
    assert [[(h.id, h.score) for h in row] for row in c.search(q, opts)] == before
    c.close()


def test_writes_after_the_last_snapshot_are_caught_up(tmp_path: Path) -> None:
    c = make(tmp_path / "c", kind="HNSW16", snapshot_every=10**9)
    c.upsert(records(100))
    c.snapshot()
    c.upsert(records(5, seed=1, prefix="late"))
    c.delete(["i0", "late1"])
    c.upsert([ItemRecord("i1", unit(np.ones(DIM)), Modality.VECTOR)])
    assert _snapshot_sequence(tmp_path / "c") == 1 < c.sequence == 4
    # Open a second view without closing the first: as after a crash, the snapshot is behind.
    d = Collection(tmp_path / "c")
    assert d.count() == 103
    assert set(ids(d.search(vectors(1), SearchOptions(k=200))[0])) == (
        {f"i{n}" for n in range(1, 100)} | {"late0", "late2", "late3", "late4"})
    assert ids(d.search(unit(np.ones(DIM))[None], SearchOptions(k=1))[0]) == ["i1"]
    d.close()
    c.close()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete_index", "delete_meta", "bad_meta",
                                    "foreign"])
def test_damaged_snapshot_is_rebuilt(tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    c = make(tmp_path / "c")
    c.upsert(records(120))
    q = vectors(3, seed=4)
    before = [ids(r) for r in c.search(q, SearchOptions(k=5))]
    c.close()
    index, meta = tmp_path / "c" / INDEX_FILE, tmp_path / "c" / INDEX_META_FILE
    if damage == "truncate":
        index.write_bytes(index.read_bytes()[:100])
    elif damage == "garbage":
        raw = bytearray(index.read_bytes())
        raw[200:260] = os.urandom(60)
        index.write_bytes(bytes(raw))
    elif damage == "delete_index":
        index.unlink()
    elif damage == "delete_meta":
        meta.unlink()
    elif damage == "bad_meta":
        meta.write_text("{not json")
    else:  # a snapshot of another collection copied over this one
        other = make(tmp_path / "other")
        other.upsert(records(120, seed=8))
        other.close()
        index.write_bytes((tmp_path / "other" / INDEX_FILE).read_bytes())
        meta.write_text((tmp_path / "other" / INDEX_META_FILE).read_text())
    with caplog.at_level(logging.WARNING):
        c = Collection(tmp_path / "c")
    assert "rebuilding" in caplog.text
    assert [ids(r) for r in c.search(q, SearchOptions(k=5))] == before
    c.close()
    with caplog.at_level(logging.WARNING):
        caplog.clear()
        Collection(tmp_path / "c").close()  # the rebuild wrote a good snapshot
    assert "rebuilding" not in caplog.text


def test_an_old_snapshot_restored_over_a_newer_one_is_not_trusted(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "c"
    c = make(folder, kind="HNSW16")
    c.upsert(records(50))
    c.snapshot()
    old = {name: (folder / name).read_bytes() for name in (INDEX_FILE, INDEX_META_FILE)}
    c.delete(["i1", "i2"])
    c.close()  # snapshots, and prunes the removal log up to the delete
    for name, raw in old.items():  # e.g. a backup of the index files put back
        (folder / name).write_bytes(raw)
    with caplog.at_level(logging.WARNING):
        c = Collection(folder)
    assert "removal log" in caplog.text
    found = set(ids(c.search(vectors(1), SearchOptions(k=100))[0]))
    assert len(found) == 48 and not {"i1", "i2"} & found
    c.close()


def test_concurrent_writers_and_searchers(coll: Collection) -> None:
    coll.upsert(records(200))
    errors: list[BaseException] = []

    def write(t: int) -> None:
        try:
            for b in range(20):
                coll.upsert(records(10, seed=t * 100 + b, prefix=f"t{t}-{b}-"))
                coll.delete([f"t{t}-{b}-0"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def search() -> None:
        try:
            for _ in range(50):
                for row in coll.search(vectors(4, seed=1), SearchOptions(k=10, filter=PayloadFilter((
                        Equals("even", True),)))):
                    assert len(row) == 10
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(3)]
    threads += [threading.Thread(target=search) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert coll.count() == 200 + 3 * 20 * 9
    assert len(coll.search(vectors(1), SearchOptions(k=10_000))[0]) == coll.count()


def test_automatic_snapshots(tmp_path: Path) -> None:
    c = make(tmp_path / "c", snapshot_every=30)
    c.upsert(records(20))
    assert not (tmp_path / "c" / INDEX_META_FILE).exists()
    c.upsert(records(20, seed=1, prefix="j"))
    assert _snapshot_sequence(tmp_path / "c") == 2
    c.close()


def test_unknown_format_version_is_a_failed_precondition(tmp_path: Path) -> None:
    make(tmp_path / "c").close()
    path = tmp_path / "c" / "collection.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(FailedPrecondition, match="format_version 99"):
        Collection(tmp_path / "c")


def test_closed_collection_refuses_work(tmp_path: Path) -> None:
    c = make(tmp_path / "c")
    c.close()
    c.close()  # idempotent
    with pytest.raises(Unavailable):
        c.search(vectors(1), SearchOptions())
    with pytest.raises(Unavailable):
        c.upsert(records(1))


_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from latentspace.indexer.collection import Collection
    from latentspace.indexer.items import ItemRecord
    from latentspace.indexer.modality import Modality

    c = Collection(sys.argv[1], snapshot_every=150)
    rng = np.random.default_rng(int(sys.argv[2]))
    for b in range(400):  # bounded: the test kills it long before
        recs = [ItemRecord(f"b{b}-{j}", rng.standard_normal(8), Modality.VECTOR, {"b": b}) for j in range(40)]
        if b:  # also replace a row of the previous batch, so the removal log is exercised
            recs.append(ItemRecord(f"b{b - 1}-1", rng.standard_normal(8), Modality.VECTOR, {"b": b}))
        print("up", b, c.upsert(recs), flush=True)
        if b % 3 == 2:
            print("del", f"b{b - 1}-0", c.delete([f"b{b - 1}-0"])[1], flush=True)
    """
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkilled_writer_loses_no_acknowledged_write(tmp_path: Path, seed: int) -> None:
    make(tmp_path / "c", kind="HNSW16").close()
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "c"), str(seed)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    kill_after = 10 + 17 * seed  # acknowledged writes before the kill; varies the point it lands
    for line in proc.stdout:
        lines.append(line.split())
        if len(lines) >= kill_after:
            break
    os.kill(proc.pid, signal.SIGKILL)
    lines += [line.split() for line in proc.stdout]  # whatever was acknowledged before it died
    proc.wait()
    lines = [line for line in lines if len(line) == 3]  # drop a line cut mid-write

    acked_up = [int(b) for kind, b, _ in lines if kind == "up"]
    deleted = {item for kind, item, _ in lines if kind == "del"}
    # A delete in flight at the kill may or may not have happened, so ids the writer deletes are
    # only checked through the acknowledged deletes.
    targets = {f"b{b - 1}-0" for b in acked_up if b % 3 == 2}
    expected = {f"b{b}-{j}" for b in acked_up for j in range(40)} - targets
    c = Collection(tmp_path / "c")
    present = {i.id for i in c.get(sorted(expected | deleted))}
    assert expected <= present  # every acknowledged upsert is there
    assert not deleted & present  # and every acknowledged delete stuck
    assert c.sequence >= max(int(seq) for *_, seq in lines)
    # The index agrees with the store: a search for everything returns exactly the stored items.
    everything = c.search(vectors(1), SearchOptions(k=c.count()))[0]
    assert len(everything) == c.count() and len(set(ids(everything))) == c.count()
    c.close()
    Collection(tmp_path / "c").close()  # and the next open is clean too


_ROUNDS = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from latentspace.indexer.collection import Collection
    from latentspace.indexer.index import faiss_index
    from latentspace.indexer.items import ItemRecord
    from latentspace.indexer.modality import Modality
    from latentspace.indexer.search_options import SearchOptions

    faiss_index._POINTS_PER_CENTROID = 2  # train early (OPQ at 512 rows): the rounds run on trained indexes
    root, phase, kinds = sys.argv[1], sys.argv[2], sys.argv[3:]
    pool = np.random.default_rng(5).standard_normal((4000, 8)).astype(np.float32)
    pool /= np.linalg.norm(pool, axis=1, keepdims=True)
    EXACT = dict(ef_search=256, nprobe=64)  # every list, a wide beam: no ANN misses

    def report(c, live):
        names = sorted(live)
        rows = c.search(pool[[live[n] for n in names]], SearchOptions(k=1, **EXACT))
        wrong = [n for n, row in zip(names, rows) if [h.id for h in row] != [n]]
        probes = [[h.id for h in row] for row in c.search(pool[3900:3910], SearchOptions(k=5, **EXACT))]
        return {"count": c.count(), "live": len(live), "wrong": wrong[:5], "n_wrong": len(wrong), "probes": probes}

    for kind in kinds:
        folder = os.path.join(root, kind.replace(",", "_"))
        c = Collection(folder, snapshot_every=100)
        if phase == "write":
            live, row = {}, 0

            def put(pairs):
                global row
                c.upsert([ItemRecord(i, pool[r], Modality.VECTOR) for i, r in pairs])
                live.update(pairs)
                row = max(row, max(r for _, r in pairs) + 1)

            for b in range(6):
                put([(f"b{b}-{j}", row + j) for j in range(250)])
                c.delete([f"b{b}-{j}" for j in range(60)])  # with the replacements: tombstones past 20%
                for j in range(60):
                    del live[f"b{b}-{j}"]
                put([(f"b{b}-{j}", row + j) for j in range(100, 120)])  # replaced: new vectors, same ids
                if b:
                    put([(f"b{b - 1}-{j}", row + j) for j in range(10)])  # deleted ids upserted again
            with open(folder + ".live.json", "w") as f:
                json.dump(live, f)
            print(kind, json.dumps(report(c, live)), flush=True)
            # No close: the next open loads the last automatic snapshot and replays the writes after it.
        else:
            with open(folder + ".live.json") as f:
                live = json.load(f)
            print(kind, json.dumps(report(c, live)), flush=True)
            c.close()
            c = Collection(folder)
            print(kind, json.dumps(report(c, live)), flush=True)
            c.close()
    sys.stdout.flush()
    os._exit(0)
    """
)
# (8-bit PQ: 4-bit codes of 2-d pieces are too coarse for every self-query to find itself; "np": no
# polysemous training, seconds that change nothing here.)
ROUND_KINDS = ["Flat", "HNSW16", "IVF4,Flat", "IVF2,SQ8", "OPQ4,IVF2,PQ4np"]


def _run_rounds(script: Path, root: Path, phase: str) -> dict[str, list[dict[str, Any]]]:
    # A subprocess: a FAISS assertion aborts the whole process, which must fail the test, not pytest.
    proc = subprocess.run([sys.executable, str(script), str(root), phase, *ROUND_KINDS],
                          capture_output=True, text=True, timeout=240)
    reports: dict[str, list[dict[str, Any]]] = {}
    for line in proc.stdout.splitlines():
        kind, raw = line.split(" ", 1)
        reports.setdefault(kind, []).append(json.loads(raw))
    assert proc.returncode == 0, (f"{phase} phase died (rc {proc.returncode}) after {list(reports)}: "
                                  f"{proc.stderr[-1500:]}")
    return reports


def test_rounds_of_upserts_deletes_and_replacements_keep_ids_right_and_survive_reopen(tmp_path: Path) -> None:
    for kind in ROUND_KINDS:
        make(tmp_path / kind.replace(",", "_"), kind=kind).close()
    script = tmp_path / "rounds.py"
    script.write_text(_ROUNDS)
    written = _run_rounds(script, tmp_path, "write")
    reopened = _run_rounds(script, tmp_path, "read")
    for kind in ROUND_KINDS:
        (first,), (caught_up, clean) = written[kind], reopened[kind]
        assert first["count"] == first["live"] == 6 * 190 + 5 * 10
        for report in (first, caught_up, clean):
            assert report["n_wrong"] == 0, f"{kind}: self-queries found other ids: {report['wrong']}"
        assert caught_up == first and clean == first, kind  # same hits after catch-up and after a clean reopen


def test_a_snapshot_of_an_older_format_is_rebuilt(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Format 1 could hold an IVF whose IDMap2 ids no longer matched its lists: never trusted.
    c = make(tmp_path / "c", kind="IVF4,Flat")
    c.upsert(records(400))
    c.delete([f"i{n}" for n in range(40)])
    before = [ids(r) for r in c.search(vectors(3, seed=4), SearchOptions(k=5, nprobe=4))]
    c.close()
    meta = tmp_path / "c" / INDEX_META_FILE
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "format": 1}))
    with caplog.at_level(logging.WARNING):
        c = Collection(tmp_path / "c")
    assert "format 1" in caplog.text and "rebuilding" in caplog.text
    assert [ids(r) for r in c.search(vectors(3, seed=4), SearchOptions(k=5, nprobe=4))] == before
    c.close()


def test_reads_racing_close_raise_library_errors_only(tmp_path: Path) -> None:
    """get/count/search racing close(): Unavailable (or CollectionNotFound for a drop), never sqlite."""
    raw: list[BaseException] = []
    wanted = [f"i{n}" for n in range(20_000)]  # mostly unknown: validating them takes a while
    for trial in range(10):
        c = make(tmp_path / f"c{trial}")
        c.upsert(records(300))
        started = threading.Barrier(3)

        def read(c: Collection = c, trial: int = trial, started: threading.Barrier = started) -> None:
            started.wait(timeout=30)
            for _ in range(10_000):  # bounded; ends at the first library error (closed)
                try:
                    c.get(wanted, with_vectors=trial % 2 == 0)
                    c.count()
                    c.search(vectors(1), SearchOptions(k=3))
                except LatentSpaceError:
                    return
                except BaseException as exc:
                    raw.append(exc)
                    return

        threads = [threading.Thread(target=read) for _ in range(2)]
        for t in threads:
            t.start()
        started.wait(timeout=30)
        time.sleep(0.002 * (trial % 5))  # lands the close at different points of the readers' loop
        c.close(dropped=trial % 2 == 1)
        for t in threads:
            t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
    assert raw == []


# --------------------------------------------------------------------------- the model


class FakeEncoder(Encoder):
    """A tiny deterministic text encoder, enough to exercise the collection's model handling."""

    def __init__(self, spec: str, fingerprint: str, dimension: int = DIM):
        self.spec = parse_model_spec(spec)
        self.dimension = dimension
        self.modalities = frozenset({Modality.TEXT})
        self.fingerprint = fingerprint

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return unit(np.array([[len(t) + i for i in range(self.dimension)] for t in texts], dtype=np.float64))


MINILM = "sentence-transformers:all-MiniLM-L6-v2"


def test_model_loads_lazily_and_never_for_vector_search(tmp_path: Path) -> None:
    calls: list[int] = []

    def loader() -> Encoder:
        calls.append(1)
        return FakeEncoder(MINILM, "fp-1")

    c = make(tmp_path / "c", model=MINILM, fingerprint="fp-1", encoder_loader=loader)
    assert c.modalities == frozenset({Modality.TEXT})
    c.upsert(records(10))
    c.search(vectors(1), SearchOptions(k=3))
    c.get(["i1"])
    assert calls == []
    assert c.encode_texts(["hello", "hi"]).shape == (2, DIM)
    assert c.encode_texts(["again"]).shape == (1, DIM) and calls == [1]  # loaded once
    with pytest.raises(ModalityNotSupported) as err:
        c.encode_images([])
    assert err.value.field == "query.image" and MINILM in str(err.value)
    c.close()


def test_different_fingerprint_is_a_model_mismatch(tmp_path: Path) -> None:
    c = make(tmp_path / "c", model=MINILM, fingerprint="fp-1",
             encoder_loader=lambda: FakeEncoder(MINILM, "fp-2"))
    with pytest.raises(ModelMismatch, match=r"fp-1.*fp-2"):
        c.encode_texts(["hello"])
    with pytest.raises(ModelMismatch):
        _ = c.encoder
    c.close()
    c = make(tmp_path / "d", model=MINILM, fingerprint="fp-1",
             encoder_loader=lambda: FakeEncoder(MINILM, "fp-1", dimension=DIM * 2))
    with pytest.raises(ModelMismatch, match="16-d"):
        c.encode_texts(["hello"])
    c.close()


@pytest.mark.parametrize(
    ("model", "modalities"),
    [(None, frozenset()), (MINILM, frozenset({Modality.TEXT})),
     ("open_clip:ViT-B-32/laion2b_s34b_b79k", frozenset({Modality.TEXT, Modality.IMAGE}))],
)
def test_modalities_come_from_the_manifest(tmp_path: Path, model: str | None, modalities: frozenset[Modality]) -> None:
    c = make(tmp_path / "c", model=model)
    assert c.modalities == modalities
    if model is None:
        with pytest.raises(ModalityNotSupported, match="vector-only"):
            c.encode_texts(["x"])
        with pytest.raises(ModalityNotSupported, match="vector-only"):
            _ = c.encoder
    c.close()
