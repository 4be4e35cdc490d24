"""The shapes demo corpus: rendered PNG images plus the captions that describe them.

Writes, under one folder:

- ``images/<size>-<color>-<shape>-<k>.png``: ``n`` images cycling through all 48 colour x shape x size
  combinations (480 = each one 10 times); image ``i`` is drawn from its own seed ``(seed, i)``, so
  an image does not change with ``n``;
- ``images.jsonl``: one record per image (``image`` path relative to the file, payload
  ``{"kind": "image", "color", "shape", "size"}``);
- ``captions.jsonl``: one text record per distinct caption of the rendered combinations, from every
  caption template ("a red circle", "a photo of a small red circle", ...), payload
  ``{"kind": "caption", "color", "shape"}`` plus ``"size"`` when the caption names one.

Both JSONL files are ordinary sources for ``latent index``.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentspace.indexer.items import JsonObject
from latentspace.indexer.shapes.render import COLORS, SHAPES, SIZES, TEMPLATES, ShapeSpec, render_shape

DEFAULT_IMAGES = 480
DEFAULT_SEED = 7
#: Every combination, in a fixed order: image i shows COMBINATIONS[i % 48].
COMBINATIONS: tuple[ShapeSpec, ...] = tuple(
    ShapeSpec(color, shape, size) for color, shape, size in itertools.product(COLORS, SHAPES, SIZES)
)


@dataclass(frozen=True)
class ShapesCorpus:
    """Where the corpus was written and how big it is."""

    folder: Path
    images_jsonl: Path
    captions_jsonl: Path
    images: int
    captions: int


def write_shapes_corpus(folder: Path, *, n: int = DEFAULT_IMAGES, seed: int = DEFAULT_SEED) -> ShapesCorpus:
    """Render ``n`` images and write the two JSONL sources into ``folder`` (created if missing)."""
    if n < 1:
        raise ValueError(f"the shapes corpus needs at least one image, got n={n}")
    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    images_jsonl, captions_jsonl = folder / "images.jsonl", folder / "captions.jsonl"
    rendered: list[ShapeSpec] = []
    with images_jsonl.open("w", encoding="utf-8") as out:
        for i in range(n):
            spec = COMBINATIONS[i % len(COMBINATIONS)]
            name = f"{spec.size}-{spec.color}-{spec.shape}-{i // len(COMBINATIONS):02d}"
            image = render_shape(spec, np.random.default_rng([seed, i]))
            image.save(image_dir / f"{name}.png")
            payload = {"kind": "image", "color": spec.color, "shape": spec.shape, "size": spec.size}
            out.write(json.dumps({"id": name, "image": f"images/{name}.png", "payload": payload}) + "\n")
            rendered.append(spec)

    captions = _distinct_captions(rendered)
    with captions_jsonl.open("w", encoding="utf-8") as out:
        for caption, payload in captions:
            out.write(json.dumps({"id": f"caption:{caption}", "text": caption, "payload": payload}) + "\n")
    return ShapesCorpus(folder, images_jsonl, captions_jsonl, images=n, captions=len(captions))


def _distinct_captions(specs: list[ShapeSpec]) -> list[tuple[str, JsonObject]]:
    """Each template's caption for each rendered combination, once, in first-seen order."""
    captions: dict[str, JsonObject] = {}
    for spec in specs:
        for template in TEMPLATES:
            caption = template.format(color=spec.color, shape=spec.shape, size=spec.size)
            payload: JsonObject = {"kind": "caption", "color": spec.color, "shape": spec.shape}
            if "{size}" in template:
                payload["size"] = spec.size
            captions.setdefault(caption, payload)
    return list(captions.items())
