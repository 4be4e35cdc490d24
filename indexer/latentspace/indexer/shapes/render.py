"""A seeded renderer of coloured shapes with captions: the corpus the shapes CLIP is trained on.

Every random choice comes from the numpy ``Generator`` passed in, so a seed gives the same images
and captions on every machine. Shapes are drawn at twice the output size and downsampled with
LANCZOS, which gives smooth edges without an antialiasing pass.

A corpus image is a random :class:`Placement` drawn by :func:`draw_shape`, plus noise on half of
them. Its canonical twin (:func:`render_pair`, the shapes decoder's training target) is the same
shape, fill and size centred and upright on a plain background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
SIZES: tuple[str, ...] = ("small", "large")

#: Output images are IMAGE_SIZE x IMAGE_SIZE RGB.
IMAGE_SIZE = 64
_SCALE = 2  # drawn at 2x, then downsampled
_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 210, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
}
_COLOR_JITTER = 12  # +- per channel
#: Circumradius range in output pixels for each size.
RADIUS_RANGES: dict[str, tuple[float, float]] = {"small": (6.0, 9.0), "large": (14.0, 20.0)}
_MAX_ROTATION_DEG = 15.0
_BACKGROUND_GREY = (205, 235)
_NOISE_SIGMA = (4.0, 10.0)
_STAR_INNER_RATIO = 0.45
#: The plain grey of canonical images (the middle of the corpus's background range).
CANONICAL_BACKGROUND = 220
#: The caption templates; ``captions_for`` picks one at random.
TEMPLATES: tuple[str, ...] = (
    "a {color} {shape}",
    "a {size} {color} {shape}",
    "a photo of a {color} {shape}",
    "a photo of a {size} {color} {shape}",
)


@dataclass(frozen=True)
class ShapeSpec:
    """What one image shows: a colour, a shape and a size (names from COLORS, SHAPES, SIZES)."""

    color: str
    shape: str
    size: str

    @property
    def caption(self) -> str:
        """The full caption, e.g. ``"a small red circle"``."""
        return f"a {self.size} {self.color} {self.shape}"

    @property
    def label(self) -> str:
        """The colour-and-shape class (24 of them), e.g. ``"red circle"``; size is not part of it."""
        return f"{self.color} {self.shape}"


def random_spec(rng: np.random.Generator) -> ShapeSpec:
    """Draw a colour, shape and size uniformly."""
    return ShapeSpec(
        color=COLORS[rng.integers(len(COLORS))],
        shape=SHAPES[rng.integers(len(SHAPES))],
        size=SIZES[rng.integers(len(SIZES))],
    )


def captions_for(spec: ShapeSpec, rng: np.random.Generator) -> str:
    """A caption for ``spec`` from a random template (with or without size, with or without "a photo of")."""
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(color=spec.color, shape=spec.shape, size=spec.size)


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Vertices of a square, triangle or star of circumradius ``r``, rotated by ``angle`` radians."""
    if shape == "square":
        radii, start = [r] * 4, math.pi / 4
    elif shape == "triangle":
        radii, start = [r] * 3, -math.pi / 2
    else:  # star: 5 outer points alternating with 5 inner ones
        radii, start = [r, r * _STAR_INNER_RATIO] * 5, -math.pi / 2
    step = 2 * math.pi / len(radii)
    return [
        (cx + rad * math.cos(start + angle + i * step), cy + rad * math.sin(start + angle + i * step))
        for i, rad in enumerate(radii)
    ]


@dataclass(frozen=True)
class Placement:
    """Where and how one shape is drawn: centre and circumradius in output pixels, rotation in
    radians, fill colour and background grey level."""

    cx: float
    cy: float
    radius: float
    angle: float
    fill: tuple[int, int, int]
    background: int


def _check(spec: ShapeSpec) -> None:
    if spec.color not in _RGB or spec.shape not in SHAPES or spec.size not in RADIUS_RANGES:
        raise ValueError(f"unknown shape spec {spec!r}; names come from COLORS, SHAPES and SIZES")


def random_placement(spec: ShapeSpec, rng: np.random.Generator) -> Placement:
    """A random position (fully inside), rotation, colour jitter and background shade for ``spec``."""
    _check(spec)
    big = IMAGE_SIZE * _SCALE
    radius = rng.uniform(*RADIUS_RANGES[spec.size]) * _SCALE
    cx, cy = rng.uniform(radius + 1, big - radius - 1, size=2)
    angle = math.radians(rng.uniform(-_MAX_ROTATION_DEG, _MAX_ROTATION_DEG))
    jitter = rng.integers(-_COLOR_JITTER, _COLOR_JITTER + 1, size=3)
    fill = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(_RGB[spec.color], jitter, strict=True))
    grey = int(rng.integers(_BACKGROUND_GREY[0], _BACKGROUND_GREY[1] + 1))
    # Halving is exact in floating point, so draw_shape's doubling gives back the same coordinates.
    return Placement(cx=float(cx) / _SCALE, cy=float(cy) / _SCALE, radius=radius / _SCALE, angle=angle,
                     fill=(fill[0], fill[1], fill[2]), background=grey)


def canonical_placement(spec: ShapeSpec, *, radius: float | None = None,
                        fill: tuple[int, int, int] | None = None) -> Placement:
    """``spec`` centred and upright on the plain :data:`CANONICAL_BACKGROUND`.

    ``radius`` (output pixels) defaults to the middle of the size's range, ``fill`` to the colour's
    nominal RGB; pass a corpus placement's own to draw that shape "in its colour and size".
    """
    _check(spec)
    low, high = RADIUS_RANGES[spec.size]
    centre = IMAGE_SIZE / 2
    return Placement(cx=centre, cy=centre, radius=(low + high) / 2 if radius is None else radius, angle=0.0,
                     fill=_RGB[spec.color] if fill is None else fill, background=CANONICAL_BACKGROUND)


def draw_shape(spec: ShapeSpec, placement: Placement) -> Image.Image:
    """Draw ``spec`` at ``placement`` on a plain background, as a 64x64 RGB image without noise."""
    _check(spec)
    big = IMAGE_SIZE * _SCALE
    cx, cy, radius = placement.cx * _SCALE, placement.cy * _SCALE, placement.radius * _SCALE
    grey = placement.background
    canvas = Image.new("RGB", (big, big), (grey, grey, grey))
    draw = ImageDraw.Draw(canvas)
    if spec.shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=placement.fill)
    else:
        draw.polygon(_polygon(spec.shape, cx, cy, radius, placement.angle), fill=placement.fill)
    return canvas.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)


def _add_noise(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Gaussian pixel noise on half of the images (the coin is drawn either way)."""
    if rng.random() < 0.5:
        sigma = rng.uniform(*_NOISE_SIGMA)
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0.0, sigma, (IMAGE_SIZE, IMAGE_SIZE, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")
    return image


def render_shape(spec: ShapeSpec, rng: np.random.Generator) -> Image.Image:
    """Render ``spec`` as a 64x64 RGB image at a random position (fully inside), rotation and shade.

    Half of the images get gaussian pixel noise.
    """
    return _add_noise(draw_shape(spec, random_placement(spec, rng)), rng)


def render_pair(spec: ShapeSpec, rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
    """A corpus image of ``spec`` (as :func:`render_shape` draws it, same random draws) and its
    canonical twin: the same shape, fill and size, centred and upright on the plain background."""
    placement = random_placement(spec, rng)
    image = _add_noise(draw_shape(spec, placement), rng)
    canonical = canonical_placement(spec, radius=placement.radius, fill=placement.fill)
    return image, draw_shape(spec, canonical)


def render_canonical(spec: ShapeSpec, *, radius: float | None = None) -> Image.Image:
    """``spec`` centred and upright in its nominal colour on the plain background; ``radius`` (output
    pixels) defaults to the middle of the size's range."""
    return draw_shape(spec, canonical_placement(spec, radius=radius))


def render_batch(n: int, rng: np.random.Generator) -> list[tuple[ShapeSpec, Image.Image]]:
    """Draw ``n`` random specs and render each one."""
    batch = []
    for _ in range(n):
        spec = random_spec(rng)
        batch.append((spec, render_shape(spec, rng)))
    return batch
