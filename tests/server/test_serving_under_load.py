"""Searches under concurrent writes, snapshots and compactions, through the real server.

"Searches never wait for a snapshot or a compaction" is checked by ordering, not by time: the
snapshot (or the compaction's build) is held open by the test, and every search client must get
answers while it is held. Results after all the writes are compared with brute force.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentspace.indexer import live_index
from latentspace.indexer.live_index import LiveIndex
from latentspace_client import Client
from tests.conftest import ServerThread
from tests.server.searchers import Searchers

DIM = 32
SEARCHERS = 8
WAIT = 120  # seconds: liveness bounds only; a blocked search would hit them, a slow machine never


class Pause:
    """Holds a code path open until released, and says when it was entered."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def hold(self) -> None:
        self.entered.set()
        assert self.released.wait(WAIT), "the test never released the pause"


def test_searches_answer_during_writes_snapshots_and_compactions(tmp_path: Path, monkeypatch) -> None:
    snapshot_pause, build_pause = Pause(), Pause()
    real_write_snapshot = live_index.write_snapshot

    def paused_snapshot(*args: Any, **kwargs: Any) -> None:
        if not snapshot_pause.released.is_set():
            snapshot_pause.hold()
        real_write_snapshot(*args, **kwargs)

    real_build = LiveIndex._build

    def paused_build(self: LiveIndex, kind: str) -> Any:
        built = real_build(self, kind)
        if threading.current_thread().name == "compactor":
            build_pause.hold()  # built aside; not swapped in yet
        return built

    monkeypatch.setattr(live_index, "write_snapshot", paused_snapshot)
    monkeypatch.setattr(LiveIndex, "_build", paused_build)

    rng = np.random.default_rng(7)
    seed = rng.normal(size=(2000, DIM)).astype(np.float32)
    written = rng.normal(size=(50_000, DIM)).astype(np.float32)
    queries = rng.normal(size=(64, DIM)).astype(np.float32)
    expected = {f"s{i}": v for i, v in enumerate(seed)}

    server = ServerThread(tmp_path / "data", workers=16).start()
    try:
        collection_of = lambda: server.server.running.state.data.collection("c")  # noqa: E731
        with Client(server.address, collection="c", timeout=WAIT) as client:
            client.create_collection("c", dimension=DIM, index_kind="Flat")
            client.upsert([{"id": k, "vector": v} for k, v in expected.items()])

        write_errors: list[BaseException] = []

        def write() -> None:  # 50k vectors in 50 upserts, a delete after each
            try:
                with Client(server.address, collection="c", timeout=WAIT) as writer:
                    for b in range(50):
                        rows = {f"w{b * 1000 + i}": written[b * 1000 + i] for i in range(1000)}
                        writer.upsert([{"id": k, "vector": v} for k, v in rows.items()])
                        expected.update(rows)
                        gone = [f"w{b * 1000 + i}" for i in range(0, 1000, 97)]
                        writer.delete(gone)
                        for k in gone:
                            del expected[k]
            except BaseException as exc:
                write_errors.append(exc)

        writer = threading.Thread(target=write)
        with Searchers(server.address, queries, SEARCHERS) as searchers:
            writer.start()
            # The first snapshot falls due after 10,000 written rows; it is held open here.
            assert snapshot_pause.entered.wait(WAIT)
            assert searchers.each_answers(5, while_=lambda: not snapshot_pause.released.is_set())
            snapshot_pause.released.set()

            compactor = threading.Thread(target=lambda: collection_of().compact(), name="compactor")
            compactor.start()
            assert build_pause.entered.wait(WAIT)
            assert searchers.each_answers(5, while_=lambda: not build_pause.released.is_set())
            build_pause.released.set()
            compactor.join(WAIT)
            writer.join(WAIT)
            assert not writer.is_alive() and not compactor.is_alive()
            assert searchers.each_answers(2, while_=lambda: True)
        assert searchers.errors == [] and write_errors == []

        collection = collection_of()
        assert collection.count() == len(expected)
        assert collection.index_sequence == collection.sequence
        ids = list(expected)
        matrix = np.stack([expected[i] for i in ids])
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        unit_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        truth = unit_queries @ matrix.T
        with Client(server.address, collection="c", timeout=WAIT) as client:
            results = client.search_batch(list(queries), k=10)
        for row, hits in zip(truth, results, strict=True):
            best = np.argsort(-row)[:10]
            assert [h.id for h in hits] == [ids[j] for j in best]
            np.testing.assert_allclose([h.score for h in hits], row[best], atol=1e-5)
    finally:
        snapshot_pause.released.set()
        build_pause.released.set()
        server.stop()


@pytest.fixture
def vectors_server(tmp_path: Path, start_server: Callable[..., ServerThread]) -> Callable[..., ServerThread]:
    def start(**settings: Any) -> ServerThread:
        server = start_server(tmp_path / "data", **settings)
        with Client(server.address, collection="c", timeout=WAIT) as client:
            client.create_collection("c", dimension=4)
            client.upsert([{"id": f"v{i}", "vector": np.eye(4)[i % 4] + 0.01 * i} for i in range(20)])
        return server

    return start


class BlockedSearches:
    """Counts calls of ``Collection.search`` in the server; holds them while ``hold`` is clear."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from latentspace.indexer.collection import Collection

        self.calls = 0
        self.entered = threading.Semaphore(0)
        self.released = threading.Event()
        real = Collection.search

        def search(collection: Collection, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            self.entered.release()
            assert self.released.wait(WAIT)
            return real(collection, *args, **kwargs)

        monkeypatch.setattr(Collection, "search", search)


def _health(address: str) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=WAIT)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def _search_in_thread(address: str, results: list[Any], timeout: float = WAIT) -> threading.Thread:
    def run() -> None:
        with Client(address, collection="c", timeout=timeout) as client:
            try:
                results.append(client.search([1, 0, 0, 0], k=3))
            except Exception as exc:
                results.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_calls_past_the_in_flight_bound_are_refused_at_once(vectors_server, monkeypatch) -> None:
    from latentspace_client import ResourceExhausted

    server = vectors_server(max_in_flight=2, workers=4)
    blocked = BlockedSearches(monkeypatch)
    results: list[Any] = []
    threads = [_search_in_thread(server.address, results) for _ in range(2)]
    try:
        for _ in range(2):
            assert blocked.entered.acquire(timeout=WAIT)
        with Client(server.address, collection="c", timeout=WAIT) as client, \
                pytest.raises(ResourceExhausted) as refused:
            client.search([1, 0, 0, 0], k=3)
        assert refused.value.reason == "OVERLOADED" and "LATENTSPACE_MAX_IN_FLIGHT" in refused.value.details
        assert blocked.calls == 2 and results == []  # refused while both were still in flight
        assert _health(server.address) == "SERVING"  # health checks are never refused
    finally:
        blocked.released.set()
        for t in threads:
            t.join(WAIT)
    assert len(results) == 2 and all(isinstance(r, list) and len(r) == 3 for r in results)
    with Client(server.address, collection="c", timeout=WAIT) as client:  # places were given back
        assert len(client.search([0, 1, 0, 0], k=3)) == 3


def test_a_call_whose_deadline_passes_in_the_queue_is_never_started(vectors_server, monkeypatch, caplog) -> None:
    from latentspace_client import DeadlineExceeded

    caplog.set_level("INFO", logger="latentspace.access")
    server = vectors_server(max_in_flight=8, workers=1)  # one request thread: the second call queues
    blocked = BlockedSearches(monkeypatch)
    first: list[Any] = []
    holder = _search_in_thread(server.address, first)
    try:
        assert blocked.entered.acquire(timeout=WAIT)
        with caplog.at_level("INFO", logger="latentspace.access"), \
                Client(server.address, collection="c", timeout=0.5) as client, \
                pytest.raises(DeadlineExceeded):
            client.search([0, 1, 0, 0], k=3)
    finally:
        blocked.released.set()
        holder.join(WAIT)
    assert len(first) == 1 and len(first[0]) == 3
    with Client(server.address, collection="c", timeout=WAIT) as client:
        assert len(client.search([0, 0, 1, 0], k=3)) == 3  # the thread is free again
    # The queued call was dropped when its thread came free: two searches ran, not three.
    assert blocked.calls == 2
    assert any("DEADLINE_EXCEEDED" in r.getMessage() and "Search" in r.getMessage() for r in caplog.records)


def test_metrics_move_after_calls(vectors_server) -> None:
    import urllib.request

    server = vectors_server(metrics_port=0)
    port = server.server.running.metrics_port
    assert port

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=WAIT) as reply:
            text = reply.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    before = scrape()
    with Client(server.address, collection="c", timeout=WAIT) as client:
        for i in range(5):
            client.search([1, 0, 0, float(i)], k=3)
    after = scrape()
    ok = 'latentspace_requests_total{code="OK",method="LatentSpace/Search"}'
    count = 'latentspace_request_duration_seconds_count{method="LatentSpace/Search"}'
    batches = 'latentspace_batch_size_count{batcher="search"}'
    assert after[ok] - before.get(ok, 0) == 5
    assert after[count] - before.get(count, 0) == 5
    assert after[batches] - before.get(batches, 0) >= 1
    assert after['latentspace_collection_items{collection="c"}'] == 20
    assert after["latentspace_in_flight_requests"] == 0
    assert 'latentspace_requests_total{code="OK",method="Collections/Upsert"}' in after
