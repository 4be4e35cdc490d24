"""Benchmark 1 of the serving issue: vector search through the service against FAISS in process.

100k x 384 clustered unit vectors (a Gaussian mixture around ``--centres`` random unit centres;
neighbours as close as real embeddings', not uniform noise) go into a vector-only collection of
each index kind (``Flat``, ``HNSW32``), built through the library. Then ``latent serve`` runs in
its own process over that data dir, and the same held-out queries (drawn like the data) are
answered top-10:

- in process: the collection's FAISS index file read with ``faiss.read_index``, searched with the
  server's default knobs, one query per call (p50) and as one batch, one OpenMP thread;
- the floor of any call: the standard health ``Check`` against a bare ``grpc.aio`` server in its
  own process (p50);
- the service: ``Search`` from 1, 4 and 16 client processes, each sending one query at a time on
  raw stubs with prebuilt requests (queries/s, p50, p99), and ``SearchBatch`` of all queries;
- recall@10 of the service at its default knobs against exact search.

The acceptance rule printed at the end: the 1-client p50 is at most in-process p50 + empty-call
p50 + 0.3 ms, and 4 clients reach at least 1.8x the 1-client queries/s. Figures, not thresholds:
nothing fails. ``--quick`` runs a small version.

    .venv/bin/python benchmarks/search_concurrency.py              # ~5 minutes on 2 cores
    .venv/bin/python benchmarks/search_concurrency.py --quick
    .venv/bin/python benchmarks/search_concurrency.py --kinds HNSW32 --data /tmp/bench1  # build once, reuse
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_server import ServedProcess

COLLECTION = "bench"
K = 10


def clustered(rng: np.random.Generator, n: int, dim: int, centres: np.ndarray, spread: float) -> np.ndarray:
    """Unit vectors scattered around ``centres``: cos to the own centre ~ 1/sqrt(1 + spread^2)."""
    picks = rng.integers(0, len(centres), n)
    noise = rng.standard_normal((n, dim), dtype=np.float32) * (spread / np.sqrt(dim))
    rows = centres[picks] + noise
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def build(data_dir: Path, kind: str, vectors: np.ndarray) -> float:
    """Write the vectors into a collection of ``kind`` through the library; seconds taken."""
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.items import ItemRecord
    from latentspace.indexer.modality import Modality

    started = time.perf_counter()
    with DataDir.open(data_dir, background=False) as data:
        collection = data.create_collection(COLLECTION, None, dimension=vectors.shape[1], index_kind=kind)
        for start in range(0, len(vectors), 10_000):
            collection.upsert([ItemRecord(f"v{i}", vectors[i], Modality.VECTOR, {"group": i % 16})
                               for i in range(start, min(start + 10_000, len(vectors)))])
        collection.snapshot()
    return time.perf_counter() - started


# ---------------------------------------------------------------- clients (each its own process)

def _search_client(address: str, queries_file: str, offset: int, count: int, start_at: float,
                   out: mp.Queue) -> None:  # type: ignore[type-arg]
    import grpc

    from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
    from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc
    from latentspace_client._generated.latentspace.v1 import types_pb2 as pb

    queries = np.load(queries_file)
    requests = [api.SearchRequest(collection=COLLECTION, options=api.SearchOptions(k=K),
                                  query=pb.Query(vector=pb.Vector(dimension=queries.shape[1],
                                                                  data=q.astype("<f4").tobytes())))
                for q in queries]
    with grpc.insecure_channel(address) as channel:
        search = rpc.LatentSpaceStub(channel).Search
        for r in requests[:20]:  # warm the channel
            search(r, timeout=60)
        while time.time() < start_at:
            time.sleep(0.001)
        latencies = []
        for i in range(count):
            t0 = time.perf_counter()
            search(requests[(offset + i) % len(requests)], timeout=60)
            latencies.append(time.perf_counter() - t0)
    out.put(latencies)


def served_load(address: str, queries_file: str, clients: int, per_client: int) -> tuple[float, list[float]]:
    """``clients`` processes, each ``per_client`` sequential searches: (queries/s, latencies)."""
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 3.0 + 0.3 * clients  # every process imported and warmed by then
    procs = [ctx.Process(target=_search_client, args=(address, queries_file, 97 * c, per_client, start_at, out))
             for c in range(clients)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    latencies = [x for r in results for x in r]
    # Throughput over the window in which all clients ran: total calls / the slowest client's time.
    window = max(sum(r) for r in results)
    return len(latencies) / window, latencies


def empty_call_p50(calls: int) -> float:
    """p50 of the standard health Check against a bare grpc.aio server in its own process."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    script = (
        "import asyncio, grpc\n"
        "from grpc_health.v1 import health_pb2, health_pb2_grpc\n"
        "from grpc_health.v1._async import HealthServicer\n"
        "async def main():\n"
        "    server = grpc.aio.server()\n"
        "    health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)\n"
        "    port = server.add_insecure_port('127.0.0.1:0')\n"
        "    await server.start()\n"
        "    print(port, flush=True)\n"
        "    await server.wait_for_termination()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            request = health_pb2.HealthCheckRequest()
            for _ in range(50):
                check(request, timeout=10)
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                check(request, timeout=10)
                times.append(time.perf_counter() - t0)
        return statistics.median(times)
    finally:
        proc.terminate()
        proc.wait(10)


def in_process(folder: Path, queries: np.ndarray) -> tuple[float, float, float]:
    """The collection's own index file, searched here: (single p50 s, single q/s, batch q/s)."""
    import faiss

    faiss.omp_set_num_threads(1)
    index = faiss.read_index(str(folder / "index.faiss"))
    inner = faiss.downcast_index(faiss.downcast_index(index).index)
    params = None
    if isinstance(inner, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(inner.hnsw.efSearch, K)  # what the server asks for at default knobs
    for q in queries[:20]:
        index.search(q[None, :], K, params=params)
    times = []
    started = time.perf_counter()
    for q in queries:
        t0 = time.perf_counter()
        index.search(q[None, :], K, params=params)
        times.append(time.perf_counter() - t0)
    single_qps = len(queries) / (time.perf_counter() - started)
    t0 = time.perf_counter()
    index.search(queries, K, params=params)
    batch_qps = len(queries) / (time.perf_counter() - t0)
    return statistics.median(times), single_qps, batch_qps


def recall_and_batch(address: str, queries: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    from latentspace_client import Client

    with Client(address, collection=COLLECTION, timeout=600) as client:
        t0 = time.perf_counter()
        results: list[list[str]] = []
        for start in range(0, len(queries), 1000):
            results += [[h.id for h in hits] for hits in client.search_batch(list(queries[start:start + 1000]), k=K)]
        seconds = time.perf_counter() - t0
    hits = sum(len({f"v{j}" for j in row} & set(found)) for row, found in zip(truth, results, strict=True))
    return hits / (K * len(queries)), len(queries) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=2000, help="sequential calls per client process")
    parser.add_argument("--kinds", nargs="+", default=["HNSW32", "Flat"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--quick", action="store_true", help="20k vectors, 300 calls per client")
    parser.add_argument("--data", type=Path, help="keep the built collections here and reuse them on the next "
                        "run with the same --n/--dim/--centres/--spread (building HNSW32 takes minutes)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.calls, args.centres = 20_000, 300, 400

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.centres, args.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = clustered(rng, args.n, args.dim, centres, args.spread)
    queries = clustered(rng, args.queries, args.dim, centres, args.spread)
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]
    print(f"# {args.n} x {args.dim} clustered vectors ({args.centres} centres), {args.queries} queries, k={K}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    empty = empty_call_p50(2000)
    print(f"empty call (health Check, bare grpc.aio server, own process): p50 {empty * 1000:.3f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        queries_file = str(Path(tmp) / "queries.npy")
        np.save(queries_file, queries)
        for kind in args.kinds:
            shape = f"{kind}-{args.n}x{args.dim}-c{args.centres}-s{args.spread}"
            data = (args.data or Path(tmp)) / shape
            if (data / "collections" / COLLECTION / "index.faiss").exists():
                built = "reused from an earlier run"
            else:
                built = f"built through the library in {build(data, kind, vectors):.1f} s"
            p50, single_qps, batch_qps = in_process(data / "collections" / COLLECTION, queries)
            print(f"\n## {kind}: {built}")
            print(f"in process, 1 query/call: p50 {p50 * 1000:.3f} ms, {single_qps:.0f} q/s; "
                  f"batch: {batch_qps:.0f} q/s")
            server = ServedProcess(data).start()
            try:
                recall, served_batch = recall_and_batch(server.address, queries, truth)
                print(f"service SearchBatch: {served_batch:.0f} q/s ({served_batch / batch_qps:.2f}x in-process "
                      f"batch); recall@10 at default knobs {recall:.3f}")
                rates = {}
                for clients in args.clients:
                    qps, latencies = served_load(server.address, queries_file, clients, args.calls)
                    rates[clients] = qps
                    lat = sorted(latencies)
                    print(f"service Search, {clients:>2} client(s): {qps:7.0f} q/s, "
                          f"p50 {lat[len(lat) // 2] * 1000:.3f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.3f} ms")
                    if clients == 1:
                        one_p50 = lat[len(lat) // 2]
                budget = p50 + empty + 0.0003
                print(f"1-client p50 {one_p50 * 1000:.3f} ms vs in-process p50 + empty call + 0.3 ms = "
                      f"{budget * 1000:.3f} ms: {'within' if one_p50 <= budget else 'OVER'} "
                      f"(service overhead over both: {(one_p50 - p50 - empty) * 1000:+.3f} ms)")
                if 1 in rates and 4 in rates:
                    print(f"4 clients / 1 client: {rates[4] / rates[1]:.2f}x (target >= 1.8x)")
            except BaseException:
                print("the server's last lines:\n" + "".join(server.output[-40:]), file=sys.stderr)
                raise
            finally:
                server.stop()
                print(f"server peak RSS {server.peak_rss_mib:.0f} MiB" if server.peak_rss_mib else "")


if __name__ == "__main__":
    main()
