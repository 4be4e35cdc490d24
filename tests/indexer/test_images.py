"""Decoding caller-sent image bytes: RGB out, clear errors, bombs refused before decompression."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.images import decode_image
from latentspace.indexer.limits import Limits
from latentspace.indexer.modality import Modality
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import ImagePoint, MixPoint
from latentspace.indexer.search_options import SearchOptions
from tests.indexer.brute_force_collection import BruteForceCollection


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("mode,fmt", [("RGB", "PNG"), ("RGBA", "PNG"), ("L", "PNG"), ("P", "GIF"),
                                      ("RGB", "JPEG"), ("RGB", "WEBP"), ("RGB", "BMP")])
def test_decodes_common_formats_to_rgb(mode, fmt):
    image = decode_image(encoded(Image.new(mode, (7, 5))), max_pixels=100)
    assert image.mode == "RGB" and image.size == (7, 5)


@pytest.mark.parametrize("data", [b"", b"not an image", encoded(Image.new("RGB", (64, 64)))[:60],
                                  b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"])
def test_undecodable_bytes_are_invalid_input(data):
    with pytest.raises(InvalidInput) as caught:
        decode_image(data, max_pixels=10_000, field="queries[2].image")
    assert caught.value.field == "queries[2].image"


def with_size(png: bytes, width: int, height: int) -> bytes:
    """A PNG whose header claims another size (what a decompression bomb looks like up front)."""
    ihdr = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + png[33:]


def test_too_many_pixels_is_refused_from_the_header():
    bomb = with_size(encoded(Image.new("L", (1, 1))), 20_000, 20_000)
    start = time.perf_counter()
    with pytest.raises(LimitExceeded) as caught:
        decode_image(bomb, max_pixels=1_000_000)
    assert time.perf_counter() - start < 0.5
    assert "400000000 pixels" in caught.value.message and caught.value.field == "query.image"


def test_image_points_resolve_through_one_encode_images_call():
    brute = BruteForceCollection(8, frozenset({Modality.IMAGE}))
    brute.add("x", np.ones(8))
    ops = LatentOperations(brute, Limits(max_image_pixels=100))
    red, blue = encoded(Image.new("RGB", (4, 4), "red")), encoded(Image.new("RGB", (4, 4), "blue"))
    resolved = ops.encode([ImagePoint(red), MixPoint(((ImagePoint(blue), 1.0), (ImagePoint(red), 1.0)))])
    assert brute.calls["encode_images"] == 1
    assert resolved[0].modality is Modality.IMAGE and resolved[1].modality is Modality.VECTOR
    with pytest.raises(LimitExceeded) as caught:
        ops.search([ImagePoint(encoded(Image.new("RGB", (20, 20))))], SearchOptions(k=1))
    assert caught.value.field == "query.image"


def test_pillows_own_bomb_limit_is_a_limit_too():
    # Above Pillow's hard limit (2 x MAX_IMAGE_PIXELS) even a generous max_pixels cannot load it.
    bomb = with_size(encoded(Image.new("L", (1, 1))), 100_000, 100_000)
    with pytest.raises(LimitExceeded):
        decode_image(bomb, max_pixels=10**12)


def test_a_requests_images_draw_on_one_pixel_budget_before_each_is_decoded():
    budget = Limits(max_request_pixels=1000).budget()
    square = encoded(Image.new("RGB", (20, 20)))  # 400 pixels each
    for i in range(2):
        decode_image(square, max_pixels=10_000, field=f"queries[{i}].image", budget=budget)
    with pytest.raises(LimitExceeded) as caught:
        decode_image(square, max_pixels=10_000, field="queries[2].image", budget=budget)
    assert caught.value.field == "queries[2].image" and "max_request_pixels" in caught.value.message
    assert budget.pixels_spent == 800  # the refused image drew nothing
    # A header that claims too much for what is left is refused without decompressing anything.
    bomb = with_size(encoded(Image.new("L", (1, 1))), 10_000, 10_000)  # under Pillow's own bomb limit
    with pytest.raises(LimitExceeded, match="max_request_pixels"):
        decode_image(bomb, max_pixels=10**9, budget=Limits(max_request_pixels=10**6).budget())


def test_operations_spend_one_budget_per_request_on_distinct_images():
    brute = BruteForceCollection(8, frozenset({Modality.IMAGE}))
    brute.add("x", np.ones(8))
    ops = LatentOperations(brute, Limits(max_request_pixels=1000))
    small = [encoded(Image.new("RGB", (20, 20), c)) for c in ("red", "green", "blue")]
    # The same image twice is decoded (and charged) once.
    ops.encode([ImagePoint(small[0]), ImagePoint(small[0]), ImagePoint(small[1])])
    ops.encode([ImagePoint(small[2]), ImagePoint(small[1])])  # a new request, a new budget
    with pytest.raises(LimitExceeded) as caught:
        ops.encode([ImagePoint(b) for b in small])
    assert caught.value.field == "queries[2].image"
    assert brute.calls["encode_images"] == 2  # the refused request reached no model
