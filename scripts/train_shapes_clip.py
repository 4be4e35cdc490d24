"""Train the shapes CLIP (``shapes-rn-128``) on freshly rendered shapes and save fp16 weights.

Reproducible: the seed fixes the initial weights and every rendered batch. Writes into ``--out``
``open_clip_model.safetensors`` (fp16) and ``open_clip_config.json`` (open_clip's local-folder
form), so the folder loads as ``open_clip:/path/to/out`` as well as through the packaged registry.

    PYTHONPATH=indexer python scripts/train_shapes_clip.py --steps 150 --batch 256 --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import open_clip
import torch
from open_clip.loss import ClipLoss
from PIL import Image
from safetensors.torch import save_file

from latentspace.indexer.shapes import (
    ARCHITECTURE,
    COLORS,
    MODEL_DIR,
    SHAPES,
    WEIGHTS_FILE,
    captions_for,
    render_batch,
)

EVAL_SEED_OFFSET = 10_000  # evaluation images never share a seed with training batches
MAX_LOGIT_SCALE = math.log(100.0)
Tokenizer = Callable[[list[str]], torch.Tensor]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-images", type=int, default=500)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    return parser.parse_args(argv)


def to_pixels(images: list[Image.Image], mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Stack 64x64 PIL images into a normalised NCHW batch (what the model's val transform gives)."""
    array = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
    pixels = torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255.0)
    return (pixels - mean) / std


def make_batch(n: int, rng: np.random.Generator, tokenizer: Tokenizer, mean: torch.Tensor, std: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Render ``n`` fresh shapes with random captions: (channels-last pixels, token ids)."""
    batch = render_batch(n, rng)
    pixels = to_pixels([image for _, image in batch], mean, std).contiguous(memory_format=torch.channels_last)
    return pixels, tokenizer([captions_for(spec, rng) for spec, _ in batch])


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and kernels only: not on biases, norms, embeddings, logit_scale."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.ndim >= 2 and "embedding" not in name:
            decay.append(param)
        else:
            no_decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def learning_rate(step: int, steps: int, warmup: int, base: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to zero."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress)) * base


@torch.inference_mode()
def zero_shot_accuracy(model: open_clip.CLIP, tokenizer: Tokenizer, n: int, seed: int,
                       mean: torch.Tensor, std: torch.Tensor) -> float:
    """24-class colour+shape zero-shot accuracy on ``n`` fresh images, prompts "a {color} {shape}"."""
    model.eval()
    labels = [f"{c} {s}" for c in COLORS for s in SHAPES]
    text = model.encode_text(tokenizer([f"a {label}" for label in labels]), normalize=True)
    batch = render_batch(n, np.random.default_rng(seed))
    image = model.encode_image(to_pixels([im for _, im in batch], mean, std), normalize=True)
    predicted = (image @ text.T).argmax(dim=1).tolist()
    return float(np.mean([labels[p] == spec.label for p, (spec, _) in zip(predicted, batch, strict=True)]))


def save(model: open_clip.CLIP, out: Path) -> Path:
    """Write fp16 weights and open_clip's local-folder config into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    state = {
        name: (t.detach().half() if t.is_floating_point() else t.detach()).contiguous()
        for name, t in model.state_dict().items()
    }
    weights = out / WEIGHTS_FILE
    save_file(state, str(weights), metadata={"architecture": ARCHITECTURE, "format": "pt"})
    weights.chmod(0o644)  # safetensors writes 0600; the file ships in the package
    config = {
        "model_cfg": open_clip.get_model_config(ARCHITECTURE),
        "preprocess_cfg": model.visual.preprocess_cfg,
    }
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=4) + "\n")
    return weights


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    open_clip.add_model_config(MODEL_DIR)

    model = open_clip.create_model(ARCHITECTURE)
    tokenizer = open_clip.get_tokenizer(ARCHITECTURE)
    mean = torch.tensor(model.visual.preprocess_cfg["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(model.visual.preprocess_cfg["std"]).view(1, 3, 1, 1)
    print(f"{ARCHITECTURE}: {sum(p.numel() for p in model.parameters()):,} parameters")

    # Channels-last runs the narrow convolutions and batch norms of the ResNet tower ~15% faster on CPU.
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.98), eps=1e-6
    )
    loss_fn = ClipLoss()
    started = time.perf_counter()
    # The next batch renders in a background thread while this one trains; one batch is in flight at a
    # time, so the generator is consumed in the same order as without the thread (reproducible).
    renderer = ThreadPoolExecutor(max_workers=1)
    next_batch = renderer.submit(make_batch, args.batch, rng, tokenizer, mean, std)
    wait_seconds = 0.0
    for step in range(args.steps):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.warmup, args.lr)
        tick = time.perf_counter()
        images, texts = next_batch.result()
        wait_seconds += time.perf_counter() - tick
        if step + 1 < args.steps:
            next_batch = renderer.submit(make_batch, args.batch, rng, tokenizer, mean, std)

        image_features, text_features, logit_scale = model(images, texts)
        loss = loss_fn(image_features, text_features, logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        if (step + 1) % 10 == 0 or step == 0:
            print(f"step {step + 1:4d}/{args.steps}  loss {loss.item():.4f}  "
                  f"scale {logit_scale.item():6.2f}  {time.perf_counter() - started:6.1f}s", flush=True)

    renderer.shutdown()
    train_seconds = time.perf_counter() - started
    print(f"trained {args.steps} steps in {train_seconds:.1f}s (waiting for rendering {wait_seconds:.1f}s)")
    eval_seed = args.seed + EVAL_SEED_OFFSET
    accuracy = zero_shot_accuracy(model, tokenizer, args.eval_images, eval_seed, mean, std)
    print(f"zero-shot accuracy (fp32, {args.eval_images} images): {accuracy:.3f}")

    weights = save(model, args.out)
    reloaded = open_clip.create_model(ARCHITECTURE, pretrained=str(weights))
    reloaded_accuracy = zero_shot_accuracy(reloaded, tokenizer, args.eval_images, eval_seed, mean, std)
    print(f"saved {weights} ({weights.stat().st_size / 1e6:.1f} MB)")
    print(f"zero-shot accuracy after fp16 reload: {reloaded_accuracy:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
