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
    CANONICAL_BACKGROUND,
    COLORS,
    IMAGE_SIZE,
    RADIUS_RANGES,
    SHAPES,
    SIZES,
    ShapeSpec,
    canonical_placement,
    captions_for,
    random_placement,
    random_spec,
    render_batch,
    render_canonical,
    render_pair,
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


def _foreground(image: object) -> np.ndarray:
    """A mask of the pixels that differ from the canonical background grey."""
    pixels = np.asarray(image, dtype=np.int32)
    return np.abs(pixels - CANONICAL_BACKGROUND).max(axis=2) > 8


def test_pairs_draw_the_corpus_image_and_its_canonical_twin() -> None:
    for seed in range(20):
        spec = random_spec(np.random.default_rng(seed))
        image, target = render_pair(spec, np.random.default_rng(seed))
        # The same random draws as render_shape, so the training pool is the corpus itself.
        assert image.tobytes() == render_shape(spec, np.random.default_rng(seed)).tobytes()
        placement = random_placement(spec, np.random.default_rng(seed))
        pixels, mask = np.asarray(target, dtype=np.int32), _foreground(target)
        frame = np.ones(mask.shape, dtype=bool)
        frame[8:-8, 8:-8] = False  # no shape reaches within 8 px of the border when centred
        assert np.all(pixels[frame] == CANONICAL_BACKGROUND)  # plain background, no noise
        ys, xs = np.nonzero(mask)
        assert abs(xs.mean() - IMAGE_SIZE / 2) < 1.5 and abs(ys.mean() - IMAGE_SIZE / 2) < 2.5  # centred
        inner = pixels[IMAGE_SIZE // 2, IMAGE_SIZE // 2]
        assert np.abs(inner - np.array(placement.fill)).max() <= 2  # in its own (jittered) colour
        # In its own size: the drawn extent matches the corpus image's circumradius.
        assert 0.8 * placement.radius - 1 <= (xs.max() - xs.min() + 1) / 2 <= placement.radius + 2.5
        low, high = RADIUS_RANGES[spec.size]
        assert low <= placement.radius <= high


def test_canonical_targets_are_upright() -> None:
    # An upright triangle points up: its top row is narrower than its bottom row.
    mask = _foreground(render_canonical(ShapeSpec("green", "triangle", "large")))
    rows = np.nonzero(mask.any(axis=1))[0]
    assert mask[rows[1]].sum() < mask[rows[-2]].sum()
    # A canonical square is axis-aligned: its rows are all about the same width.
    widths = _foreground(render_canonical(ShapeSpec("blue", "square", "large"))).sum(axis=1)
    assert widths[widths > 0][2:-2].std() < 1.0


def test_canonical_placement_defaults_and_overrides() -> None:
    spec = ShapeSpec("red", "star", "small")
    default = canonical_placement(spec)
    assert (default.cx, default.cy, default.angle) == (IMAGE_SIZE / 2, IMAGE_SIZE / 2, 0.0)
    assert default.radius == sum(RADIUS_RANGES["small"]) / 2 and default.fill == (220, 40, 40)
    override = canonical_placement(spec, radius=11.5, fill=(1, 2, 3))
    assert (override.radius, override.fill, override.background) == (11.5, (1, 2, 3), CANONICAL_BACKGROUND)
    small = _foreground(render_canonical(ShapeSpec("red", "circle", "small"))).sum()
    medium = _foreground(render_canonical(ShapeSpec("red", "circle", "small"), radius=11.5)).sum()
    assert small < medium


def test_importing_shapes_does_not_import_torch() -> None:
    indexer_root = Path(__file__).resolve().parents[2] / "indexer"
    code = "import sys, latentspace.indexer.shapes; assert 'torch' not in sys.modules, 'torch imported'"
    path = os.pathsep.join(filter(None, [str(indexer_root), os.environ.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": path})
