"""The library side of every ``LatentSpace`` RPC, so the gRPC layer only translates.

:class:`LatentOperations` wraps one collection: points are resolved with one model call per modality
(:mod:`latentspace.indexer.resolver`), the maths is :mod:`latentspace.indexer.latent_math`, and all the
searches of one request go to the collection as one batch wherever the semantics allow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from latentspace.indexer import latent_math as lm
from latentspace.indexer.decoders.base import Decoder
from latentspace.indexer.direction_builder import DirectionBuilder, DirectionStore
from latentspace.indexer.directions import DirectionDefinition, DirectionMethod, DirectionRecord
from latentspace.indexer.errors import DirectionNotFound, InvalidInput, NoDecoder
from latentspace.indexer.explain import explain_hits
from latentspace.indexer.items import Hit
from latentspace.indexer.limits import Limits, RequestBudget
from latentspace.indexer.modality import Modality
from latentspace.indexer.modality_stats import ModalityStatistics
from latentspace.indexer.points import EditPoint, InterpolationMethod, Point
from latentspace.indexer.ranking import pool_size, ranked_search
from latentspace.indexer.resolved_point import CosMulTerms, LinearForm, ResolvedPoint, UsedDirection
from latentspace.indexer.resolver import PointResolver
from latentspace.indexer.search_options import ScoreMode, SearchOptions
from latentspace.indexer.validation import (
    check_batch,
    check_decoded_images,
    check_direction_name,
    check_search_options,
)

#: 3CosMul re-ranks candidates gathered around three points; this many (at least) around each.
COS_MUL_MIN_CANDIDATES = 200
COS_MUL_CANDIDATES_PER_K = 10


class SearchableCollection(DirectionStore, Protocol):
    """What the operations need from a collection: resolution, batched search and stored directions."""

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]: ...
    def count(self) -> int: ...
    @property
    def modality_statistics(self) -> ModalityStatistics: ...


@dataclass(frozen=True)
class DistanceResult:
    """How far apart two points are (proto ``Distance``)."""

    cosine: float
    angular: float
    euclidean: float
    cross_modal: bool
    a_modality: Modality
    b_modality: Modality


@dataclass(frozen=True, eq=False)
class DistanceMatrix:
    """Row-by-column distances; every array is ``(rows, columns)``."""

    cosine: np.ndarray
    angular: np.ndarray
    euclidean: np.ndarray
    cross_modal: np.ndarray
    row_modalities: tuple[Modality, ...]
    column_modalities: tuple[Modality, ...]


@dataclass(frozen=True, eq=False)
class PathStep:
    """One point of an interpolation path and its neighbours."""

    t: float
    cos_to_a: float
    cos_to_b: float
    vector: np.ndarray
    hits: list[Hit]
    #: The point drawn by the collection's decoder (PNG), when the request asked to decode.
    image: bytes | None = None


@dataclass(frozen=True)
class InterpolationResult:
    """The path's steps, and the angle between a and b in radians."""

    steps: list[PathStep]
    angle: float


@dataclass(frozen=True, eq=False)
class EditResult:
    """The edited point and how far it moved (proto ``EditResponse``)."""

    vector: np.ndarray
    cos_to_base: float
    base_projection: float
    result_projection: float
    direction_norm: float
    hits: list[Hit]
    #: The base and the edited point drawn by the collection's decoder (PNG), when asked to decode.
    base_image: bytes | None = None
    image: bytes | None = None


@dataclass(frozen=True)
class DecodedImages:
    """Points drawn as images by the collection's decoder (proto ``DecodeResponse``)."""

    #: One PNG per point, in order.
    images: list[bytes]
    #: The decoder's name and version, and the ``(width, height)`` of every image.
    decoder: str
    size: tuple[int, int]


class LatentOperations:
    """Encode, search, distance, interpolate and edit over one collection.

    Every method checks its request against :attr:`limits` and takes the request's ``budget``
    (default: a fresh one per call, which is one request), drawn on by texts and decoded images.
    """

    def __init__(self, collection: SearchableCollection, limits: Limits | None = None, *,
                 decoder: Callable[[], Decoder] | None = None) -> None:
        """``decoder`` loads the decoder of the collection's model (raising :class:`NoDecoder` when it
        has none); without one, every request to decode is refused with :class:`NoDecoder`."""
        self.collection = collection
        self.limits = limits or Limits()
        self.resolver = PointResolver(collection, self.limits)
        self.directions = DirectionBuilder(collection, self.resolver, self.limits)
        self._decoder = decoder

    # ------------------------------------------------------------------ Encode

    def encode(self, points: Sequence[Point], fields: Sequence[str] | None = None,
               budget: RequestBudget | None = None) -> list[ResolvedPoint]:
        """Each point as a unit vector with its modality. A COS_MUL analogy is refused (not a point)."""
        paths = list(fields) if fields is not None else _paths("queries", len(points))
        self._check_batch(points, "queries")
        resolved = self.resolver.resolve_many(points, paths, budget)
        _require_points(resolved, paths, "Encode")
        return resolved

    # ------------------------------------------------------------------ Decode

    def decode(self, points: Sequence[Point], fields: Sequence[str] | None = None,
               budget: RequestBudget | None = None) -> DecodedImages:
        """Each point drawn as an image (PNG) by the decoder of the collection's model.

        :class:`NoDecoder` (FAILED_PRECONDITION) when the model has none; at most
        ``max_decoded_images`` points. A COS_MUL analogy is refused (not a point).
        """
        paths = list(fields) if fields is not None else _paths("queries", len(points))
        self._check_batch(points, "queries")
        decoder = self._decoder_for(len(points), "queries")
        resolved = self.resolver.resolve_many(points, paths, budget)
        _require_points(resolved, paths, "Decode")
        return DecodedImages(decoder.decode_png(_stack(resolved)), decoder.name, decoder.output_size)

    def _decoder_for(self, count: int, field: str) -> Decoder:
        # Checked before any point is resolved: a request that cannot be drawn costs no model call.
        check_decoded_images(count, self.limits, field)
        if self._decoder is None:
            raise NoDecoder(f"collection {self.collection.name!r} is served without a decoder, so its points "
                            "cannot be drawn as images", field="collection")
        return self._decoder()

    # ------------------------------------------------------------------ Search

    def search(self, points: Sequence[Point], options: SearchOptions,
               fields: Sequence[str] | None = None, budget: RequestBudget | None = None) -> list[list[Hit]]:
        """The top ``options.k`` hits for each point, in order.

        ``fields`` default to ``query`` for one point, else ``queries[i]``. An analogy's input ids are
        excluded unless it includes them; a COS_MUL analogy re-ranks candidates by the 3CosMul score.
        """
        self._check_k(options.k, "options.k", low=1)
        self._check_batch(points, "queries")
        self.limits.check_count("max_hits", len(points) * options.k, "options.k",
                                f"hits in the response ({len(points)} queries x k {options.k})")
        check_search_options(options, self.limits, "options.")
        self._check_pool(len(points), options, "options.")
        paths = list(fields) if fields is not None else (
            ["query"] if len(points) == 1 else _paths("queries", len(points)))
        resolved = self.resolver.resolve_many(points, paths, budget)
        results: list[list[Hit]] = [[] for _ in resolved]
        plain = [i for i, r in enumerate(resolved) if r.cos_mul is None]
        ranked = [i for i, r in enumerate(resolved) if r.cos_mul is not None]
        if plain:
            found = self._search_excluding([resolved[i] for i in plain], options)
            for i, hits in zip(plain, found, strict=True):
                results[i] = hits
        if ranked:
            found = self._search_cos_mul([resolved[i] for i in ranked], options)
            for i, hits in zip(ranked, found, strict=True):
                results[i] = hits
        return results

    def _search_excluding(self, points: list[ResolvedPoint], options: SearchOptions) -> list[list[Hit]]:
        if not options.plain:
            return self._rank_excluding(points, options)
        # One batch call for every point: each asks for k plus its own exclusion count, so dropping its
        # excluded ids afterwards still leaves k (an id appears at most once in one result list).
        extra = max(len(p.exclude_ids) for p in points)
        searched = _for_collection(dataclasses.replace(options, k=options.k + extra) if extra else options)
        queries = points[0].vector[None, :] if len(points) == 1 else np.stack([p.vector for p in points])
        lists = self.collection.search(queries, searched)
        if not extra:
            return [_explained(hits, options, p.form, p.directions) for p, hits in zip(points, lists, strict=True)]
        return [_explained([h for h in hits if h.id not in p.exclude_ids][: options.k], options, p.form, p.directions)
                for p, hits in zip(points, lists, strict=True)]

    def _rank_excluding(self, points: list[ResolvedPoint], options: SearchOptions) -> list[list[Hit]]:
        # A ranking picks among candidates, so each point's own exclusions (an analogy's inputs) go in
        # first: points without any are ranked as one batch, the others one by one.
        searched = _for_collection(options)
        found: dict[int, list[Hit]] = {}
        shared = [i for i, p in enumerate(points) if not p.exclude_ids]
        if shared:
            found.update(zip(shared, self._rank(np.stack([points[i].vector for i in shared]), searched), strict=True))
        for i, p in enumerate(points):
            if p.exclude_ids:
                own = dataclasses.replace(searched, exclude_ids=searched.exclude_ids | p.exclude_ids)
                found[i] = self._rank(p.vector[None, :], own)[0]
        return [_explained(found[i], options, p.form, p.directions) for i, p in enumerate(points)]

    def _search_cos_mul(self, points: list[ResolvedPoint], options: SearchOptions) -> list[list[Hit]]:
        # Candidates come from around the 3CosAdd point, b and a_star (where 3CosMul's maximisers lie),
        # then all are re-scored exactly with their stored vectors. The threshold applies to the final
        # 3CosMul score, not to the candidates' cosines.
        if not options.plain:
            field = "options.score_mode" if options.score_mode is not ScoreMode.RAW else "options.diversity"
            raise InvalidInput("a COS_MUL analogy ranks by its own score: calibrated scores and diversity apply "
                               "to cosine rankings; use COS_ADD for them", field=field)
        count = self.collection.count()
        if count == 0:
            return [[] for _ in points]
        wanted = max(COS_MUL_CANDIDATES_PER_K * options.k, COS_MUL_MIN_CANDIDATES)
        n = min(count, wanted + max(len(p.exclude_ids) for p in points))
        queries = []
        for p in points:
            assert p.cos_mul is not None
            queries += [p.vector, p.cos_mul.b, p.cos_mul.a_star]
        candidate_options = dataclasses.replace(options, k=n, with_vectors=True, score_threshold=None, explain=False)
        lists = self.collection.search(np.stack(queries), candidate_options)
        results = []
        for j, p in enumerate(points):
            assert p.cos_mul is not None
            pool: dict[str, Hit] = {}
            for hits in lists[3 * j: 3 * j + 3]:
                pool.update((h.id, h) for h in hits if h.id not in p.exclude_ids and h.vector is not None)
            keep = options.with_vectors or options.explain  # explaining needs the vectors
            ranked = _rank_cos_mul(list(pool.values()), p.cos_mul, dataclasses.replace(options, with_vectors=keep))
            results.append(_explained(ranked, options, None, p.directions, p.cos_mul))
        return results

    # ------------------------------------------------------------------ Distance

    def distance(self, pairs: Sequence[tuple[Point, Point]], fields: Sequence[str] | None = None,
                 budget: RequestBudget | None = None) -> list[DistanceResult]:
        """Cosine, angular and Euclidean distance for each pair, and whether it crosses modalities.

        ``fields`` name the pairs (default ``pairs[i]``); their sides are ``.a`` and ``.b``.
        """
        self._check_batch(pairs, "pairs")
        names = list(fields) if fields is not None else _paths("pairs", len(pairs))
        paths = [f"{n}.{side}" for n in names for side in ("a", "b")]
        resolved = self.resolver.resolve_many([p for pair in pairs for p in pair], paths, budget)
        _require_points(resolved, paths, "a distance")
        a, b = resolved[0::2], resolved[1::2]
        cos, ang, euc = lm.distance_triple(lm.pairwise_cosines(_stack(a), _stack(b)))
        return [
            DistanceResult(float(c), float(g), float(e), _is_cross_modal(x, y), x.modality,
                           y.modality)
            for c, g, e, x, y in zip(cos, ang, euc, a, b, strict=True)
        ]

    def distance_matrix(self, rows: Sequence[Point], columns: Sequence[Point] | None = None,
                        budget: RequestBudget | None = None) -> DistanceMatrix:
        """Distances between every row and every column point; ``columns=None``: rows against themselves."""
        self._check_batch(rows, "rows")
        cols = columns if columns is not None else []
        self._check_batch(cols, "columns", allow_empty=True)
        paths = _paths("rows", len(rows)) + _paths("columns", len(cols))
        resolved = self.resolver.resolve_many([*rows, *cols], paths, budget)
        _require_points(resolved, paths, "a distance")
        row_points = resolved[: len(rows)]
        col_points = resolved[len(rows):] if columns is not None else row_points
        d = self.collection.dimension
        r = _stack(row_points) if row_points else np.zeros((0, d), np.float32)
        c = _stack(col_points) if col_points else np.zeros((0, d), np.float32)
        cos, ang, euc = lm.distance_triple(lm.cosine_matrix(r, c))
        row_mods = tuple(p.modality for p in row_points)
        col_mods = tuple(p.modality for p in col_points)
        cross = np.array([[_is_cross_modal(x, y) for y in col_points] for x in row_points], dtype=bool).reshape(
            len(row_points), len(col_points))
        return DistanceMatrix(cos.astype(np.float32), ang.astype(np.float32), euc.astype(np.float32), cross,
                              row_mods, col_mods)

    # ------------------------------------------------------------------ Interpolate

    def interpolate(self, a: Point, b: Point, *, ts: Sequence[float] | None = None, steps: int = 0,
                    method: InterpolationMethod = InterpolationMethod.SLERP, via: Point | None = None,
                    allow_extrapolation: bool = False, k: int = 0, options: SearchOptions | None = None,
                    distinct: bool = False, with_vectors: bool | None = None, decode: bool = False,
                    budget: RequestBudget | None = None) -> InterpolationResult:
        """Points between ``a`` and ``b`` and the ``k`` items nearest to each.

        The path is ``ts`` when given, else ``steps`` evenly spaced t in [0, 1] (``steps >= 2``), else
        the midpoint alone. ``options`` supplies the filter, exclusions, threshold and index knobs (its
        ``k`` is ignored); ``with_vectors`` overrides ``options.with_vectors`` for the hits. ``distinct``
        drops the endpoints' own ids and items already shown at an earlier step. Its filter and
        exclusions are named as the top-level ``filter`` and ``exclude_ids`` of the request. ``decode``
        draws each step with the collection's decoder (at most ``max_decoded_images`` steps).
        """
        t_values = self._path(ts, steps, allow_extrapolation)
        self._check_k(k, "k", low=0)
        self.limits.check_count("max_hits", len(t_values) * k, "k",
                                f"hits in the response ({len(t_values)} steps x k {k})")
        if options is not None:
            check_search_options(options, self.limits, "")
            self._check_pool(len(t_values), dataclasses.replace(options, k=max(k, 1)), "")
        decoder = self._decoder_for(len(t_values), "decode") if decode else None
        names = ["a", "b"] + (["via"] if via is not None else [])
        resolved = self.resolver.resolve_many([a, b] + ([via] if via is not None else []), names, budget)
        _require_points(resolved, names, "Interpolate")
        va, vb = resolved[0].vector, resolved[1].vector
        ends = [resolved[0], resolved[2], resolved[1]] if via is not None else resolved[:2]
        # Each step is searched as the normalised sum over its ends' leaves, which its hits' shares add up to.
        forms = [LinearForm.combine([(p.linear_form, c) for p, c in zip(
            ends, _step_coefficients([p.vector for p in ends], float(t), method), strict=True)]).normalised()
            for t in t_values]
        vectors = np.stack([form.point() for form in forms])
        cos_a = lm.cosine_matrix(vectors, va[None, :])[:, 0]
        cos_b = lm.cosine_matrix(vectors, vb[None, :])[:, 0]
        hits: list[list[Hit]] = [[] for _ in t_values]
        if k > 0:
            base = options or SearchOptions(k=k)
            if with_vectors is not None:
                base = dataclasses.replace(base, with_vectors=with_vectors)
            base = dataclasses.replace(base, k=k)
            banned = resolved[0].input_ids | resolved[1].input_ids
            searched = _for_collection(base)
            hits = self._search_distinct(vectors, searched, banned) if distinct else self._rank(vectors, searched)
            used = tuple(d for p in ends for d in p.directions)
            hits = [_explained(h, base, form, used) for h, form in zip(hits, forms, strict=True)]
        images: list[bytes | None] = list(decoder.decode_png(vectors)) if decoder else [None] * len(t_values)
        steps_out = [PathStep(float(t), float(ca), float(cb), v, h, image)
                     for t, ca, cb, v, h, image in zip(t_values, cos_a, cos_b, vectors, hits, images, strict=True)]
        return InterpolationResult(steps_out, lm.angle_between(va, vb))

    def _search_distinct(self, vectors: np.ndarray, options: SearchOptions,
                         banned: frozenset[str]) -> list[list[Hit]]:
        # One batch call with headroom (the endpoints' ids plus two steps' worth of repeats), then a
        # greedy pass in path order. A step whose full candidate list still leaves fewer than k is
        # searched again exactly, excluding everything shown so far, so every step gets k when k exist.
        k = options.k
        wide = dataclasses.replace(options, k=k + len(banned) + 2 * k)
        lists = self._rank(vectors, wide)
        shown: set[str] = set()
        out = []
        for i, hits in enumerate(lists):
            chosen = [h for h in hits if h.id not in banned and h.id not in shown][:k]
            if len(chosen) < k and len(hits) == wide.k:
                exact = dataclasses.replace(options, exclude_ids=options.exclude_ids | banned | shown)
                chosen = self._rank(vectors[i: i + 1], exact)[0][:k]
            shown.update(h.id for h in chosen)
            out.append(chosen)
        return out

    def _path(self, ts: Sequence[float] | None, steps: int, allow_extrapolation: bool) -> np.ndarray:
        if ts is not None and len(ts) > 0:
            if len(ts) > self.limits.max_steps:
                raise InvalidInput(f"{len(ts)} t values; at most {self.limits.max_steps}", field="ts")
            values = np.asarray(ts, dtype=np.float64)
            for i, t in enumerate(values):
                if not np.isfinite(t):
                    raise InvalidInput(f"ts[{i}] is not a finite number", field="ts")
                if not allow_extrapolation and not 0.0 <= t <= 1.0:
                    raise InvalidInput(f"ts[{i}] = {t} lies outside [0, 1]; set allow_extrapolation to go "
                                       "beyond the endpoints", field="ts")
            return values
        if steps == 0:
            return np.array([0.5])
        if not 2 <= steps <= self.limits.max_steps:
            raise InvalidInput(f"steps must be between 2 and {self.limits.max_steps} (both ends included), "
                               f"got {steps}", field="steps")
        return lm.path_ts(steps)

    # ------------------------------------------------------------------ Edit

    def edit(self, edit: EditPoint, k: int = 0, options: SearchOptions | None = None,
             field: str = "edit", budget: RequestBudget | None = None, decode: bool = False) -> EditResult:
        """Move a base point along a direction; report how far it moved and its ``k`` neighbours.

        ``options`` supplies the filter, exclusions, threshold, with_vectors and index knobs (its ``k``
        is ignored); they are named as the request's top-level ``filter`` and ``exclude_ids``.
        ``decode`` draws the base and the edited point with the collection's decoder.
        """
        self._check_k(k, "k", low=0)
        if options is not None:
            check_search_options(options, self.limits, "")
            self._check_pool(1, dataclasses.replace(options, k=max(k, 1)), "")
        decoder = self._decoder_for(2, "decode") if decode else None
        parts = self.resolver.resolve_edit(edit, field, budget)
        result, base, d = parts.result.vector, parts.base.vector, parts.direction
        hits: list[Hit] = []
        if k > 0:
            around = dataclasses.replace(options or SearchOptions(), k=k)
            found = self._rank(result[None, :], _for_collection(around))[0]
            hits = _explained(found, around, parts.result.form, parts.result.directions)
        base_image, image = decoder.decode_png(np.stack([base, result])) if decoder else (None, None)
        return EditResult(
            vector=result,
            cos_to_base=lm.cosine(result, base),
            base_projection=float(np.dot(base.astype(np.float64), d)),
            result_projection=float(np.dot(result.astype(np.float64), d)),
            direction_norm=parts.direction_norm,
            hits=hits,
            base_image=base_image,
            image=image,
        )

    # ------------------------------------------------------------------ named directions

    def create_direction(self, name: str, definition: DirectionDefinition,
                         method: DirectionMethod = DirectionMethod.MEAN_DIFFERENCE, *, holdout: float | None = None,
                         seed: int = 0, budget: RequestBudget | None = None) -> DirectionRecord:
        """Make a direction, measure its quality and store it under ``name`` (see :class:`DirectionBuilder`)."""
        return self.directions.create(name, definition, method, holdout=holdout, seed=seed,
                                      budget=budget or self.limits.budget())

    def list_directions(self) -> list[DirectionRecord]:
        """The collection's stored directions, by name."""
        return self.collection.list_directions()

    def delete_direction(self, name: str) -> None:
        """Delete a stored direction; :class:`DirectionNotFound` when there is none by that name."""
        check_direction_name(name)
        if not self.collection.delete_direction(name):
            raise DirectionNotFound(f"no direction named {name!r} in collection {self.collection.name!r}",
                                    field="name")

    # ------------------------------------------------------------------ ranking and validation

    def _rank(self, vectors: np.ndarray, options: SearchOptions) -> list[list[Hit]]:
        return ranked_search(self.collection, vectors, options, self.limits)

    def _check_pool(self, queries: int, options: SearchOptions, prefix: str) -> None:
        pool = pool_size(options, self.limits, f"{prefix}pool")
        if pool > options.k:
            self.limits.check_count("max_hits", queries * pool, f"{prefix}pool",
                                    f"candidates ranked ({queries} queries x pool {pool})")

    def _check_k(self, k: int, field: str, low: int) -> None:
        if not low <= k <= self.limits.max_k:
            raise InvalidInput(f"k must be between {low} and {self.limits.max_k}, got {k}", field=field)

    def _check_batch(self, items: Sequence[object], field: str, allow_empty: bool = False) -> None:
        check_batch(items, self.limits, field, allow_empty=allow_empty)


def _paths(name: str, n: int) -> list[str]:
    return [f"{name}[{i}]" for i in range(n)]


def _stack(points: Sequence[ResolvedPoint]) -> np.ndarray:
    return np.stack([p.vector for p in points])


def _is_cross_modal(x: ResolvedPoint, y: ResolvedPoint) -> bool:
    # Text on one side and images on the other, including points mixed or edited from them.
    return (Modality.TEXT in x.sources and Modality.IMAGE in y.sources) or (
        Modality.IMAGE in x.sources and Modality.TEXT in y.sources)


def _require_points(resolved: Sequence[ResolvedPoint], paths: Sequence[str], what: str) -> None:
    for point, path in zip(resolved, paths, strict=True):
        if point.cos_mul is not None:
            raise InvalidInput(f"a COS_MUL analogy is a ranking of candidates, not a point, so {what} cannot "
                               "take it; use COS_ADD, or search with it", field=f"{path}.analogy.method")


def _step_coefficients(ends: Sequence[np.ndarray], t: float, method: InterpolationMethod) -> tuple[float, ...]:
    """The coefficients of one path step over ``(a, b)`` or ``(a, via, b)``."""
    lerp = method is InterpolationMethod.LERP
    if len(ends) == 3:
        a, via, b = ends
        return lm.via_coefficients(a, via, b, t, lerp_legs=lerp, field="via")
    a, b = ends
    return lm.lerp_coefficients(a, b, t, field="b") if lerp else lm.slerp_coefficients(a, b, t, field="b")


def _for_collection(options: SearchOptions) -> SearchOptions:
    # Explaining needs each hit's stored vector; the collection itself knows nothing of explanations.
    if not options.explain:
        return options
    return dataclasses.replace(options, with_vectors=True, explain=False)


def _explained(hits: list[Hit], options: SearchOptions, form: LinearForm | None,
               directions: Sequence[UsedDirection], cos_mul: CosMulTerms | None = None) -> list[Hit]:
    """Hits with explanations when ``options.explain`` (their vectors kept only if asked for).

    ``form`` is the searched point's linear form (a path step's own), or None with ``cos_mul``.
    """
    if not options.explain or not hits:
        return hits
    return explain_hits(hits, form, directions, cos_mul, keep_vectors=options.with_vectors)


def _rank_cos_mul(pool: list[Hit], refs: CosMulTerms, options: SearchOptions) -> list[Hit]:
    if not pool:
        return []
    a, a_star, b = refs.a, refs.a_star, refs.b
    scores = lm.cos_mul_scores(np.stack([h.vector for h in pool if h.vector is not None]), a, a_star, b)
    order = np.argsort(-scores, kind="stable")
    ranked = []
    for i in order:
        score = float(scores[i])
        if options.score_threshold is not None and score < options.score_threshold:
            break
        hit = pool[i]
        vector = hit.vector if options.with_vectors else None
        ranked.append(dataclasses.replace(hit, score=score, vector=vector))
        if len(ranked) == options.k:
            break
    return ranked
