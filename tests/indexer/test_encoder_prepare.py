"""The encoder's two steps (prepare, then encode_prepared) give what one encode call gives.

Real models: the bulk pipeline tokenises in one thread and runs the model in another, so the split
must change nothing about the vectors, in any thread, and the prepared input must survive pickling
(a cluster runner moves it between processes).
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from latentspace.indexer.encoders.base import Encoder, EncoderOptions, PreparedInput
from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
from latentspace.indexer.encoders.sentence_transformer_encoder import SentenceTransformerEncoder
from latentspace.indexer.errors import InvalidInput, ModalityNotSupported
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.shapes.render import render_batch

OPTIONS = EncoderOptions(device="cpu", allow_download=False, batch_size=4)
#: Lengths that differ a lot, so sorting by length reorders them across several model batches.
TEXTS = [
    "short",
    "a considerably longer sentence about indexing a corpus of documents into a vector space",
    "medium length text here",
    "x",
    "the quick brown fox jumps over the lazy dog, twice, and then once more for good measure",
    "splitting a path into folder and name",
    "tokenisers pad every text of a batch to its longest one",
    "ok",
    "one more",
    "and the last text of the list, of middling length",
]


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder(parse_model_spec("minilm"), OPTIONS)


@pytest.fixture(scope="module")
def shapes_clip() -> OpenClipEncoder:
    return OpenClipEncoder(parse_model_spec("shapes-clip"), OPTIONS)


@pytest.mark.semantic
def test_minilm_prepared_vectors_equal_the_library_encode(minilm: SentenceTransformerEncoder) -> None:
    prepared = minilm.prepare_texts(TEXTS)
    assert prepared.modality is Modality.TEXT and prepared.count == len(TEXTS)
    # Forward passes of at most 4 texts of similar length (length_groups), shortest first.
    assert len(prepared.batches) >= 3
    assert all(len(batch["input_ids"]) <= 4 for batch in prepared.batches)
    assert prepared.order is not None and sorted(prepared.order.tolist()) == list(range(len(TEXTS)))
    lengths = [len(TEXTS[i]) for i in prepared.order]
    assert lengths == sorted(lengths)
    vectors = minilm.encode_prepared(prepared)
    expected = minilm.model.encode(TEXTS, batch_size=4, normalize_embeddings=True, convert_to_numpy=True)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, expected, atol=1e-5)  # row i is still TEXTS[i]
    np.testing.assert_allclose(minilm.encode_texts(TEXTS), vectors, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


@pytest.mark.semantic
def test_minilm_prepares_in_one_thread_while_another_encodes(minilm: SentenceTransformerEncoder) -> None:
    expected = minilm.encode_texts(TEXTS)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                results.append(minilm.encode_prepared(minilm.prepare_texts(TEXTS)))
        except BaseException as error:  # e.g. the tokenizer's "Already borrowed"
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 20
    for vectors in results:
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


@pytest.mark.semantic
def test_prepared_input_survives_pickling(minilm: SentenceTransformerEncoder, shapes_clip: OpenClipEncoder) -> None:
    for encoder in (minilm, shapes_clip):
        prepared = encoder.prepare_texts(TEXTS)
        copy = pickle.loads(pickle.dumps(prepared))
        np.testing.assert_allclose(encoder.encode_prepared(copy), encoder.encode_prepared(prepared), atol=1e-6)


@pytest.mark.semantic
def test_minilm_refuses_images_and_non_strings(minilm: SentenceTransformerEncoder) -> None:
    images = [image for _, image in render_batch(1, np.random.default_rng(0))]
    with pytest.raises(ModalityNotSupported, match="shapes-clip"):
        minilm.prepare_images(images)
    with pytest.raises(InvalidInput, match="item 1 is int"):
        minilm.prepare_texts(["fine", 3])  # type: ignore[list-item]
    assert minilm.encode_prepared(minilm.prepare_texts([])).shape == (0, 384)


@pytest.mark.semantic
def test_shapes_clip_prepared_images_and_texts_equal_one_call(shapes_clip: OpenClipEncoder) -> None:
    images = [image for _, image in render_batch(10, np.random.default_rng(3))]
    prepared = shapes_clip.prepare_images(images)
    assert prepared.modality is Modality.IMAGE and prepared.count == 10 and len(prepared.batches) == 3
    assert tuple(prepared.batches[0].shape) == (4, 64, 64, 3)  # uint8 pixels, scaled where the model runs
    assert prepared.batches[0].dtype == np.uint8
    vectors = shapes_clip.encode_prepared(prepared)
    np.testing.assert_allclose(vectors, shapes_clip.encode_images(images), atol=1e-6)
    # One image alone encodes as it does inside a batch: the rows are the images', in order.
    np.testing.assert_allclose(vectors[7], shapes_clip.encode_images([images[7]])[0], atol=1e-5)
    texts = shapes_clip.encode_prepared(shapes_clip.prepare_texts(["a red circle", "a blue star"]))
    np.testing.assert_allclose(texts, shapes_clip.encode_texts(["a red circle", "a blue star"]), atol=1e-6)


class RawEncoder(Encoder):
    """A backend that implements only encode_texts: the interface's default prepare step applies."""

    def __init__(self) -> None:
        self.spec = parse_model_spec("minilm")
        self.dimension = 2
        self.modalities = frozenset({Modality.TEXT})
        self.fingerprint = "raw"
        self.calls: list[list[str]] = []

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32).reshape(-1, 2)


def test_the_default_prepare_step_defers_to_encode_texts() -> None:
    encoder = RawEncoder()
    prepared = encoder.prepare_texts(["ab", "c"])
    assert isinstance(prepared, PreparedInput)
    assert (prepared.modality, prepared.count, prepared.batches, prepared.order) == (Modality.TEXT, 2, (["ab", "c"],),
                                                                                     None)
    assert encoder.calls == []  # nothing ran yet
    np.testing.assert_array_equal(encoder.encode_prepared(prepared), [[2, 1], [1, 1]])
    assert encoder.calls == [["ab", "c"]]
    with pytest.raises(ModalityNotSupported):
        encoder.prepare_images([])


@pytest.mark.semantic
def test_combined_images_of_several_requests_run_as_one_batch(shapes_clip: OpenClipEncoder) -> None:
    images = [image for _, image in render_batch(7, np.random.default_rng(5))]
    parts = [shapes_clip.prepare_images(images[:1]), shapes_clip.prepare_images(images[1:3]),
             shapes_clip.prepare_images(images[3:])]
    combined = shapes_clip.combine_prepared(parts)
    assert combined.count == 7 and [len(batch) for batch in combined.batches] == [4, 3]  # batch_size 4
    np.testing.assert_allclose(shapes_clip.encode_prepared(combined), shapes_clip.encode_images(images), atol=1e-5)


def test_the_default_combine_keeps_each_parts_rows_in_input_order() -> None:
    encoder = RawEncoder()
    sorted_part = PreparedInput(Modality.TEXT, 3, (["ccc", "a"], ["bb"]), order=np.array([2, 0, 1]))
    plain_part = encoder.prepare_texts(["dddd", "e"])
    combined = encoder.combine_prepared([sorted_part, plain_part])
    assert combined.count == 5 and combined.batches == (["ccc", "a"], ["bb"], ["dddd", "e"])
    np.testing.assert_array_equal(encoder.encode_prepared(combined)[:, 0], [1, 2, 3, 4, 1])
    with pytest.raises(ValueError, match="modalities"):
        encoder.combine_prepared([plain_part, PreparedInput(Modality.IMAGE, 0, ())])
