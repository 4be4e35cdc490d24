"""Fit the shapes CLIP's decoder (an attention decoder, vectors -> 64x64 images) and save it.

The data: ``--pool`` freshly rendered corpus images, each encoded by the packaged shapes CLIP (through
the library's encoder, so the decoder sees exactly the vectors the service stores), with its target
the same shape in its own fill and size, centred and upright on the plain background; and every
caption the corpus uses (4 templates x 24 classes x sizes), its target the canonical shape in the
colour's nominal RGB (the middle of the size's range; between the two sizes when the caption names
none), so text points decode too.

The fit is closed-form, in float64 numpy (see ``latentspace/indexer/decoders/attention_decoder.py``
for the forward pass): keys = the caption vectors plus ``--keys`` spherical k-means centroids of the
pool vectors; the basis = the top ``--components`` principal components of the targets; each key's
value = the mean target (in the basis) of the rows that attend to it, weighted by that attention at
the decoder's own ``--temperature``. A decoded point is then a convex mix of such means: between two
images the weight moves from one group of keys to the other, so paths blend, and no colour appears
that none of the nearby keys has. Reproducible: the seed fixes every image and the initial centroids;
the weights are written fp16 (byte-identical across runs). Why closed-form: the shapes README.

    PYTHONPATH=indexer python scripts/train_shapes_decoder.py --seed 0
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors.numpy import save_file

from latentspace.indexer.decoders.manifest import DecoderManifest, write_manifest
from latentspace.indexer.decoders.registry import DecoderRegistry
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
from latentspace.indexer.latent_math import slerp
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.shapes import (
    COLORS,
    DECODER_DIR,
    IMAGE_SIZE,
    RADIUS_RANGES,
    SHAPES,
    SIZES,
    TEMPLATES,
    ShapeSpec,
    random_spec,
    render_batch,
    render_canonical,
    render_pair,
    render_shape,
)
from latentspace.indexer.shapes.zero_shot import LABELS, ZeroShotClassifier

NAME = "shapes-attention-decoder/latentspace-v1"
WEIGHTS = "decoder.safetensors"
EVAL_SEED_OFFSET = 20_000  # evaluation images never share a seed with the training pool
#: Captions without a size target a shape between the two size ranges.
MEDIUM_RADIUS = (RADIUS_RANGES["small"][1] + RADIUS_RANGES["large"][0]) / 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pool", type=int, default=6000, help="rendered training images")
    parser.add_argument("--keys", type=int, default=256, help="k-means keys over the pool (captions add more)")
    parser.add_argument("--components", type=int, default=96, help="principal components kept for the images")
    parser.add_argument("--temperature", type=float, default=30.0)
    parser.add_argument("--kmeans-iterations", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-images", type=int, default=200)
    parser.add_argument("--out", type=Path, default=DECODER_DIR)
    return parser.parse_args(argv)


def flat(image: Image.Image) -> np.ndarray:
    """An RGB image as a float64 row in [0, 1], row-major (height, width, RGB): the decoder's layout."""
    return np.asarray(image, dtype=np.float64).reshape(-1) / 255.0


def project(images: np.ndarray, basis: np.ndarray, mean: np.ndarray, chunk: int = 1000) -> np.ndarray:
    """Coordinates in ``basis`` of uint8 image rows, a chunk at a time (the float rows are large)."""
    return np.concatenate([(images[i:i + chunk] / 255.0 - mean) @ basis.T for i in range(0, len(images), chunk)])


def caption_rows() -> tuple[list[str], np.ndarray]:
    """Every caption the corpus uses, with its canonical target image."""
    captions, targets = [], []
    for color in COLORS:
        for shape in SHAPES:
            medium = flat(render_canonical(ShapeSpec(color, shape, SIZES[0]), radius=MEDIUM_RADIUS))
            for template in TEMPLATES:
                if "{size}" not in template:
                    captions.append(template.format(color=color, shape=shape))
                    targets.append(medium)
                    continue
                for size in SIZES:
                    captions.append(template.format(color=color, shape=shape, size=size))
                    targets.append(flat(render_canonical(ShapeSpec(color, shape, size))))
    return captions, np.stack(targets)


def spherical_kmeans(points: np.ndarray, k: int, iterations: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` unit centroids of unit ``points``: random distinct points, then ``iterations`` Lloyd steps
    on cosine similarity (an empty cluster keeps its centroid)."""
    centroids = points[rng.choice(len(points), size=k, replace=False)].copy()
    for _ in range(iterations):
        nearest = np.argmax(points @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, points)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        filled = norms[:, 0] > 0
        centroids[filled] = sums[filled] / norms[filled]
    return centroids


def principal_basis(targets: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """``(basis (components, pixels), mean (pixels,))``: orthonormal top principal directions, through
    the eigenvectors of the small Gram matrix (rows << pixels). Signs fixed for reproducibility."""
    mean = targets.mean(axis=0)
    centred = targets - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
    top = eigenvectors[:, np.argsort(eigenvalues)[::-1][:components]]
    basis = top.T @ centred
    basis /= np.linalg.norm(basis, axis=1, keepdims=True)
    signs = np.sign(basis[np.arange(components), np.argmax(np.abs(basis), axis=1)])
    return basis * signs[:, None], mean


def attention(points: np.ndarray, keys: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax weights of each point over the keys: the decoder's forward pass up to the values."""
    logits = temperature * (points @ keys.T)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def fit(args: argparse.Namespace, encoder: OpenClipEncoder, rng: np.random.Generator) -> dict[str, np.ndarray]:
    started = time.perf_counter()
    specs = [random_spec(rng) for _ in range(args.pool)]
    pairs = [render_pair(spec, rng) for spec in specs]
    targets = np.stack([np.asarray(target, dtype=np.uint8).reshape(-1) for _, target in pairs])
    print(f"rendered {args.pool} image/target pairs  {time.perf_counter() - started:6.1f}s", flush=True)
    vectors = encoder.encode_images([image for image, _ in pairs]).astype(np.float64)
    del pairs
    print(f"encoded them  {time.perf_counter() - started:6.1f}s", flush=True)

    basis, mean = principal_basis(targets[: min(args.pool, 2000)] / 255.0, args.components)
    coordinates = project(targets, basis, mean)
    captions, caption_targets = caption_rows()
    caption_points = encoder.encode_texts(captions).astype(np.float64)
    keys = np.concatenate([caption_points, spherical_kmeans(vectors, args.keys, args.kmeans_iterations, rng)])
    print(f"{len(keys)} keys, {args.components} components  {time.perf_counter() - started:6.1f}s", flush=True)

    # Each key's value: the mean target of the rows that attend to it, weighted by that attention.
    points = np.concatenate([vectors, caption_points])
    goals = np.concatenate([coordinates, (caption_targets - mean) @ basis.T])
    responsibility = attention(points, keys, args.temperature)
    values = (responsibility.T @ goals) / responsibility.sum(axis=0)[:, None]
    error = np.sqrt(np.mean((attention(vectors, keys, args.temperature) @ values - coordinates) ** 2)
                    * len(basis) / basis.shape[1])
    print(f"fitted: pool images' RMS error {error:.4f} per pixel value (within the basis)  "
          f"{time.perf_counter() - started:6.1f}s", flush=True)
    return {"keys": keys, "values": values, "basis": basis, "offset": mean}


def save(tensors: dict[str, np.ndarray], args: argparse.Namespace, encoder: OpenClipEncoder) -> Path:
    """Write ``decoder.safetensors`` (fp16) and ``decoder.json`` into ``args.out``."""
    args.out.mkdir(parents=True, exist_ok=True)
    weights = args.out / WEIGHTS
    save_file({name: np.ascontiguousarray(t, dtype=np.float16) for name, t in tensors.items()}, str(weights),
              # One key: safetensors writes metadata in hash-map order, which differs between runs.
              metadata={"encoder_fingerprint": encoder.fingerprint})
    weights.chmod(0o644)  # safetensors writes 0600; the file ships in the package
    write_manifest(args.out, DecoderManifest(
        kind="attention", name=NAME, encoder_spec=encoder.spec.canonical, fingerprint=encoder.fingerprint,
        dimension=encoder.dimension, output_size=(IMAGE_SIZE, IMAGE_SIZE), weights=WEIGHTS,
        params={"temperature": args.temperature},
    ))
    return weights


def evaluate(args: argparse.Namespace, encoder: OpenClipEncoder) -> None:
    """Reload through the registry; print the round-trip accuracy and P(red) along a red -> blue path."""
    spec = encoder.spec if args.out == DECODER_DIR else parse_model_spec(f"open_clip:{args.out.parent.resolve()}")
    decoder = DecoderRegistry().get(spec, encoder.fingerprint)
    if decoder is None:
        raise SystemExit(f"no decoder found for {spec}: --out must be a model folder's decoder/ sub-folder")
    classifier = ZeroShotClassifier(encoder)
    seed = args.seed + EVAL_SEED_OFFSET
    batch = render_batch(args.eval_images, np.random.default_rng(seed))
    labels = classifier.labels(decoder.decode(encoder.encode_images([image for _, image in batch])))
    correct = np.mean([label == spec.label for label, (spec, _) in zip(labels, batch, strict=True)])
    print(f"round trip: decode(encode(image)) labelled with its colour and shape for {correct:.3f} "
          f"of {args.eval_images} fresh images (seed {seed})")

    rng = np.random.default_rng(seed + 1)
    red, blue = encoder.encode_images([render_shape(ShapeSpec(c, "circle", "large"), rng) for c in ("red", "blue")])
    path = np.stack([slerp(red, blue, t) for t in np.linspace(0.0, 1.0, 9)]).astype(np.float32)
    p_red = classifier.color_probabilities(decoder.decode(path))[:, COLORS.index("red")]
    print(f"red circle -> blue circle, 9 steps, P(red): {' '.join(f'{p:.3f}' for p in p_red)}")

    captions = [f"a {size}{label}" for label in LABELS for size in ("", "small ", "large ")]
    decoded_texts = classifier.labels(decoder.decode(encoder.encode_texts(captions)))
    correct = np.mean([label == caption.split(" ", 1)[1].removeprefix("small ").removeprefix("large ")
                       for label, caption in zip(decoded_texts, captions, strict=True)])
    print(f"captions: decode(encode(caption)) labelled with its colour and shape for {correct:.3f} "
          f"of {len(captions)} ('a red circle', 'a small red circle', ...)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    encoder = OpenClipEncoder(parse_model_spec("shapes-clip"),
                              EncoderOptions(device="cpu", batch_size=256, threads=args.threads))
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    tensors = fit(args, encoder, np.random.default_rng(args.seed))
    weights = save(tensors, args, encoder)
    print(f"saved {weights} ({weights.stat().st_size / 1e6:.2f} MB) for encoder weights {encoder.fingerprint} "
          f"in {time.perf_counter() - started:.1f}s")
    evaluate(args, encoder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
