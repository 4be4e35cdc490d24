"""Points: what a caller may pass wherever the API takes a point, and how each becomes a ``Query``.

A point is one of:

========================================  ==========================================================
``str``                                   text, encoded by the collection's model (never a path)
``bytes`` / ``bytearray`` / ``memoryview``  encoded image bytes (PNG, JPEG, WebP, ...)
``pathlib.Path``                          an image file, read here and sent as bytes
``PIL.Image.Image``                       an image, encoded here as PNG
numpy array, list/tuple of numbers,       a raw vector of the collection's dimension
``array.array``
``Id("abc")``                             the stored vector of item ``abc``
``Mix([(p, w), ...])``                    normalise(sum w * p)
``Edit(base, direction, mode, strength)``  a base point moved along a direction
``Analogy(a, a_star, b, method)``         a : a_star :: b : ?
``NamedDirection("to-blue")``, ``TextPair``,  a direction's unit vector as a point (searched alone: items
``Examples``                              ranked by their projection on it; in a ``Mix``: a move along it)
a ``latentspace.v1.Query`` message        passed through as it is
========================================  ==========================================================

Composites nest: a ``Mix`` of an ``Edit`` and an ``Id`` is a point like any other, at most
:data:`MAX_POINT_DEPTH` levels deep (the server's bound; deeper trees are refused here with a
``ValueError`` before anything is sent).
"""

from __future__ import annotations

import array
import io
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from latentspace_client._generated.latentspace.v1 import types_pb2 as tpb
from latentspace_client.vectors import is_numpy_array, pack_vector

_Enum = TypeVar("_Enum", bound=int)

#: How deep composite points may nest: each mix part, edit base, example and analogy term is one level
#: below its parent. The server's bound (``latentspace.indexer.validation.MAX_POINT_DEPTH``, kept equal
#: by a test); within it a query also stays under protobuf's own nesting limit.
MAX_POINT_DEPTH = 16

#: Anything :func:`to_query` accepts (see the module docstring).
Point: TypeAlias = Any


@dataclass(frozen=True)
class Id:
    """A stored item, by its id: its stored vector is the point."""

    value: str


@dataclass(frozen=True)
class TextPair:
    """A direction from text: normalise(E(target) - E(neutral)).

    ``use_templates`` averages the difference over the server's prompt templates.
    """

    neutral: str
    target: str
    use_templates: bool = False


@dataclass(frozen=True)
class Examples:
    """A direction from examples: normalise(mean(positive) - mean(negative))."""

    positive: Sequence[Point]
    negative: Sequence[Point] = ()


@dataclass(frozen=True)
class NamedDirection:
    """A direction stored in the collection under ``name`` (``client.create_direction``)."""

    name: str


@dataclass(frozen=True)
class Labels:
    """What ``create_direction`` can make a direction from besides a text pair, examples or a vector:
    the collection's items whose payload ``field`` equals ``positive`` against those where it equals
    ``negative``, among the items that pass ``filter`` (a filter dict, as in ``search``)."""

    field: str
    positive: Any
    negative: Any
    filter: Any = None


#: A direction: a text pair, examples, a stored direction's name, or a raw vector (list / numpy array).
Direction: TypeAlias = TextPair | Examples | NamedDirection | Any


@dataclass(frozen=True)
class Mix:
    """normalise(sum_i w_i * p_i). ``parts`` holds ``(point, weight)`` pairs or bare points (weight 1).

    A pair is a 2-tuple whose second element is a number and whose first is not (so ``(0.1, 0.2)``
    stays a 2-d vector). Weights may be negative.
    """

    parts: Sequence[Any]

    def __post_init__(self) -> None:
        # Normalised once to ((point, weight or None), ...); None means the default weight 1.0.
        parts = tuple(_weighted_part(p) for p in self.parts)
        if not parts:
            raise ValueError("Mix needs at least one part")
        object.__setattr__(self, "parts", parts)


@dataclass(frozen=True)
class Edit:
    """A base point moved along a direction.

    ``mode``: "add" (normalise(base + strength * d), default strength 1.0), "rotate" (slerp towards
    d by a fraction of the angle, default 0.5) or "remove" (project d out, default 1.0).
    """

    base: Point
    direction: Direction
    mode: str = "add"
    strength: float | None = None


@dataclass(frozen=True)
class Analogy:
    """a : a_star :: b : ?  ``method`` "cos_add" (a point) or "cos_mul" (a ranking; Search only).

    The ids of stored items used as inputs are excluded from results unless ``include_inputs``.
    """

    a: Point
    a_star: Point
    b: Point
    method: str = "cos_add"
    include_inputs: bool = False


# The one place each name becomes a wire enum.
EDIT_MODES = {"add": tpb.EDIT_MODE_ADD, "rotate": tpb.EDIT_MODE_ROTATE, "remove": tpb.EDIT_MODE_REMOVE}
ANALOGY_METHODS = {"cos_add": tpb.ANALOGY_METHOD_COS_ADD, "cos_mul": tpb.ANALOGY_METHOD_COS_MUL}


def enum_value(table: Mapping[str, _Enum], name: str, what: str) -> _Enum:
    """Look ``name`` up in one of the name tables, with an error that lists the choices."""
    try:
        return table[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown {what} {name!r}; expected one of {', '.join(table)}") from None


def to_query(point: Point) -> tpb.Query:
    """Turn any accepted point (see the module docstring) into a ``Query`` message.

    Raises ``ValueError`` when composites nest deeper than :data:`MAX_POINT_DEPTH`.
    """
    return _query(point, 0)


def _query(point: Point, depth: int) -> tpb.Query:
    if depth > MAX_POINT_DEPTH:
        raise _too_deep()
    if isinstance(point, tpb.Query):
        if depth + _message_depth(point) > MAX_POINT_DEPTH:
            raise _too_deep()
        return point
    if isinstance(point, str):
        return tpb.Query(text=point)
    if isinstance(point, bytes | bytearray | memoryview):
        return tpb.Query(image=bytes(point))
    if isinstance(point, Path):
        return tpb.Query(image=point.read_bytes())
    if isinstance(point, Id):
        return tpb.Query(id=point.value)
    if isinstance(point, Mix):
        return tpb.Query(mix=_mix(point, depth))
    if isinstance(point, Edit):
        return tpb.Query(edit=_edit(point, depth))
    if isinstance(point, Analogy):
        return tpb.Query(analogy=_analogy(point, depth))
    if isinstance(point, TextPair | Examples | NamedDirection):
        return tpb.Query(direction=_direction(point, depth))
    if _is_vector(point):
        return tpb.Query(vector=pack_vector(point))
    if _is_pil_image(point):
        return tpb.Query(image=encode_png(point))
    raise TypeError(
        f"cannot use {type(point).__name__} as a point: pass text (str), image bytes, a pathlib.Path, "
        "a PIL image, a vector (list of floats / numpy array), Id(...), Mix, Edit, Analogy or a direction "
        "(NamedDirection, TextPair, Examples)"
    )


def to_queries(points: Iterable[Point]) -> list[tpb.Query]:
    """:func:`to_query` over many points."""
    return [to_query(p) for p in points]


def point_from_keywords(
    point: Point = None,
    *,
    text: str | None = None,
    image: Any = None,
    vector: Any = None,
    id: str | None = None,
) -> Point:
    """The one point given either positionally or as exactly one of text=, image=, vector=, id=."""
    keywords = {"text": text, "image": image, "vector": vector, "id": id}
    given = {k: v for k, v in keywords.items() if v is not None}
    if point is not None:
        given = {"point": point, **given}
    if len(given) != 1:
        names = ", ".join(given) or "nothing"
        raise ValueError(f"pass exactly one point (positional, text=, image=, vector= or id=); got {names}")
    ((kind, value),) = given.items()
    if kind == "text":
        if not isinstance(value, str):
            raise TypeError(f"text= takes a str, got {type(value).__name__}")
        return value
    if kind == "image":
        return tpb.Query(image=image_bytes(value))
    if kind == "vector":
        return tpb.Query(vector=pack_vector(value))
    if kind == "id":
        return Id(str(value))
    return value


def image_bytes(image: Any) -> bytes:
    """Encoded image bytes from bytes, a path (str or Path, read here) or a PIL image (as PNG)."""
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    if isinstance(image, str | Path):
        return Path(image).read_bytes()
    if _is_pil_image(image):
        return encode_png(image)
    raise TypeError(f"an image is bytes, a file path or a PIL image, not {type(image).__name__}")


def encode_png(image: Any) -> bytes:
    """A PIL image as PNG bytes (lossless, so the server sees the pixels the caller had)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def to_direction(direction: Direction) -> tpb.Direction:
    """A ``TextPair``, ``Examples``, ``NamedDirection`` or raw vector as a ``Direction`` message."""
    return _direction(direction, 0)


def _direction(direction: Direction, depth: int) -> tpb.Direction:
    # ``depth`` is that of the edit the direction belongs to; its examples sit one level below.
    if isinstance(direction, tpb.Direction):
        return direction
    if isinstance(direction, TextPair):
        return tpb.Direction(
            text_pair=tpb.TextPair(
                neutral=direction.neutral, target=direction.target, use_templates=direction.use_templates
            )
        )
    if isinstance(direction, Examples):
        if isinstance(direction.positive, str | bytes) or isinstance(direction.negative, str | bytes):
            raise TypeError("Examples takes sequences of points: Examples(['a red circle'], ['a circle'])")
        positive = [_query(p, depth + 1) for p in direction.positive]
        negative = [_query(p, depth + 1) for p in direction.negative]
        return tpb.Direction(examples=tpb.Examples(positive=positive, negative=negative))
    if isinstance(direction, NamedDirection):
        return tpb.Direction(name=direction.name)
    if _is_vector(direction):
        return tpb.Direction(vector=pack_vector(direction))
    raise TypeError(
        f"cannot use {type(direction).__name__} as a direction: pass TextPair(neutral, target), "
        "Examples(positive, negative), NamedDirection(name) or a vector"
    )


def to_edit(edit: Edit) -> tpb.Edit:
    """An ``Edit`` helper as an ``Edit`` message."""
    return _edit(edit, 0)


def _edit(edit: Edit, depth: int) -> tpb.Edit:
    message = tpb.Edit(
        base=_query(edit.base, depth + 1),
        direction=_direction(edit.direction, depth),
        mode=enum_value(EDIT_MODES, edit.mode, "edit mode"),
    )
    if edit.strength is not None:
        message.strength = edit.strength
    return message


def _mix(mix: Mix, depth: int) -> tpb.Mix:
    message = tpb.Mix()
    for point, weight in mix.parts:
        part = message.parts.add(query=_query(point, depth + 1))
        if weight is not None:
            part.weight = weight
    return message


def _analogy(analogy: Analogy, depth: int) -> tpb.Analogy:
    return tpb.Analogy(
        a=_query(analogy.a, depth + 1),
        a_star=_query(analogy.a_star, depth + 1),
        b=_query(analogy.b, depth + 1),
        method=enum_value(ANALOGY_METHODS, analogy.method, "analogy method"),
        include_inputs=analogy.include_inputs,
    )


def _too_deep() -> ValueError:
    return ValueError(f"points nest deeper than {MAX_POINT_DEPTH} levels (mixes, edits and analogies inside "
                      "each other); flatten the query")


def _message_depth(query: tpb.Query) -> int:
    """How many composite levels a ready-made ``Query`` message holds below itself."""
    kind = query.WhichOneof("kind")
    children: list[tpb.Query] = []
    if kind == "mix":
        children = [part.query for part in query.mix.parts]
    elif kind == "edit":
        children = [query.edit.base, *_examples(query.edit.direction)]
    elif kind == "direction":
        children = _examples(query.direction)
    elif kind == "analogy":
        children = [query.analogy.a, query.analogy.a_star, query.analogy.b]
    return 1 + max(_message_depth(child) for child in children) if children else 0


def _examples(direction: tpb.Direction) -> list[tpb.Query]:
    if direction.WhichOneof("kind") != "examples":
        return []
    return [*direction.examples.positive, *direction.examples.negative]


def _weighted_part(part: Any) -> tuple[Point, float | None]:
    if isinstance(part, tuple) and len(part) == 2 and _is_number(part[1]) and not _is_number(part[0]):
        return part[0], float(part[1])
    return part, None


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _is_vector(value: Any) -> bool:
    if is_numpy_array(value) or isinstance(value, array.array):
        return True
    return isinstance(value, list | tuple) and len(value) > 0 and all(_is_number(v) for v in value)


def _is_pil_image(value: Any) -> bool:
    # Only an already-imported PIL can have made this object, so never import it here.
    pil_image = sys.modules.get("PIL.Image")
    return pil_image is not None and isinstance(value, pil_image.Image)
