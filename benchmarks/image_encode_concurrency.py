"""Image encode under concurrency, against the in-process batched image rate, in one run.

Two CLIP models, each behind a collection of one ``latent serve`` child process:

- ``shapes-clip``, the project's own small CLIP (64x64 images), as the package ships it;
- open_clip ``ViT-B-32`` with random weights (``open_clip.create_model('ViT-B-32',
  pretrained=None)``; its speed does not depend on the weight values), saved with its config into
  a temporary folder and served through the ``open_clip:/path/to/folder`` spec; no network.

The images are rendered shapes (``latentspace.indexer.shapes.render``), seeded, as PNG bytes:
64x64 for shapes-clip, resized to 224x224 for ViT-B-32. In each of ``--rounds`` rounds, per model:

  (a) the limit: the library's path in this process over the same PNG bytes, in batches of 64:
      ``decode_image`` (the server's decoder), then ``OpenClipEncoder.encode_images`` (open_clip's
      preprocessing and the forward pass), with as many torch threads as the server's model
      batches (and OpenMP threads that sleep rather than spin, see
      ``local_server.load_torch_with_sleeping_openmp``);
  (b) ``Encode`` RPCs with one image each from N concurrent clients (``--clients``, default 16
      and 32; ``AsyncClient``, one connection each, each awaiting one call at a time);
  (c) once per round, ``Encode`` RPCs of a raw vector (no model, no image) from the most clients:
      the cost of a call itself, which bounds what a small model can gain.

Each served line also gives the mean images per model batch (from the server's metrics) and the
CPU milliseconds per call that the server process and the client process spent.

The clients run on one asyncio event loop in this process and the server is its own process (see
``text_search_concurrency.py`` for why). The table gives the medians over rounds of images/s and
of the per-call p50/p99 latencies, and the medians of the per-round ratios (b)/(a). No
thresholds: the numbers are for reading.

    .venv/bin/python benchmarks/image_encode_concurrency.py      # 3 rounds, both models
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
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

BATCH = 64  # the server's default model batch, and the limit's
MAX_PIXELS = 50_000_000  # the server's default max_image_pixels


def shape_pngs(count: int, size: int, seed: int) -> list[bytes]:
    """``count`` rendered shapes as PNG bytes, ``size`` x ``size`` (rendered at 64, resized up)."""
    import numpy as np
    from PIL import Image

    from latentspace.indexer.shapes.render import IMAGE_SIZE, render_batch

    out = []
    for _, image in render_batch(count, np.random.default_rng(seed)):
        if size != IMAGE_SIZE:
            image = image.resize((size, size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def save_random_vit(folder: Path) -> str:
    """ViT-B-32 with random weights as an open_clip local folder; returns its model spec."""
    import open_clip
    from safetensors.torch import save_file

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    folder.mkdir(parents=True)
    preprocess = dict(model.visual.preprocess_cfg)
    config = {"model_cfg": open_clip.get_model_config("ViT-B-32"), "preprocess_cfg": preprocess}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return f"open_clip:{folder}"


def limit_figure(encoder: Any, pngs: Sequence[bytes], label: str) -> Figure:
    """(a): decode, preprocess and encode in this process, in batches of 64."""
    from latentspace.indexer.images import decode_image

    def run() -> None:
        for start in range(0, len(pngs), BATCH):
            images = [decode_image(data, max_pixels=MAX_PIXELS) for data in pngs[start : start + BATCH]]
            encoder.encode_images(images)

    return timed_once(f"{label} (a) decode+encode in process, batch {BATCH}", len(pngs), run)


def served_figure(label: str, server: ServedProcess, collection: str, clients: int, pngs: list[bytes],
                  warmup: list[bytes]) -> Figure:
    async def send(client: Any, data: bytes) -> object:
        return await client.encode(data)

    def batches() -> tuple[int, float]:
        return server.batches("encode_image")

    name = f"{label} (b) Encode RPC, 1 image/call, {clients} clients"
    return asyncio.run(concurrent_clients(name, server.address, clients, pngs, send, collection=collection,
                                          warmup=warmup, batches=batches, server_pid=server.pid))


def floor_figure(server: ServedProcess, collection: str, dimension: int, clients: int, count: int) -> Figure:
    """(c): ``Encode`` of a raw vector (no model, no image): what any call costs the server and client."""
    import numpy as np

    rng = np.random.default_rng(0)
    vectors = list(rng.standard_normal((count + 2 * clients, dimension), dtype=np.float32))

    async def send(client: Any, vector: Any) -> object:
        return await client.encode(vector)

    name = f"(c) Encode RPC of a {dimension}-d vector (no model), {clients} clients"
    return asyncio.run(concurrent_clients(name, server.address, clients, vectors[2 * clients:], send,
                                          collection=collection, warmup=vectors[: 2 * clients],
                                          server_pid=server.pid))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=["shapes", "vit"], default=["shapes", "vit"])
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32], help="concurrent clients (16 32)")
    parser.add_argument("--shapes-images", type=int, default=2048, help="images per pass for shapes-clip (2048)")
    parser.add_argument("--vit-images", type=int, default=256, help="images per pass for ViT-B-32 (256)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are taken (3)")
    parser.add_argument("--compute-threads", type=int, default=0,
                        help="torch threads of a model batch, in the server (LATENTSPACE_COMPUTE_THREADS) and "
                        "in this process; 0 = the server's default, every core")
    parser.add_argument("--batch-wait-ms", type=float, default=None,
                        help="the server's LATENTSPACE_BATCH_WAIT_MS (default: the server's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    threads = args.compute_threads or os.cpu_count() or 1
    settings = {"LATENTSPACE_COMPUTE_THREADS": str(threads)}
    if args.batch_wait_ms is not None:
        settings["LATENTSPACE_BATCH_WAIT_MS"] = str(args.batch_wait_ms)

    load_torch_with_sleeping_openmp()
    import torch

    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry
    from latentspace.indexer.model_spec import parse_model_spec
    from latentspace_client import Client

    with tempfile.TemporaryDirectory(prefix="latentspace-bench-") as tmp:
        # (label, collection, model spec, images, warm-up images)
        models: list[tuple[str, str, str, list[bytes], list[bytes]]] = []
        warm = 2 * max(args.clients)
        if "shapes" in args.models:
            pngs = shape_pngs(args.shapes_images + warm, 64, args.seed)
            models.append(("shapes-clip", "bench-shapes", "shapes-clip", pngs[warm:], pngs[:warm]))
        if "vit" in args.models:
            pngs = shape_pngs(args.vit_images + warm, 224, args.seed + 1)
            spec = save_random_vit(Path(tmp, "vit-b-32-random"))
            models.append(("ViT-B-32", "bench-vit", spec, pngs[warm:], pngs[:warm]))

        registry = EncoderRegistry(EncoderOptions(device="cpu", allow_download=False, batch_size=BATCH,
                                                  threads=threads))
        encoders = {label: registry.get(parse_model_spec(spec)) for label, _, spec, _, _ in models}
        for label, _, _, pngs, _ in models:
            limit_figure(encoders[label], pngs[:BATCH], label)  # warm up
        print(f"image_encode_concurrency: {', '.join(f'{m[0]} {len(m[3])} images' for m in models)}, clients "
              f"{args.clients}, {args.rounds} rounds | {platform.machine()} {os.cpu_count()} cpus, torch "
              f"{torch.__version__} ({torch.get_num_threads()} threads), python {platform.python_version()}")

        # The random ViT-B-32 is a local folder: the server loads such models only under its model root.
        server = ServedProcess(Path(tmp, "data"), settings={**settings, "LATENTSPACE_MODEL_ROOT": tmp},
                               metrics=True).start()
        try:
            with Client(server.address, timeout=600) as client:
                for _, collection, spec, _, _ in models:
                    client.create_collection(collection, model=spec)  # the server loads the model
            print(f"server: pid {server.pid}")
            rounds: list[dict[str, Figure]] = []
            for number in range(1, args.rounds + 1):
                figures: dict[str, Figure] = {}
                load = load_average()
                for label, collection, _, pngs, warmup in models:
                    limit = limit_figure(encoders[label], pngs, label)
                    figures[limit.name] = limit
                    for clients in args.clients:
                        served = served_figure(label, server, collection, clients, pngs, warmup)
                        figures[served.name] = served
                floor = floor_figure(server, models[0][1], encoders[models[0][0]].dimension, max(args.clients),
                                     args.shapes_images)
                figures[floor.name] = floor
                rounds.append(figures)
                print(f"round {number} (load {load:.1f} -> {load_average():.1f}): " + "; ".join(
                    f"{name.replace(' (a) decode+encode in process', '')} {f.per_second:.1f}/s"
                    for name, f in figures.items()))
        finally:
            server.stop()

    print()
    ratios = []
    for label, *_ in models:
        limit_name = next(n for n in rounds[0] if n.startswith(f"{label} (a)"))
        ratios += [(f"{label}, {n.rsplit(', ', 1)[1]}: (b) / (a)", n, limit_name)
                   for n in rounds[0] if n.startswith(f"{label} (b)")]
    print_rounds(rounds, ratios, unit="images")
    print(f"\nserver peak RSS: {server.peak_rss_mib:.0f} MiB" if server.peak_rss_mib is not None else "")


if __name__ == "__main__":
    main()
