"""The values that move between the store, the operations and the callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentspace.indexer.explanation import Explanation
from latentspace.indexer.modality import Modality

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ItemRecord:
    """An item ready to be written: its vector is already computed and unit-normalised."""

    id: str
    vector: np.ndarray
    modality: Modality
    payload: JsonObject = field(default_factory=dict)
    #: The text itself, or the image's URI / path / hash.
    content: str = ""
    #: Image items: a small preview stored with the item (see :mod:`latentspace.indexer.thumbnails`).
    thumbnail: Thumbnail | None = None
    #: The hash of the source content the item was made from (bulk runs; "" otherwise): a re-run
    #: skips an item whose id and hash are already stored.
    content_hash: str = ""


@dataclass(frozen=True)
class Thumbnail:
    """A small encoded preview of an image item: its media type (``image/webp``) and bytes."""

    media_type: str
    data: bytes


@dataclass(frozen=True)
class StoredItem:
    """An item as read back from a collection."""

    id: str
    modality: Modality
    payload: JsonObject
    content: str
    sequence: int
    vector: np.ndarray | None = None


@dataclass(frozen=True)
class RankNote:
    """How a hit's score and place came from its cosine when the ranking was not plain cosine.

    ``score = (cosine - offset) / scale`` (offset 0 and scale 1 for raw scores); ``redundancy`` is
    the MMR penalty term (the hit's largest similarity to a hit placed before it; None for the first
    hit or without diversity).
    """

    cosine: float
    offset: float = 0.0
    scale: float = 1.0
    redundancy: float | None = None


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: str
    score: float
    modality: Modality
    payload: JsonObject
    content: str
    vector: np.ndarray | None = None
    #: The item's index key in its collection (-1 when unknown). A key's row never changes, so
    #: anything derived from a hit's row can be cached under it.
    key: int = -1
    #: Why it scored as it did, when the search asked (``SearchOptions.explain``); never cached by key.
    explanation: Explanation | None = None
    #: Set by a calibrated or diverse ranking (:mod:`latentspace.indexer.ranking`).
    ranking: RankNote | None = None
