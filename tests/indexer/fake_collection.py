"""A stand-in collection for pipeline tests: counts model calls, encodes without a model.

Texts map to a hash-seeded unit vector, images to their mean colour padded to the dimension, so
results are deterministic and a test can tell which input produced which vector. Its ``encoder``
is a real :class:`Encoder` subclass that keeps the interface's default prepare step, so the bulk
pipeline drives it exactly as it drives a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image

from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import parse_model_spec


class FakeCollection:
    def __init__(self, dimension: int = 8, modalities: frozenset[Modality] | None = None) -> None:
        self.name = "fake"
        self.dimension = dimension
        self.modalities = modalities if modalities is not None else frozenset({Modality.TEXT, Modality.IMAGE})
        self.text_calls: list[list[str]] = []
        self.image_calls: list[int] = []
        self.upserts: list[list[ItemRecord]] = []
        self.items: dict[str, ItemRecord] = {}
        #: Ids the "store" refuses, to exercise the pipeline's one-by-one fallback.
        self.refuse_ids: set[str] = set()
        self.encoder = FakeEncoder(self)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.text_calls.append(list(texts))
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
                .normal(size=self.dimension) for t in texts]
        return _unit(np.array(rows, dtype=np.float32).reshape(len(texts), self.dimension))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.image_calls.append(len(images))
        rows = np.full((len(images), self.dimension), 0.1, dtype=np.float32)
        for i, image in enumerate(images):
            rows[i, :3] = np.asarray(image, dtype=np.float32).reshape(-1, 3).mean(axis=0) / 255
        return _unit(rows)

    def upsert(self, records: Sequence[ItemRecord]) -> int:
        refused = [r.id for r in records if r.id in self.refuse_ids]
        if refused:
            raise InvalidInput(f"refused {refused}", field="items")
        self.upserts.append(list(records))
        self.items.update({r.id: r for r in records})
        return sum(len(batch) for batch in self.upserts)

    def count(self) -> int:
        return len(self.items)

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        return {i: self.items[i].content_hash for i in ids if i in self.items and self.items[i].content_hash}

    def all_ids(self) -> Iterator[list[str]]:
        yield sorted(self.items)

    def delete(self, ids: Sequence[str]) -> tuple[int, int]:
        gone = [i for i in ids if self.items.pop(i, None) is not None]
        return len(gone), self.sequence

    @property
    def sequence(self) -> int:
        return sum(len(batch) for batch in self.upserts)


class FakeEncoder(Encoder):
    """Encodes through its collection's counting methods."""

    def __init__(self, collection: FakeCollection) -> None:
        self.spec = parse_model_spec("minilm")
        self.dimension = collection.dimension
        self.modalities = collection.modalities
        self.fingerprint = "fake"
        self._collection = collection

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self._collection.encode_texts(texts)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self._collection.encode_images(images)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
