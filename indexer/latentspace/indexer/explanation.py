"""What an explained score says: the terms of a hit's score, its projections on the query's
directions, and the calibration and diversity that placed it (computed in :mod:`.explain`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ScoreForm(StrEnum):
    """How an explanation's terms make the score."""

    SUM = "sum"  # score = sum of the terms' shares
    PRODUCT = "product"  # score = product of factor ** exponent (3CosMul)


@dataclass(frozen=True)
class ScoreTerm:
    """One leaf's part in a hit's score; ``path`` names the leaf in the request.

    Sum form: ``share = coefficient * cosine``. Product form: ``factor`` (``(1 + cosine) / 2``, plus
    the guard ``eps`` for the divisor) raised to ``exponent`` (1 or -1).
    """

    path: str
    cosine: float
    coefficient: float = 0.0
    share: float = 0.0
    factor: float = 0.0
    exponent: int = 0


@dataclass(frozen=True)
class DirectionProjection:
    """A hit's projection ``x . d`` on a direction its query used (``name`` is "" for inline ones)."""

    path: str
    name: str
    projection: float


@dataclass(frozen=True)
class Explanation:
    """Why a hit scored as it did."""

    form: ScoreForm
    terms: tuple[ScoreTerm, ...]
    projections: tuple[DirectionProjection, ...] = ()
    #: The raw cosine (sum form: the sum of the shares; product form: the score itself).
    cosine: float = 0.0
    #: ``score = (cosine - offset) / scale``: 0 and 1 unless the score is calibrated.
    offset: float = 0.0
    scale: float = 1.0
    #: Under diversity, the hit's largest similarity to a hit placed before it (None for the first).
    redundancy: float | None = None
