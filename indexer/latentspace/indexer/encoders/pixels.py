"""An image model's preprocessing in two parts: per-image PIL work, then one tensor per batch.

open_clip's transforms end in ``ToTensor`` and ``Normalize``, applied one image at a time. Their
torch work is tiny per image but costs dispatch and Python on every one, and, run on request threads,
each thread that touches a large enough tensor starts its own OpenMP team. So the per-image part
here stops at the PIL stages (resize, crop, mode) and keeps ``uint8`` pixels; the batch's scaling
and normalising happen in one vectorised step where the model runs. Each element goes through the
same float32 operations as ``to_tensor`` then ``normalize`` (``x / 255``, ``- mean``, ``/ std``),
so the model sees the same numbers. Transforms of another shape, or images that do not come out of
the PIL stages as RGB, take the model's own transform whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import Compose, Normalize, ToTensor

#: What a prepared image batch is: ``(n, height, width, 3)`` uint8 pixels, or the model's own
#: ``(n, 3, height, width)`` float tensor when the fast split does not apply.
PixelBatch = np.ndarray | torch.Tensor


class PixelPreprocess:
    """``transform`` (a torchvision ``Compose``) split into per-image PIL stages and a batch tail."""

    def __init__(self, transform: Callable[[Image.Image], torch.Tensor]) -> None:
        self._transform = transform
        steps = list(getattr(transform, "transforms", ()))
        self._pil_stages: Compose | None = None
        if len(steps) >= 2 and isinstance(steps[-2], ToTensor) and isinstance(steps[-1], Normalize):
            self._pil_stages = Compose(steps[:-2])
            normalize = steps[-1]
            self._mean = torch.as_tensor(normalize.mean, dtype=torch.float32).view(1, -1, 1, 1)
            self._std = torch.as_tensor(normalize.std, dtype=torch.float32).view(1, -1, 1, 1)

    def pixels(self, images: Sequence[Image.Image]) -> PixelBatch:
        """The per-image work for ``images``; no torch work on the fast split (any thread)."""
        if self._pil_stages is not None:
            arrays = [_rgb_pixels(self._pil_stages(image)) for image in images]
            if arrays and all(a is not None and a.shape == arrays[0].shape for a in arrays):  # type: ignore[union-attr]
                return np.stack(arrays)  # type: ignore[arg-type]  # None excluded just above
        return torch.stack([self._transform(image) for image in images])

    def tensor(self, batch: PixelBatch, device: torch.device) -> torch.Tensor:
        """``batch`` as the model's input on ``device``: scaled and normalised, ``(n, 3, height, width)``.

        uint8 pixels move to the device before they are scaled: a quarter of the bytes of floats.
        """
        non_blocking = device.type == "cuda"
        if isinstance(batch, torch.Tensor):
            return batch.to(device, non_blocking=non_blocking)
        pixels = torch.from_numpy(batch).to(device, non_blocking=non_blocking)
        # As to_tensor: channels first and contiguous, then float32 / 255; then as normalize.
        scaled = pixels.permute(0, 3, 1, 2).contiguous().to(torch.float32).div_(255)
        return scaled.sub_(self._mean.to(device)).div_(self._std.to(device))

    @staticmethod
    def join(batches: Sequence[PixelBatch], size: int) -> tuple[PixelBatch, ...]:
        """Batches from several requests as model batches of at most ``size`` images.

        uint8 batches of one shape are concatenated and cut again, so a micro-batch of one-image
        requests runs as one forward pass; anything else keeps its own batches.
        """
        if len(batches) > 1 and all(isinstance(b, np.ndarray) and b.shape[1:] == batches[0].shape[1:]
                                    for b in batches):
            joined = np.concatenate(batches)
            return tuple(joined[start:start + size] for start in range(0, len(joined), size))
        return tuple(batches)


def _rgb_pixels(image: Any) -> np.ndarray | None:
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return np.asarray(image)
    return None
