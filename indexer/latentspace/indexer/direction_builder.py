"""Making a named direction: from its definition to a stored :class:`DirectionRecord` with its quality.

- a text pair: exactly the direction an edit with the same inline text pair resolves to (the mean
  over prompt templates of ``E(target) - E(neutral)``); quality: leave-one-template-out AUC when
  templates are used, none for a single pair;
- examples (any points): the mean difference as an inline ``Examples`` direction gives, or a probe;
- payload labels: the collection's items where ``field == positive`` against ``field == negative``
  (within a filter, at most ``max_label_items`` each side), by mean difference or a probe;
- a raw vector, normalised.

Examples and labels report the AUC of a direction fitted on all but a held-out share of each side
(``holdout``, default 0.25, split with ``seed``) on that held-out share; the stored direction is then
fitted on everything. Errors name the request field (``source.labels.positive``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from latentspace.indexer import direction_fitting as fitting
from latentspace.indexer import latent_math as lm
from latentspace.indexer.directions import (
    DirectionDefinition,
    DirectionMethod,
    DirectionQuality,
    DirectionRecord,
    DirectionSource,
    LabelsDirection,
    QualityBasis,
    direction_exists,
)
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.filters import AnyOf, Equals, PayloadFilter, Range
from latentspace.indexer.items import StoredItem
from latentspace.indexer.limits import Limits, RequestBudget
from latentspace.indexer.points import PROMPT_TEMPLATES, ExamplesDirection, TextPairDirection, VectorDirection
from latentspace.indexer.resolver import PointResolver, PointSource
from latentspace.indexer.validation import check_direction_name, check_filter, check_text

DEFAULT_HOLDOUT = 0.25
#: A labels direction needs this many items on each side (enough to hold one out and fit on the rest).
MIN_LABEL_ITEMS = 4
SOURCE = "source"


class DirectionStore(PointSource, Protocol):
    """What making and keeping named directions needs from a collection (``CollectionBackend`` has it)."""

    def save_direction(self, record: DirectionRecord) -> None: ...
    def list_directions(self) -> list[DirectionRecord]: ...
    def delete_direction(self, name: str) -> bool: ...
    def items_matching(self, payload_filter: PayloadFilter, limit: int) -> list[StoredItem]: ...


class DirectionBuilder:
    """Makes named directions for one collection."""

    def __init__(self, collection: DirectionStore, resolver: PointResolver, limits: Limits) -> None:
        self.collection = collection
        self.resolver = resolver
        self.limits = limits

    def create(self, name: str, definition: DirectionDefinition, method: DirectionMethod, *,
               holdout: float | None, seed: int, budget: RequestBudget) -> DirectionRecord:
        """Make, measure and store a direction; :class:`DirectionExists` when the name is taken."""
        check_direction_name(name)
        share = DEFAULT_HOLDOUT if holdout is None else float(holdout)
        if not 0.0 < share < 1.0:
            raise InvalidInput(f"holdout is the share of each side held out to measure quality, in (0, 1); "
                               f"got {share}", field="holdout")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InvalidInput(f"seed must be an integer >= 0, got {seed!r}", field="seed")
        if self.collection.get_direction(name) is not None:  # before any model work; the store decides races
            raise direction_exists(name, self.collection.name)
        if isinstance(definition, TextPairDirection):
            made = self._text_pair(definition, method, budget)
        elif isinstance(definition, ExamplesDirection):
            made = self._examples(definition, method, share, seed, budget)
        elif isinstance(definition, LabelsDirection):
            made = self._labels(definition, method, share, seed)
        elif isinstance(definition, VectorDirection):
            made = self._vector(definition, method)
        else:
            raise InvalidInput("set one of text_pair, examples, labels or vector", field=SOURCE)
        vector, norm, source, description, quality = made
        record = DirectionRecord(name, vector, norm, source, method, description, quality,
                                 self.collection.manifest.fingerprint or "")
        self.collection.save_direction(record)
        return record

    # ------------------------------------------------------------------ each source

    def _text_pair(self, pair: TextPairDirection, method: DirectionMethod,
                   budget: RequestBudget) -> tuple[np.ndarray, float, DirectionSource, str, DirectionQuality]:
        _mean_difference_only(method, "a text pair's direction is the mean difference of its prompts")
        resolved, targets, neutrals = self.resolver.direction_samples(pair, SOURCE, budget)
        if pair.use_templates:
            quality = DirectionQuality(fitting.leave_one_out_auc(targets, neutrals), QualityBasis.TEMPLATES,
                                       len(targets), len(neutrals), len(targets), len(neutrals))
        else:
            quality = DirectionQuality(None, QualityBasis.NONE, 1, 1)
        templates = f" over {len(PROMPT_TEMPLATES)} prompt templates" if pair.use_templates else ""
        description = f"{json.dumps(pair.neutral)} -> {json.dumps(pair.target)}{templates}"
        return resolved.vector, resolved.norm, DirectionSource.TEXT_PAIR, description, quality

    def _examples(self, examples: ExamplesDirection, method: DirectionMethod, holdout: float, seed: int,
                  budget: RequestBudget) -> tuple[np.ndarray, float, DirectionSource, str, DirectionQuality]:
        resolved, pos, neg = self.resolver.direction_samples(examples, SOURCE, budget)
        if method is not DirectionMethod.MEAN_DIFFERENCE and len(neg) == 0:
            raise InvalidInput(f"a {method.value} probe separates positives from negatives; give negative "
                               "examples too", field=f"{SOURCE}.examples.negative")
        if method is DirectionMethod.MEAN_DIFFERENCE:
            vector, norm = resolved.vector, resolved.norm  # what an inline Examples direction gives
        else:
            vector, norm = _unit(fitting.fit_direction(pos, neg, method), f"{SOURCE}.examples")
        description = f"{len(pos)} positive and {len(neg)} negative examples"
        return vector, norm, DirectionSource.EXAMPLES, description, _quality(pos, neg, method, holdout, seed)

    def _labels(self, labels: LabelsDirection, method: DirectionMethod, holdout: float,
                seed: int) -> tuple[np.ndarray, float, DirectionSource, str, DirectionQuality]:
        field = f"{SOURCE}.labels"
        check_text(labels.field, f"{field}.field", "payload field")
        if not labels.field:
            raise InvalidInput("name the payload field whose values label the items", field=f"{field}.field")
        if labels.positive == labels.negative and type(labels.positive) is type(labels.negative):
            raise InvalidInput(f"positive and negative are the same value {labels.positive!r}; a direction "
                               "separates two values", field=f"{field}.negative")
        check_filter(labels.filter, self.limits, f"{field}.filter")
        sides = [self._labelled(labels, value, f"{field}.{side}")
                 for side, value in (("positive", labels.positive), ("negative", labels.negative))]
        pos, neg = sides
        vector, norm = _unit(fitting.fit_direction(pos, neg, method), field)
        description = f"{_condition(labels.field, labels.positive)} against {_condition(labels.field, labels.negative)}"
        if labels.filter.must:
            description += f" among items where {_describe(labels.filter)}"
        return vector, norm, DirectionSource.LABELS, description, _quality(pos, neg, method, holdout, seed)

    def _labelled(self, labels: LabelsDirection, value: object, field: str) -> np.ndarray:
        where = PayloadFilter((*labels.filter.must, Equals(labels.field, value)))  # type: ignore[arg-type]
        items = self.collection.items_matching(where, self.limits.max_label_items)
        if len(items) < MIN_LABEL_ITEMS:
            scope = f" among items where {_describe(labels.filter)}" if labels.filter.must else ""
            raise InvalidInput(
                f"{len(items)} items have {_condition(labels.field, value)}{scope}; a direction from labels needs "
                f"at least {MIN_LABEL_ITEMS} on each side (to fit on some and measure on the rest)",
                field=field, reason="TOO_FEW_ITEMS")
        return np.stack([item.vector for item in items if item.vector is not None])

    def _vector(self, direction: VectorDirection,
                method: DirectionMethod) -> tuple[np.ndarray, float, DirectionSource, str, DirectionQuality]:
        field = f"{SOURCE}.vector"
        _mean_difference_only(method, "a raw vector is stored as it is")
        raw = np.asarray(direction.vector)
        if raw.ndim != 1 or raw.shape[0] != self.collection.dimension:
            got = raw.shape[-1] if raw.ndim else 0
            raise InvalidInput(f"expected {self.collection.dimension} dimensions, got {got}", field=field,
                               reason="WRONG_DIMENSION")
        vector, norm = _unit(raw, field)
        return vector, norm, DirectionSource.VECTOR, "a raw vector", DirectionQuality(None, QualityBasis.NONE)


def _unit(raw: np.ndarray, field: str) -> tuple[np.ndarray, float]:
    return lm.normalize(raw, field=field), float(np.linalg.norm(np.asarray(raw, dtype=np.float64)))


def _quality(pos: np.ndarray, neg: np.ndarray, method: DirectionMethod, holdout: float,
             seed: int) -> DirectionQuality:
    if len(pos) < 2 or len(neg) < 2:
        return DirectionQuality(None, QualityBasis.NONE, len(pos), len(neg), holdout=holdout, seed=seed)
    value, test_pos, test_neg = fitting.held_out_auc(pos, neg, method, holdout, seed)
    return DirectionQuality(value, QualityBasis.HELD_OUT, len(pos), len(neg), test_pos, test_neg, holdout, seed)


def _mean_difference_only(method: DirectionMethod, why: str) -> None:
    if method is not DirectionMethod.MEAN_DIFFERENCE:
        raise InvalidInput(f"{why}; method {method.value} applies to examples and labels only", field="method")


def _condition(field: str, value: object) -> str:
    return f"{field} == {json.dumps(value)}"


def _describe(payload_filter: PayloadFilter) -> str:
    parts: list[str] = []
    for c in payload_filter.must:
        if isinstance(c, Equals):
            parts.append(_condition(c.field, c.value))
        elif isinstance(c, AnyOf):
            parts.append(f"{c.field} in {json.dumps(list(c.values))}")
        elif isinstance(c, Range):
            bounds: Sequence[tuple[str, float | None]] = (("> ", c.gt), (">= ", c.gte), ("< ", c.lt), ("<= ", c.lte))
            parts += [f"{c.field} {op}{bound}" for op, bound in bounds if bound is not None]
    return " and ".join(parts)
