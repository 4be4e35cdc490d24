"""The shapes CLIP's own zero-shot classifier over the 24 colour-and-shape classes.

Prompts are ``"a {color} {shape}"``; probabilities are the softmax of the cosines times the model's
learned logit scale (read from the packaged weights, as CLIP's zero-shot classification does), and a
colour's or a shape's probability is the sum over the classes that have it. Used to judge decoded
images (``scripts/train_shapes_decoder.py``, ``tests/semantic/test_shapes_decoder.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.shapes.render import COLORS, SHAPES

if TYPE_CHECKING:
    from PIL import Image

    from latentspace.indexer.encoders.base import Encoder

#: The 24 classes in a fixed order: colour-major, ``"red circle"``, ``"red square"``, ...
LABELS: tuple[str, ...] = tuple(f"{color} {shape}" for color in COLORS for shape in SHAPES)


@cache
def logit_scale() -> float:
    """``exp(logit_scale)`` of the packaged shapes CLIP: the temperature it was trained with."""
    from safetensors.numpy import load_file

    from latentspace.indexer.shapes import MODEL_DIR, WEIGHTS_FILE

    return float(np.exp(np.float64(load_file(str(MODEL_DIR / WEIGHTS_FILE))["logit_scale"].reshape(()))))


class ZeroShotClassifier:
    """Class probabilities for images, from an encoder of the shapes CLIP."""

    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self.scale = logit_scale()
        self._prompts = encoder.encode_texts([f"a {label}" for label in LABELS])

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(n, 24)`` class probabilities, columns in :data:`LABELS` order."""
        logits = self.scale * (self.encoder.encode_images(images) @ self._prompts.T).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def labels(self, images: Sequence[Image.Image]) -> list[str]:
        """The most probable class of each image."""
        return [LABELS[i] for i in self.probabilities(images).argmax(axis=1)]

    def color_probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(n, 6)`` colour probabilities (classes summed over shapes), columns in ``COLORS`` order."""
        return self.probabilities(images).reshape(-1, len(COLORS), len(SHAPES)).sum(axis=2)
