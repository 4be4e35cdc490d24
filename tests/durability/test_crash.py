"""Durability, proven by killing: ``latent serve`` is SIGKILLed while clients stream writes.

The child is the real server, not a library writer: an acknowledgement is what a caller gets (the
gRPC OK of an Upsert, UpsertStream or Delete), so the promise is checked where callers see it, with
the server's own maintenance thread and settings. The clients and their ledger live in the test
process, which is never killed, so the ledger needs no file.

Each cycle starts the server on the same data dir, lets three writers stream upserts (some as
streams), replacements and deletes into an HNSW collection (whose removals leave tombstones, so
compactions come often) with a snapshot due every few writes, and kills it: at a random moment,
or as soon as the server logs that a snapshot or a compaction started. Whether the kill landed
inside a job is read from the log afterwards (started, never finished). After every kill a copy
of the data dir is opened exactly as a restart opens it, and must hold every acknowledged write
with its vector and payload, nothing a write in flight could not have left, an index whose keys
are the store's keys at the store's sequence, no leftover temp files, and every item must find
itself. The next cycle restarts on the original dir, so snapshots and catch-ups chain across kills.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import numpy as np

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.search_options import SearchOptions
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.conftest import ServerProcess
from tests.durability.ledger import Ledger, Version
from tests.server.wire import Stubs, unpack, vec

DIM = 24
KIND = "HNSW16"
SEEDS = 600
WRITERS = 3
POOL = 200  # ids per writer; each writer owns its ids, so an id has one write in flight at most
PLAN = ("random", "snapshot", "compaction") * 7  # 21 cycles
MIN_INSIDE = 3  # kills that must land inside a snapshot, and inside a compaction
EXTRA_CYCLES = 12  # at most, aimed at a job whose kills landed after it had finished
ARM_AFTER = 4  # acknowledged writes in a cycle before a kill may come
TARGET_WAIT = 20.0  # seconds to wait for a targeted job before killing anyway (liveness bound)
ENV = {"LATENTSPACE_SNAPSHOT_EVERY": "50", "LATENTSPACE_LOG_LEVEL": "INFO"}
JOB_LINE = re.compile(r"collection 'c': (snapshot|compaction) (started|took)")


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Killer:
    """SIGKILLs the server once: at a moment the test picks, or when a targeted job starts."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.pid: int | None = None
        self.armed = threading.Event()
        self.killed = threading.Event()
        self.running: set[str] = set()  # jobs started and not finished, per the server's log
        self._lock = threading.Lock()

    def kill(self) -> None:
        with self._lock:
            if self.killed.is_set() or self.pid is None:
                return
            self.killed.set()  # before the signal: every error after it is the kill's
            os.kill(self.pid, signal.SIGKILL)

    def line(self, line: str) -> None:
        """The server's output, line by line (on its reader thread)."""
        match = JOB_LINE.search(line)
        if match is None:
            return
        job, phase = match.groups()
        if phase == "took":
            self.running.discard(job)
            return
        self.running.add(job)
        if job == self.target and self.armed.is_set():
            self.kill()


class Writer(threading.Thread):
    """Upserts (some as two-message streams), replacements and deletes of its own ids until the kill."""

    def __init__(self, n: int, address: str, ledger: Ledger, killer: Killer, acked: Callable[[], None],
                 seed: int) -> None:
        super().__init__(name=f"writer-{n}")
        self.n = n
        self.address = address
        self.ledger = ledger
        self.killer = killer
        self.acked = acked
        self.rng = np.random.default_rng(seed)
        self.errors: list[str] = []

    def run(self) -> None:
        stubs = Stubs(self.address)
        try:
            for op in range(100_000):  # bounded; the kill ends it long before
                if self.killer.killed.is_set() or not self._write(stubs, op):
                    return
        finally:
            stubs.close()

    def _write(self, stubs: Stubs, op: int) -> bool:
        ids = [f"w{self.n}-{j}" for j in self.rng.choice(POOL, size=int(self.rng.integers(1, 25)), replace=False)]
        kind = self.rng.random()
        changes: dict[str, Version | None]
        if kind < 0.3:
            changes = dict.fromkeys(ids)
        else:
            vectors = unit(self.rng, len(ids))
            changes = {item_id: Version(vectors[i], {"w": self.n, "op": op, "tag": str(self.rng.choice(list("abc")))})
                       for i, item_id in enumerate(ids)}
        self.ledger.send(changes)
        try:
            if kind < 0.3:
                sequence = stubs.collections.Delete(api.DeleteRequest(collection="c", ids=ids), timeout=60).sequence
            else:
                items = [_item(item_id, version) for item_id, version in changes.items() if version is not None]
                if kind < 0.85:
                    sequence = stubs.collections.Upsert(api.UpsertRequest(collection="c", items=items),
                                                        timeout=60).sequence
                else:  # a stream of two messages: two transactions, one acknowledgement
                    half = max(1, len(items) // 2)
                    parts = [items[:half], items[half:]] if len(items) > 1 else [items]
                    sequence = stubs.collections.UpsertStream(
                        iter([api.UpsertRequest(collection="c", items=p) for p in parts]), timeout=60).sequence
        except grpc.RpcError as error:
            if not self.killer.killed.is_set():
                self.errors.append(f"{error.code().name}: {error.details()}")
            return False
        self.ledger.acknowledge(changes, sequence)
        self.acked()
        return True


def _item(item_id: str, version: Version) -> api.UpsertItem:
    item = api.UpsertItem(id=item_id, vector=vec(version.vector))
    item.payload.update(version.payload)
    return item


def seed(address: str, ledger: Ledger) -> None:
    stubs = Stubs(address)
    try:
        stubs.collections.CreateCollection(api.CreateCollectionRequest(name="c", dimension=DIM, index_kind=KIND),
                                           timeout=60)
        vectors = unit(np.random.default_rng(987_654), SEEDS)  # unlike any writer's stream
        changes = {f"seed-{i}": Version(vectors[i], {"seed": i}) for i in range(SEEDS)}
        ledger.send(changes)
        response = stubs.collections.Upsert(
            api.UpsertRequest(collection="c", items=[_item(i, v) for i, v in changes.items() if v is not None]),
            timeout=120)
        ledger.acknowledge(changes, response.sequence)
    finally:
        stubs.close()


def copy_of(data: Path, scratch: Path) -> Path:
    """A copy of the data dir as the killed server left it (what the next start finds)."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(data, scratch)
    return scratch


def check_copy(copy: Path, ledger: Ledger) -> dict[str, int]:
    """Open ``copy`` as a restart opens a data dir and check it against the ledger; then settle the
    writes that were in flight. Returns figures for the report."""
    folder = copy / "collections" / "c"
    temp_files_left = sum(p.name.endswith(".tmp") for p in folder.iterdir())
    with DataDir.open(copy, background=False) as data_dir:
        collection = data_dir.collection("c")
        assert collection.index_sequence == collection.sequence
        assert collection.sequence >= ledger.max_sequence
        items = collection.get(ledger.ids(), with_vectors=True)
        stored = {item.id: Version(item.vector, item.payload) for item in items if item.vector is not None}
        assert collection.count() == len(stored), "the store holds ids no client wrote"
        problems = ledger.check(stored)
        assert not problems, problems[:20]
        with sqlite3.connect(folder / "items.sqlite3") as conn:
            store_keys = np.sort(np.array([k for (k,) in conn.execute("SELECT key FROM items")], dtype=np.int64))
        assert np.array_equal(collection.index_keys(), store_keys), "index keys differ from the store's"
        ids = list(stored)
        hits = collection.search(np.stack([stored[i].vector for i in ids]), SearchOptions(k=1, ef_search=256))
        lost = [i for i, row in zip(ids, hits, strict=True) if not row or row[0].id != i]
        assert not lost, f"{len(lost)} items do not find themselves: {lost[:10]}"
        assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")], "temp files survive an open"
    shutil.rmtree(copy)
    committed = ledger.settle(stored)
    return {"items": len(stored), "temp_files_left": temp_files_left, "in_flight_committed": committed}


def check_served(address: str, ledger: Ledger) -> None:
    """Through the restarted server: every item as acknowledged, and each finds itself."""
    stubs = Stubs(address)
    try:
        ids = ledger.ids()
        stored: dict[str, Version] = {}
        for start in range(0, len(ids), 500):
            got = stubs.collections.Get(api.GetRequest(collection="c", ids=ids[start:start + 500], with_vectors=True),
                                        timeout=60)
            stored.update({item.id: Version(unpack(item.vector).copy(), dict(item.payload)) for item in got.items})
        assert not ledger.check(stored)
        live = list(stored)
        for start in range(0, len(live), 500):
            chunk = live[start:start + 500]
            queries = [pb.Query(vector=vec(stored[i].vector)) for i in chunk]
            options = api.SearchOptions(k=1, params=pb.SearchParams(ef_search=256))
            response = stubs.latent.SearchBatch(
                api.SearchBatchRequest(collection="c", queries=queries, options=options), timeout=60)
            assert [r.hits[0].id for r in response.results] == chunk
    finally:
        stubs.close()


def stream_until_killed(server: ServerProcess, killer: Killer, ledger: Ledger, cycle: int,
                        rng: random.Random) -> None:
    """Run the writers against ``server`` until ``killer`` has killed it (see the module docstring)."""
    killer.pid = server.proc.pid
    acks = [0]
    lock = threading.Lock()

    def acked() -> None:
        with lock:
            acks[0] += 1
            if acks[0] >= ARM_AFTER:
                killer.armed.set()

    writers = [Writer(n, server.address, ledger, killer, acked, seed=cycle * 100 + n) for n in range(WRITERS)]
    for writer in writers:
        writer.start()
    assert killer.armed.wait(60), "no writes were acknowledged"
    killer.killed.wait(rng.uniform(0.05, 1.0) if killer.target == "random" else TARGET_WAIT)
    killer.kill()
    server.proc.wait(timeout=30)
    assert server.drained.wait(30)
    for writer in writers:
        writer.join(timeout=60)
    errors = [e for w in writers for e in w.errors]
    assert not errors, errors


def next_target(cycle: int, kills: dict[str, int]) -> str | None:
    """The plan, then (up to EXTRA_CYCLES) the job that still lacks kills inside it; None: done."""
    if cycle < len(PLAN):
        return PLAN[cycle]
    short = [job for job, n in kills.items() if n < MIN_INSIDE]
    return short[0] if short and cycle < len(PLAN) + EXTRA_CYCLES else None


def test_killed_server_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    data, scratch = tmp_path / "data", tmp_path / "check"
    ledger = Ledger()
    rng = random.Random(11)
    kills = {"snapshot": 0, "compaction": 0}
    temp_files_left = in_flight_committed = cycles = 0
    started: list[ServerProcess] = []

    def start(killer: Killer | None) -> ServerProcess:
        server = ServerProcess(data, env=ENV, on_line=killer.line if killer else None)
        started.append(server)
        return server

    try:
        with ThreadPoolExecutor(1) as starter:
            killer: Killer | None = Killer(PLAN[0])
            server = start(killer)
            seed(server.address, ledger)
            while killer is not None:
                stream_until_killed(server, killer, ledger, cycles, rng)
                cycles += 1
                kills.update({job: kills[job] + 1 for job in killer.running})
                copy = copy_of(data, scratch)
                # The next server starts (imports, binds) while this process checks the copy.
                target = next_target(cycles, kills)
                killer = Killer(target) if target is not None else None
                starting = starter.submit(start, killer)
                figures = check_copy(copy, ledger)
                temp_files_left += figures["temp_files_left"]
                in_flight_committed += figures["in_flight_committed"]
                server = starting.result()
        check_served(server.address, ledger)
        assert server.terminate() == 0
    finally:
        for process in started:
            if process.proc.poll() is None:
                process.kill()
    print(f"\ncrash test: {cycles} kills ({kills['snapshot']} inside a snapshot, {kills['compaction']} "
          f"inside a compaction), {ledger.acked_writes} acknowledged writes ({ledger.acked_upserts} items "
          f"upserted, {ledger.acked_deletes} ids deleted), {in_flight_committed} ids found changed by writes "
          f"in flight, {temp_files_left} temp files left by kills")
    assert cycles >= len(PLAN)
    assert min(kills.values()) >= MIN_INSIDE, kills
