"""Decoded points and paths through the real server: Decode, and decode on Interpolate and Edit.

The shipped shapes decoder behind the real gRPC server, driven by the SDK; every image that comes
back (PNG bytes) is judged by the shapes CLIP's own zero-shot classifier, run here in the test
process. Query images are rendered fresh with seeds no training run used.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
from latentspace.indexer.limits import Limits
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.shapes import COLORS, IMAGE_SIZE, SIZES, ShapeSpec, render_batch, render_shape
from latentspace.indexer.shapes.zero_shot import ZeroShotClassifier
from latentspace_client import Analogy, Client, FailedPrecondition, Id, InvalidArgument, ResourceExhausted, TextPair

pytestmark = pytest.mark.semantic

ROUND_TRIP_SEED = 7373
PATH_SEED = 8383
RED = COLORS.index("red")


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "RGB"
    return image.convert("RGB")


@pytest.fixture(scope="module")
def classifier() -> ZeroShotClassifier:
    return ZeroShotClassifier(OpenClipEncoder(parse_model_spec("shapes-clip"), EncoderOptions(device="cpu")))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    from tests.conftest import ServerThread

    server = ServerThread(Path(tmp_path_factory.mktemp("decode"))).start()
    client = Client(server.address, collection="shapes", timeout=300)
    client.create_collection("shapes", model="shapes-clip")
    rng = np.random.default_rng(4242)
    items = [{"id": f"{color}-{shape}", "image": png(render_shape(ShapeSpec(color, shape, "large"), rng)),
              "payload": {"color": color, "shape": shape}}
             for color, shape in itertools.product(("red", "blue"), ("circle", "square"))]
    client.upsert(items)
    client.create_collection("vectors", dimension=8)
    yield client
    client.close()
    server.stop()


def test_round_trip_through_the_server_keeps_colour_and_shape(client: Client,
                                                              classifier: ZeroShotClassifier) -> None:
    batch = render_batch(200, np.random.default_rng(ROUND_TRIP_SEED))
    decoded: list[Image.Image] = []
    for start in range(0, len(batch), Limits.max_decoded_images):
        chunk = batch[start:start + Limits.max_decoded_images]
        reply = client.decode(*(png(image) for _, image in chunk))
        assert reply.decoder == "shapes-attention-decoder/latentspace-v1"
        assert (reply.width, reply.height) == (IMAGE_SIZE, IMAGE_SIZE) and len(reply.images) == len(chunk)
        decoded += [opened(data) for data in reply.images]
    labels = classifier.labels(decoded)
    accuracy = float(np.mean([label == spec.label for label, (spec, _) in zip(labels, batch, strict=True)]))
    print(f"\nround trip through Decode: {accuracy:.3f} of {len(batch)} fresh images keep colour and shape")
    assert accuracy >= 0.90


def test_a_decoded_path_from_a_red_to_a_blue_circle_loses_red_monotonically(client: Client,
                                                                           classifier: ZeroShotClassifier) -> None:
    rng = np.random.default_rng(PATH_SEED)
    for pair in range(5):
        sizes = rng.choice(SIZES, size=2)
        red = png(render_shape(ShapeSpec("red", "circle", str(sizes[0])), rng))
        blue = png(render_shape(ShapeSpec("blue", "circle", str(sizes[1])), rng))
        path = client.interpolate(red, blue, steps=9, k=2, decode=True)
        assert len(path.steps) == 9 and all(len(step.hits) == 2 for step in path.steps)
        images = [opened(step.image) for step in path.steps if step.image is not None]
        assert len(images) == 9
        p_red = classifier.color_probabilities(images)[:, RED]
        print(f"\npair {pair}: P(red) along the decoded path {' '.join(f'{p:.3f}' for p in p_red)}")
        assert p_red[0] > 0.9 and p_red[-1] < 0.1
        assert np.all(np.diff(p_red) <= 0.02), p_red.round(3)


def test_an_edit_decodes_its_base_and_its_result(client: Client, classifier: ZeroShotClassifier) -> None:
    result = client.edit(Id("red-circle"), TextPair("a red circle", "a blue circle"), k=1, decode=True)
    assert result.base_image is not None and result.image is not None
    base, edited = classifier.labels([opened(result.base_image), opened(result.image)])
    assert (base, edited) == ("red circle", "blue circle")
    plain = client.edit(Id("red-circle"), TextPair("a red circle", "a blue circle"), k=1)
    assert plain.base_image is None and plain.image is None
    assert plain.hits == result.hits


def test_decode_takes_every_point_form(client: Client, classifier: ZeroShotClassifier) -> None:
    vector = client.encode("a yellow star")[0].vector
    reply = client.decode("a green triangle", Id("blue-square"), vector)
    labels = classifier.labels([opened(data) for data in reply.images])
    assert labels == ["green triangle", "blue square", "yellow star"]
    # Without decode, paths carry no images.
    assert all(step.image is None for step in client.interpolate(Id("red-circle"), Id("blue-circle"), steps=3).steps)


def test_a_collection_without_a_decoder_is_failed_precondition(client: Client) -> None:
    client.upsert([{"id": "v", "vector": np.ones(8, np.float32)}], collection="vectors")
    for call in (
        lambda: client.decode(Id("v"), collection="vectors"),
        lambda: client.interpolate(Id("v"), np.arange(8, dtype=np.float32), steps=3, decode=True,
                                   collection="vectors"),
        lambda: client.edit(Id("v"), np.arange(8, dtype=np.float32), decode=True, collection="vectors"),
    ):
        with pytest.raises(FailedPrecondition) as refused:
            call()
        assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert refused.value.reason == "NO_DECODER" and "without a model" in str(refused.value)


def test_a_model_without_a_decoder_is_failed_precondition(client: Client) -> None:
    client.create_collection("texts", model="minilm")
    with pytest.raises(FailedPrecondition) as refused:
        client.decode("a red circle", collection="texts")
    assert refused.value.reason == "NO_DECODER"
    assert "has no decoder" in str(refused.value) and "shapes-clip" in str(refused.value)


def test_the_number_of_decoded_images_is_bounded(client: Client) -> None:
    limit = Limits.max_decoded_images
    with pytest.raises(ResourceExhausted, match="max_decoded_images") as refused:
        client.decode(*(["a red circle"] * (limit + 1)))
    assert refused.value.reason == "LIMIT_EXCEEDED" and "queries" in str(refused.value)
    with pytest.raises(ResourceExhausted, match="decode"):
        client.interpolate(Id("red-circle"), Id("blue-circle"), steps=limit + 1, decode=True)
    # The same path without images is within its own limit (max_steps).
    assert len(client.interpolate(Id("red-circle"), Id("blue-circle"), steps=limit + 1).steps) == limit + 1


def test_decode_refuses_what_is_not_a_point(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="COS_MUL"):
        client.decode(Analogy(Id("red-circle"), Id("blue-circle"), Id("red-square"), method="cos_mul"))
    with pytest.raises(InvalidArgument):
        client.decode()
