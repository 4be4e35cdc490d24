"""A million 384-d vectors through the library's collection: build, snapshot, reopen and serve each
automatic index kind, with its memory, recall and speed.

The vectors are ``--n`` clustered unit vectors (``clustered_vectors.py``: a two-level Gaussian
mixture with 3000 centres, shaped like text embeddings) and ``--queries`` held-out queries from the
same mixture. They go in as the server stores them: a data dir, a vector-only collection created
without an index kind (``auto``), ``Collection.upsert`` in batches of ``--batch`` (item store +
live index, background maintenance: the automatic rebuilds and snapshots run as they would in the
server). Then:

  auto      the kind the collection chose by itself (HNSW32 from 20,000, IVF-PQ from 1,000,000 with
            the default thresholds);
  IVF-PQ    ``Collection.reindex`` into the kind the automatic policy picks past ``auto_ivfpq_from``
            for this size (IVF4096,PQ96x8 at 1M): trained on a sample, codes re-ranked exactly;
  Flat      ``Collection.reindex("Flat")``: exact search, the reference for speed.

Each phase runs in its own child process, whose resident memory (RSS) a thread samples every 10 ms:

  build     upserting every vector, with the automatic rebuilds (or the reindex) they trigger;
  snapshot  writing the index file (streamed and hashed as it goes);
  reopen    opening the data dir and the collection again (snapshot read, hashed, loaded);
  serve     the searches below; ``steady`` is the RSS after them.

Per kind and knob setting: recall@10 (share of the exact top-10, computed by brute force in numpy,
that the collection returns), single-query QPS (one ``search`` call per query, one thread) and
batched QPS (``--batch-queries`` queries per call). Figures are for reading: no thresholds. On
shared cores the times are upper bounds.

    .venv/bin/python benchmarks/million_vectors.py --n 200000      # about 15 minutes on 2 cores
    nice -n 19 .venv/bin/python benchmarks/million_vectors.py      # 1M: an hour or more on 2 cores
    .venv/bin/python benchmarks/million_vectors.py --kinds auto,ivfpq --dir /tmp/m1   # keep the data dir
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clustered_vectors import CHUNK_ROWS, clustered_unit_vector_chunks

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.index.auto_kind import AutoIndexPolicy
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.search_options import SearchOptions

NAME = "vectors"
DIMENSION = 384
K = 10
GIB = 1024**3


class PeakRss:
    """Samples this process's RSS from a thread; :meth:`phase` gives the peak within a block."""

    def __init__(self, interval: float = 0.01) -> None:
        self._process = psutil.Process()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._peak = max(self._peak, self._process.memory_info().rss)

    def now(self) -> int:
        return int(self._process.memory_info().rss)

    @contextmanager
    def phase(self, into: dict[str, Any], name: str) -> Iterator[None]:
        """Record ``name_s`` (seconds) and ``name_peak_gib`` for the block."""
        self._peak = self.now()
        started = time.perf_counter()
        yield
        into[f"{name}_s"] = time.perf_counter() - started
        into[f"{name}_peak_gib"] = max(self._peak, self.now()) / GIB

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def write_vectors(path: Path, n: int, queries: int) -> np.ndarray:
    """Write the base vectors to ``path`` (raw float32 rows) and return the queries.

    The phases read their rows from this file in small batches, so that no phase's memory holds
    vectors the library would not hold itself (the generator's temporaries alone are ~300 MB).
    """
    rows_written = 0
    tail: list[np.ndarray] = []
    with open(path, "wb") as out:
        for rows in clustered_unit_vector_chunks(n + queries):
            base = rows[: max(0, n - rows_written)]
            out.write(np.ascontiguousarray(base).tobytes())
            tail.append(rows[len(base):])
            rows_written += len(base)
    return np.concatenate(tail)


def read_vectors(path: Path, batch: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first row, rows)`` of the base vectors, ``batch`` rows at a time, read (not mapped) from ``path``."""
    row_bytes = DIMENSION * 4
    with open(path, "rb") as f:
        start = 0
        while block := f.read(batch * row_bytes):
            rows = np.frombuffer(block, dtype=np.float32).reshape(-1, DIMENSION)
            yield start, rows
            start += len(rows)


def exact_top_k(path: Path, queries: np.ndarray) -> np.ndarray:
    """Row numbers of each query's exact top-K, by brute force over the base vectors in chunks."""
    best_scores = np.full((len(queries), K), -np.inf, dtype=np.float32)
    best_rows = np.full((len(queries), K), -1, dtype=np.int64)
    for start, rows in read_vectors(path, CHUNK_ROWS):
        scores = queries @ rows.T
        top = np.argpartition(-scores, K, axis=1)[:, :K]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], axis=1)
        merged_rows = np.concatenate([best_rows, top + start], axis=1)
        order = np.argsort(-merged_scores, axis=1)[:, :K]
        best_scores = np.take_along_axis(merged_scores, order, 1)
        best_rows = np.take_along_axis(merged_rows, order, 1)
    return best_rows


def _open(folder: Path, policy: AutoIndexPolicy) -> DataDir:
    # As the server runs FAISS (its search_threads setting, default 1): one OpenMP thread. With more,
    # idle OpenMP threads spin between calls, which on shared cores costs more than they give.
    faiss.omp_set_num_threads(1)
    return DataDir.open(folder, auto_policy=policy)


def build_phase(folder: str, vectors: str, batch: int) -> dict[str, Any]:
    """Create the ``auto`` collection and upsert every vector; then snapshot it and close."""
    rss, out = PeakRss(), {}
    data = _open(Path(folder), AutoIndexPolicy())
    with rss.phase(out, "build"):
        collection = data.create_collection(NAME, None, dimension=DIMENSION)
        for start, rows in read_vectors(Path(vectors), batch):
            collection.upsert([ItemRecord(f"v{start + i}", row, Modality.VECTOR) for i, row in enumerate(rows)])
        data.wait_for_maintenance()
    out["kind"] = collection.index_kind
    # The maintenance jobs left a current snapshot; rewriting one item (same vector) makes one due.
    first = next(read_vectors(Path(vectors), 1))[1]
    collection.upsert([ItemRecord("v0", first[0], Modality.VECTOR)])
    with rss.phase(out, "snapshot"):
        collection.snapshot()
    data.close()
    rss.close()
    return out


def reindex_phase(folder: str, kind: str) -> dict[str, Any]:
    """Open the collection and rebuild its index as ``kind`` (snapshotted by the rebuild)."""
    rss, out = PeakRss(), {}
    data = _open(Path(folder), AutoIndexPolicy())
    collection = data.collection(NAME)
    with rss.phase(out, "build"):
        collection.reindex(kind)
    out["kind"] = collection.index_kind
    with rss.phase(out, "snapshot"):
        data.close()  # the rebuild wrote its snapshot already: closing finds it current
    rss.close()
    return out


def serve_phase(folder: str, knobs: list[dict[str, int]], queries_file: str, truth_file: str,
                batch_queries: int, single_queries: int) -> dict[str, Any]:
    """Reopen the collection and search it at each knob setting."""
    rss, out = PeakRss(), {}
    query_rows = np.load(queries_file)
    truth = np.load(truth_file)
    with rss.phase(out, "reopen"):
        data = _open(Path(folder), AutoIndexPolicy())
        collection = data.collection(NAME)
    out["kind"] = collection.index_kind
    out["resident_gib"] = rss.now() / GIB
    results = []
    with rss.phase(out, "serve"):
        for setting in knobs:
            options = SearchOptions(k=K, **setting)
            found = []
            for start in range(0, len(query_rows), batch_queries):
                found += collection.search(query_rows[start : start + batch_queries], options)
            recall = np.mean([len({f"v{r}" for r in truth[i]} & {h.id for h in hits}) / K
                              for i, hits in enumerate(found)])
            single = query_rows[:single_queries]
            started = time.perf_counter()
            for row in single:
                collection.search(row[None, :], options)
            single_qps = len(single) / (time.perf_counter() - started)
            started = time.perf_counter()
            for start in range(0, len(query_rows), batch_queries):
                collection.search(query_rows[start : start + batch_queries], options)
            batched_qps = len(query_rows) / (time.perf_counter() - started)
            results.append({"knobs": setting, "recall": float(recall), "single_qps": single_qps,
                            "batched_qps": batched_qps})
    out["steady_gib"] = rss.now() / GIB
    out["searches"] = results
    data.close()
    rss.close()
    return out


def _in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a fresh process (so each phase's memory is its own) and return its dict."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(fn, args)


def _print_kind(label: str, built: dict[str, Any], served: dict[str, Any]) -> None:
    print(f"\n{label}: {served['kind']}", flush=True)
    print(f"  build {built['build_s']:.0f} s, peak {built['build_peak_gib']:.2f} GiB; "
          f"snapshot {built['snapshot_s']:.1f} s, peak {built['snapshot_peak_gib']:.2f} GiB")
    print(f"  reopen {served['reopen_s']:.1f} s, peak {served['reopen_peak_gib']:.2f} GiB, resident after "
          f"{served['resident_gib']:.2f} GiB; serving peak {served['serve_peak_gib']:.2f} GiB, "
          f"steady {served['steady_gib']:.2f} GiB")
    print(f"  {'knobs':<28} {'recall@10':>9} {'1-query q/s':>12} {'batch q/s':>10}")
    for row in served["searches"]:
        knobs = ", ".join(f"{k} {v}" for k, v in row["knobs"].items()) or "defaults"
        print(f"  {knobs:<28} {row['recall']:>9.3f} {row['single_qps']:>12.0f} {row['batched_qps']:>10.0f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="base vectors (default 1,000,000)")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries for recall and batched QPS")
    parser.add_argument("--single-queries", type=int, default=300, help="queries timed one at a time")
    parser.add_argument("--batch", type=int, default=1000, help="items per upsert")
    parser.add_argument("--batch-queries", type=int, default=100, help="queries per batched search")
    parser.add_argument("--kinds", default="auto,ivfpq,flat", help="which kinds to measure, in order")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: a temp folder, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    work = args.dir or Path(tempfile.mkdtemp(prefix="million-vectors-"))
    work.mkdir(parents=True, exist_ok=True)
    ivfpq = AutoIndexPolicy(hnsw_from=1, ivfpq_from=1).kind_for(args.n, DIMENSION)
    print(f"{args.n:,} x {DIMENSION} clustered vectors, {args.queries} queries, k={K}; work folder {work}")
    figures: dict[str, Any] = {"n": args.n, "queries": args.queries}
    try:
        started = time.perf_counter()
        vectors = work / "vectors.f32"
        query_rows = write_vectors(vectors, args.n, args.queries)
        np.save(work / "queries.npy", query_rows)
        np.save(work / "truth.npy", exact_top_k(vectors, query_rows))
        print(f"vectors written, exact top-{K} by brute force: {time.perf_counter() - started:.0f} s", flush=True)
        data_dir = str(work / "data")
        plans: dict[str, tuple[Callable[..., dict[str, Any]], tuple[Any, ...], list[dict[str, int]]]] = {
            "auto": (build_phase, (data_dir, str(vectors), args.batch),
                     [{}, {"ef_search": 64}, {"ef_search": 256}]),
            "ivfpq": (reindex_phase, (data_dir, ivfpq),
                      [{}, {"nprobe": 16}, {"nprobe": 64}, {"nprobe": 64, "rerank": 100}, {"nprobe": 128}]),
            "flat": (reindex_phase, (data_dir, "Flat"), [{}]),
        }
        for label in args.kinds.split(","):
            phase, phase_args, knobs = plans[label]
            if label != "auto" and not (work / "data").exists():
                _in_child(build_phase, data_dir, str(vectors), args.batch)
            built = _in_child(phase, *phase_args)
            served = _in_child(serve_phase, data_dir, knobs, str(work / "queries.npy"), str(work / "truth.npy"),
                               args.batch_queries, args.single_queries)
            figures[label] = {"build": built, "serve": served}
            _print_kind(label, built, served)
            if args.json:
                args.json.write_text(json.dumps(figures, indent=1))
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
