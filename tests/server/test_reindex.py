"""Reindex and the re-rank depth knob through the real server.

"Searches keep answering during a reindex" is checked by ordering, not by time: the build of the new
index is held by the test until every search client has been answered again, and a write
acknowledged, while it is held.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from latentspace.indexer import live_index
from latentspace.indexer.backends.milvus import MilvusCatalog, MilvusTarget
from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace_client import Client, LatentSpaceError
from tests.conftest import ServerThread
from tests.server.searchers import WAIT, Searchers
from tests.server.test_backups import all_items

DIM = 24
#: IVF-PQ that trains on a few thousand vectors: 32 lists, 4-bit codes (16 centroids per codebook).
IVF_PQ = "IVF32,PQ6x4"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    running = ServerThread(tmp_path / "data", workers=16).start()
    yield running
    running.stop()


def vectors(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(count, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def items(rows: np.ndarray, prefix: str = "i") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{n}", "vector": row} for n, row in enumerate(rows)]


@pytest.mark.parametrize("kind", ["HNSW32", IVF_PQ])
def test_reindex_keeps_every_id_and_searches_answer_while_it_builds(
    server: ServerThread, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    rows = vectors(3000, seed=1)
    entered, released = threading.Event(), threading.Event()
    real_build = live_index.LiveIndex._build

    def held_build(self: live_index.LiveIndex, building: str) -> Any:
        if building == kind:  # the reindex's build, not the collection's first one
            entered.set()
            assert released.wait(WAIT), "the test never released the build"
        return real_build(self, building)

    monkeypatch.setattr(live_index.LiveIndex, "_build", held_build)
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM, index_kind="Flat")
        client.upsert(items(rows), batch_size=1000)
        answers: list[Any] = []
        reindexer = threading.Thread(target=lambda: answers.append(client.reindex(kind)))
        with Searchers(server.address, rows[:32], count=4) as searchers:
            reindexer.start()
            try:
                assert entered.wait(WAIT)
                assert searchers.each_answers(5, while_=lambda: not released.is_set())
                # The old index serves meanwhile, and the collection says so.
                assert client.describe_collection().index_kind == f"{kind} (being built; Flat serves meanwhile)"
                written = client.upsert(items(vectors(1, seed=2), prefix="during"))
                assert client.get(["during0"])[0].sequence == written.sequence
                assert reindexer.is_alive()
            finally:
                released.set()
                reindexer.join(WAIT)
            assert searchers.each_answers(5, while_=lambda: True)
            assert not searchers.errors
        (info,) = answers
        assert (info.index_kind, info.count) == (kind, 3001)
        assert client.describe_collection().index_kind == kind
        assert set(all_items(client, "c")) == {f"i{n}" for n in range(3000)} | {"during0"}
        # Every item is found again by its own vector, the write made during the build too.
        probes = [*range(0, 3000, 150), 2999]
        hits = client.search_batch(rows[probes], k=1, nprobe=32, rerank=64)
        assert [h[0].id for h in hits] == [f"i{n}" for n in probes]
        assert client.search(id="during0", k=1)[0].id == "during0"


def test_reindex_back_to_auto_and_refusals(server: ServerThread) -> None:
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM, index_kind="HNSW16")
        client.upsert(items(vectors(200, seed=3)))
        assert client.reindex("auto").index_kind == "auto (Flat)"  # 200 items: below auto_hnsw_from
        refusals = {
            "not in the grammar": ("IVF32,Bogus", grpc.StatusCode.INVALID_ARGUMENT),
            "PQ m not dividing the dimension": ("PQ5", grpc.StatusCode.INVALID_ARGUMENT),
            "empty": ("", grpc.StatusCode.INVALID_ARGUMENT),
        }
        for why, (kind, code) in refusals.items():
            with pytest.raises(LatentSpaceError) as refused:
                client.reindex(kind)
            assert refused.value.code == code, why
            assert "index_kind" in refused.value.details, why
        with pytest.raises(LatentSpaceError) as missing:
            client.reindex("Flat", "nope")
        assert missing.value.code == grpc.StatusCode.NOT_FOUND
        assert client.describe_collection().index_kind == "auto (Flat)"


def test_rerank_depth_changes_recall_on_an_ivf_pq_collection(server: ServerThread) -> None:
    rows, queries = vectors(4000, seed=4), vectors(50, seed=5)
    exact = np.argsort(-(queries @ rows.T), axis=1)[:, :10]
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=DIM, index_kind=IVF_PQ)
        client.upsert(items(rows), batch_size=1000)

        def recall(rerank: int) -> float:
            found = client.search_batch(queries, k=10, nprobe=32, rerank=rerank)  # every list: only codes vary
            return float(np.mean([len({f"i{n}" for n in want} & {h.id for h in got}) / 10
                                  for want, got in zip(exact, found, strict=True)]))

        shallow, default, deep = recall(10), recall(0), recall(400)
        # 4-bit codes of 24-d vectors rank poorly: re-ranking only the top 10 keeps their errors;
        # re-ranking 400 candidates with the exact vectors recovers nearly the exact top-10.
        assert shallow < default < deep
        assert deep >= 0.95 and shallow <= 0.8
        with pytest.raises(LatentSpaceError) as refused:
            client.search(queries[0], k=10, rerank=10**6)
        assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "options.params.rerank" in refused.value.details


def test_reindex_of_a_milvus_collection_is_refused(tmp_path: Path) -> None:
    """Milvus releases a collection while it rebuilds its index, so the RPC's promise (the old index
    serves until the swap) cannot hold there: refused as snapshots are, the kind checked first."""
    target = MilvusTarget(str(tmp_path / "milvus.db"))
    keeper = MilvusCatalog(target)  # one Milvus Lite for the library's data dir and the server's
    try:
        # Made through another data dir on the same Milvus, as another server would.
        with DataDir.open(tmp_path / "other", catalogs=[MilvusCatalog(target)]) as other:
            made = other.create_collection("m", None, dimension=DIM, index_kind="Flat", backend="milvus")
            made.upsert([ItemRecord(f"i{n}", row, Modality.VECTOR) for n, row in enumerate(vectors(20, seed=6))])
        running = ServerThread(tmp_path / "data", milvus_uri=target.uri).start()
        try:
            with Client(running.address, collection="m", timeout=WAIT) as client:
                with pytest.raises(LatentSpaceError) as refused:
                    client.reindex("HNSW16")
                assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
                assert refused.value.reason == "BACKEND_UNSUPPORTED"
                assert "milvus" in refused.value.details
                with pytest.raises(LatentSpaceError) as bad_kind:  # a bad kind is a bad argument on any backend
                    client.reindex("IVF32,Bogus")
                assert bad_kind.value.code == grpc.StatusCode.INVALID_ARGUMENT
                assert [h.id for h in client.search(id="i3", k=1)] == ["i3"]  # still served
        finally:
            running.stop()
    finally:
        keeper.close()
