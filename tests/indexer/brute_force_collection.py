"""An exact, in-memory stand-in for ``Collection`` with the same read API, for operations tests.

Search is brute-force cosine over every item, honouring the whole of ``SearchOptions``; texts encode
to a hash-seeded unit vector (no model). It counts calls so tests can check batching.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from latentspace.indexer.errors import ModalityNotSupported
from latentspace.indexer.items import Hit, StoredItem
from latentspace.indexer.modality import Modality
from latentspace.indexer.search_options import SearchOptions


def text_vector(text: str, dimension: int) -> np.ndarray:
    """The fake model's encoding of a text: a unit vector seeded by its hash."""
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    v = np.random.default_rng(seed).normal(size=dimension)
    return (v / np.linalg.norm(v)).astype(np.float32)


class BruteForceCollection:
    def __init__(self, dimension: int = 8, modalities: frozenset[Modality] = frozenset(), name: str = "bf"):
        self.name = name
        self.dimension = dimension
        self.modalities = modalities
        self.items: dict[str, StoredItem] = {}
        self.calls: Counter[str] = Counter()
        self.search_ks: list[int] = []

    def add(self, item_id: str, vector: Any, modality: Modality = Modality.VECTOR,
            payload: dict[str, Any] | None = None) -> None:
        v = np.asarray(vector, dtype=np.float32)
        self.items[item_id] = StoredItem(item_id, modality, payload or {}, f"content of {item_id}",
                                         len(self.items) + 1, v / np.linalg.norm(v))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls["encode_texts"] += 1
        if Modality.TEXT not in self.modalities:
            raise ModalityNotSupported("no text model", field="query.text")
        return np.stack([text_vector(t, self.dimension) for t in texts])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls["encode_images"] += 1
        if Modality.IMAGE not in self.modalities:
            raise ModalityNotSupported("no image model", field="query.image")
        rows = np.full((len(images), self.dimension), 0.1, dtype=np.float32)
        for i, image in enumerate(images):
            rows[i, :3] = np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0) / 255
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def get(self, ids: Sequence[str], *, with_vectors: bool = True) -> list[StoredItem]:
        self.calls["get"] += 1
        found = [self.items[i] for i in ids if i in self.items]
        return found if with_vectors else [dataclasses.replace(it, vector=None) for it in found]

    def count(self) -> int:
        return len(self.items)

    def search(self, queries: np.ndarray, options: SearchOptions) -> list[list[Hit]]:
        self.calls["search"] += 1
        self.search_ks.append(options.k)
        ids = [i for i, it in self.items.items()
               if i not in options.exclude_ids and options.filter.matches(it.payload)]
        if not ids:
            return [[] for _ in queries]
        matrix = np.stack([self.items[i].vector for i in ids])
        out = []
        for q in np.atleast_2d(queries):
            scores = matrix @ q
            hits = []
            for j in np.argsort(-scores, kind="stable")[: options.k]:
                if options.score_threshold is not None and scores[j] < options.score_threshold:
                    break
                it = self.items[ids[j]]
                hits.append(Hit(it.id, float(scores[j]), it.modality, it.payload, it.content,
                                it.vector if options.with_vectors else None))
            out.append(hits)
        return out
