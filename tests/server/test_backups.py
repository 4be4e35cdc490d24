"""Snapshot, ListSnapshots, Restore and Export through the real server.

"A collection keeps serving while it is snapshotted" is checked by ordering, not by time: the copy of
the store is held open by the test, and every search client must get answers, and a write its
acknowledgement, while it is held. Refusals are checked by exact status code and reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from latentspace.indexer.store import item_store
from latentspace_client import Client, Item, LatentSpaceError
from tests.conftest import ServerThread
from tests.server.searchers import Searchers

DIM = 24
SEARCHERS = 4
WAIT = 120  # seconds: liveness bounds only


def items(rng: np.random.Generator, ids: list[str]) -> list[dict[str, Any]]:
    return [{"id": i, "vector": rng.normal(size=DIM).astype(np.float32), "content_ref": f"ref {i}",
             "payload": {"n": n, "half": n + 0.5, "tag": ["a", "b"][n % 2], "nested": {"list": [n, None, True]}}}
            for n, i in enumerate(ids)]


def all_items(client: Client, collection: str) -> dict[str, Item]:
    return {item.id: item for item in client.export(collection)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    running = ServerThread(tmp_path / "data", backup_dir=tmp_path / "backups", workers=16).start()
    yield running
    running.stop()


def test_a_snapshot_taken_while_clients_search_restores_to_an_equal_collection(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    ids = [f"i{n}" for n in range(1500)]
    entered, released = threading.Event(), threading.Event()
    real_copy = item_store.copy_store

    def held_copy(source: Path, target: Path) -> tuple[int, int]:
        entered.set()
        assert released.wait(WAIT), "the test never released the copy"
        return real_copy(source, target)

    monkeypatch.setattr(item_store, "copy_store", held_copy)
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM, index_kind="HNSW16")
        client.upsert(items(rng, ids), batch_size=500)
        client.delete(ids[::9])
        taken: list[Any] = []
        snapshotter = threading.Thread(target=lambda: taken.append(client.snapshot(name="under-load")))
        with Searchers(server.address, rng.normal(size=(32, DIM)).astype(np.float32), SEARCHERS) as searchers:
            snapshotter.start()
            try:
                assert entered.wait(WAIT)
                assert searchers.each_answers(5, while_=lambda: not released.is_set())
                written = client.upsert(items(rng, ["during"]))  # writes are not held up either
                assert client.get(["during"])[0].sequence == written.sequence
                assert snapshotter.is_alive()
            finally:
                released.set()
                snapshotter.join(WAIT)
            assert not searchers.errors
        (info,) = taken
        described = client.describe_collection()
        assert (info.name, info.collection, info.count, info.sequence) == ("under-load", "c", described.count,
                                                                           described.sequence)
        assert [s.name for s in client.list_snapshots()] == ["under-load"]

        restored = client.restore("under-load", "restored")
        assert (restored.name, restored.count, restored.sequence) == ("restored", described.count, info.sequence)
        assert (restored.index_kind, restored.dimension) == ("HNSW16", DIM)
        mine, theirs = all_items(client, "c"), all_items(client, "restored")
        assert mine.keys() == theirs.keys() and len(mine) == described.count
        for key, item in mine.items():
            other = theirs[key]
            assert np.array_equal(item.vector, other.vector), key
            assert (item.payload, item.content, item.modality) == (other.payload, other.content, other.modality)
        queries = rng.normal(size=(16, DIM)).astype(np.float32)
        answers = [client.search_batch(queries, k=10, collection=name) for name in ("c", "restored")]
        assert [[h.id for h in row] for row in answers[0]] == [[h.id for h in row] for row in answers[1]]


def test_an_export_is_the_collection_as_of_its_start(server: ServerThread) -> None:
    rng = np.random.default_rng(12)
    ids = [f"i{n}" for n in range(700)]
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM)
        client.upsert(items(rng, ids))
        before = {item.id: item for item in client.get(ids[:500], with_vectors=True)}
        before |= {item.id: item for item in client.get(ids[500:], with_vectors=True)}
        with client.export(page_size=64) as stream:
            assert (stream.collection.name, stream.collection.count) == ("c", 700)
            exported = iter(stream)
            first = next(exported)
            client.upsert(items(rng, ["new", "i5"]))  # written while the export runs: not in it
            client.delete(ids[100:300])
            rest = list(exported)
        got = [first, *rest]
        assert [item.id for item in got] == ids  # in key order, each once
        for item in got:
            assert np.array_equal(item.vector, before[item.id].vector)
            assert item.payload == before[item.id].payload and item.content == f"ref {item.id}"
        assert isinstance(got[3].payload["half"], float) and isinstance(got[3].payload["n"], int)

        # A stream left early ends its call; the collection is then dropped and the server serves on.
        with client.export(page_size=8) as stream:
            next(iter(stream))
        client.drop_collection("c")
        assert client.list_collections() == []


def test_the_async_client_exports_the_same_items(server: ServerThread) -> None:
    import asyncio

    from latentspace_client import AsyncClient

    rng = np.random.default_rng(13)
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM)
        client.upsert(items(rng, [f"i{n}" for n in range(300)]))
        sync = list(client.export(page_size=100))

    async def export() -> tuple[Any, list[Item]]:
        async with AsyncClient(server.address, collection="c", timeout=WAIT) as aclient:
            stream = await aclient.export(page_size=7)
            return stream.collection, [item async for item in stream]

    info, async_ = asyncio.run(export())
    assert info.count == 300 and [i.id for i in async_] == [i.id for i in sync]
    assert all(np.array_equal(a.vector, b.vector) and a.payload == b.payload for a, b in zip(async_, sync, strict=True))


Refusal = tuple[str, Callable[[Client], Any], grpc.StatusCode, str]

REFUSALS: list[Refusal] = [
    ("snapshot name with a path", lambda c: c.snapshot(name="../escape"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_INPUT"),
    ("snapshot name with a slash", lambda c: c.snapshot(name="a/b"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_INPUT"),
    ("snapshot name too long", lambda c: c.snapshot(name="x" * 129), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_INPUT"),
    ("restore a path", lambda c: c.restore("../../etc"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT"),
    ("restore to a bad name", lambda c: c.restore("kept", "../c"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_INPUT"),
    ("restore an unknown snapshot", lambda c: c.restore("nothing-here", "new"), grpc.StatusCode.NOT_FOUND,
     "SNAPSHOT_NOT_FOUND"),
    ("snapshot an unknown collection", lambda c: c.snapshot("nope"), grpc.StatusCode.NOT_FOUND,
     "COLLECTION_NOT_FOUND"),
    ("snapshot under a taken name", lambda c: c.snapshot(name="kept"), grpc.StatusCode.ALREADY_EXISTS,
     "ALREADY_EXISTS"),
    ("restore over a collection", lambda c: c.restore("kept"), grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS"),
    ("export an unknown collection", lambda c: c.export("nope"), grpc.StatusCode.NOT_FOUND,
     "COLLECTION_NOT_FOUND"),
    ("export pages over the batch limit", lambda c: c.export(page_size=5000), grpc.StatusCode.RESOURCE_EXHAUSTED,
     "LIMIT_EXCEEDED"),
]


def test_refusals_have_exact_codes_and_the_server_serves_on(server: ServerThread, tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM)
        client.upsert(items(rng, ["a", "b", "c"]))
        client.snapshot(name="kept")
        for what, call, code, reason in REFUSALS:
            with pytest.raises(LatentSpaceError) as refused:
                call(client)
            assert (refused.value.code, refused.value.reason) == (code, reason), what
            assert str(tmp_path) not in refused.value.details, what  # never the server's paths
            assert [h.id for h in client.search(rng.normal(size=DIM), k=3)], what
        assert [s.name for s in client.list_snapshots()] == ["kept"]
        assert [c.name for c in client.list_collections()] == ["c"]


def test_without_a_backup_folder_snapshots_are_refused_naming_the_setting(tmp_path: Path) -> None:
    running = ServerThread(tmp_path / "data").start()
    try:
        with Client(running.address, collection="c", timeout=WAIT) as client:
            client.create_collection("c", dimension=DIM)
            for call in (lambda: client.snapshot(), client.list_snapshots, lambda: client.restore("any", "new")):
                with pytest.raises(LatentSpaceError) as refused:
                    call()
                assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
                assert refused.value.reason == "BACKUP_DIR_NOT_SET"
                assert "LATENTSPACE_BACKUP_DIR" in refused.value.details and "--backup-dir" in refused.value.details
            assert len(list(client.export())) == 0  # exports need no backup folder
    finally:
        running.stop()
