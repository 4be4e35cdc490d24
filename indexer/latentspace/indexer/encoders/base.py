"""The encoder interface: content in, unit-normalised float32 vectors out.

Encoding is two steps, so that a pipeline can overlap them: :meth:`Encoder.prepare_texts` /
:meth:`Encoder.prepare_images` do the CPU work that needs no model (tokenising; image resizing and
normalising) and return a :class:`PreparedInput`; :meth:`Encoder.encode_prepared` runs the model on
it. ``encode_texts`` / ``encode_images`` are the two steps in one call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from latentspace.indexer.errors import InvalidInput, ModalityNotSupported, ModelUnavailable, PermissionDenied
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


@dataclass(frozen=True, eq=False)
class PreparedInput:
    """Texts or images made ready for the model, by :meth:`Encoder.prepare_texts` / ``prepare_images``.

    It holds tensors or plain values, never the model, so it can be made on any thread (or, pickled,
    in another process) and handed to :meth:`Encoder.encode_prepared` of the encoder that made it.
    """

    modality: Modality
    #: How many inputs it stands for; ``encode_prepared`` returns this many rows.
    count: int
    #: One entry per model call, in the order the model runs them; what an entry is belongs to the
    #: backend (a dict of token tensors, a pixel tensor, or the raw inputs).
    batches: tuple[Any, ...]
    #: ``order[i]`` is the input position of the i-th row the batches produce (backends sort texts
    #: by length to pad less); None when the batches keep the input order.
    order: np.ndarray | None = None


class Encoder(ABC):
    """Maps texts and/or images into one latent space.

    Implementations batch internally, run under ``torch.inference_mode()`` and return
    ``(n, dimension)`` float32 arrays whose rows have unit L2 norm.

    The default ``prepare_*`` methods do no work ahead (they keep the raw inputs) and the default
    ``encode_prepared`` calls ``encode_texts`` / ``encode_images``, so a backend that implements only
    those two still works in the bulk pipeline; the real backends override all of them.
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
        raise self._no_images()

    def prepare_texts(self, texts: Sequence[str]) -> PreparedInput:
        """The CPU work before the model for ``texts`` (tokenising); safe to call from any thread."""
        return PreparedInput(Modality.TEXT, len(texts), (list(texts),))

    def prepare_images(self, images: Sequence[Image.Image]) -> PreparedInput:
        """The CPU work before the model for ``images`` (resize, crop, normalise); any thread."""
        if not self.supports(Modality.IMAGE):
            raise self._no_images()
        return PreparedInput(Modality.IMAGE, len(images), (list(images),))

    def encode_prepared(self, prepared: PreparedInput) -> np.ndarray:
        """Run the model on ``prepared``: ``(prepared.count, dimension)`` unit float32 rows, in input order."""
        encode = self.encode_texts if prepared.modality is Modality.TEXT else self.encode_images
        rows = [encode(batch) for batch in prepared.batches]
        return in_input_order(stack_rows(rows, self.dimension), prepared.order)

    def combine_prepared(self, parts: Sequence[PreparedInput]) -> PreparedInput:
        """Several prepared inputs of one modality as one, whose rows are theirs in turn.

        The server's micro-batches use it to run many requests' inputs in one model call; a backend
        whose batches can merge (pixel arrays) overrides it to run fewer, larger ones.
        """
        if not parts:
            raise ValueError("nothing to combine")
        modality = parts[0].modality
        if any(part.modality is not modality for part in parts):
            raise ValueError("prepared inputs of different modalities do not combine")
        order = None
        if any(part.order is not None for part in parts):
            offsets = np.cumsum([0] + [part.count for part in parts[:-1]])
            order = np.concatenate([(part.order if part.order is not None else np.arange(part.count)) + offset
                                    for part, offset in zip(parts, offsets, strict=True)])
        return PreparedInput(modality, sum(part.count for part in parts),
                             tuple(batch for part in parts for batch in part.batches), order)

    def _no_images(self) -> ModalityNotSupported:
        return ModalityNotSupported(
            f"model {self.spec} encodes text only; image input needs a CLIP model such as 'shapes-clip'",
            field="query.image",
        )


def check_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, or :class:`InvalidInput` naming the first item that is not a string."""
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InvalidInput(f"item {i} is {type(text).__name__}, expected str", field="texts")
    return items


def stack_rows(chunks: Sequence[np.ndarray], dimension: int) -> np.ndarray:
    """Concatenate per-batch results into one float32 array; ``(0, dimension)`` when there are none."""
    if not chunks:
        return np.zeros((0, dimension), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


def in_input_order(rows: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """Undo a backend's reordering: row ``i`` of ``rows`` belongs to input ``order[i]``."""
    if order is None:
        return rows
    restored = np.empty_like(rows)
    restored[order] = rows
    return restored
