"""An attention decoder: one softmax read over a memory of keys and images, in numpy.

A unit vector ``x`` attends over ``M`` unit keys with a temperature ``tau``; the weights mix ``M``
stored images. The images are kept in a ``K``-dimensional basis (the top principal components of the
training targets) plus an offset (their mean), so the file stays small::

    w = softmax(tau * keys @ x)                        # (M,)
    pixels = clip(w @ values @ basis + offset, 0, 1)   # (H * W * 3,), row-major H, W, RGB

The softmax makes the output a smooth function of ``x``: on the image manifold the nearest keys
dominate and the image is sharp; between two points (a slerp path) the weight moves from one group
of keys to the other and the image changes gradually. The shapes decoder's keys and values are fitted
in closed form (k-means, then ridge regression) by ``scripts/train_shapes_decoder.py``.

Weights file (safetensors): ``keys`` (M, d), ``values`` (M, K), ``basis`` (K, H*W*3), ``offset``
(H*W*3,); ``params.temperature`` in the manifest. Needs numpy and safetensors only, not torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from latentspace.indexer.decoders.base import Decoder, unit_rows
from latentspace.indexer.decoders.manifest import DecoderManifest
from latentspace.indexer.errors import ModelUnavailable
from latentspace.indexer.model_spec import parse_model_spec

#: Rows decoded per matrix product; bounds the temporary (rows x M) and (rows x pixels) arrays.
_CHUNK = 256


class AttentionDecoder(Decoder):
    """Decodes by attention over a stored memory (see the module docstring for the formula)."""

    def __init__(self, folder: Path, manifest: DecoderManifest) -> None:
        from safetensors.numpy import load_file

        path = folder / manifest.weights
        if not path.is_file():
            raise ModelUnavailable(f"decoder {manifest.name}: weights file {path} is missing", field="model")
        tensors = {name: np.asarray(t, dtype=np.float32) for name, t in load_file(str(path)).items()}
        width, height = manifest.output_size
        pixels = width * height * 3
        try:
            keys, values, basis, offset = (tensors[n] for n in ("keys", "values", "basis", "offset"))
            temperature = float(manifest.params["temperature"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelUnavailable(f"decoder {manifest.name}: {path} or its manifest lacks {e}",
                                   field="model") from e
        m, k = values.shape if values.ndim == 2 else (-1, -1)
        if keys.shape != (m, manifest.dimension) or basis.shape != (k, pixels) or offset.shape != (pixels,):
            raise ModelUnavailable(
                f"decoder {manifest.name}: tensor shapes keys {keys.shape}, values {values.shape}, "
                f"basis {basis.shape}, offset {offset.shape} do not fit dimension {manifest.dimension} "
                f"and output size {width}x{height}",
                field="model",
            )
        self.spec = parse_model_spec(manifest.encoder_spec)
        self.name = manifest.name
        self.dimension = manifest.dimension
        self.output_size = (width, height)
        self.fingerprint = manifest.fingerprint
        self.temperature = temperature
        # Unit keys, so the logits are cosines times the temperature whatever the file stored.
        self._keys = keys / np.linalg.norm(keys, axis=1, keepdims=True)
        # values @ basis once: one (M, pixels) product per decode instead of two.
        self._images = values @ basis
        self._offset = offset

    def weights(self, vectors: np.ndarray) -> np.ndarray:
        """The attention weights ``(n, M)`` of each (unit-scaled) row over the memory."""
        logits = self.temperature * (unit_rows(vectors, self.dimension) @ self._keys.T)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def decode(self, vectors: np.ndarray) -> list[Image.Image]:
        weights = self.weights(vectors)
        width, height = self.output_size
        images: list[Image.Image] = []
        for start in range(0, len(weights), _CHUNK):
            pixels = weights[start:start + _CHUNK] @ self._images + self._offset
            rgb = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8).reshape(-1, height, width, 3)
            images.extend(Image.fromarray(row, "RGB") for row in rgb)
        return images
