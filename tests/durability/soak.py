"""A bounded soak: many clients, mixed calls, one served data dir, then SIGTERM while they run.

Two collections: ``text`` (the real all-MiniLM-L6-v2 model, exact index) and ``vec`` (vectors only,
HNSW, so replacements and deletes leave tombstones and compactions run under load; with a low
``LATENTSPACE_SNAPSHOT_EVERY`` snapshots do too). Each client loops over a mix of text searches,
vector searches, encodes, text and vector upserts (replacing items of its own id pool, so the
collections stay the same size and memory has no reason to grow), deletes and gets, timing each
call, until it is told to stop or the server goes away. The server's RSS is sampled meanwhile.

Every write a client sends is recorded in a :class:`~tests.durability.ledger.Ledger`, so that after
SIGTERM and a restart every acknowledged write can be checked. Used by ``test_soak.py`` (short, in
CI) and ``benchmarks/soak.py`` (60 s, figures printed).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import numpy as np
import psutil

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.durability.ledger import Ledger, Version
from tests.server.wire import Stubs, unpack, vec

DIM = 64
TEXT_SEEDS = 200
VECTOR_SEEDS = 2000
TEXT_POOL = 20  # ids per client
VECTOR_POOL = 60
TIMEOUT = 120.0  # per call: a liveness bound, far above any latency under this load
#: How calls in flight at a shutdown may end, besides OK.
ENDED_BY_SHUTDOWN = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
#: Share of each kind of call in the mix.
MIX = {"search_text": 25, "search_vector": 20, "encode": 15, "upsert_text": 10, "upsert_vector": 15,
       "delete": 10, "get": 5}

_SUBJECTS = ("the old fisherman", "a small child", "the orchestra", "my neighbour", "the red fox", "a pilot",
             "the committee", "our teacher", "a street painter", "the night train")
_VERBS = ("repairs", "watches", "sings about", "forgets", "draws", "carries", "explains", "follows", "sells",
          "photographs")
_OBJECTS = ("a broken bicycle", "the winter sea", "an empty theatre", "the mountain road", "a bowl of soup",
            "the city lights", "a paper kite", "the stock market", "a wooden boat", "the summer rain")
_PLACES = ("at dawn", "in the rain", "near the harbour", "after dinner", "in a hurry", "on the radio",
           "for the first time", "with great care", "without a word", "every morning")


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(_SUBJECTS).capitalize()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_PLACES)}."


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@dataclass
class SoakFigures:
    """What a soak measured."""

    clients: int
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)  # seconds, per kind of call
    unexpected: list[str] = field(default_factory=list)  # errors outside a shutdown
    ended: Counter[str] = field(default_factory=Counter)  # how calls in flight at the shutdown ended
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)

    def quarter_rss(self) -> tuple[float, float]:
        """Median server RSS of the first and of the last quarter of the soak, in MiB."""
        end = self.seconds
        first = [r for t, r in self.rss if t < end / 4]
        last = [r for t, r in self.rss if t >= 3 * end / 4]
        return float(np.median(first)) / 2**20, float(np.median(last)) / 2**20

    def rss_growth(self) -> float:
        first, last = self.quarter_rss()
        return last / first - 1.0

    def report(self) -> str:
        calls = sum(len(v) for v in self.latencies.values())
        lines = [f"soak: {self.clients} clients, {self.seconds:.0f} s, {calls} calls "
                 f"({calls / max(self.seconds, 1e-9):.0f}/s), {len(self.unexpected)} unexpected errors"]
        for kind in MIX:
            values = np.asarray(self.latencies.get(kind, [])) * 1000
            if len(values):
                lines.append(f"  {kind:14s} {len(values):6d} calls  p50 {np.percentile(values, 50):8.1f} ms  "
                             f"p99 {np.percentile(values, 99):8.1f} ms")
        first, last = self.quarter_rss()
        lines.append(f"  server RSS: first quarter {first:.0f} MiB, last quarter {last:.0f} MiB "
                     f"({100 * self.rss_growth():+.1f}%), peak {max(r for _, r in self.rss) / 2**20:.0f} MiB")
        if self.ended:
            lines.append("  calls in flight at SIGTERM ended: "
                         + ", ".join(f"{code} {n}" for code, n in sorted(self.ended.items())))
        return "\n".join(lines)


class Soak:
    """The collections, the clients and their ledgers; see the module docstring."""

    def __init__(self, address: str, clients: int = 32, seed: int = 0) -> None:
        self.address = address
        self.clients = clients
        self.seed = seed
        self.ledgers = {"text": Ledger(), "vec": Ledger()}
        self.figures = SoakFigures(clients)
        self._stop = threading.Event()  # clients finish their call and stop
        self._shutting_down = threading.Event()  # from now on a call may end UNAVAILABLE or CANCELLED
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup
    def prepare(self) -> None:
        """Create both collections and write the seed items (this loads the model)."""
        rng, vector_rng = random.Random(self.seed), np.random.default_rng(self.seed)
        stubs = Stubs(self.address)
        try:
            create = stubs.collections.CreateCollection
            create(api.CreateCollectionRequest(name="text", model="minilm"), timeout=300)
            create(api.CreateCollectionRequest(name="vec", dimension=DIM, index_kind="HNSW16"), timeout=TIMEOUT)
            texts = {f"seed-{i}": Version(None, {"text": sentence(rng), "n": -1}) for i in range(TEXT_SEEDS)}
            self._write(stubs, "text", texts)
            vectors = unit(vector_rng, VECTOR_SEEDS)
            for start in range(0, VECTOR_SEEDS, 1000):
                self._write(stubs, "vec", {f"seed-{i}": Version(vectors[i], {"n": -1, "i": i})
                                           for i in range(start, min(start + 1000, VECTOR_SEEDS))})
        finally:
            stubs.close()

    # ------------------------------------------------------------------ the run
    def run(self, seconds: float, server_pid: int, then: Callable[[], None] | None = None) -> SoakFigures:
        """Run the clients for ``seconds`` while sampling the server's RSS; then call ``then()`` (e.g.
        send SIGTERM) while they still run, and wait for them to end (at the server's going away)."""
        process = psutil.Process(server_pid)
        threads = [threading.Thread(target=self._client, args=(n,), name=f"soak-{n}") for n in range(self.clients)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while (elapsed := time.monotonic() - started) < seconds:
            self.figures.rss.append((elapsed, process.memory_info().rss))
            time.sleep(0.25)
        self.figures.seconds = time.monotonic() - started
        if then is not None:
            self._shutting_down.set()
            then()
        else:
            self._stop.set()
        for thread in threads:
            thread.join(timeout=TIMEOUT * 2)
        self._stop.set()
        return self.figures

    def _client(self, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n + 1)
        vector_rng = np.random.default_rng(self.seed * 1000 + n + 1)
        kinds, weights = list(MIX), list(MIX.values())
        stubs = Stubs(self.address)
        try:
            for op in range(1_000_000):  # bounded; the stop or the shutdown ends it
                if self._stop.is_set():
                    return
                kind = rng.choices(kinds, weights)[0]
                started = time.perf_counter()
                try:
                    self._call(stubs, kind, n, op, rng, vector_rng)
                except grpc.RpcError as error:
                    if self._shutting_down.is_set() and error.code() in ENDED_BY_SHUTDOWN:
                        with self._lock:
                            self.figures.ended[error.code().name] += 1
                        return
                    with self._lock:
                        self.figures.unexpected.append(f"{kind}: {error.code().name}: {error.details()}")
                    continue
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.figures.latencies.setdefault(kind, []).append(elapsed)
                    if self._shutting_down.is_set():
                        self.figures.ended["OK"] += 1
        finally:
            stubs.close()

    def _call(self, stubs: Stubs, kind: str, n: int, op: int, rng: random.Random,
              vector_rng: np.random.Generator) -> None:
        latent, collections = stubs.latent, stubs.collections
        if kind == "search_text":
            latent.Search(api.SearchRequest(collection="text", query=pb.Query(text=sentence(rng)),
                                            options=api.SearchOptions(k=5)), timeout=TIMEOUT)
        elif kind == "search_vector":
            latent.Search(api.SearchRequest(collection="vec", query=pb.Query(vector=vec(unit(vector_rng, 1)[0])),
                                            options=api.SearchOptions(k=10)), timeout=TIMEOUT)
        elif kind == "encode":
            queries = [pb.Query(text=sentence(rng)) for _ in range(rng.randint(1, 3))]
            latent.Encode(api.EncodeRequest(collection="text", queries=queries), timeout=TIMEOUT)
        elif kind == "upsert_text":
            ids = rng.sample(range(TEXT_POOL), rng.randint(1, 2))
            self._write(stubs, "text", {f"c{n}-{j}": Version(None, {"text": sentence(rng), "n": op}) for j in ids})
        elif kind == "upsert_vector":
            ids = rng.sample(range(VECTOR_POOL), rng.randint(1, 16))
            vectors = unit(vector_rng, len(ids))
            self._write(stubs, "vec", {f"c{n}-{j}": Version(vectors[i], {"n": op, "j": j})
                                       for i, j in enumerate(ids)})
        elif kind == "delete":
            name, pool = rng.choice((("text", TEXT_POOL), ("vec", VECTOR_POOL)))
            self._write(stubs, name, {f"c{n}-{j}": None for j in rng.sample(range(pool), rng.randint(1, 4))})
        else:
            ids = [f"c{n}-{j}" for j in rng.sample(range(VECTOR_POOL), 4)] + [f"seed-{rng.randrange(VECTOR_SEEDS)}"]
            collections.Get(api.GetRequest(collection="vec", ids=ids), timeout=TIMEOUT)

    def _write(self, stubs: Stubs, collection: str, changes: dict[str, Version | None]) -> None:
        ledger = self.ledgers[collection]
        ledger.send(changes)
        if all(v is None for v in changes.values()):
            sequence = stubs.collections.Delete(api.DeleteRequest(collection=collection, ids=list(changes)),
                                                timeout=TIMEOUT).sequence
        else:
            items = []
            for item_id, version in changes.items():
                assert version is not None
                if version.vector is None:
                    item = api.UpsertItem(id=item_id, text=version.payload["text"])
                else:
                    item = api.UpsertItem(id=item_id, vector=vec(version.vector))
                item.payload.update(version.payload)
                items.append(item)
            sequence = stubs.collections.Upsert(api.UpsertRequest(collection=collection, items=items),
                                                timeout=TIMEOUT).sequence
        ledger.acknowledge(changes, sequence)

    # ------------------------------------------------------------------ after a restart
    def check(self, address: str, sample: int = 64) -> list[str]:
        """Problems of a (restarted) server's collections against the ledgers; the stored vectors of a
        sample of text items are compared with the model's encoding of their text."""
        problems: list[str] = []
        stubs = Stubs(address)
        try:
            stored_texts: dict[str, tuple[str, np.ndarray]] = {}
            for name, ledger in self.ledgers.items():
                ids = ledger.ids()
                stored: dict[str, Version] = {}
                for start in range(0, len(ids), 1000):
                    got = stubs.collections.Get(api.GetRequest(collection=name, ids=ids[start:start + 1000],
                                                               with_vectors=True), timeout=TIMEOUT)
                    for item in got.items:
                        vector = unpack(item.vector).copy()
                        stored[item.id] = Version(None if name == "text" else vector, dict(item.payload))
                        if name == "text":
                            stored_texts[item.id] = (item.content, vector)
                problems += [f"{name}: {p}" for p in ledger.check(stored)]
                count = stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name=name),
                                                             timeout=TIMEOUT).count
                if count != len(stored):
                    problems.append(f"{name}: {count} items stored, {len(stored)} of them written by the soak")
            picked = random.Random(self.seed).sample(sorted(stored_texts), min(sample, len(stored_texts)))
            encoded = stubs.latent.Encode(api.EncodeRequest(
                collection="text", queries=[pb.Query(text=stored_texts[i][0]) for i in picked]), timeout=TIMEOUT)
            for item_id, point in zip(picked, encoded.points, strict=True):
                if not np.allclose(unpack(point.vector), stored_texts[item_id][1], atol=1e-4):
                    problems.append(f"text: {item_id}: stored vector is not its text's encoding")
        finally:
            stubs.close()
        return problems
