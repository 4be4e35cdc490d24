"""The encoder interface: content in, unit-normalised float32 vectors out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.errors import ModalityNotSupported, ModelUnavailable, PermissionDenied
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import ModelSpec

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class EncoderOptions:
    """How models are loaded and run; built once from the settings."""

    device: str = "auto"  # "auto" picks CUDA (fp16) when present, else CPU
    cache_dir: Path | None = None  # where hub weights are looked up (and downloaded to)
    allow_download: bool = False  # False: never touch the network, fail with a clear error
    #: Canonical specs that may be downloaded when ``allow_download`` is on; None: any spec
    #: (see :mod:`latentspace.indexer.model_access`).
    download_allow: frozenset[str] | None = None
    batch_size: int = 64
    #: Intra-op CPU threads for model calls; 0 leaves torch's default (all cores).
    threads: int = 0

    def check_download(self, spec: ModelSpec) -> None:
        """Before fetching ``spec``'s weights from the hub: :class:`ModelUnavailable` when downloads are
        off, :class:`PermissionDenied` when ``spec`` is not on the allow-list."""
        if not self.allow_download:
            raise ModelUnavailable(
                f"the weights of {spec.redacted} are not in the model cache and downloads are off; put them "
                "in the model cache (LATENTSPACE_MODEL_CACHE, Hugging Face hub layout) or have the operator "
                "turn downloads on (LATENTSPACE_ALLOW_DOWNLOAD=1)", field="model")
        if self.download_allow is not None and spec.canonical not in self.download_allow:
            raise PermissionDenied(
                f"{spec.redacted} is not on this server's download allow-list (LATENTSPACE_DOWNLOAD_ALLOW, "
                "by default the documented aliases); use an allowed model or ask the operator to add it",
                field="model", reason="DOWNLOAD_NOT_ALLOWED")


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
