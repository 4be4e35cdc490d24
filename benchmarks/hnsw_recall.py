"""How much of the exact top-k HNSW32 finds, and at what cost, by efConstruction and efSearch.

For each data set, the ``--queries`` held-out queries get their exact top-k by brute force (FAISS
``IndexFlatIP``). Then HNSW32 (inner product, as ``FaissIndex`` builds it) is built once per
``--ef-construction`` value, using every core (the build time is printed), and searched at each
``--ef-search`` value, reporting:

  recall@k    the share of the exact top-k found (a hit whose score ties the k-th exact score counts);
  p50 ms      single-query latency, one query per ``search`` call, FAISS on one OpenMP thread
              (the lowest median of ``--repeats`` passes over the queries);
  batch q/s   all the queries in one ``search`` call, FAISS on every core (the fastest of
              ``--repeats``).

A second table gives recall@k for other k at each efSearch (FAISS searches with ``max(efSearch,
k)``), to see how an efSearch default should grow with k. Finally the library's own defaults
(``DEFAULT_EF_CONSTRUCTION`` and ``default_ef_search(k)`` in ``faiss_index.py``) are read off the
same indexes.

Data sets (``--datasets``):

  clustered   ``--n`` vectors of dimension 384 from a seeded Gaussian mixture with ``--centres``
              centres, unit-normalised (``clustered_vectors.py``); queries drawn from the same mixture;
  real        all-MiniLM-L6-v2 embeddings of the first paragraphs of docstrings of installed packages
              (``docstring_corpus.py``), encoded through ``latentspace.indexer``'s encoder and cached
              under ``--cache-dir``; queries are texts that are not in the index. The index holds
              the first ``--real-limit`` (64,000) of the ~88,000 texts left after the queries.

No thresholds: the figures are for reading. Builds dominate the run time, and grow with
efConstruction (efConstruction 200 takes about 5x as long as 40). On two quiet cores the default
run should take about 20 minutes, plus the first time the parsing and encoding of the texts; on
two cores shared with other jobs (load average about 14) it took 90 minutes.
``--quick`` (20k vectors, two efConstruction values) takes a few minutes.

    .venv/bin/python benchmarks/hnsw_recall.py
    .venv/bin/python benchmarks/hnsw_recall.py --quick
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clustered_vectors import clustered_unit_vectors
from docstring_corpus import docstring_texts, minilm_embeddings

from latentspace.indexer.index import faiss_index

M = 32  # HNSW32: the kind the issue measured and the one users pick by name
SCORE_TIE = 1e-5  # a returned score this close to the k-th exact score counts as a true neighbour


@dataclass
class DataSet:
    name: str
    base: np.ndarray
    queries: np.ndarray
    note: str


@dataclass
class Row:
    dataset: str
    ef_construction: int
    build_s: float
    ef_search: int
    recall: float
    p50_ms: float
    batch_qps: float


def clustered_set(n: int, centres: int, queries: int, seed: int) -> DataSet:
    started = time.perf_counter()
    base, held_out = clustered_unit_vectors(n, queries, dimension=384, centres=centres, seed=seed)
    return DataSet(f"clustered {n // 1000}k", base, held_out,
                   f"{n} x 384 Gaussian mixture, {centres} centres, seed {seed} "
                   f"(made in {time.perf_counter() - started:.0f} s)")


def real_set(limit: int, queries: int, seed: int, cache_dir: Path, threads: int) -> DataSet:
    texts, text_note = docstring_texts(cache_dir)
    order = np.random.default_rng(seed).permutation(len(texts))
    shuffled = [texts[i] for i in order]
    count = min(len(shuffled), queries + limit) if limit else len(shuffled)
    vectors, encode_note = minilm_embeddings(shuffled, count, cache_dir, threads)
    # The first texts of the shuffled list are the queries: texts that are not in the index.
    return DataSet(f"MiniLM docstrings {(count - queries) // 1000}k", vectors[queries:], vectors[:queries],
                   f"{text_note}\n  {encode_note}")


def exact_top_k(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """The exact top-k scores, brute force over every vector."""
    flat = faiss.IndexFlatIP(base.shape[1])
    flat.add(base)
    scores, _ = flat.search(queries, k)
    return scores


def recall_at(scores: np.ndarray, exact: np.ndarray, k: int) -> float:
    """Share of the exact top-k found: returned scores at least the k-th exact score (ties count)."""
    threshold = exact[:, k - 1 : k] - SCORE_TIE
    return float(np.minimum((scores[:, :k] >= threshold).sum(axis=1), k).mean() / k)


def build_hnsw(base: np.ndarray, ef_construction: int, threads: int) -> tuple[faiss.IndexHNSW, float]:
    index = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)  # = factory "HNSW32"
    index.hnsw.efConstruction = ef_construction
    faiss.omp_set_num_threads(threads)
    started = time.perf_counter()
    index.add(base)
    return index, time.perf_counter() - started


def single_query_p50(index: faiss.IndexHNSW, queries: np.ndarray, k: int, repeats: int) -> float:
    """Median ms of one-query searches on one thread: the lowest median of ``repeats`` passes."""
    faiss.omp_set_num_threads(1)
    index.search(queries[:10], k)  # warm up
    medians = []
    for _ in range(repeats):
        latencies = []
        for row in range(len(queries)):
            began = time.perf_counter()
            index.search(queries[row : row + 1], k)
            latencies.append(time.perf_counter() - began)
        medians.append(float(np.median(latencies)))
    return min(medians) * 1000


def batch_qps(index: faiss.IndexHNSW, queries: np.ndarray, k: int, threads: int, repeats: int) -> float:
    """Queries per second of one search call over all the queries: the fastest of ``repeats``."""
    faiss.omp_set_num_threads(threads)
    best = np.inf
    for _ in range(repeats):
        began = time.perf_counter()
        index.search(queries, k)
        best = min(best, time.perf_counter() - began)
    return len(queries) / best


def measure(data: DataSet, args: argparse.Namespace) -> tuple[list[Row], dict[tuple[int, int, int], float]]:
    """The main table's rows, and recall by (efConstruction, k, efSearch) for the k table."""
    ks = sorted({args.k, *args.k_sweep})
    faiss.omp_set_num_threads(args.threads)
    exact = exact_top_k(data.base, data.queries, max(ks))
    rows: list[Row] = []
    by_k: dict[tuple[int, int, int], float] = {}
    efs = sorted({*args.ef_search, *args.k_ef_search, *(faiss_index.default_ef_search(k) for k in ks)})
    for ef_construction in args.ef_construction:
        index, build_s = build_hnsw(data.base, ef_construction, args.threads)
        print(f"  {data.name}: built efConstruction {ef_construction} in {build_s:.0f} s", flush=True)
        for ef in efs:
            index.hnsw.efSearch = ef
            faiss.omp_set_num_threads(args.threads)
            scores, _ = index.search(data.queries, max(ks))
            for k in ks:
                by_k[ef_construction, k, ef] = recall_at(scores, exact, k)
            if ef in args.ef_search:
                rows.append(Row(data.name, ef_construction, build_s, ef, recall_at(scores, exact, args.k),
                                single_query_p50(index, data.queries, args.k, args.repeats),
                                batch_qps(index, data.queries, args.k, args.threads, args.repeats)))
        del index
    return rows, by_k


def print_rows(rows: list[Row], k: int, threads: int) -> None:
    """One table per data set: a row per efSearch, a column per efConstruction."""
    for name in dict.fromkeys(r.dataset for r in rows):
        mine = [r for r in rows if r.dataset == name]
        builds = {r.ef_construction: r.build_s for r in mine}
        cells = {(r.ef_construction, r.ef_search): r for r in mine}
        print(f"\n{name}: recall@{k} / p50 ms (1 thread) / batch q/s ({threads} threads); "
              f"build seconds ({threads} threads) under each efConstruction")
        print("| efSearch | " + " | ".join(f"efC {c} ({builds[c]:.0f} s)" for c in builds) + " |")
        print("| ---: |" + " ---: |" * len(builds))
        for ef in sorted({r.ef_search for r in mine}):
            print(f"| {ef} | " + " | ".join(
                f"{cells[c, ef].recall:.3f} / {cells[c, ef].p50_ms:.2f} / {cells[c, ef].batch_qps:.0f}"
                for c in builds) + " |")


def print_k_table(name: str, by_k: dict[tuple[int, int, int], float], efs: list[int]) -> None:
    ef_constructions = sorted({c for c, _, _ in by_k})
    ks = sorted({k for _, k, _ in by_k})
    print(f"\nrecall@k by efSearch (columns), {name}; FAISS searches with max(efSearch, k):")
    print("| efConstruction | k | " + " | ".join(str(ef) for ef in efs) + " |")
    print("| ---: | ---: |" + " ---: |" * len(efs))
    for c in ef_constructions:
        for k in ks:
            print(f"| {c} | {k} | " + " | ".join(f"{by_k[c, k, ef]:.3f}" for ef in efs) + " |")


def print_defaults(name: str, by_k: dict[tuple[int, int, int], float]) -> None:
    built = faiss_index.DEFAULT_EF_CONSTRUCTION
    ks = sorted({k for _, k, _ in by_k})
    if not any(c == built for c, _, _ in by_k):
        print(f"\nlibrary defaults, {name}: efConstruction {built} was not built in this run")
        return
    found = ", ".join(f"k={k}: efSearch {faiss_index.default_ef_search(k)} -> "
                      f"{by_k[built, k, faiss_index.default_ef_search(k)]:.3f}" for k in ks)
    print(f"\nlibrary defaults, {name}: efConstruction {built}; recall@k {found}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="20k vectors, 200 queries, efConstruction 40 and 80, fewer efSearch values")
    parser.add_argument("--datasets", nargs="+", choices=["clustered", "real"], default=["clustered", "real"])
    parser.add_argument("--n", type=int, default=100_000, help="clustered vectors (default 100000)")
    parser.add_argument("--centres", type=int, default=3000, help="mixture centres (default 3000)")
    parser.add_argument("--real-limit", type=int, default=64_000,
                        help="at most this many real vectors in the index (default 64000; 0: every text)")
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries (default 1000)")
    parser.add_argument("--k", type=int, default=10, help="k of the main table (default 10)")
    parser.add_argument("--k-sweep", type=int, nargs="+", default=[1, 10, 50, 100],
                        help="k values of the recall-by-k table (default 1 10 50 100)")
    parser.add_argument("--ef-construction", type=int, nargs="+", default=[40, 80, 128, 200])
    parser.add_argument("--ef-search", type=int, nargs="+", default=[16, 32, 64, 96, 128, 192, 256])
    parser.add_argument("--k-ef-search", type=int, nargs="*", default=[384, 512, 768, 1024],
                        help="more efSearch values for the recall-by-k table only (default 384 512 768 1024)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="OpenMP threads for builds and batches (default: every core)")
    parser.add_argument("--encode-threads", type=int, default=1,
                        help="torch threads for encoding the real texts (default 1; 0: every core)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed passes per figure; the fastest counts, to shed other jobs' noise (default 3)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "latentspace-bench",
                        help="where texts and embeddings are cached between runs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.centres, args.queries = 20_000, 600, 200
        args.real_limit = min(args.real_limit or 20_000, 20_000)
        args.ef_construction = sorted({40, faiss_index.DEFAULT_EF_CONSTRUCTION})
        args.ef_search, args.k_ef_search = [16, 64, 128], [512]
    print(f"python {platform.python_version()}, faiss {faiss.__version__}, {os.cpu_count()} cores, "
          f"HNSW{M} inner product, k={args.k}, {args.queries} held-out queries", flush=True)
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    started = time.perf_counter()
    all_rows: list[Row] = []
    for which in args.datasets:
        data = (clustered_set(args.n, args.centres, args.queries, args.seed) if which == "clustered"
                else real_set(args.real_limit, args.queries, args.seed, args.cache_dir, args.encode_threads))
        print(f"{data.name}: {data.note}", flush=True)
        rows, by_k = measure(data, args)
        all_rows += rows
        print_k_table(data.name, by_k, sorted({ef for _, _, ef in by_k}))
        print_defaults(data.name, by_k)
        print(flush=True)
    print_rows(all_rows, args.k, args.threads)
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s; load average at the end: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
