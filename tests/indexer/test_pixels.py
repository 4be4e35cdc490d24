"""Image preprocessing split into per-image PIL stages and a batch tail gives the model the same
numbers, bit for bit, as the model's own transform applied image by image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from open_clip.transform import image_transform
from PIL import Image
from torchvision.transforms import Compose, Resize

from latentspace.indexer.encoders.pixels import PixelPreprocess

CPU = torch.device("cpu")


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(64, 64), (100, 37), (300, 224), (224, 224), (13, 500)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    return [*images, images[0].convert("L"), images[1].convert("RGBA")]  # modes the transform converts


@pytest.mark.parametrize("size", [64, 224])
@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
def test_split_pixels_equal_the_models_transform(size: int, resize_mode: str) -> None:
    transform = image_transform(size, is_train=False, resize_mode=resize_mode)
    split = PixelPreprocess(transform)
    images = _images()
    pixels = split.pixels(images)
    assert isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.shape == (7, size, size, 3)
    tensor = split.tensor(pixels, CPU)
    expected = torch.stack([transform(image) for image in images])
    assert tensor.is_contiguous() and tensor.dtype == torch.float32
    assert torch.equal(tensor, expected)


def test_joined_batches_are_cut_at_the_batch_size_and_keep_their_rows() -> None:
    split = PixelPreprocess(image_transform(32, is_train=False))
    images = _images()
    batches = [split.pixels(images[:1]), split.pixels(images[1:4]), split.pixels(images[4:])]
    joined = PixelPreprocess.join(batches, 4)
    assert [len(batch) for batch in joined] == [4, 3]
    np.testing.assert_array_equal(np.concatenate(joined), split.pixels(images))


def test_another_transform_shape_falls_back_to_the_whole_transform() -> None:
    def transform(image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(image.resize((8, 8)), dtype=np.float32)).permute(2, 0, 1)

    split = PixelPreprocess(transform)
    images = _images()[:3]
    pixels = split.pixels(images)
    assert isinstance(pixels, torch.Tensor) and pixels.shape == (3, 3, 8, 8)
    assert torch.equal(split.tensor(pixels, CPU), torch.stack([transform(image) for image in images]))
    # A Compose that ends otherwise than ToTensor + Normalize, too; tensor batches are never joined.
    resize_only = PixelPreprocess(Compose([Resize(8)]))
    assert resize_only.join([pixels, pixels], 4) == (pixels, pixels)
