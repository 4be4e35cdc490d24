"""Benchmark: ``--engine ray`` against the local engine on the same texts (benchmark 3 of the corpus issue).

The first ``--texts`` records of the docstring corpus (``docstring_corpus.py``) are indexed with
minilm into a fresh collection twice: by the local engine (threads, one model) and by the Ray engine
(a local Ray of ``--cpus`` CPUs, ``--replicas`` encoder actors), each with the model's threads set
to ``--threads``. Prints items/s of each and the ratio Ray / local, and checks that both built the
same ids.

    .venv/bin/python benchmarks/ray_engine.py --texts 20000
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docstring_corpus import write_docstring_corpus

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.registry import EncoderRegistry
from latentspace.indexer.pipeline import index_source, open_source
from latentspace.indexer.pipeline.stages import ItemLimits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--replicas", type=int, default=1, help="encoder actors")
    parser.add_argument("--threads", type=int, default=2, help="model threads (each engine, each replica)")
    parser.add_argument("--corpus", type=Path, help="the docstring corpus JSONL (written when missing)")
    args = parser.parse_args()

    corpus = args.corpus or Path(tempfile.gettempdir()) / "latentspace-bench" / "docstrings.jsonl"
    if not corpus.exists():
        write_docstring_corpus(corpus)
    work = Path(tempfile.mkdtemp(prefix="ray-engine-"))
    source = work / "texts.jsonl"
    with corpus.open() as lines, source.open("w") as out:
        out.writelines(itertools.islice(lines, args.texts))
    options = EncoderOptions(device="cpu", allow_download=False, threads=args.threads)
    limits = ItemLimits(max_pixels=4096 * 4096)

    with DataDir.open(work / "local", EncoderRegistry(options)) as data:
        collection = data.create_collection("docs", "minilm")
        collection.encode_texts(["warm-up"])  # the model load is not the engine's work
        started = time.perf_counter()
        local = index_source(collection, open_source(source), batch_size=args.batch_size,
                             max_pixels=limits.max_pixels, progress=False)
        local_seconds = time.perf_counter() - started
        local_ids = {item_id for page in collection.all_ids() for item_id in page}
    print(f"local: {local.indexed} texts in {local_seconds:.1f} s = {local.indexed / local_seconds:.1f} texts/s",
          flush=True)

    import ray

    from latentspace.indexer.pipeline.ray_runner import RayPlan, index_source_ray

    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    with DataDir.open(work / "ray", EncoderRegistry(options)) as data:
        collection = data.create_collection("docs", "minilm")
        started = time.perf_counter()
        report = index_source_ray(collection, source, model="minilm", encoder_options=options, limits=limits,
                                  batch_size=args.batch_size, plan=RayPlan(replicas=args.replicas))
        ray_seconds = time.perf_counter() - started
        ray_ids = {item_id for page in collection.all_ids() for item_id in page}
    ray.shutdown()
    print(f"ray:   {report.indexed} texts in {ray_seconds:.1f} s = {report.indexed / ray_seconds:.1f} texts/s "
          f"(actor start and model load included; ray.init took {ray_start:.1f} s more)", flush=True)
    print(f"ratio ray / local: {local_seconds / ray_seconds:.2f} (same ids: {ray_ids == local_ids})")


if __name__ == "__main__":
    main()
