"""What `latent index` reaches against the encoder called directly, measured in one run.

Texts (benchmark 4 of the serving issue): the first ``--texts`` records of the docstring corpus
(``docstring_corpus.py``: docstrings of the standard library and of installed packages) with
``minilm``:

  (a) the encoder called directly: ``SentenceTransformer.encode`` in a child process, on the same
      texts in the same calls as the pipeline's batches (``--batch-size`` texts a call, model
      batches of ``--model-batch``), with ``--threads`` torch threads;
  (b) ``latent index corpus.jsonl --model minilm`` as a user runs it (a child process, the same
      batch sizes and threads), into a fresh data dir; its own report's items/s.

Images (benchmark 2 of the corpus-scale issue): ``--images`` rendered shapes (64x64 PNG files in a
folder) with ``shapes-clip``:

  (a) the encoder called directly in a child process: ``OpenClipEncoder.encode_images`` in batches of
      ``--model-batch``, on images decoded beforehand (the model alone), and decoding each batch's
      files in the same loop (what a plain script does);
  (b) ``latent index FOLDER --model shapes-clip`` (images per batch = ``--model-batch``).

Both sides exclude model loading: ``latent index`` loads the model when it creates the collection,
before its timer starts, and the direct side times only its encode calls. (b) includes reading the
source, checking, encoding and the durable writes; the process's wall time (Python start-up,
imports, model load, closing the data dir) is printed beside it. Each repeat runs (a) and (b) back
to back, in alternating order; the ratio (b)/(a) is taken within a repeat, and the table gives the
median of the repeats with their range. No thresholds: the numbers are for reading.

    .venv/bin/python benchmarks/index_throughput.py                    # 20,000 texts, 2,000 images, 3 repeats
    .venv/bin/python benchmarks/index_throughput.py --images 0 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docstring_corpus import write_docstring_corpus

LATENT = [sys.executable, "-m", "latentspace.cli.main"]
_REPORT = re.compile(r"indexed\s+(\d+) items in ([\d.]+) s")


@dataclass(frozen=True)
class Run:
    items: int
    seconds: float
    wall: float | None = None

    @property
    def rate(self) -> float:
        return self.items / self.seconds


# ------------------------------------------------------------------------------------- child sides
def direct_texts(corpus: Path, count: int, batch: int, model_batch: int, threads: int) -> Run:
    """(a) for texts, run in a child process: the library's own encode on the pipeline's batches."""
    import torch
    from sentence_transformers import SentenceTransformer

    from latentspace.indexer.encoders.sentence_transformer_encoder import bundled_model_dir

    torch.set_num_threads(threads)
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()[:count]]
    model = SentenceTransformer(str(bundled_model_dir("all-MiniLM-L6-v2")), device="cpu").eval()
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(texts), batch):
            model.encode(texts[start:start + batch], batch_size=model_batch, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=False)
    return Run(len(texts), time.perf_counter() - started)


def direct_images(folder: Path, model_batch: int, threads: int, decoded: bool) -> Run:
    """(a) for images, in a child process: decode then encode_images, batch by batch."""
    import torch
    from PIL import Image

    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
    from latentspace.indexer.model_spec import parse_model_spec

    torch.set_num_threads(threads)
    encoder = OpenClipEncoder(parse_model_spec("shapes-clip"),
                              EncoderOptions(device="cpu", allow_download=False, batch_size=model_batch))
    files = sorted(folder.glob("*.png"))

    def decode(paths: list[Path]) -> list[Image.Image]:
        return [Image.open(path).convert("RGB") for path in paths]

    batches = [files[start:start + model_batch] for start in range(0, len(files), model_batch)]
    ready = [decode(paths) for paths in batches] if decoded else []
    started = time.perf_counter()
    for i, paths in enumerate(batches):
        encoder.encode_images(ready[i] if decoded else decode(paths))
    return Run(len(files), time.perf_counter() - started)


def run_child(*args: str) -> Run:
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          check=False, env=child_env())
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-3000:]}")
    values = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(values["items"], values["seconds"])


def latent_index(source: Path, model: str, data: Path, batch: int, model_batch: int, threads: int) -> Run:
    """(b): ``latent index`` in a child process; the rate is the one its report prints."""
    started = time.perf_counter()
    done = subprocess.run(
        [*LATENT, "index", str(source), "--collection", "bench", "--model", model, "--data", str(data),
         "--batch-size", str(batch), "--threads", str(threads), "--no-progress", "--device", "cpu"],
        capture_output=True, text=True, check=False, env=child_env(LATENTSPACE_BATCH_SIZE=str(model_batch)))
    wall = time.perf_counter() - started
    found = _REPORT.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"latent index failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return Run(int(found.group(1)), float(found.group(2)), wall)


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LATENTSPACE_")}
    env.update(HF_HUB_OFFLINE="1", LATENTSPACE_ALLOW_DOWNLOAD="0",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **extra)
    return env


# ------------------------------------------------------------------------------------------ driver
def render_images(folder: Path, count: int) -> None:
    import numpy as np

    from latentspace.indexer.shapes.render import render_batch

    folder.mkdir(parents=True, exist_ok=True)
    for i, (_, image) in enumerate(render_batch(count, np.random.default_rng(7))):
        image.save(folder / f"shape-{i:05d}.png")


def compare(name: str, direct: list[Run], indexed: list[Run], unit: str) -> None:
    ratios = [b.rate / a.rate for a, b in zip(direct, indexed, strict=True)]
    print(f"\n{name}")
    for i, (a, b) in enumerate(zip(direct, indexed, strict=True), start=1):
        print(f"  repeat {i}: direct {a.rate:7.1f} {unit}/s   latent index {b.rate:7.1f} {unit}/s "
              f"(process wall {b.wall:6.1f} s for {b.items})   ratio {b.rate / a.rate:.2f}")
    print(f"  median: direct {statistics.median(r.rate for r in direct):.1f} {unit}/s, latent index "
          f"{statistics.median(r.rate for r in indexed):.1f} {unit}/s, ratio {statistics.median(ratios):.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})")


def bench_texts(args: argparse.Namespace, work: Path) -> None:
    corpus = args.corpus or Path(tempfile.gettempdir()) / "latentspace-bench" / "docstrings.jsonl"
    if not corpus.exists():
        print(f"writing the docstring corpus to {corpus} ...", flush=True)
        write_docstring_corpus(corpus)
    lines = corpus.read_text(encoding="utf-8").splitlines()
    if len(lines) < args.texts:
        raise SystemExit(f"{corpus} has {len(lines)} texts, fewer than --texts {args.texts}")
    source = work / "texts.jsonl"
    source.write_text("\n".join(lines[:args.texts]) + "\n", encoding="utf-8")
    texts = [json.loads(line)["text"] for line in lines[:args.texts]]
    print(f"texts: {len(texts)} docstrings, {statistics.mean(map(len, texts)):.0f} characters on average")
    direct, indexed = [], []
    for repeat in range(args.repeats):
        def run_direct() -> Run:
            return run_child("direct-texts", str(source), str(args.texts), str(args.batch_size),
                             str(args.model_batch), str(args.threads))

        def run_index(repeat: int = repeat) -> Run:
            return latent_index(source, "minilm", work / f"data-texts-{repeat}", args.batch_size,
                                args.model_batch, args.threads)

        if repeat % 2 == 0:  # alternate which side goes first, so a drift in load hits both alike
            direct.append(run_direct())
            indexed.append(run_index())
        else:
            indexed.append(run_index())
            direct.append(run_direct())
        print(f"  repeat {repeat + 1}: direct {direct[-1].rate:.1f}/s, latent index {indexed[-1].rate:.1f}/s",
              flush=True)
    compare(f"texts, minilm, {args.texts} texts, batches of {args.batch_size} (model {args.model_batch}), "
            f"{args.threads} threads", direct, indexed, "texts")


def bench_images(args: argparse.Namespace, work: Path) -> None:
    folder = work / "shapes"
    render_images(folder, args.images)
    print(f"images: {args.images} rendered 64x64 PNG files")
    model_only, decoding, indexed = [], [], []
    for repeat in range(args.repeats):
        common = (str(folder), str(args.model_batch), str(args.threads))
        if repeat % 2 == 1:
            model_only.append(run_child("direct-images", *common, "decoded"))
            decoding.append(run_child("direct-images", *common, "files"))
        indexed.append(latent_index(folder, "shapes-clip", work / f"data-images-{repeat}", args.batch_size,
                                    args.model_batch, args.threads))
        if repeat % 2 == 0:
            model_only.append(run_child("direct-images", *common, "decoded"))
            decoding.append(run_child("direct-images", *common, "files"))
        print(f"  repeat {repeat + 1}: direct {model_only[-1].rate:.1f}/s (decoded), {decoding[-1].rate:.1f}/s "
              f"(decoding), latent index {indexed[-1].rate:.1f}/s", flush=True)
    compare(f"images, shapes-clip, {args.images} images, model batches of {args.model_batch}, "
            f"{args.threads} threads; direct = encode_images on decoded images", model_only, indexed, "images")
    compare("images; direct = decode each batch's files, then encode_images", decoding, indexed, "images")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=20_000, help="texts to index (20000; 0 skips texts)")
    parser.add_argument("--images", type=int, default=2_000, help="images to index (2000; 0 skips images)")
    parser.add_argument("--batch-size", type=int, default=512, help="records per written batch (512)")
    parser.add_argument("--model-batch", type=int, default=64, help="model batch, LATENTSPACE_BATCH_SIZE (64)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads on both sides (default: every core)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--corpus", type=Path, help="the docstring corpus JSONL (written when missing)")
    args = parser.parse_args(argv)

    import torch

    print(f"{platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}")
    with tempfile.TemporaryDirectory(prefix="latent-index-bench-") as tmp:
        if args.texts:
            bench_texts(args, Path(tmp))
        if args.images:
            bench_images(args, Path(tmp))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


def child_main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "direct-texts":
        corpus, count, batch, model_batch, threads = rest
        run = direct_texts(Path(corpus), int(count), int(batch), int(model_batch), int(threads))
    else:
        folder, model_batch, threads, mode = rest
        run = direct_images(Path(folder), int(model_batch), int(threads), decoded=mode == "decoded")
    print(json.dumps({"items": run.items, "seconds": run.seconds}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(sys.argv[2:])
    else:
        main()
