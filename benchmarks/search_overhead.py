"""What serving a search costs over calling FAISS directly, measured in one run.

N random unit vectors (dimension ``--dim``, each with a small payload) go into a vector-only
collection built through the library (``DataDir`` / ``Collection.upsert`` in batches; exact
``Flat`` index). The same ``--queries`` random unit queries are then answered, top ``--k``:

  (a) raw FAISS ``IndexFlatIP`` in this process, one query at a time and as one batch: the limit;
  (b) ``Collection.search`` in this process (the library: FAISS plus hit lookup in SQLite);
  (c) the ``Search`` RPC through the sync SDK, one query at a time (latency p50/p95, queries/s),
      beside (c0), a ``DescribeCollection`` RPC that does next to nothing: the floor of any call;
  (d) the ``SearchBatch`` RPC through the sync SDK (at most the server's 1024 queries a call);
  (e) ``Search`` from the async SDK with a bounded number of calls in flight (``--in-flight``).

Each line prints its figure, the limit it is compared with, their ratio (served / limit
throughput) and the extra milliseconds per query. One-at-a-time figures are the fastest of
``--repeats`` passes, batch figures the fastest of ``--repeats`` runs. The server runs in a thread
of this process (``--server thread``, sharing the GIL with the client) or in a child process
(``--server process``, which also reports its peak RSS). FAISS runs with ``--faiss-threads``
OpenMP threads (default 1) here and in the server alike: with more, a one-query search can stall
for a scheduler time slice whenever another process holds a core. No thresholds: the numbers are
for reading.

    .venv/bin/python benchmarks/search_overhead.py                  # 100k x 384, 200 queries
    .venv/bin/python benchmarks/search_overhead.py --n 20000 --server process
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_server import Figure, best_of, own_peak_rss_mib, print_table, start_server, timed_calls

from latentspace_client import AsyncClient, Client

# FAISS and the library (which imports FAISS) are imported in the functions below, after main()
# has set OMP_NUM_THREADS from --faiss-threads: OpenMP reads it once, when FAISS is loaded.

COLLECTION = "bench"
MAX_BATCH = 1024  # the server's default limit on queries per SearchBatch


def unit_rows(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((count, dim), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def build_collection(data_dir: Path, vectors: np.ndarray, batch: int) -> float:
    """Write the vectors through the library; return the seconds it took."""
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.items import ItemRecord
    from latentspace.indexer.modality import Modality

    started = time.perf_counter()
    with DataDir.open(data_dir) as data:
        collection = data.create_collection(COLLECTION, None, dimension=vectors.shape[1])
        for start in range(0, len(vectors), batch):
            collection.upsert([
                ItemRecord(id=f"v{i}", vector=vectors[i], modality=Modality.VECTOR, payload={"group": i % 16})
                for i in range(start, min(start + batch, len(vectors)))
            ])
    return time.perf_counter() - started


def library_figures(data_dir: Path, queries: np.ndarray, k: int, repeats: int) -> tuple[Figure, Figure]:
    """(b): ``Collection.search`` one query at a time, and all queries in one call."""
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.search_options import SearchOptions

    options = SearchOptions(k=k)
    with DataDir.open(data_dir) as data:
        collection = data.collection(COLLECTION)
        collection.search(queries[:1], options)  # loads the index snapshot
        single = timed_calls("(b) Collection.search, 1 query/call",
                             [lambda q=q: collection.search(q[None, :], options) for q in queries], repeats)
        batch = best_of(repeats, "(b) Collection.search, batch", len(queries),
                        lambda: collection.search(queries, options))
    return single, batch


def faiss_figures(vectors: np.ndarray, queries: np.ndarray, k: int, repeats: int) -> tuple[Figure, Figure]:
    """(a): the limit, raw ``IndexFlatIP`` over the same vectors."""
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    index.search(queries[:1], k)
    single = timed_calls("(a) FAISS IndexFlatIP, 1 query/call",
                         [lambda q=q: index.search(q[None, :], k) for q in queries], repeats)
    batch = best_of(repeats, "(a) FAISS IndexFlatIP, batch", len(queries), lambda: index.search(queries, k))
    return single, batch


def sync_figures(address: str, queries: np.ndarray, k: int, repeats: int) -> tuple[Figure, Figure, Figure]:
    """(c) and (d) through the sync SDK, and the floor: an RPC that does next to nothing."""
    with Client(address, collection=COLLECTION, timeout=300) as client:
        for q in queries[:5]:
            client.search(q, k=k)  # warm up the channel and the server's collection
        floor = timed_calls("(c0) DescribeCollection RPC (the RPC floor)",
                            [client.describe_collection] * len(queries), repeats)
        single = timed_calls("(c) Search RPC, sync SDK, sequential",
                             [lambda q=q: client.search(q, k=k) for q in queries], repeats)

        def batches() -> None:
            for start in range(0, len(queries), MAX_BATCH):
                client.search_batch(list(queries[start : start + MAX_BATCH]), k=k)

        batch = best_of(repeats, "(d) SearchBatch RPC, sync SDK", len(queries), batches)
    return floor, single, batch


async def async_figure(address: str, queries: np.ndarray, k: int, in_flight: int) -> Figure:
    """(e): ``in_flight`` workers, each awaiting one Search at a time, over all the queries."""
    latencies: list[float] = []
    async with AsyncClient(address, collection=COLLECTION, timeout=300) as client:
        await asyncio.gather(*(client.search(q, k=k) for q in queries[:in_flight]))  # warm up
        pending = iter(queries)

        async def worker() -> None:
            for q in pending:  # shared iterator: each query is taken by exactly one worker
                t0 = time.perf_counter()
                await client.search(q, k=k)
                latencies.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        seconds = time.perf_counter() - started
    return Figure(f"(e) Search RPC, async SDK, {in_flight} in flight", len(queries), seconds, tuple(latencies))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="vectors in the collection (default 100000)")
    parser.add_argument("--dim", type=int, default=384, help="dimension (default 384)")
    parser.add_argument("--queries", type=int, default=200, help="queries per measurement (default 200)")
    parser.add_argument("--k", type=int, default=10, help="hits per query (default 10)")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[8, 32], help="async concurrency (default 8 32)")
    parser.add_argument("--server", choices=["thread", "process"], default="thread",
                        help="serve from a thread of this process (default) or a child process")
    parser.add_argument("--workers", type=int, default=None, help="server worker threads (default: the server's)")
    parser.add_argument("--repeats", type=int, default=3, help="each figure but (e) is the best of this many runs")
    parser.add_argument("--faiss-threads", type=int, default=1,
                        help="OMP_NUM_THREADS for FAISS here and in the server (default 1; 0: leave FAISS's "
                        "default, all cores, which stalls single-query searches on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.faiss_threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(args.faiss_threads)  # before FAISS is loaded; children inherit it
    import faiss

    rng = np.random.default_rng(args.seed)
    vectors, queries = unit_rows(rng, args.n, args.dim), unit_rows(rng, args.queries, args.dim)
    print(f"search_overhead: n={args.n} dim={args.dim} queries={args.queries} k={args.k} server={args.server} "
          f"| {platform.machine()} {os.cpu_count()} cpus, faiss {faiss.__version__} "
          f"({faiss.omp_get_max_threads()} threads), python {platform.python_version()}")

    with tempfile.TemporaryDirectory(prefix="latentspace-bench-") as tmp:
        data_dir = Path(tmp)
        build_seconds = build_collection(data_dir, vectors, batch=5000)
        print(f"built the collection through the library in {build_seconds:.1f}s "
              f"({args.n / build_seconds:,.0f} vectors/s)")
        faiss_single, faiss_batch = faiss_figures(vectors, queries, args.k, args.repeats)
        lib_single, lib_batch = library_figures(data_dir, queries, args.k, args.repeats)
        del vectors

        server = start_server(args.server, data_dir, args.workers)
        try:
            rpc_floor, rpc_single, rpc_batch = sync_figures(server.address, queries, args.k, args.repeats)
            concurrent = [asyncio.run(async_figure(server.address, queries, args.k, n)) for n in args.in_flight]
        finally:
            server.stop()

    print()
    print_table(
        [
            (faiss_single, None),
            (faiss_batch, None),
            (lib_single, faiss_single),
            (lib_batch, faiss_batch),
            (rpc_floor, None),
            (rpc_single, faiss_single),
            (rpc_batch, faiss_batch),
            *((c, faiss_single) for c in concurrent),
        ],
        unit="queries",
    )
    rss = f"server {server.peak_rss_mib:.0f} MiB, " if server.peak_rss_mib is not None else "server and "
    print(f"\npeak RSS: {rss}this process {own_peak_rss_mib():.0f} MiB")
    print("ratio = served (or library) queries/s / limit queries/s; +ms/op = extra wall time per query.")
    print(f"(e) sends one query per call, so it is compared with (a) one query/call; the batch limit, "
          f"{faiss_batch.per_second:.0f}/s, is what micro-batching concurrent searches could approach.")


if __name__ == "__main__":
    main()
