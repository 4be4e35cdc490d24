"""The decoder interface: unit vectors of one model's latent space in, images out.

A decoder is the inverse direction of an :class:`~latentspace.indexer.encoders.base.Encoder`: it
draws what a point of the space looks like, so a path (slerp, mix, edit) can be shown as a strip of
images. A decoder is trained against one encoder's weights and means nothing for any other, so it
carries that encoder's fingerprint and the registry refuses to hand it out for another one.

The seam for a real decoder
---------------------------
The shapes model ships a small attention decoder (``attention_decoder.py``) that runs in numpy on
the CPU. A decoder for a real CLIP plugs in behind the same interface, e.g. an unCLIP-style
diffusion decoder conditioned on CLIP image embeddings (Karlo's decoder, or Stable unCLIP's
``StableUnCLIPImg2ImgPipeline`` for OpenCLIP ViT-H-14 image embeddings):

- a backend module (``diffusion_decoder.py``, say) importing torch/diffusers at its top, named in
  :data:`latentspace.indexer.decoders.registry.BACKENDS` under a new ``kind``; the registry imports
  it only when a model with such a decoder is first decoded;
- a decoder folder (``decoder.json`` naming the kind, the encoder spec and fingerprint it was trained
  against, the output size, the pipeline's local weights) beside the model, as the shapes decoder's;
- ``decode`` gets unit rows; the backend rescales them to the norm its conditioning was trained on
  (unCLIP decoders see unnormalised image embeddings) and, for text-side points, runs the unCLIP
  prior or accepts the modality gap; it batches on the GPU under ``torch.inference_mode()`` in fp16,
  fixes the sampler's seed per request so a path decodes the same twice, and keeps the step count a
  setting (tens of denoising steps: seconds per image on a GPU, far too slow for a CPU request);
- the server runs decodes on the request pool like encodes, so the limits on steps and batch size
  bound the work of one request.
"""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.model_spec import ModelSpec

if TYPE_CHECKING:
    from PIL import Image

#: Rows shorter than this cannot be scaled to a direction; decoders refuse them.
MIN_ROW_NORM = 1e-6


class Decoder(ABC):
    """Maps points of one model's latent space to RGB images.

    ``decode`` takes an ``(n, dimension)`` array; each row is scaled to unit length first (the space
    is the unit sphere; a mix or an edit may hand over a shorter row), so only its direction counts.
    """

    #: The spec of the encoder whose space this decodes.
    spec: ModelSpec
    #: The decoder's own name and version, e.g. ``"shapes-attention-decoder/latentspace-v1"``.
    name: str
    dimension: int
    #: ``(width, height)`` of every image ``decode`` returns.
    output_size: tuple[int, int]
    #: The fingerprint of the encoder weights this decoder was trained against.
    fingerprint: str

    @abstractmethod
    def decode(self, vectors: np.ndarray) -> list[Image.Image]:
        """Decode ``(n, dimension)`` vectors into ``n`` RGB images of :attr:`output_size`."""

    def decode_png(self, vectors: np.ndarray) -> list[bytes]:
        """:meth:`decode`, each image encoded as PNG bytes (what an RPC sends)."""
        encoded = []
        for image in self.decode(vectors):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            encoded.append(buffer.getvalue())
        return encoded


def unit_rows(vectors: np.ndarray, dimension: int, *, field: str = "vectors") -> np.ndarray:
    """Check a batch of points and scale its rows to unit length, as float32.

    Raises :class:`InvalidInput` for a wrong shape or dimension, non-finite values or a zero row.
    """
    array = np.asarray(vectors)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dimension:
        raise InvalidInput(f"expected vectors of shape (n, {dimension}), got {tuple(np.shape(vectors))}",
                           field=field)
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidInput(f"vectors must be real numbers, got dtype {array.dtype}", field=field)
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise InvalidInput("vectors contain NaN or infinity", field=field)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    short = np.flatnonzero(norms[:, 0] < MIN_ROW_NORM)
    if short.size:
        raise InvalidInput(f"vector {int(short[0])} has (near) zero length and no direction to decode",
                           field=field)
    return (array / norms).astype(np.float32)
