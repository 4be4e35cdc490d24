"""A collection's model: loaded on first use, checked against the manifest, shared by every backend.

Whatever stores a collection's vectors (the embedded SQLite + FAISS store, Milvus), the model side
is the same: the manifest names a model spec and the fingerprint of its weights; the encoder is
loaded lazily through the registry and refused if its fingerprint or dimension differ, so vectors
of two models never mix in one collection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.encoders.base import Encoder
from latentspace.indexer.errors import ModalityNotSupported, ModelMismatch, ModelUnavailable
from latentspace.indexer.manifest import CollectionManifest
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelFamily, parse_model_spec

if TYPE_CHECKING:
    from PIL import Image

_FAMILY_MODALITIES = {
    ModelFamily.OPEN_CLIP: frozenset({Modality.TEXT, Modality.IMAGE}),
    ModelFamily.SENTENCE_TRANSFORMERS: frozenset({Modality.TEXT}),
}


class CollectionModel:
    """The model of the collection described by ``manifest``."""

    def __init__(self, manifest: CollectionManifest, encoder_loader: Callable[[], Encoder] | None) -> None:
        self.manifest = manifest
        self._loader = encoder_loader
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()

    @property
    def modalities(self) -> frozenset[Modality]:
        """What the collection can encode, from the manifest's model spec (no model is loaded)."""
        if self.manifest.model is None:
            return frozenset()
        return _FAMILY_MODALITIES[parse_model_spec(self.manifest.model).family]

    @property
    def encoder(self) -> Encoder:
        """The model, loaded on first use and checked against the manifest."""
        name = self.manifest.name
        if self.manifest.model is None:
            raise ModalityNotSupported(
                f"collection {name!r} is vector-only (it has no model); query it with vectors or ids",
                field="model",
            )
        with self._lock:
            if self._encoder is None:
                if self._loader is None:
                    raise ModelUnavailable(
                        f"collection {name!r} needs model {self.shown()}, but no encoder "
                        "loader was configured", field="model")
                self._encoder = self._checked(self._loader())
            return self._encoder

    def shown(self) -> str:
        """The model as messages name it: a model in a local folder without the server's path."""
        return parse_model_spec(self.manifest.model).redacted if self.manifest.model else "none"

    def _checked(self, encoder: Encoder) -> Encoder:
        name, wanted = self.manifest.name, self.manifest.fingerprint
        if wanted is not None and encoder.fingerprint != wanted:
            raise ModelMismatch(
                f"collection {name!r} was built with model {self.shown()} of fingerprint "
                f"{wanted}, but the loaded weights have fingerprint {encoder.fingerprint}; its vectors "
                "would not be comparable. Restore the original weights or re-index into a new collection.",
                field="model")
        if encoder.dimension != self.manifest.dimension:
            raise ModelMismatch(f"model {encoder.spec.redacted} gives {encoder.dimension}-d vectors; collection "
                                f"{name!r} holds {self.manifest.dimension}-d ones", field="model")
        return encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts: ``(len(texts), dimension)`` unit float32 rows."""
        self.require(Modality.TEXT, "query.text")
        if not texts:
            return np.empty((0, self.manifest.dimension), dtype=np.float32)
        return np.asarray(self.encoder.encode_texts(texts), dtype=np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Encode PIL images: ``(len(images), dimension)`` unit float32 rows."""
        self.require(Modality.IMAGE, "query.image")
        if not images:
            return np.empty((0, self.manifest.dimension), dtype=np.float32)
        return np.asarray(self.encoder.encode_images(images), dtype=np.float32)

    def require(self, modality: Modality, field: str) -> None:
        """Refuse input of ``modality`` when the model cannot encode it."""
        if modality not in self.modalities:
            model = self.shown() if self.manifest.model else "none (vector-only)"
            raise ModalityNotSupported(
                f"collection {self.manifest.name!r} (model {model}) cannot encode {modality.value} input; "
                + ("image input needs a CLIP model such as 'shapes-clip'" if modality is Modality.IMAGE
                   else "send vectors or ids instead"),
                field=field)
