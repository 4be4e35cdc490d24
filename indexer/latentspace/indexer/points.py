"""The library's query model: points in the latent space and directions through it.

These mirror the proto's ``Query`` and ``Direction`` one to one, so the gRPC layer only translates:
a leaf is text, image bytes, a raw vector, a stored item's id or a direction's unit vector; a
composite (mix, edit, analogy) is built from other points and composes with every operation.
:mod:`latentspace.indexer.resolver` turns them into unit vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

#: Prompt templates a text-pair direction is averaged over when ``use_templates`` is set
#: (the mean of ``E(template(target)) - E(template(neutral))``). "{}" keeps the bare text.
PROMPT_TEMPLATES: tuple[str, ...] = (
    "{}",
    "a photo of {}",
    "a picture of {}",
    "an image of {}",
    "a drawing of {}",
    "a close-up photo of {}",
    "a rendering of {}",
)


class EditMode(StrEnum):
    """How an edit moves its base along a direction (proto ``EditMode``)."""

    ADD = "add"  # normalise(base + strength * d)
    ROTATE = "rotate"  # slerp from base towards d by a fraction of the angle
    REMOVE = "remove"  # normalise(base - strength * (base . d) d)

    @property
    def default_strength(self) -> float:
        """The strength used when an edit leaves it unset (as documented in the proto)."""
        return 0.5 if self is EditMode.ROTATE else 1.0


class AnalogyMethod(StrEnum):
    """How ``a : a_star :: b : ?`` is answered (proto ``AnalogyMethod``)."""

    COS_ADD = "cos_add"  # the point normalise(a_star - a + b)
    COS_MUL = "cos_mul"  # a ranking of candidates, not a point: usable in search only


class InterpolationMethod(StrEnum):
    """How points between a and b are made (proto ``InterpolationMethod``)."""

    SLERP = "slerp"
    LERP = "lerp"


@dataclass(frozen=True)
class TextPoint:
    """Text, encoded with the collection's model."""

    text: str


@dataclass(frozen=True)
class ImagePoint:
    """Encoded image bytes (PNG, JPEG, WebP, ...); needs a model that takes images."""

    data: bytes


# eq=False: numpy arrays have no single truth value, so these compare (and hash) by identity.
@dataclass(frozen=True, eq=False)
class VectorPoint:
    """A raw vector of the collection's dimension; normalised on resolution."""

    vector: np.ndarray


@dataclass(frozen=True)
class IdPoint:
    """The stored vector of an item of the collection."""

    id: str


@dataclass(frozen=True)
class MixPoint:
    """``normalise(sum_i w_i * q_i)``; weights may be negative."""

    parts: tuple[tuple[Point, float], ...]


@dataclass(frozen=True)
class TextPairDirection:
    """``normalise(E(target) - E(neutral))``, optionally averaged over :data:`PROMPT_TEMPLATES`."""

    neutral: str
    target: str
    use_templates: bool = False


@dataclass(frozen=True)
class ExamplesDirection:
    """``normalise(mean(positive) - mean(negative))``."""

    positive: tuple[Point, ...]
    negative: tuple[Point, ...]


@dataclass(frozen=True, eq=False)
class VectorDirection:
    """A raw direction vector of the collection's dimension."""

    vector: np.ndarray


@dataclass(frozen=True)
class NamedDirection:
    """A direction stored in the collection under a name (``CreateDirection``)."""

    name: str


Direction = TextPairDirection | ExamplesDirection | VectorDirection | NamedDirection


@dataclass(frozen=True)
class DirectionPoint:
    """A direction's unit vector used as a point: searched alone it ranks items by their projection on
    the direction; as a weighted mix part it moves the other parts along it."""

    direction: Direction


@dataclass(frozen=True)
class EditPoint:
    """A base point moved along a direction; ``strength=None`` means the mode's default."""

    base: Point
    direction: Direction
    mode: EditMode = EditMode.ADD
    strength: float | None = None

    @property
    def effective_strength(self) -> float:
        """The strength actually applied."""
        return self.mode.default_strength if self.strength is None else float(self.strength)


@dataclass(frozen=True)
class AnalogyPoint:
    """``a : a_star :: b : ?``. The inputs' stored ids are excluded from search unless ``include_inputs``."""

    a: Point
    a_star: Point
    b: Point
    method: AnalogyMethod = AnalogyMethod.COS_ADD
    include_inputs: bool = False


Point = TextPoint | ImagePoint | VectorPoint | IdPoint | MixPoint | EditPoint | AnalogyPoint | DirectionPoint
