"""The shipped shapes decoder against the real shapes CLIP: round trips, decoded paths, text points.

Judged by the encoder's own zero-shot classifier (``latentspace.indexer.shapes.zero_shot``). The
training script fits on seed 0 and reports on seed 20000; these images come from other seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentspace.indexer.decoders.attention_decoder import AttentionDecoder
from latentspace.indexer.decoders.manifest import read_manifest
from latentspace.indexer.decoders.registry import DecoderRegistry
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
from latentspace.indexer.errors import ModelMismatch
from latentspace.indexer.latent_math import slerp
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.shapes import COLORS, DECODER_DIR, MODEL_DIR, SIZES, ShapeSpec, render_batch, render_shape
from latentspace.indexer.shapes.zero_shot import LABELS, ZeroShotClassifier

pytestmark = pytest.mark.semantic

ROUND_TRIP_SEED = 5151
PATH_SEED = 6161
PATH_STEPS = 9
RED = COLORS.index("red")


@pytest.fixture(scope="module")
def encoder() -> OpenClipEncoder:
    return OpenClipEncoder(parse_model_spec("shapes-clip"), EncoderOptions(device="cpu"))


@pytest.fixture(scope="module")
def decoder(encoder: OpenClipEncoder) -> AttentionDecoder:
    found = DecoderRegistry().get(encoder.spec, encoder.fingerprint)
    assert isinstance(found, AttentionDecoder)
    return found


@pytest.fixture(scope="module")
def classifier(encoder: OpenClipEncoder) -> ZeroShotClassifier:
    return ZeroShotClassifier(encoder)


def test_the_shipped_decoder_is_bound_to_the_shipped_encoder(encoder: OpenClipEncoder,
                                                             decoder: AttentionDecoder) -> None:
    # Retraining the CLIP without retraining the decoder fails here (and the registry refuses it).
    assert read_manifest(DECODER_DIR).fingerprint == encoder.fingerprint == decoder.fingerprint
    assert decoder.dimension == encoder.dimension
    with pytest.raises(ModelMismatch, match=encoder.fingerprint):
        DecoderRegistry().get(encoder.spec, "f" * 16)
    # The same weights loaded from the model folder find the same decoder.
    local = OpenClipEncoder(parse_model_spec(f"open_clip:{MODEL_DIR}"), EncoderOptions(device="cpu"))
    assert DecoderRegistry().get(local.spec, local.fingerprint) is not None


def test_round_trip_keeps_colour_and_shape(encoder: OpenClipEncoder, decoder: AttentionDecoder,
                                          classifier: ZeroShotClassifier) -> None:
    batch = render_batch(200, np.random.default_rng(ROUND_TRIP_SEED))
    decoded = decoder.decode(encoder.encode_images([image for _, image in batch]))
    labels = classifier.labels(decoded)
    accuracy = np.mean([label == spec.label for label, (spec, _) in zip(labels, batch, strict=True)])
    assert accuracy >= 0.90, f"round-trip accuracy {accuracy:.3f}"


def test_red_to_blue_path_loses_red_monotonically(encoder: OpenClipEncoder, decoder: AttentionDecoder,
                                                 classifier: ZeroShotClassifier) -> None:
    """Nine slerp steps from a red circle's image vector to a blue circle's, on several fresh pairs."""
    rng = np.random.default_rng(PATH_SEED)
    for _ in range(8):
        sizes = rng.choice(SIZES, size=2)
        red, blue = encoder.encode_images([render_shape(ShapeSpec("red", "circle", str(sizes[0])), rng),
                                           render_shape(ShapeSpec("blue", "circle", str(sizes[1])), rng)])
        path = np.stack([slerp(red, blue, t) for t in np.linspace(0.0, 1.0, PATH_STEPS)])
        p_red = classifier.color_probabilities(decoder.decode(path))[:, RED]
        assert p_red[0] > 0.9 and p_red[-1] < 0.1, p_red.round(3)
        assert np.all(np.diff(p_red) <= 0.02), p_red.round(3)


def test_captions_decode_to_their_shape(encoder: OpenClipEncoder, decoder: AttentionDecoder,
                                        classifier: ZeroShotClassifier) -> None:
    """Text points decode too: 'a red circle', 'a small red circle', 'a large red circle', ..."""
    captions = [f"a {size}{label}" for label in LABELS for size in ("", "small ", "large ")]
    expected = [label for label in LABELS for _ in range(3)]
    labels = classifier.labels(decoder.decode(encoder.encode_texts(captions)))
    accuracy = np.mean([a == b for a, b in zip(labels, expected, strict=True)])
    assert accuracy >= 0.8, f"caption decode accuracy {accuracy:.3f}"
