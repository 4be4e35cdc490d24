"""The two backends side by side: load rate, recall@10 and single-query QPS on the same vectors.

The vectors are ``clustered_vectors.py``'s (a seeded two-level Gaussian mixture shaped like text
embeddings: ``--n`` base vectors of ``--dim`` and ``--queries`` held-out queries; uniform random
vectors would make every HNSW recall meaningless), each with the payload ``{"group": i % 16}``.
For each backend (``embedded``: SQLite + FAISS in this process; ``milvus``: a Milvus Lite file, in
this process too) and each index kind (``Flat``, ``HNSW32``: FAISS's HNSW32 / Milvus's HNSW with
M 32, both at the embedded defaults: efConstruction 80, efSearch max(128, 2k) when a request sets
none), through the library's collection interface (``DataDir`` / ``upsert`` / ``search``, as the
server calls it):

- **load**: items/s of ``upsert`` in batches of ``--batch``; for Milvus also the seconds to flush
  and to load the collection (Milvus Lite builds the index of flushed segments at load);
- **recall@10**: the share of the exact top 10 (numpy over the same vectors) found, over
  ``--queries`` queries sent in one ``search`` call, at each ``--ef`` for HNSW and at the default;
- **QPS**: one query per call, sequentially, for at most ``--seconds`` each (k 10; default ef);
- **filtered**: the same with the filter ``group == 3`` (1/16 of the items), for at most
  ``--seconds``, with its recall against the exact filtered top 10.

Milvus Lite is a test double for a Milvus cluster (the same client API, a pure-Python engine in
this process), not a measure of Milvus's speed: its JSON filters scan rows in Python, and it
searches unflushed rows slowly. The figures say what the backend costs *here*; a cluster's are
Milvus's own. No thresholds: the numbers are for reading.

    .venv/bin/python benchmarks/milvus_backend.py --n 20000     # ~9 min on 2 busy cores
    .venv/bin/python benchmarks/milvus_backend.py               # 100k x 384: ~19 min (Lite's HNSW build 5.5)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clustered_vectors import clustered_unit_vectors

COLLECTION = "bench"
K = 10


@dataclass
class Row:
    backend: str
    kind: str
    load_per_s: float = 0.0
    ready_s: float = 0.0  # Milvus: flush + load after the last upsert
    recall: dict[int, float] = field(default_factory=dict)  # ef (0: exact kind) -> recall@10
    qps: float = 0.0
    filtered_qps: float = 0.0
    filtered_recall: float = 0.0
    filtered_queries: int = 0


def exact_top(vectors: np.ndarray, queries: np.ndarray, allowed: np.ndarray | None = None) -> list[set[int]]:
    scores = queries @ vectors.T
    if allowed is not None:
        scores[:, ~allowed] = -np.inf
    return [set(np.argsort(-row, kind="stable")[:K].tolist()) for row in scores]


def recall(hits: list[list[Any]], truth: list[set[int]]) -> float:
    found = sum(len({int(h.id[1:]) for h in row} & want) for row, want in zip(hits, truth, strict=True))
    return found / sum(len(want) for want in truth)


def timed(run: Callable[[int], Any], count: int, seconds: float) -> tuple[float, list[Any]]:
    """Calls per second of ``run(i)`` for i < count, stopping after ``seconds``; and the results."""
    results = []
    started = time.perf_counter()
    for i in range(count):
        results.append(run(i))
        if time.perf_counter() - started > seconds:
            break
    return len(results) / (time.perf_counter() - started), results


def measure(backend: str, kind: str, vectors: np.ndarray, queries: np.ndarray, args: argparse.Namespace,
            root: Path) -> Row:
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.filters import Equals, PayloadFilter
    from latentspace.indexer.items import ItemRecord
    from latentspace.indexer.modality import Modality
    from latentspace.indexer.search_options import SearchOptions

    catalogs = []
    if backend == "milvus":
        import pymilvus

        from latentspace.indexer.backends.milvus import MilvusCatalog, MilvusTarget

        catalogs = [MilvusCatalog(MilvusTarget(str(root / f"milvus-{kind}.db")))]
    row = Row(backend, kind)
    with DataDir.open(root / f"data-{backend}-{kind}", catalogs=catalogs) as data:
        collection = data.create_collection(COLLECTION, None, dimension=vectors.shape[1], index_kind=kind,
                                            backend=backend)
        started = time.perf_counter()
        for start in range(0, len(vectors), args.batch):
            collection.upsert([ItemRecord(f"v{i}", vectors[i], Modality.VECTOR, {"group": i % 16})
                               for i in range(start, min(start + args.batch, len(vectors)))])
        row.load_per_s = len(vectors) / (time.perf_counter() - started)
        print(f"  {backend} {kind}: loaded at {row.load_per_s:,.0f} items/s", flush=True)
        if backend == "milvus":
            started = time.perf_counter()
            collection.snapshot()  # flush
            client, physical = collection._client, collection.physical  # type: ignore[attr-defined]
            client.release_collection(physical)
            for attempt in range(3):  # builds the index of every flushed segment
                try:
                    client.load_collection(physical)
                    break
                except pymilvus.MilvusException as exc:  # Lite at times reads a segment file still being written
                    print(f"  {backend} {kind}: load failed ({exc}); retrying", flush=True)
                    if attempt == 2:
                        raise
                    time.sleep(5)
            row.ready_s = time.perf_counter() - started
            print(f"  {backend} {kind}: flushed and loaded in {row.ready_s:.1f} s", flush=True)
        else:
            data.wait_for_maintenance()

        truth = exact_top(vectors, queries)
        for ef in ([*args.ef, 0] if "HNSW" in kind else [0]):  # 0: the default, max(128, 2k)
            hits = collection.search(queries, SearchOptions(k=K, ef_search=ef))
            row.recall[ef] = recall(hits, truth)
        options = SearchOptions(k=K)  # the default knobs
        row.qps, _ = timed(lambda i: collection.search(queries[i:i + 1], options), len(queries), args.seconds)
        print(f"  {backend} {kind}: recall {row.recall}, {row.qps:.1f} queries/s", flush=True)

        groups = np.arange(len(vectors)) % 16
        filtered = SearchOptions(k=K, ef_search=options.ef_search, filter=PayloadFilter((Equals("group", 3),)))
        row.filtered_qps, found = timed(lambda i: collection.search(queries[i:i + 1], filtered)[0], len(queries),
                                        args.seconds)
        truth = exact_top(vectors, queries[: len(found)], groups == 3)
        row.filtered_recall = recall(found, truth)
        row.filtered_queries = len(found)
        print(f"  {backend} {kind}: filtered {row.filtered_qps:.2f} queries/s over {len(found)} queries, "
              f"recall {row.filtered_recall:.3f}", flush=True)
    return row


def print_rows(rows: list[Row], efs: list[int]) -> None:
    head = ["backend", "index", "load items/s", "ready s", *(f"recall ef{ef}" for ef in efs), "recall (default knobs)",
            "QPS", "filtered QPS", "filtered queries", "filtered recall"]
    lines = [head]
    for r in rows:
        by_ef = [f"{r.recall[ef]:.3f}" if ef in r.recall else "" for ef in efs]
        lines.append([r.backend, r.kind, f"{r.load_per_s:,.0f}", f"{r.ready_s:.1f}" if r.ready_s else "-",
                      *by_ef, f"{r.recall[0]:.3f}" if 0 in r.recall else "", f"{r.qps:,.1f}",
                      f"{r.filtered_qps:,.2f}", str(r.filtered_queries), f"{r.filtered_recall:.3f}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="vectors (default 100000)")
    parser.add_argument("--dim", type=int, default=384, help="dimension (default 384)")
    parser.add_argument("--queries", type=int, default=200, help="queries (default 200)")
    parser.add_argument("--batch", type=int, default=5000, help="items per upsert (default 5000)")
    parser.add_argument("--ef", type=int, nargs="+", default=[16, 64, 128], help="HNSW efSearch values")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound of each QPS figure (default 20)")
    parser.add_argument("--backends", nargs="+", default=["embedded", "milvus"], choices=["embedded", "milvus"])
    parser.add_argument("--kinds", nargs="+", default=["Flat", "HNSW32"])
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # as search_overhead.py: steady figures on a shared machine
    import faiss
    import pymilvus

    vectors, queries = clustered_unit_vectors(args.n, args.queries, dimension=args.dim)
    print(f"milvus_backend: clustered n={args.n} dim={args.dim} queries={args.queries} k={K} | {platform.machine()} "
          f"{os.cpu_count()} cpus, faiss {faiss.__version__}, pymilvus {pymilvus.__version__}, "
          f"python {platform.python_version()}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="latentspace-milvus-bench-") as tmp:
        for backend in args.backends:
            for kind in args.kinds:
                rows.append(measure(backend, kind, vectors, queries, args, Path(tmp)))
    print()
    print_rows(rows, args.ef)
    print("\nload: upsert only (embedded: acknowledged = in SQLite and the index); ready: Milvus flush + load.")
    print("recall: at each ef, and at the default (max(128, 2k) = 128 for HNSW); QPS: one query per call,")
    print("sequential, default knobs; filtered: group == 3 (1/16 of the items).")


if __name__ == "__main__":
    main()
