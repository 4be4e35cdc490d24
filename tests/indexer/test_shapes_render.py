"""The seeded shapes renderer: determinism, image format, captions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentspace.indexer.shapes import (
    COLORS,
    IMAGE_SIZE,
    SHAPES,
    SIZES,
    ShapeSpec,
    captions_for,
    random_spec,
    render_batch,
    render_shape,
)


def _pixels(batch: list) -> list[bytes]:
    return [image.tobytes() for _, image in batch]


def test_same_seed_gives_same_images_and_specs() -> None:
    first = render_batch(32, np.random.default_rng(123))
    second = render_batch(32, np.random.default_rng(123))
    assert [spec for spec, _ in first] == [spec for spec, _ in second]
    assert _pixels(first) == _pixels(second)


def test_different_seeds_give_different_images() -> None:
    one, two = render_batch(8, np.random.default_rng(1)), render_batch(8, np.random.default_rng(2))
    assert _pixels(one) != _pixels(two)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_images_are_64x64_rgb_with_valid_specs(seed: int) -> None:
    for spec, image in render_batch(4, np.random.default_rng(seed)):
        assert image.size == (IMAGE_SIZE, IMAGE_SIZE) == (64, 64)
        assert image.mode == "RGB"
        assert spec.color in COLORS and spec.shape in SHAPES and spec.size in SIZES


def test_shape_is_drawn_in_its_colour() -> None:
    # The most saturated pixel of a red shape is red: the shape is on the canvas and coloured.
    image = render_shape(ShapeSpec("red", "square", "large"), np.random.default_rng(0))
    pixels = np.asarray(image, dtype=np.int32).reshape(-1, 3)
    r, g, b = pixels[np.argmax(pixels.max(axis=1) - pixels.min(axis=1))]
    assert r > 150 and g < 100 and b < 100


def test_captions_name_colour_and_shape() -> None:
    rng = np.random.default_rng(5)
    seen = set()
    for _ in range(200):
        spec = random_spec(rng)
        caption = captions_for(spec, rng)
        assert spec.color in caption and spec.shape in caption
        assert caption.startswith("a ")
        seen.add(caption.replace(spec.size, "{size}").replace(spec.color, "{c}").replace(spec.shape, "{s}"))
    assert seen == {"a {c} {s}", "a {size} {c} {s}", "a photo of a {c} {s}", "a photo of a {size} {c} {s}"}


def test_spec_caption_and_label() -> None:
    spec = ShapeSpec("blue", "star", "small")
    assert spec.caption == "a small blue star"
    assert spec.label == "blue star"


def test_unknown_spec_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown shape spec"):
        render_shape(ShapeSpec("teal", "circle", "small"), np.random.default_rng(0))


def test_importing_shapes_does_not_import_torch() -> None:
    indexer_root = Path(__file__).resolve().parents[2] / "indexer"
    code = "import sys, latentspace.indexer.shapes; assert 'torch' not in sys.modules, 'torch imported'"
    path = os.pathsep.join(filter(None, [str(indexer_root), os.environ.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": path})
