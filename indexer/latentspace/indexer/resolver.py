"""Turning points (:mod:`latentspace.indexer.points`) into unit vectors with a collection's model.

Resolution runs in three passes so a request costs one model call per modality whatever its shape:

1. *gather* walks every point tree, validates it (depth, dimensions, empty texts, weights,
   strengths, limits) and collects its leaves: distinct texts, each drawn from the request's
   :class:`~latentspace.indexer.limits.RequestBudget`, distinct image bytes and distinct ids;
2. *fetch* decodes the images one by one against the budget's pixels, then encodes all texts in one
   ``encode_texts`` call, all images in one ``encode_images`` call and reads all ids in one ``get`` call;
3. *evaluate* walks the trees again and combines the fetched vectors (mixes, edits, analogies).

Named directions are read from the collection in pass 2 too (one read per distinct name) and
refused when the collection's model fingerprint is no longer the one they were made with. Each
resolved point (:mod:`latentspace.indexer.resolved_point`) keeps its linear form (the point as a sum
over the request's leaves) and the directions it used, from which scores are explained.

Errors name the request field in proto path form, e.g. ``query.mix.parts[1].query.text``. Callers pass
the path of each root point (``query``, ``queries[3]``, ``pairs[0].a``, ``edit``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from latentspace.indexer import latent_math as lm
from latentspace.indexer.directions import DirectionRecord, check_direction_model
from latentspace.indexer.errors import DirectionNotFound, InvalidInput, ItemNotFound, ModalityNotSupported
from latentspace.indexer.images import decode_image
from latentspace.indexer.items import StoredItem
from latentspace.indexer.limits import Limits, RequestBudget
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.points import (
    PROMPT_TEMPLATES,
    AnalogyMethod,
    AnalogyPoint,
    Direction,
    DirectionPoint,
    EditMode,
    EditPoint,
    ExamplesDirection,
    IdPoint,
    ImagePoint,
    MixPoint,
    NamedDirection,
    Point,
    TextPairDirection,
    TextPoint,
    VectorDirection,
    VectorPoint,
)
from latentspace.indexer.resolved_point import (
    CosMulTerms,
    LinearForm,
    ResolvedDirection,
    ResolvedEdit,
    ResolvedPoint,
    UsedDirection,
)
from latentspace.indexer.validation import MAX_POINT_DEPTH, check_direction_name, check_query_text

if TYPE_CHECKING:
    from PIL import Image


class PointSource(Protocol):
    """What resolution needs from a collection."""

    @property
    def name(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    @property
    def manifest(self) -> CollectionManifest: ...
    @property
    def modalities(self) -> frozenset[Modality]: ...
    def encode_texts(self, texts: list[str]) -> np.ndarray: ...
    def encode_images(self, images: list[Image.Image]) -> np.ndarray: ...
    def get(self, ids: list[str], *, with_vectors: bool = ...) -> list[StoredItem]: ...
    def get_direction(self, name: str) -> DirectionRecord | None: ...


_TEXT = frozenset({Modality.TEXT})
_IMAGE = frozenset({Modality.IMAGE})
_CONTENT = _TEXT | _IMAGE


@dataclass
class _Leaves:
    """Distinct leaves of one request, each with the first field it appeared in (for errors), and the
    request's budget, which each new text and each decoded image draws on."""

    budget: RequestBudget
    texts: dict[str, str] = field(default_factory=dict)
    images: dict[bytes, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    text_vectors: dict[str, np.ndarray] = field(default_factory=dict)
    image_vectors: dict[bytes, np.ndarray] = field(default_factory=dict)
    items: dict[str, StoredItem] = field(default_factory=dict)
    named: dict[str, DirectionRecord] = field(default_factory=dict)


class PointResolver:
    """Resolves points against one collection: batched encoding, validation, composition."""

    def __init__(self, collection: PointSource, limits: Limits | None = None) -> None:
        """``limits`` bound texts, images and mixes (default: :class:`Limits`' defaults)."""
        self.collection = collection
        self.limits = limits or Limits()

    # ------------------------------------------------------------------ public

    def resolve_many(self, points: Sequence[Point], fields: Sequence[str] | None = None,
                     budget: RequestBudget | None = None) -> list[ResolvedPoint]:
        """Resolve points with one model call per modality; ``fields`` are their request paths.

        ``fields`` defaults to ``queries[i]``; ``budget`` is the request's (default: a fresh one).
        Raises InvalidInput, ItemNotFound, LimitExceeded or ModalityNotSupported naming the
        offending field.
        """
        paths = list(fields) if fields is not None else [f"queries[{i}]" for i in range(len(points))]
        if len(paths) != len(points):
            raise ValueError("one field path per point")
        leaves = self._leaves(budget)
        for point, path in zip(points, paths, strict=True):
            self._gather(point, path, leaves, depth=0)
        self._fetch(leaves)
        return [self._evaluate(point, path, leaves, root=True)
                for point, path in zip(points, paths, strict=True)]

    def resolve(self, point: Point, field: str = "query", budget: RequestBudget | None = None) -> ResolvedPoint:
        """Resolve one point (``field`` is its request path)."""
        return self.resolve_many([point], [field], budget)[0]

    def direction(self, direction: Direction, field: str = "edit.direction",
                  budget: RequestBudget | None = None) -> ResolvedDirection:
        """A direction's unit vector and raw norm; a small raw norm means a weak direction."""
        leaves = self._leaves(budget)
        self._gather_direction(direction, field, leaves, depth=0)
        self._fetch(leaves)
        return self._evaluate_direction(direction, field, leaves)

    def direction_samples(self, direction: TextPairDirection | ExamplesDirection, field: str,
                          budget: RequestBudget | None = None) -> tuple[ResolvedDirection, np.ndarray, np.ndarray]:
        """A direction as an edit would resolve it, with what it was averaged from: ``(direction,
        positives, negatives)``, the target's and neutral's prompt encodings of a text pair (one row
        per template) or the examples' vectors."""
        leaves = self._leaves(budget)
        self._gather_direction(direction, field, leaves, depth=0)
        self._fetch(leaves)
        resolved = self._evaluate_direction(direction, field, leaves)
        if isinstance(direction, TextPairDirection):
            pos = [leaves.text_vectors[p] for p in _prompts(direction.target, direction.use_templates)]
            neg = [leaves.text_vectors[p] for p in _prompts(direction.neutral, direction.use_templates)]
        else:
            pos = [self._evaluate(p, f"{field}.examples.positive[{i}]", leaves, False).vector
                   for i, p in enumerate(direction.positive)]
            neg = [self._evaluate(p, f"{field}.examples.negative[{i}]", leaves, False).vector
                   for i, p in enumerate(direction.negative)]
        d = self.collection.dimension
        return resolved, np.stack(pos), np.stack(neg) if neg else np.zeros((0, d), np.float32)

    def resolve_edit(self, edit: EditPoint, field: str = "edit", budget: RequestBudget | None = None) -> ResolvedEdit:
        """Resolve an edit and keep its parts (for the Edit RPC's report); ``field`` is the Edit's path."""
        leaves = self._leaves(budget)
        self._gather_edit(edit, field, leaves, depth=0)
        self._fetch(leaves)
        base = self._evaluate(edit.base, f"{field}.base", leaves, root=False)
        direction = self._evaluate_direction(edit.direction, f"{field}.direction", leaves)
        result = _edited(edit, base, direction, field)
        return ResolvedEdit(base, direction.vector, direction.norm, result)

    def _leaves(self, budget: RequestBudget | None) -> _Leaves:
        return _Leaves(budget if budget is not None else self.limits.budget())

    # ------------------------------------------------------------------ pass 1: gather and validate

    def _gather(self, point: Point, path: str, leaves: _Leaves, depth: int, root: bool = True) -> None:
        if depth > MAX_POINT_DEPTH:
            raise InvalidInput(f"points nest deeper than {MAX_POINT_DEPTH} levels (mixes, edits and analogies "
                               "inside each other); flatten the query", field=path)
        if isinstance(point, TextPoint):
            self._gather_text(point.text, f"{path}.text", leaves)
        elif isinstance(point, ImagePoint):
            if not point.data:
                raise InvalidInput("image bytes are empty", field=f"{path}.image")
            leaves.images.setdefault(point.data, f"{path}.image")
        elif isinstance(point, VectorPoint):
            self._check_vector(point.vector, f"{path}.vector")
        elif isinstance(point, IdPoint):
            if not point.id:
                raise InvalidInput("item id is empty", field=f"{path}.id")
            leaves.ids.setdefault(point.id, f"{path}.id")
        elif isinstance(point, MixPoint):
            if not point.parts:
                raise InvalidInput("a mix needs at least one part", field=f"{path}.mix.parts")
            self.limits.check_count("max_batch", len(point.parts), f"{path}.mix.parts", "mix parts")
            for i, (part, weight) in enumerate(point.parts):
                if not np.isfinite(weight):
                    raise InvalidInput(f"weight must be a finite number, got {weight}",
                                       field=f"{path}.mix.parts[{i}].weight", reason="NON_FINITE")
                self._gather(part, f"{path}.mix.parts[{i}].query", leaves, depth + 1, root=False)
        elif isinstance(point, EditPoint):
            self._gather_edit(point, f"{path}.edit", leaves, depth)
        elif isinstance(point, DirectionPoint):
            self._gather_direction(point.direction, f"{path}.direction", leaves, depth)
        elif isinstance(point, AnalogyPoint):
            if point.method is AnalogyMethod.COS_MUL and not root:
                raise InvalidInput("a COS_MUL analogy is a ranking of candidates, not a point, so it cannot "
                                   "be part of another point; use COS_ADD here",
                                   field=f"{path}.analogy.method")
            for name in ("a", "a_star", "b"):
                self._gather(getattr(point, name), f"{path}.analogy.{name}", leaves, depth + 1, root=False)
        else:
            raise InvalidInput(f"not a query point: {type(point).__name__}", field=path)

    def _gather_text(self, text: str, path: str, leaves: _Leaves) -> None:
        check_query_text(text, path, self.limits.max_text_chars)
        self._add_text(text, path, leaves)

    @staticmethod
    def _add_text(text: str, path: str, leaves: _Leaves) -> None:
        # Each distinct text is encoded once, so it is charged to the request's budget once.
        if text not in leaves.texts:
            leaves.budget.spend_text(len(text), path)
            leaves.texts[text] = path

    def _gather_edit(self, edit: EditPoint, path: str, leaves: _Leaves, depth: int) -> None:
        # ``depth`` is the edit's own; its base and its examples sit one level below it.
        strength = edit.effective_strength
        if not np.isfinite(strength):
            raise InvalidInput(f"strength must be a finite number, got {strength}", field=f"{path}.strength",
                               reason="NON_FINITE")
        if edit.mode is EditMode.ROTATE and not 0.0 <= strength <= 1.0:
            raise InvalidInput(f"ROTATE takes a fraction of the angle in [0, 1], got {strength}",
                               field=f"{path}.strength")
        self._gather(edit.base, f"{path}.base", leaves, depth + 1, root=False)
        self._gather_direction(edit.direction, f"{path}.direction", leaves, depth)

    def _gather_direction(self, direction: Direction, path: str, leaves: _Leaves, depth: int) -> None:
        # ``depth`` is that of the edit the direction belongs to; its examples sit one level below.
        if isinstance(direction, TextPairDirection):
            for name in ("neutral", "target"):
                text = getattr(direction, name)
                check_query_text(text, f"{path}.text_pair.{name}", self.limits.max_text_chars)
                for prompt in _prompts(text, direction.use_templates):
                    self._add_text(prompt, f"{path}.text_pair.{name}", leaves)
        elif isinstance(direction, ExamplesDirection):
            if not direction.positive:
                raise InvalidInput("a direction from examples needs at least one positive example",
                                   field=f"{path}.examples.positive")
            for name in ("positive", "negative"):
                self.limits.check_count("max_batch", len(getattr(direction, name)), f"{path}.examples.{name}",
                                        f"{name} examples")
                for i, point in enumerate(getattr(direction, name)):
                    self._gather(point, f"{path}.examples.{name}[{i}]", leaves, depth + 1, root=False)
        elif isinstance(direction, VectorDirection):
            self._check_vector(direction.vector, f"{path}.vector")
        elif isinstance(direction, NamedDirection):
            check_direction_name(direction.name, f"{path}.name")
            leaves.directions.setdefault(direction.name, f"{path}.name")
        else:
            raise InvalidInput(f"not a direction: {type(direction).__name__}", field=path)

    def _check_vector(self, vector: np.ndarray, path: str) -> None:
        v = np.asarray(vector)
        if v.ndim != 1 or v.shape[0] != self.collection.dimension:
            got = v.shape[0] if v.ndim == 1 else f"shape {v.shape}"
            raise InvalidInput(f"expected {self.collection.dimension} dimensions, got {got}", field=path,
                               reason="WRONG_DIMENSION")
        lm.normalize(v, field=path)  # zero or non-finite: refused before any model call

    # ------------------------------------------------------------------ pass 2: one call per modality

    def _fetch(self, leaves: _Leaves) -> None:
        modalities = self.collection.modalities
        if leaves.texts:
            texts = list(leaves.texts)
            if Modality.TEXT not in modalities:
                raise ModalityNotSupported(
                    f"collection {self.collection.name!r} has no text model; query it with vectors or ids",
                    field=leaves.texts[texts[0]])
            leaves.text_vectors = dict(zip(texts, self.collection.encode_texts(texts), strict=True))
        if leaves.images:
            blobs = list(leaves.images)
            if Modality.IMAGE not in modalities:
                raise ModalityNotSupported(
                    f"collection {self.collection.name!r} has no image model; image queries need a CLIP "
                    "model such as 'shapes-clip'", field=leaves.images[blobs[0]])
            # One by one against the request's running pixel budget, each checked before it is decompressed.
            images = [decode_image(blob, max_pixels=self.limits.max_image_pixels, field=leaves.images[blob],
                                   budget=leaves.budget) for blob in blobs]
            leaves.image_vectors = dict(zip(blobs, self.collection.encode_images(images), strict=True))
        if leaves.ids:
            found = self.collection.get(list(leaves.ids), with_vectors=True)
            leaves.items = {item.id: item for item in found}
            for item_id, path in leaves.ids.items():
                if item_id not in leaves.items or leaves.items[item_id].vector is None:
                    raise ItemNotFound(f"no item with id {item_id!r} in collection {self.collection.name!r}",
                                       field=path)
        for name, path in leaves.directions.items():
            record = self.collection.get_direction(name)
            if record is None:
                raise DirectionNotFound(f"no direction named {name!r} in collection {self.collection.name!r}; "
                                        "ListDirections shows the stored ones", field=path)
            check_direction_model(record, self.collection.manifest.fingerprint, self.collection.dimension, path)
            leaves.named[name] = record

    # ------------------------------------------------------------------ pass 3: evaluate

    def _evaluate(self, point: Point, path: str, leaves: _Leaves, root: bool) -> ResolvedPoint:
        if isinstance(point, TextPoint):
            return ResolvedPoint.leaf(leaves.text_vectors[point.text], Modality.TEXT, path, sources=_TEXT)
        if isinstance(point, ImagePoint):
            return ResolvedPoint.leaf(leaves.image_vectors[point.data], Modality.IMAGE, path, sources=_IMAGE)
        if isinstance(point, VectorPoint):
            return ResolvedPoint.leaf(lm.normalize(point.vector, field=f"{path}.vector"), Modality.VECTOR, path)
        if isinstance(point, IdPoint):
            item = leaves.items[point.id]
            assert item.vector is not None  # checked in _fetch
            return ResolvedPoint.leaf(lm.normalize(item.vector, field=f"{path}.id"), item.modality, path,
                                      input_ids=frozenset({point.id}),
                                      sources=frozenset({item.modality}) & _CONTENT)
        if isinstance(point, DirectionPoint):
            d = self._evaluate_direction(point.direction, f"{path}.direction", leaves)
            # A direction is a difference: it carries no modality of its own.
            return ResolvedPoint.leaf(d.vector, Modality.VECTOR, f"{path}.direction",
                                      directions=(UsedDirection(f"{path}.direction", d.name, d.vector),))
        if isinstance(point, MixPoint):
            parts = [self._evaluate(p, f"{path}.mix.parts[{i}].query", leaves, False)
                     for i, (p, _) in enumerate(point.parts)]
            weights = lm.mix_coefficients(np.stack([p.vector for p in parts]), [w for _, w in point.parts],
                                          field=f"{path}.mix")
            sources = frozenset().union(*(p.sources for p, (_, w) in zip(parts, point.parts, strict=True) if w))
            form = _flat(parts, weights)
            return ResolvedPoint(form.point(), Modality.VECTOR, _union(parts), sources=sources, form=form,
                                 directions=_directions(parts))
        if isinstance(point, EditPoint):
            e = f"{path}.edit"
            base = self._evaluate(point.base, f"{e}.base", leaves, False)
            direction = self._evaluate_direction(point.direction, f"{e}.direction", leaves)
            return _edited(point, base, direction, e)
        if isinstance(point, AnalogyPoint):
            names = ("a", "a_star", "b")
            a, a_star, b = terms = [self._evaluate(getattr(point, n), f"{path}.analogy.{n}", leaves, False)
                                    for n in names]
            ids = _union(terms)
            signs = lm.analogy_cos_add_coefficients(a.vector, a_star.vector, b.vector, field=f"{path}.analogy")
            paths = (f"{path}.analogy.a", f"{path}.analogy.a_star", f"{path}.analogy.b")
            cos_mul = CosMulTerms(a.vector, a_star.vector, b.vector, paths) \
                if point.method is AnalogyMethod.COS_MUL else None
            exclude = frozenset() if point.include_inputs or not root else ids
            # a* - a cancels when both share a modality, leaving b's; otherwise all of them count.
            sources = b.sources if a.sources == a_star.sources else a.sources | a_star.sources | b.sources
            form = _flat(terms, signs)
            return ResolvedPoint(form.point(), Modality.VECTOR, ids, exclude, cos_mul, sources, form,
                                 _directions(terms))
        raise InvalidInput(f"not a query point: {type(point).__name__}", field=path)

    def _evaluate_direction(self, direction: Direction, path: str, leaves: _Leaves) -> ResolvedDirection:
        if isinstance(direction, TextPairDirection):
            f = f"{path}.text_pair"
            targets = [leaves.text_vectors[p] for p in _prompts(direction.target, direction.use_templates)]
            neutrals = [leaves.text_vectors[p] for p in _prompts(direction.neutral, direction.use_templates)]
            # Mean over templates of E(target) - E(neutral) = difference of the two means.
            return ResolvedDirection(*lm.direction_from_examples(np.stack(targets), np.stack(neutrals), field=f))
        if isinstance(direction, ExamplesDirection):
            pos = [self._evaluate(p, f"{path}.examples.positive[{i}]", leaves, False)
                   for i, p in enumerate(direction.positive)]
            neg = [self._evaluate(p, f"{path}.examples.negative[{i}]", leaves, False)
                   for i, p in enumerate(direction.negative)]
            negatives = np.stack([n.vector for n in neg]) if neg else np.zeros((0, len(pos[0].vector)))
            return ResolvedDirection(*lm.direction_from_examples(np.stack([p.vector for p in pos]), negatives,
                                                                 field=f"{path}.examples"))
        if isinstance(direction, NamedDirection):
            record = leaves.named[direction.name]
            return ResolvedDirection(record.vector, record.norm, record.name)
        raw = np.asarray(direction.vector, dtype=np.float64)
        return ResolvedDirection(lm.normalize(raw, field=f"{path}.vector"), float(np.linalg.norm(raw)))


def _prompts(text: str, use_templates: bool) -> list[str]:
    return [t.format(text) for t in PROMPT_TEMPLATES] if use_templates else [text]


def _union(points: Sequence[ResolvedPoint]) -> frozenset[str]:
    return frozenset().union(*(p.input_ids for p in points))


def _flat(points: Sequence[ResolvedPoint], coefficients: Sequence[float] | np.ndarray) -> LinearForm:
    """``sum_i coefficients[i] * points[i]`` over the points' leaves, normalised (see LinearForm.normalised)."""
    parts = [(p.linear_form, float(c)) for p, c in zip(points, coefficients, strict=True)]
    return LinearForm.combine(parts).normalised()


def _directions(points: Sequence[ResolvedPoint]) -> tuple[UsedDirection, ...]:
    return tuple(d for p in points for d in p.directions)


def _edited(edit: EditPoint, base: ResolvedPoint, direction: ResolvedDirection, path: str) -> ResolvedPoint:
    """The edited point, as a linear combination of the base and the direction."""
    strength = edit.effective_strength
    if edit.mode is EditMode.ROTATE:
        cb, cd = lm.edit_rotate_coefficients(base.vector, direction.vector, strength, field=path)
    elif edit.mode is EditMode.REMOVE:
        cb, cd = lm.edit_remove_coefficients(base.vector, direction.vector, strength, field=path)
    else:
        cb, cd = lm.edit_add_coefficients(base.vector, direction.vector, strength, field=path)
    d_path = f"{path}.direction"
    used = UsedDirection(d_path, direction.name, direction.vector)
    leaf = ResolvedPoint.leaf(direction.vector, Modality.VECTOR, d_path)
    form = _flat([base, leaf], (cb, cd))
    # A direction is a difference: it carries no modality of its own, the base does.
    return ResolvedPoint(form.point(), Modality.VECTOR, base.input_ids, sources=base.sources, form=form,
                         directions=(*base.directions, used))
