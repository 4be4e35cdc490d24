"""Decoding in the operations layer: Decode, decode on Interpolate and Edit, and their refusals.

The shipped shapes decoder (numpy, no model) over a brute-force 128-d collection whose texts encode
to hash-seeded vectors, so what is drawn is checked against the decoder called directly.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentspace.indexer.decoders.base import Decoder
from latentspace.indexer.decoders.manifest import read_manifest
from latentspace.indexer.decoders.registry import DecoderRegistry
from latentspace.indexer.errors import InvalidInput, LimitExceeded, ModelMismatch, NoDecoder
from latentspace.indexer.limits import Limits
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import (
    AnalogyMethod,
    AnalogyPoint,
    EditMode,
    EditPoint,
    IdPoint,
    TextPoint,
    VectorDirection,
    VectorPoint,
)
from latentspace.indexer.shapes import DECODER_DIR
from tests.indexer.brute_force_collection import BruteForceCollection, text_vector

D = 128
SHAPES_CLIP = parse_model_spec("shapes-clip").canonical
FINGERPRINT = read_manifest(DECODER_DIR).fingerprint


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    return DecoderRegistry().for_collection("shapes", SHAPES_CLIP, FINGERPRINT)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def collection() -> BruteForceCollection:
    brute = BruteForceCollection(D, modalities=frozenset({Modality.TEXT}))
    rng = np.random.default_rng(3)
    for i in range(10):
        brute.add(f"v{i}", unit(rng.normal(size=D)))
    return brute


def operations(decoder: Decoder | None, limits: Limits | None = None) -> tuple[LatentOperations, BruteForceCollection]:
    brute = collection()
    loader = None if decoder is None else (lambda: decoder)
    return LatentOperations(brute, limits, decoder=loader), brute


def test_decode_draws_each_point_as_the_decoder_does(decoder: Decoder) -> None:
    ops, brute = operations(decoder)
    vector = np.random.default_rng(5).normal(size=D)
    decoded = ops.decode([TextPoint("a red circle"), IdPoint("v3"), VectorPoint(vector)])
    stored = brute.items["v3"].vector
    assert stored is not None
    expected = decoder.decode_png(np.stack([text_vector("a red circle", D), stored, unit(vector)]))
    assert decoded.images == expected
    assert decoded.decoder == decoder.name and decoded.size == decoder.output_size


def test_interpolate_decodes_every_step_and_edit_its_base_and_result(decoder: Decoder) -> None:
    ops, _ = operations(decoder)
    path = ops.interpolate(IdPoint("v1"), IdPoint("v2"), steps=5, k=2, decode=True)
    assert [s.image for s in path.steps] == decoder.decode_png(np.stack([s.vector for s in path.steps]))
    assert all(s.image is None for s in ops.interpolate(IdPoint("v1"), IdPoint("v2"), steps=5).steps)
    direction = VectorDirection(np.random.default_rng(6).normal(size=D))
    result = ops.edit(EditPoint(IdPoint("v1"), direction, EditMode.ADD, 0.5), k=1, decode=True)
    base = ops.encode([IdPoint("v1")])[0].vector
    assert [result.base_image, result.image] == decoder.decode_png(np.stack([base, result.vector]))
    plain = ops.edit(EditPoint(IdPoint("v1"), direction, EditMode.ADD, 0.5), k=1)
    assert plain.image is None and plain.base_image is None


def test_without_a_decoder_every_decode_is_refused_before_any_encoding() -> None:
    ops, brute = operations(None)
    for call in (
        lambda: ops.decode([TextPoint("a red circle")]),
        lambda: ops.interpolate(TextPoint("a"), TextPoint("b"), steps=3, decode=True),
        lambda: ops.edit(EditPoint(TextPoint("a"), VectorDirection(np.ones(D)), EditMode.ADD, None), decode=True),
    ):
        with pytest.raises(NoDecoder, match="without a decoder"):
            call()
    assert brute.calls["encode_texts"] == 0
    # Without decode, the same operations need no decoder.
    assert len(ops.interpolate(TextPoint("a"), TextPoint("b"), steps=3).steps) == 3


def test_the_number_of_images_is_bounded(decoder: Decoder) -> None:
    ops, brute = operations(decoder, Limits(max_decoded_images=4))
    assert len(ops.decode([IdPoint("v1")] * 4).images) == 4
    with pytest.raises(LimitExceeded, match=r"5 images to decode .* \(max_decoded_images\)") as caught:
        ops.decode([TextPoint("a")] * 5)
    assert caught.value.field == "queries"
    with pytest.raises(LimitExceeded) as caught:
        ops.interpolate(TextPoint("a"), TextPoint("b"), steps=5, decode=True)
    assert caught.value.field == "decode"
    assert brute.calls["encode_texts"] == 0
    assert len(ops.interpolate(TextPoint("a"), TextPoint("b"), steps=5).steps) == 5


def test_decode_refuses_what_is_not_a_point_and_empty_requests(decoder: Decoder) -> None:
    ops, _ = operations(decoder)
    cos_mul = AnalogyPoint(IdPoint("v1"), IdPoint("v2"), IdPoint("v3"), AnalogyMethod.COS_MUL)
    with pytest.raises(InvalidInput, match="COS_MUL") as caught:
        ops.decode([IdPoint("v0"), cos_mul])
    assert caught.value.field == "queries[1].analogy.method"
    with pytest.raises(InvalidInput, match="must not be empty"):
        ops.decode([])


def test_the_registry_says_why_a_collection_has_no_decoder() -> None:
    registry = DecoderRegistry()
    with pytest.raises(NoDecoder, match="stores raw vectors without a model") as caught:
        registry.for_collection("vectors", None, None)
    assert caught.value.field == "collection" and caught.value.reason == "NO_DECODER"
    minilm = parse_model_spec("minilm").canonical
    with pytest.raises(NoDecoder, match=r"'texts' uses model .*all-MiniLM-L6-v2, which has no decoder"):
        registry.for_collection("texts", minilm, "0" * 16)
    with pytest.raises(ModelMismatch, match="retrain"):
        registry.for_collection("shapes", SHAPES_CLIP, "f" * 16)
