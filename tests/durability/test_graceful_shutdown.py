"""SIGTERM under load: health turns NOT_SERVING, accepted calls finish, snapshots are written, exit 0.

Large upserts into an HNSW collection (serialised by the collection's write lock, so they take a
while) are admitted first (the server's in-flight gauge says so), searchers run beside them, and a
health Watch stream is open, as gRPC client-side health checking keeps one per channel. Then
SIGTERM. Checked by order, never by time: the watch sees NOT_SERVING; calls sent after it get
UNAVAILABLE; every admitted upsert answers OK (at least one of them after NOT_SERVING, so it was
served during the shutdown); searchers end with OK, UNAVAILABLE or CANCELLED only; the server exits
0 without waiting out its (long) grace period for the watch stream; the index snapshot on disk is
at the store's sequence; and a restart shows every acknowledged write.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.conftest import ServerProcess
from tests.durability.ledger import Ledger, Version
from tests.server.wire import Stubs, unpack, vec

DIM = 64
KIND = "HNSW32"
SEEDS = 300
BIG = 1000  # items per large upsert (the limit per request is 1024)
WRITERS = 5
SEARCHERS = 6
GRACE = 300  # seconds: long, so that an exit waiting out the grace would be caught by the bounds below
WAIT = 120  # liveness bound of every wait here
ENDED_BY_SHUTDOWN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def upsert(stubs: Stubs, ledger: Ledger, prefix: str, vectors: np.ndarray) -> None:
    changes = {f"{prefix}-{i}": Version(v, {"prefix": prefix, "i": i}) for i, v in enumerate(vectors)}
    items = []
    for item_id, version in changes.items():
        assert version is not None
        item = api.UpsertItem(id=item_id, vector=vec(version.vector))
        item.payload.update(version.payload)
        items.append(item)
    ledger.send(changes)
    response = stubs.collections.Upsert(api.UpsertRequest(collection="v", items=items), timeout=WAIT)
    ledger.acknowledge(changes, response.sequence)


def in_flight(metrics_port: int) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    match = re.search(r"^latentspace_in_flight_requests ([0-9.e+]+)$", text, re.MULTILINE)
    assert match, "no in-flight gauge"
    return float(match.group(1))


def index_and_store_sequence(folder: Path) -> tuple[int, int]:
    meta = json.loads((folder / "index.meta.json").read_text())
    with sqlite3.connect(folder / "items.sqlite3") as conn:
        (stored,) = conn.execute("SELECT value FROM meta WHERE name = 'sequence'").fetchone()
    return int(meta["sequence"]), int(stored)


def test_sigterm_under_load_finishes_accepted_calls_and_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rng = np.random.default_rng(3)
    ledger = Ledger()
    events: list[tuple[str, int]] = []  # in the order they happened, as seen by this process
    server = ServerProcess(data, "--metrics-port", "0", env={"LATENTSPACE_SHUTDOWN_GRACE": str(GRACE)})
    try:
        (metrics_port,) = {int(m.group(1)) for line in server.output
                           if (m := re.search(r"\(metrics on :(\d+)\)", line))}
        stubs = Stubs(server.address)
        stubs.collections.CreateCollection(api.CreateCollectionRequest(name="v", dimension=DIM, index_kind=KIND),
                                           timeout=WAIT)
        upsert(stubs, ledger, "seed", unit(rng, SEEDS))

        health = health_pb2_grpc.HealthStub(stubs.channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        statuses: list[int] = []

        def watching() -> None:
            try:
                for response in watch:
                    statuses.append(response.status)
                    if response.status == NOT_SERVING:
                        events.append(("not_serving", 0))
            except grpc.RpcError as error:
                statuses.append(-error.code().value[0])

        watcher = threading.Thread(target=watching)
        watcher.start()

        big_codes: dict[int, grpc.StatusCode] = {}

        def big_upsert(n: int, vectors: np.ndarray) -> None:
            try:
                upsert(Stubs(server.address), ledger, f"big{n}", vectors)
                big_codes[n] = grpc.StatusCode.OK
            except grpc.RpcError as error:
                big_codes[n] = error.code()
            events.append(("big_done", n))

        writers = [threading.Thread(target=big_upsert, args=(n, unit(rng, BIG))) for n in range(WRITERS)]
        for writer in writers:
            writer.start()
        for _ in range(WAIT * 20):  # until the server has admitted every large upsert
            if in_flight(metrics_port) >= WRITERS or len(big_codes) == WRITERS:
                break
            time.sleep(0.05)
        assert not big_codes, "a large upsert finished before the others were admitted: make BIG larger"

        search_codes: list[list[grpc.StatusCode]] = [[] for _ in range(SEARCHERS)]
        query = pb.Query(vector=vec(unit(rng, 1)[0]))

        def searching(n: int) -> None:
            own = Stubs(server.address)
            try:
                for _ in range(100_000):  # bounded; the shutdown ends it
                    try:
                        own.latent.Search(api.SearchRequest(collection="v", query=query,
                                                            options=api.SearchOptions(k=5)), timeout=WAIT)
                    except grpc.RpcError as error:
                        search_codes[n].append(error.code())
                        return
                    search_codes[n].append(grpc.StatusCode.OK)
            finally:
                own.close()

        searchers = [threading.Thread(target=searching, args=(n,)) for n in range(SEARCHERS)]
        for searcher in searchers:
            searcher.start()
        for _ in range(WAIT * 20):
            if all(search_codes):
                break
            time.sleep(0.05)

        server.proc.send_signal(signal.SIGTERM)
        for _ in range(WAIT * 100):
            if ("not_serving", 0) in events:
                break
            time.sleep(0.01)
        assert ("not_serving", 0) in events, statuses

        # New calls are refused (one sent in the instant before the server stopped listening may
        # still be accepted and answered, never anything else).
        fresh = Stubs(server.address)
        for _ in range(200):
            try:
                fresh.collections.DescribeCollection(api.DescribeCollectionRequest(name="v"), timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                break
            time.sleep(0.01)
        else:
            raise AssertionError("calls are still accepted after SIGTERM")
        try:
            status = health_pb2_grpc.HealthStub(fresh.channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert status.status == NOT_SERVING
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        fresh.close()

        for thread in (*writers, *searchers, watcher):
            thread.join(timeout=WAIT)
            assert not thread.is_alive()
        assert server.proc.wait(timeout=WAIT) == 0, "".join(server.output[-30:])
        assert server.drained.wait(WAIT)
        stubs.close()
    finally:
        if server.proc.poll() is None:
            server.kill()

    assert big_codes == dict.fromkeys(range(WRITERS), grpc.StatusCode.OK), big_codes
    finished_after = events[events.index(("not_serving", 0)):]
    assert any(kind == "big_done" for kind, _ in finished_after), f"no call was served during shutdown: {events}"
    for codes in search_codes:
        assert codes and codes[0] == grpc.StatusCode.OK
        assert set(codes[:-1]) == {grpc.StatusCode.OK} and codes[-1] in ENDED_BY_SHUTDOWN | {grpc.StatusCode.OK}, codes
    output = "".join(server.output)
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]

    index_sequence, store_sequence = index_and_store_sequence(data / "collections" / "v")
    assert index_sequence == store_sequence == ledger.max_sequence

    restarted = ServerProcess(data)
    try:
        stubs = Stubs(restarted.address)
        ids = ledger.ids()
        stored: dict[str, Version] = {}
        for start in range(0, len(ids), 1000):
            got = stubs.collections.Get(api.GetRequest(collection="v", ids=ids[start:start + 1000],
                                                       with_vectors=True), timeout=WAIT)
            stored.update({i.id: Version(unpack(i.vector).copy(), dict(i.payload)) for i in got.items})
        assert not ledger.check(stored)
        assert len(stored) == SEEDS + WRITERS * BIG
        stubs.close()
        assert restarted.terminate() == 0
        assert "rebuilding" not in "".join(restarted.output)  # the snapshot was current: caught up, not rebuilt
    finally:
        if restarted.proc.poll() is None:
            restarted.kill()
