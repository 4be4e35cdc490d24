"""Synthetic shapes with captions, and the small CLIP trained on them (weights in ``model/``).

``render`` draws the corpus; the model is loaded through the open_clip encoder as ``shapes-clip``.
"""

from pathlib import Path

from latentspace.indexer.shapes.render import (
    COLORS,
    IMAGE_SIZE,
    SHAPES,
    SIZES,
    TEMPLATES,
    ShapeSpec,
    captions_for,
    random_spec,
    render_batch,
    render_shape,
)

#: The packaged model folder: the architecture config (``shapes-rn-128.json``, registered with open_clip),
#: ``open_clip_config.json`` (open_clip's local-folder form) and the fp16 weights.
MODEL_DIR: Path = Path(__file__).resolve().parent / "model"
ARCHITECTURE = "shapes-rn-128"
TAG = "latentspace-v1"
WEIGHTS_FILE = "open_clip_model.safetensors"

__all__ = [
    "ARCHITECTURE",
    "COLORS",
    "IMAGE_SIZE",
    "MODEL_DIR",
    "SHAPES",
    "SIZES",
    "TAG",
    "TEMPLATES",
    "WEIGHTS_FILE",
    "ShapeSpec",
    "captions_for",
    "random_spec",
    "render_batch",
    "render_shape",
]
