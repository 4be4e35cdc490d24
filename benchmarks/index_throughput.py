"""What `latent index` reaches against the encoder called directly, measured in one run.

Texts (benchmark 4 of the serving issue): the first ``--texts`` records of the docstring corpus
(``docstring_corpus.py``: first paragraphs of the docstrings of installed packages) with
``minilm``:

  (a) the encoder called directly: ``SentenceTransformer.encode`` in a child process on the same
      texts, in the same calls as the pipeline's batches (``--batch-size`` texts a call, model
      batches of ``--model-batch``), with ``--threads`` torch threads;
  (b) ``latent index corpus.jsonl --model minilm`` as a user runs it: a child process with the same
      batch sizes and threads, into a fresh data dir; it reads the file, checks, encodes and writes
      each batch durably.

Images (benchmark 2 of the corpus-scale issue): ``--images`` rendered shapes (64x64 PNG files in a
folder) with ``shapes-clip``: (a) ``OpenClipEncoder.encode_images`` in batches of ``--model-batch``,
on images decoded beforehand (the model alone: "decoded"), and decoding each batch's files in the
same loop (what a plain script does: "files"); (b) ``latent index FOLDER --model shapes-clip``.

How the two are compared on a shared machine. Other jobs come and go on the same cores, so two runs
one after the other can see loads several times apart. So the processes run *interleaved*: all are
started, and the driver lets one run at a time, in turns of ``--slice`` seconds (SIGSTOP/SIGCONT),
for as long as ``latent index`` indexes. Each direct process loads its model, then encodes its
input over and over, printing a timestamp after each call. ``latent index`` reports how long its
indexing took (X seconds, ending when it prints); over that same window of wall time, each direct
process had the same share of turns. So ``ratio = items indexed / items the direct process encoded
in the window``: the shares and the background load cancel out. The rates printed are "while
running": items / (X * share). Model loading is outside both (``latent index`` loads the model when
it creates the collection, before its timer starts). No thresholds: the numbers are for reading.

    .venv/bin/python benchmarks/index_throughput.py                   # 20,000 texts, 2,000 images, 3 repeats
    .venv/bin/python benchmarks/index_throughput.py --images 5000 --texts 0
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docstring_corpus import write_docstring_corpus

LATENT = [sys.executable, "-m", "latentspace.cli.main"]
_REPORT = re.compile(r"indexed\s+(\d+) items in ([\d.]+) s")


# ----------------------------------------------------------------------- direct sides (child processes)
def direct_texts(corpus: Path, count: int, batch: int, model_batch: int, threads: int) -> None:
    """(a) for texts: the library's own encode on the pipeline's batches, over and over."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    from latentspace.indexer.encoders.sentence_transformer_encoder import bundled_model_dir

    transformers_logging.disable_progress_bar()
    torch.set_num_threads(threads)
    texts = [json.loads(line)["text"] for line in corpus.read_text(encoding="utf-8").splitlines()[:count]]
    model = SentenceTransformer(str(bundled_model_dir("all-MiniLM-L6-v2")), device="cpu").eval()
    chunks = [texts[start:start + batch] for start in range(0, len(texts), batch)]
    print("ready", flush=True)
    with torch.inference_mode():
        while True:
            for chunk in chunks:
                model.encode(chunk, batch_size=model_batch, normalize_embeddings=True, convert_to_numpy=True,
                             show_progress_bar=False)
                print(time.time(), len(chunk), flush=True)


def direct_images(folder: Path, model_batch: int, threads: int, decoded: bool) -> None:
    """(a) for images: ``encode_images`` batch by batch, on decoded images or decoding the files."""
    import torch
    from PIL import Image

    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
    from latentspace.indexer.model_spec import parse_model_spec

    torch.set_num_threads(threads)
    encoder = OpenClipEncoder(parse_model_spec("shapes-clip"),
                              EncoderOptions(device="cpu", allow_download=False, batch_size=model_batch))
    files = sorted(folder.glob("*.png"))
    batches = [files[start:start + model_batch] for start in range(0, len(files), model_batch)]

    def decode(paths: list[Path]) -> list[Image.Image]:
        return [Image.open(path).convert("RGB") for path in paths]

    ready = [decode(paths) for paths in batches] if decoded else []
    print("ready", flush=True)
    while True:
        for i, paths in enumerate(batches):
            encoder.encode_images(ready[i] if decoded else decode(paths))
            print(time.time(), len(paths), flush=True)


# ----------------------------------------------------------------------------------------- driver
@dataclass
class Direct:
    """A running direct process and the (time, cumulative items) after each of its calls."""

    name: str
    process: subprocess.Popen[str]
    stamps: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def follow(self) -> None:
        total = 0
        assert self.process.stdout is not None
        for line in self.process.stdout:
            stamp, count = line.split()
            total += int(count)
            self.stamps.append(float(stamp))
            self.totals.append(total)

    def items_between(self, start: float, end: float) -> float:
        """Items encoded in [start, end], interpolating within the calls that straddle the edges."""
        return self._items_at(end) - self._items_at(start)

    def _items_at(self, moment: float) -> float:
        i = bisect.bisect_left(self.stamps, moment)
        if i == 0 or i == len(self.stamps):
            raise SystemExit(f"{self.name}: no encode call straddles {moment:.1f}; the run was too short")
        t0, t1 = self.stamps[i - 1], self.stamps[i]
        n0, n1 = self.totals[i - 1], self.totals[i]
        return n0 + (n1 - n0) * (moment - t0) / (t1 - t0)


@dataclass(frozen=True)
class Outcome:
    indexed: int
    rate: float  # latent index, items/s while running
    direct: dict[str, float]  # name -> items/s while running

    def ratio(self, name: str) -> float:
        return self.rate / self.direct[name]


def interleaved(index_command: list[str], directs: dict[str, list[str]], model_batch: int,
                slice_seconds: float) -> Outcome:
    """Run ``latent index`` and the direct processes in turns; compare them over its indexing window."""
    running: list[Direct] = []
    index: subprocess.Popen[str] | None = None
    try:
        for name, command in directs.items():
            process = subprocess.Popen([sys.executable, __file__, "--child", *command], stdout=subprocess.PIPE,
                                       text=True, env=child_env())
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise SystemExit(f"direct process {name} failed to start")
            os.kill(process.pid, signal.SIGSTOP)
            direct = Direct(name, process)
            threading.Thread(target=direct.follow, daemon=True).start()
            running.append(direct)
        _warm_up(running, slice_seconds)
        index = subprocess.Popen(index_command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=child_env(LATENTSPACE_BATCH_SIZE=str(model_batch)))
        printed = _take_turns(index, running, slice_seconds)
        out, err = index.communicate()
    finally:
        for direct in running:
            os.kill(direct.process.pid, signal.SIGCONT)
            direct.process.kill()
            direct.process.wait()
        if index is not None and index.poll() is None:
            index.kill()
    found = _REPORT.search(out)
    if index.returncode != 0 or found is None:
        raise SystemExit(f"latent index failed ({index.returncode}):\n{out}\n{err[-3000:]}")
    indexed, seconds = int(found.group(1)), float(found.group(2))
    share = 1 / (1 + len(running))
    window = (printed - seconds, printed)
    rates = {d.name: d.items_between(*window) / (seconds * share) for d in running}
    return Outcome(indexed, indexed / (seconds * share), rates)


def _warm_up(directs: list[Direct], slice_seconds: float) -> None:
    """Turns among the direct processes until each has finished a call, so each has a count before the window."""
    while any(not d.stamps for d in directs):
        for direct in directs:
            os.kill(direct.process.pid, signal.SIGCONT)
            time.sleep(slice_seconds)
            os.kill(direct.process.pid, signal.SIGSTOP)


def _take_turns(index: subprocess.Popen[str], directs: list[Direct], slice_seconds: float) -> float:
    """Give ``index`` and each direct process the CPU in turn until ``index`` exits; return when it did.

    The turns go on (``index``'s turn now idle) until every direct process has finished a call after
    that moment, so that its count can be read off at both ends of the window at the same pace.
    """
    processes = [index, *(d.process for d in directs)]
    ended: float | None = None
    turn = 0
    while ended is None or any(not d.stamps or d.stamps[-1] <= ended for d in directs):
        if any(d.process.poll() is not None for d in directs):
            raise SystemExit("a direct process died; run it alone to see why")
        if turn == 0 and ended is None:
            try:
                index.wait(timeout=slice_seconds)
                ended = time.time()
            except subprocess.TimeoutExpired:
                os.kill(index.pid, signal.SIGSTOP)
        else:
            time.sleep(slice_seconds)
            if turn > 0:
                os.kill(processes[turn].pid, signal.SIGSTOP)
        turn = (turn + 1) % len(processes)
        if turn > 0 or ended is None:
            os.kill(processes[turn].pid, signal.SIGCONT)
    return ended


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LATENTSPACE_")}
    env.update(HF_HUB_OFFLINE="1", LATENTSPACE_ALLOW_DOWNLOAD="0",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **extra)
    return env


def latent_index(source: Path, model: str, data: Path, args: argparse.Namespace) -> list[str]:
    return [*LATENT, "index", str(source), "--collection", "bench", "--model", model, "--data", str(data),
            "--batch-size", str(args.batch_size), "--threads", str(args.threads), "--no-progress",
            "--device", "cpu", "--no-download"]


def report(title: str, outcomes: list[Outcome], unit: str) -> None:
    print(f"\n{title}")
    for name in outcomes[0].direct:
        ratios = [o.ratio(name) for o in outcomes]
        rates = ", ".join(f"{o.rate:.0f} vs {o.direct[name]:.0f}" for o in outcomes)
        print(f"  latent index vs direct ({name}), {unit}/s while running: {rates}")
        print(f"    ratio median {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}, "
              f"{len(ratios)} runs); rates median {statistics.median(o.rate for o in outcomes):.0f} vs "
              f"{statistics.median(o.direct[name] for o in outcomes):.0f} {unit}/s")


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
    mean = statistics.mean(len(json.loads(line)["text"]) for line in lines[:args.texts])
    print(f"texts: {args.texts} docstrings, {mean:.0f} characters on average", flush=True)
    outcomes = []
    for repeat in range(args.repeats):
        direct = ["direct-texts", str(source), str(args.texts), str(args.batch_size), str(args.model_batch),
                  str(args.threads)]
        command = latent_index(source, "minilm", work / f"data-texts-{repeat}", args)
        outcomes.append(interleaved(command, {"encode": direct}, args.model_batch, args.slice))
        print(f"  run {repeat + 1}: ratio {outcomes[-1].ratio('encode'):.2f}", flush=True)
    report(f"texts, minilm: {args.texts} texts, calls of {args.batch_size} (model batches of {args.model_batch}), "
           f"{args.threads} torch threads", outcomes, "texts")


def bench_images(args: argparse.Namespace, work: Path) -> None:
    import numpy as np

    from latentspace.indexer.shapes.render import render_batch

    folder = work / "shapes"
    folder.mkdir()
    for i, (_, image) in enumerate(render_batch(args.images, np.random.default_rng(7))):
        image.save(folder / f"shape-{i:05d}.png")
    print(f"images: {args.images} rendered 64x64 PNG files", flush=True)
    outcomes = []
    for repeat in range(args.repeats):
        common = [str(folder), str(args.model_batch), str(args.threads)]
        directs = {"decoded": ["direct-images", *common, "decoded"], "files": ["direct-images", *common, "files"]}
        command = latent_index(folder, "shapes-clip", work / f"data-images-{repeat}", args)
        outcomes.append(interleaved(command, directs, args.model_batch, args.slice))
        print(f"  run {repeat + 1}: ratio {outcomes[-1].ratio('decoded'):.2f} (decoded), "
              f"{outcomes[-1].ratio('files'):.2f} (files)", flush=True)
    report(f"images, shapes-clip: {args.images} images, model batches of {args.model_batch}, {args.threads} "
           "torch threads", outcomes, "images")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=20_000, help="texts to index (20000; 0 skips texts)")
    parser.add_argument("--images", type=int, default=2_000, help="images to index (2000; 0 skips images)")
    parser.add_argument("--batch-size", type=int, default=512, help="records per written batch (512)")
    parser.add_argument("--model-batch", type=int, default=64,
                        help="model batch, given to latent index as LATENTSPACE_BATCH_SIZE (64, the default)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads on both sides (default: every core)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slice", type=float, default=0.5, help="seconds per turn when interleaving (0.5)")
    parser.add_argument("--corpus", type=Path, help="the docstring corpus JSONL (written when missing)")
    args = parser.parse_args(argv)

    import torch

    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}", flush=True)
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
        direct_texts(Path(corpus), int(count), int(batch), int(model_batch), int(threads))
    else:
        folder, model_batch, threads, mode = rest
        direct_images(Path(folder), int(model_batch), int(threads), decoded=mode == "decoded")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(sys.argv[2:])
    else:
        main()
