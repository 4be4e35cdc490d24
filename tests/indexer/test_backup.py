"""Backups: snapshots of collections taken while they serve, and restoring them into a data dir."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentspace.indexer.backup import SNAPSHOT_FILE, BackupDir, SnapshotInfo
from latentspace.indexer.collection import Collection
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.errors import AlreadyExists, FailedPrecondition, InvalidInput, SnapshotNotFound
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import VectorDirection
from latentspace.indexer.search_options import SearchOptions
from latentspace.indexer.store import item_store

DIM = 12
WAIT = 60  # seconds: liveness bounds only


def records(rng: np.random.Generator, ids: list[str], round_: int = 0) -> list[ItemRecord]:
    return [
        ItemRecord(i, rng.normal(size=DIM).astype(np.float32), Modality.TEXT,
                   {"round": round_, "big": 2**62 + n, "half": 0.5, "whole": 3.0, "name": f"é{i}", "tags": [n, None]},
                   f"the text of {i}")
        for n, i in enumerate(ids)
    ]


def fill(collection: Collection, rng: np.random.Generator) -> None:
    """Upserts, replacements and deletes, in several writes."""
    for b in range(4):
        collection.upsert(records(rng, [f"i{b}-{n}" for n in range(60)], b))
    collection.upsert(records(rng, [f"i0-{n}" for n in range(0, 60, 3)], 9))  # replacements
    collection.delete([f"i1-{n}" for n in range(0, 60, 4)])


def everything(collection: Collection) -> dict[str, Any]:
    ids = [f"i{b}-{n}" for b in range(8) for n in range(60)]
    return {item.id: item for item in collection.get(ids, with_vectors=True)}


def assert_equal_collections(original: Collection, copy: Collection, queries: np.ndarray) -> None:
    """Same ids, bit-identical vectors, equal payloads, contents and modalities, same search answers."""
    mine, theirs = everything(original), everything(copy)
    assert mine.keys() == theirs.keys() and len(mine) == original.count() == copy.count()
    for key, item in mine.items():
        other = theirs[key]
        assert np.array_equal(item.vector, other.vector), key
        assert (item.payload, item.content, item.modality) == (other.payload, other.content, other.modality)
        assert json.dumps(item.payload) == json.dumps(other.payload)  # number types too (3.0 stays a float)
    options = SearchOptions(k=10, filter=None)
    a, b = original.search(queries, options), copy.search(queries, options)
    assert [[(h.id, h.score) for h in row] for row in a] == [[(h.id, h.score) for h in row] for row in b]


@pytest.fixture
def data(tmp_path: Path) -> Iterator[DataDir]:
    with DataDir.open(tmp_path / "data", snapshot_every=10**9, background=False) as opened:
        yield opened


@pytest.fixture
def backups(tmp_path: Path) -> BackupDir:
    return BackupDir(tmp_path / "backups")


@pytest.mark.parametrize("kind", ["Flat", "HNSW16"])
def test_a_restored_snapshot_equals_the_collection(data: DataDir, backups: BackupDir, kind: str) -> None:
    rng = np.random.default_rng(3)
    original = data.create_collection("c", None, dimension=DIM, index_kind=kind)
    fill(original, rng)  # never snapshotted before (snapshot_every is huge): the backup brings it up to date
    info = backups.snapshot(original, "first")
    assert (info.name, info.collection, info.count, info.sequence) == ("first", "c", original.count(),
                                                                       original.sequence)
    assert info.index_sequence == original.sequence and (info.index_kind, info.dimension) == (kind, DIM)
    assert sorted(info.files) == ["collection.json", "index.faiss", "index.meta.json", "items.sqlite3"]
    restored = backups.restore(data, "first", "copy")
    assert restored.manifest.name == "copy" and restored.manifest.index_kind == kind
    assert restored.sequence == original.sequence == restored.index_sequence
    assert_equal_collections(original, restored, rng.normal(size=(20, DIM)).astype(np.float32))
    assert data.names() == ["c", "copy"]


def hold_the_copy(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Hold every copy of a store open until released: ``(entered, released)``."""
    entered, released = threading.Event(), threading.Event()
    real_copy = item_store.copy_store

    def held_copy(source: Path, target: Path) -> tuple[int, int]:
        entered.set()
        assert released.wait(WAIT), "the test never released the copy"
        return real_copy(source, target)

    monkeypatch.setattr(item_store, "copy_store", held_copy)
    return entered, released


def test_restore_catches_the_index_up_with_writes_made_during_the_copy(
    data: DataDir, backups: BackupDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    original = data.create_collection("c", None, dimension=DIM)
    original.upsert(records(rng, [f"i5-{n}" for n in range(40)]))
    entered, released = hold_the_copy(monkeypatch)
    taken: list[SnapshotInfo] = []
    snapshotter = threading.Thread(target=lambda: taken.append(backups.snapshot(original, "s")))
    snapshotter.start()
    try:
        assert entered.wait(WAIT)
        at_index = original.sequence
        fill(original, rng)  # replacements and deletes after the index snapshot, before the store copy
    finally:
        released.set()
        snapshotter.join(WAIT)
    (info,) = taken
    assert info.index_sequence == at_index < info.sequence == original.sequence
    restored = backups.restore(data, info.name, "copy")
    assert not restored._live.rebuilt_on_open  # caught up, not rebuilt
    assert restored.index_sequence == original.sequence
    assert_equal_collections(original, restored, rng.normal(size=(20, DIM)).astype(np.float32))


def test_a_snapshot_without_an_index_is_restored_by_rebuilding_it(data: DataDir, backups: BackupDir) -> None:
    rng = np.random.default_rng(5)
    original = data.create_collection("c", None, dimension=DIM)
    fill(original, rng)
    info = backups.snapshot(original)
    assert info.index_sequence == original.sequence
    # A snapshot holding no index (its index could not be copied): drop the files and their entries.
    folder = backups.path / info.name
    raw = json.loads((folder / SNAPSHOT_FILE).read_text())
    for name in ("index.faiss", "index.meta.json"):
        (folder / name).unlink()
        del raw["files"][name]
    raw["index_sequence"] = None
    (folder / SNAPSHOT_FILE).write_text(json.dumps(raw))
    restored = backups.restore(data, info.name, "copy")
    assert restored._live.rebuilt_on_open and restored.index_sequence == original.sequence
    assert_equal_collections(original, restored, rng.normal(size=(20, DIM)).astype(np.float32))
    data.drop_collection("c")
    assert backups.restore(data, info.name).count() == info.count  # back under its own name


def test_a_snapshot_of_a_collection_being_written_is_its_store_as_of_one_write(data: DataDir,
                                                                               backups: BackupDir) -> None:
    """A writer runs throughout; each snapshot must hold exactly the writes up to its sequence."""
    original = data.create_collection("c", None, dimension=DIM)
    rng = np.random.default_rng(6)
    acknowledged: list[tuple[int, str, list[str]]] = []  # (sequence, "upsert" | "delete", ids)
    stop = threading.Event()
    failures: list[BaseException] = []

    def write() -> None:
        try:
            for b in range(400):  # bounded; stopped long before
                if stop.is_set():
                    return
                ids = [f"w{b}-{n}" for n in range(10)]
                acknowledged.append((original.upsert(records(rng, ids, b)), "upsert", ids))
                if b % 3 == 2:
                    gone = [f"w{b - 1}-{n}" for n in range(0, 10, 2)]
                    _deleted, sequence = original.delete(gone)
                    acknowledged.append((sequence, "delete", gone))
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    taken: list[SnapshotInfo] = []
    try:
        for n in range(5):
            while len(acknowledged) < 20 * (n + 1) and writer.is_alive():
                threading.Event().wait(0.01)
            taken.append(backups.snapshot(original, f"s{n}"))
    finally:
        stop.set()
        writer.join(WAIT)
    assert not failures and not writer.is_alive()
    for info in taken:
        expected: set[str] = set()
        for sequence, op, ids in list(acknowledged):
            if sequence <= info.sequence:
                expected = expected | set(ids) if op == "upsert" else expected - set(ids)
        restored = backups.restore(data, info.name, f"r-{info.name}")
        held = {f"w{b}-{n}" for b in range(400) for n in range(10)}
        found = {item.id for item in restored.get(sorted(held))}
        assert found == expected and info.count == len(expected), info.name
        assert restored.sequence == info.sequence


def test_searches_and_writes_go_on_while_a_snapshot_copies_the_store(data: DataDir, backups: BackupDir,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    original = data.create_collection("c", None, dimension=DIM)
    fill(original, rng)
    entered, released = hold_the_copy(monkeypatch)
    taken: list[SnapshotInfo] = []
    snapshotter = threading.Thread(target=lambda: taken.append(backups.snapshot(original, "held")))
    snapshotter.start()
    try:
        assert entered.wait(WAIT)
        queries = rng.normal(size=(5, DIM)).astype(np.float32)
        assert all(len(row) == 10 for row in original.search(queries, SearchOptions(k=10)))
        sequence = original.upsert(records(rng, ["during"]))  # writes do not wait for the copy
        assert original.get(["during"])[0].sequence == sequence
        compaction = threading.Thread(target=original.compact)  # maintenance does wait for it
        compaction.start()
        assert snapshotter.is_alive() and compaction.is_alive()
    finally:
        released.set()
        snapshotter.join(WAIT)
    compaction.join(WAIT)
    assert not compaction.is_alive()
    assert taken[0].sequence == sequence  # the copy began after the write: it holds it
    assert taken[0].index_sequence == sequence - 1  # brought up to date before the write


def test_snapshot_names_are_checked_and_never_reused(data: DataDir, backups: BackupDir) -> None:
    original = data.create_collection("c", None, dimension=DIM)
    original.upsert(records(np.random.default_rng(8), ["a", "b"]))
    for bad in ("../x", "a/b", ".hidden", "-x", "", "x" * 129, "a b", "a\x00"):
        with pytest.raises(InvalidInput, match="snapshot name") as refused:
            backups.snapshot(original, bad)
        assert refused.value.field == "name"
        with pytest.raises(InvalidInput, match="snapshot name"):
            backups.restore(data, bad, "new")
    first = backups.snapshot(original, "one")
    with pytest.raises(AlreadyExists, match="snapshot 'one' already exists"):
        backups.snapshot(original, "one")
    named = backups.snapshot(original)
    assert named.name.startswith("c-") and len(named.name) == len("c-20250101-120000-abcd")
    assert [s.name for s in backups.snapshots()] in ([named.name, "one"], ["one", named.name])
    assert {s.name for s in backups.snapshots()} == {first.name, named.name}
    with pytest.raises(SnapshotNotFound, match="no snapshot 'two'") as missing:
        backups.restore(data, "two", "new")
    assert missing.value.reason == "SNAPSHOT_NOT_FOUND" and str(backups.path) not in str(missing.value)
    with pytest.raises(AlreadyExists, match="collection 'c' already exists"):
        backups.restore(data, "one")  # the collection it was taken of still exists
    with pytest.raises(InvalidInput, match="collection name"):
        backups.restore(data, "one", "../elsewhere")
    assert data.names() == ["c"] and not [p for p in backups.path.iterdir() if p.name.startswith(".")]
    assert not [p for p in (data.path / "collections").iterdir() if p.name.startswith(".")]


def test_a_damaged_snapshot_is_refused(data: DataDir, backups: BackupDir) -> None:
    original = data.create_collection("c", None, dimension=DIM)
    original.upsert(records(np.random.default_rng(9), ["a", "b", "c"]))
    backups.snapshot(original, "s")
    store = backups.path / "s" / "items.sqlite3"
    raw = bytearray(store.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    store.write_bytes(bytes(raw))
    with pytest.raises(FailedPrecondition, match=r"snapshot .s. is damaged: items\.sqlite3 does not match") as bad:
        backups.restore(data, "s", "copy")
    assert str(backups.path) not in str(bad.value)
    (backups.path / "s" / SNAPSHOT_FILE).write_text("{not json")
    with pytest.raises(FailedPrecondition, match="snapshot 's' is unreadable"):
        backups.restore(data, "s", "copy")
    assert data.names() == ["c"] and backups.snapshots() == []


def test_a_snapshot_keeps_the_named_directions(data: DataDir, backups: BackupDir) -> None:
    # Directions live in the item store beside the items, so the store copy carries them.
    rng = np.random.default_rng(6)
    original = data.create_collection("c", None, dimension=DIM)
    original.upsert(records(rng, [f"i0-{n}" for n in range(10)]))
    ops = LatentOperations(original)
    made = ops.create_direction("axis", VectorDirection(rng.normal(size=DIM)))
    backups.snapshot(original, "with-directions")
    ops.delete_direction("axis")  # after the snapshot: not in it
    restored = backups.restore(data, "with-directions", "copy")
    [kept] = LatentOperations(restored).list_directions()
    assert (kept.name, kept.to_json()) == (made.name, made.to_json())
    assert np.array_equal(kept.vector, made.vector)
    assert original.list_directions() == []
