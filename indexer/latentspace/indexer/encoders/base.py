"""The encoder interface: content in, unit-normalised float32 vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.errors import ModalityNotSupported
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelSpec

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class EncoderOptions:
    """How models are loaded and run; built once from the settings."""

    device: str = "auto"  # "auto" picks CUDA (fp16) when present, else CPU
    cache_dir: Path | None = None  # where hub weights are looked up (and downloaded to)
    allow_download: bool = True  # False: never touch the network, fail with a clear error
    batch_size: int = 64
    #: Intra-op CPU threads for model calls; 0 leaves torch's default (all cores).
    threads: int = 0


class Encoder(ABC):
    """Maps texts and/or images into one latent space.

    Implementations batch internally, run under ``torch.inference_mode()`` and return
    ``(n, dimension)`` float32 arrays whose rows have unit L2 norm.
    """

    spec: ModelSpec
    dimension: int
    modalities: frozenset[Modality]
    #: A digest of the loaded weights; collections refuse vectors from another fingerprint.
    fingerprint: str

    def supports(self, modality: Modality) -> bool:
        return modality in self.modalities

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts into a ``(len(texts), dimension)`` float32 array of unit rows."""

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Encode PIL images into a ``(len(images), dimension)`` float32 array of unit rows."""
        raise ModalityNotSupported(
            f"model {self.spec} encodes text only; image input needs a CLIP model such as 'shapes-clip'",
            field="query.image",
        )
