"""Named directions: what a collection stores under a direction's name, and the rules for it.

A direction is made once (``CreateDirection``, :mod:`latentspace.indexer.direction_builder`) from a
text pair, examples, payload labels or a raw vector, and stored as a :class:`DirectionRecord`: its
unit vector, the norm of what was normalised, how well it separates what it was made from, and
the fingerprint of the model the collection had then. Queries then name it (``Direction{name}``).
A record is plain data (a vector and a JSON object), so any backend can keep it.

A direction is only meaningful in the space of the model that made it: when the collection's
fingerprint differs from the record's, using it is FAILED_PRECONDITION (``DIRECTION_MODEL_MISMATCH``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from latentspace.indexer.errors import DirectionExists, DirectionModelMismatch
from latentspace.indexer.filters import JsonScalar, PayloadFilter
from latentspace.indexer.points import ExamplesDirection, TextPairDirection, VectorDirection


class DirectionMethod(StrEnum):
    """How a direction is fitted from labelled points (examples or payload labels)."""

    MEAN_DIFFERENCE = "mean_difference"  # mean(positive) - mean(negative)
    LEAST_SQUARES = "least_squares"  # ridge regression of +1/-1 on the vectors
    LOGISTIC = "logistic"  # L2-regularised logistic regression


class DirectionSource(StrEnum):
    """What a stored direction was made from."""

    TEXT_PAIR = "text_pair"
    EXAMPLES = "examples"
    LABELS = "labels"
    VECTOR = "vector"


class QualityBasis(StrEnum):
    """What a direction's AUC was measured on."""

    HELD_OUT = "held_out"  # examples or labels held out of the fit
    TEMPLATES = "templates"  # each prompt template's pair, with the direction fitted on the others
    NONE = "none"  # nothing to measure: a raw vector, a single text pair, too few examples


@dataclass(frozen=True)
class LabelsDirection:
    """Items whose payload ``field`` equals ``positive`` against those where it equals ``negative``,
    among the items that pass ``filter``."""

    field: str
    positive: JsonScalar
    negative: JsonScalar
    filter: PayloadFilter = dataclasses.field(default_factory=PayloadFilter)


#: What ``CreateDirection`` makes a direction from.
DirectionDefinition = TextPairDirection | ExamplesDirection | LabelsDirection | VectorDirection


@dataclass(frozen=True)
class DirectionQuality:
    """How well a direction's projection separates what it was made from.

    ``auc`` is the area under the ROC curve of the projections of held-out positives against held-out
    negatives (1: every positive projects higher than every negative; 0.5: chance), or None when
    nothing could be held out. ``positives`` and ``negatives`` count what the stored direction was
    fitted on; ``held_out_*`` what the AUC was measured on (with a direction fitted on the rest).
    """

    auc: float | None
    evaluated_on: QualityBasis
    positives: int = 0
    negatives: int = 0
    held_out_positives: int = 0
    held_out_negatives: int = 0
    holdout: float = 0.0
    seed: int = 0


@dataclass(frozen=True, eq=False)
class DirectionRecord:
    """A stored direction: plain data (the unit vector and what :meth:`to_json` gives)."""

    name: str
    vector: np.ndarray  # unit, float32
    norm: float  # of the raw difference or fitted weights, before normalising
    source: DirectionSource
    method: DirectionMethod
    description: str
    quality: DirectionQuality
    fingerprint: str  # the collection's model fingerprint when it was made ("" for vector-only)
    created_at: str = dataclasses.field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def to_json(self) -> dict[str, Any]:
        """Everything but the name and the vector, as a JSON object."""
        q = self.quality
        return {
            "norm": self.norm, "source": self.source.value, "method": self.method.value,
            "description": self.description, "fingerprint": self.fingerprint, "created_at": self.created_at,
            "quality": {"auc": q.auc, "evaluated_on": q.evaluated_on.value, "positives": q.positives,
                        "negatives": q.negatives, "held_out_positives": q.held_out_positives,
                        "held_out_negatives": q.held_out_negatives, "holdout": q.holdout, "seed": q.seed},
        }

    @classmethod
    def from_json(cls, name: str, vector: np.ndarray, data: dict[str, Any]) -> DirectionRecord:
        """The record :meth:`to_json` described."""
        q = dict(data["quality"])
        quality = DirectionQuality(**{**q, "evaluated_on": QualityBasis(q["evaluated_on"])})
        return cls(name=name, vector=np.asarray(vector, dtype=np.float32), norm=float(data["norm"]),
                   source=DirectionSource(data["source"]), method=DirectionMethod(data["method"]),
                   description=str(data["description"]), quality=quality,
                   fingerprint=str(data["fingerprint"]), created_at=str(data["created_at"]))


def check_direction_model(record: DirectionRecord, fingerprint: str | None, dimension: int, field: str) -> None:
    """Refuse a stored direction made under another model than the collection's (or of another dimension)."""
    now = fingerprint or ""
    if record.fingerprint != now or record.vector.shape != (dimension,):
        made = record.fingerprint or "no model (vector-only)"
        raise DirectionModelMismatch(
            f"direction {record.name!r} was made with model fingerprint {made} but the collection's model now "
            f"has fingerprint {now or 'none (vector-only)'}; directions do not carry over between models. "
            "Delete it and create it again from its source", field=field)


def direction_exists(name: str, collection: str) -> DirectionExists:
    """The error for a name already taken (raised by the builder, and by a store that lost a race)."""
    return DirectionExists(f"collection {collection!r} already has a direction named {name!r}; delete it first "
                           "or choose another name", field="name")
