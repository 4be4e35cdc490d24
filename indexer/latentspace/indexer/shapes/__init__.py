"""Synthetic shapes with captions, and the small CLIP trained on them (weights in ``model/``).

``render`` draws the corpus; the model is loaded through the open_clip encoder as ``shapes-clip``,
its decoder (``model/decoder/``) through the decoder registry.
"""

from pathlib import Path

from latentspace.indexer.shapes.render import (
    CANONICAL_BACKGROUND,
    COLORS,
    IMAGE_SIZE,
    RADIUS_RANGES,
    SHAPES,
    SIZES,
    TEMPLATES,
    Placement,
    ShapeSpec,
    canonical_placement,
    captions_for,
    draw_shape,
    random_placement,
    random_spec,
    render_batch,
    render_canonical,
    render_pair,
    render_shape,
)

#: The packaged model folder: the architecture config (``shapes-rn-128.json``, registered with open_clip),
#: ``open_clip_config.json`` (open_clip's local-folder form) and the fp16 weights.
MODEL_DIR: Path = Path(__file__).resolve().parent / "model"
ARCHITECTURE = "shapes-rn-128"
TAG = "latentspace-v1"
WEIGHTS_FILE = "open_clip_model.safetensors"
#: The model's decoder (vectors -> images): ``decoder.json`` and its weights, made by
#: ``scripts/train_shapes_decoder.py``. A sub-folder, so open_clip's folder scans never see it.
DECODER_DIR: Path = MODEL_DIR / "decoder"

__all__ = [
    "ARCHITECTURE",
    "CANONICAL_BACKGROUND",
    "COLORS",
    "DECODER_DIR",
    "IMAGE_SIZE",
    "MODEL_DIR",
    "RADIUS_RANGES",
    "SHAPES",
    "SIZES",
    "TAG",
    "TEMPLATES",
    "WEIGHTS_FILE",
    "Placement",
    "ShapeSpec",
    "canonical_placement",
    "captions_for",
    "draw_shape",
    "random_placement",
    "random_spec",
    "render_batch",
    "render_canonical",
    "render_pair",
    "render_shape",
]
