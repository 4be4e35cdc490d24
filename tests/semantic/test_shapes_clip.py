"""The packaged shapes CLIP through the open_clip encoder: quality, loading paths, offline failures."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from latentspace.indexer.encoders.base import EncoderOptions
from latentspace.indexer.encoders.open_clip_encoder import OpenClipEncoder
from latentspace.indexer.errors import ModelUnavailable
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.shapes import COLORS, MODEL_DIR, SHAPES, ShapeSpec, render_batch

pytestmark = pytest.mark.semantic

# Seeds for fresh images; training draws from seed 0 and the training script evaluates on 10000.
ZERO_SHOT_SEED = 4242
RETRIEVAL_SEED = 20242


@pytest.fixture(scope="session")
def encoder() -> OpenClipEncoder:
    return OpenClipEncoder(parse_model_spec("shapes-clip"), EncoderOptions(device="cpu"))


@pytest.fixture(scope="module")
def gallery(encoder: OpenClipEncoder) -> tuple[list[ShapeSpec], np.ndarray]:
    batch = render_batch(200, np.random.default_rng(RETRIEVAL_SEED))
    return [spec for spec, _ in batch], encoder.encode_images([image for _, image in batch])


def test_outputs_are_unit_float32_rows(encoder: OpenClipEncoder) -> None:
    assert encoder.dimension == 128
    texts = encoder.encode_texts(["a red circle", "a photo of a small blue star", ""])
    images = encoder.encode_images([image for _, image in render_batch(3, np.random.default_rng(1))])
    for vectors in (texts, images):
        assert vectors.shape == (3, 128) and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_texts([]).shape == (0, 128)
    assert encoder.encode_images([]).shape == (0, 128)


def test_batching_does_not_change_vectors(encoder: OpenClipEncoder) -> None:
    images = [image for _, image in render_batch(10, np.random.default_rng(2))]
    small_batches = OpenClipEncoder(encoder.spec, EncoderOptions(device="cpu", batch_size=3))
    np.testing.assert_allclose(small_batches.encode_images(images), encoder.encode_images(images), atol=1e-5)
    assert small_batches.fingerprint == encoder.fingerprint


def test_zero_shot_colour_and_shape(encoder: OpenClipEncoder) -> None:
    labels = [f"{color} {shape}" for color in COLORS for shape in SHAPES]
    prompts = encoder.encode_texts([f"a {label}" for label in labels])
    batch = render_batch(500, np.random.default_rng(ZERO_SHOT_SEED))
    predicted = (encoder.encode_images([image for _, image in batch]) @ prompts.T).argmax(axis=1)
    accuracy = np.mean([labels[p] == spec.label for p, (spec, _) in zip(predicted, batch, strict=True)])
    assert accuracy >= 0.95


def test_text_query_finds_red_circles(encoder: OpenClipEncoder, gallery: tuple) -> None:
    specs, vectors = gallery
    assert sum(spec.label == "red circle" for spec in specs) >= 5
    scores = vectors @ encoder.encode_texts(["a red circle"])[0]
    assert [specs[i].label for i in np.argsort(-scores)[:5]] == ["red circle"] * 5


def test_image_query_finds_blue_squares(gallery: tuple) -> None:
    specs, vectors = gallery
    query = next(i for i, spec in enumerate(specs) if spec.label == "blue square")
    assert sum(spec.label == "blue square" for spec in specs) >= 6
    scores = vectors @ vectors[query]
    scores[query] = -np.inf
    assert [specs[i].label for i in np.argsort(-scores)[:5]] == ["blue square"] * 5


def test_packaged_folder_loads_as_local_dir(encoder: OpenClipEncoder) -> None:
    local = OpenClipEncoder(parse_model_spec(f"open_clip:{MODEL_DIR}"), EncoderOptions(device="cpu"))
    assert local.fingerprint == encoder.fingerprint  # same weights, loaded a second time
    assert len(encoder.fingerprint) == 16
    texts = ["a green triangle", "a large purple star"]
    np.testing.assert_allclose(local.encode_texts(texts), encoder.encode_texts(texts), atol=1e-6)


def test_local_dir_with_a_pt_checkpoint(tmp_path: Path, encoder: OpenClipEncoder) -> None:
    import torch
    from safetensors.torch import load_file

    shutil.copy(MODEL_DIR / "open_clip_config.json", tmp_path)
    torch.save(load_file(MODEL_DIR / "open_clip_model.safetensors"), tmp_path / "weights.pt")
    local = OpenClipEncoder(parse_model_spec(f"open_clip:{tmp_path}"), EncoderOptions(device="cpu"))
    assert local.fingerprint == encoder.fingerprint


def test_local_dir_without_checkpoint_or_config(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match=r"open_clip_config\.json"):
        OpenClipEncoder(parse_model_spec(f"open_clip:{tmp_path}"), EncoderOptions(device="cpu"))
    shutil.copy(MODEL_DIR / "open_clip_config.json", tmp_path)
    with pytest.raises(ModelUnavailable, match="no checkpoint"):
        OpenClipEncoder(parse_model_spec(f"open_clip:{tmp_path}"), EncoderOptions(device="cpu"))


def test_hub_tag_loads_from_the_cache_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      encoder: OpenClipEncoder) -> None:
    """A tag whose weights are already in the hub cache loads offline, through the normal tag path."""
    import open_clip

    cfg = {"hf_hub": "latentspace/shapes-test/", "mean": (0.48145466, 0.4578275, 0.40821073),
           "std": (0.26862954, 0.26130258, 0.27577711), "interpolation": "bicubic", "resize_mode": "shortest"}
    # open_clip registers tags in their cleaned form ("hub-test" -> "hub_test").
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, "shapes-rn-128", {"hub_test": cfg})
    repo = tmp_path / "models--latentspace--shapes-test"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    shutil.copy(MODEL_DIR / "open_clip_model.safetensors", repo / "snapshots" / commit)

    options = EncoderOptions(device="cpu", cache_dir=tmp_path, allow_download=False)
    cached = OpenClipEncoder(parse_model_spec("open_clip:shapes-rn-128/hub-test"), options)
    assert cached.fingerprint == encoder.fingerprint


def test_hub_model_offline_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    spec = "open_clip:ViT-B-32/laion2b_s34b_b79k"
    started = time.perf_counter()
    with pytest.raises(ModelUnavailable) as caught:
        OpenClipEncoder(parse_model_spec(spec), EncoderOptions(cache_dir=tmp_path, allow_download=False))
    assert time.perf_counter() - started < 5.0
    message = str(caught.value)
    assert spec in message and "LATENTSPACE_MODEL_CACHE" in message and "LATENTSPACE_ALLOW_DOWNLOAD" in message
    assert str(tmp_path) not in message  # the cache searched is in the server log, never sent to callers


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("open_clip:ViT-B-32/no-such-tag", "unknown pretrained tag 'no-such-tag'.*laion2b_s34b_b79k"),
        ("open_clip:ViT-NOPE-1/openai", "unknown open_clip architecture 'ViT-NOPE-1'"),
        ("open_clip:shapes-rn-128/v0", "known tags: latentspace-v1"),
    ],
)
def test_unknown_architecture_or_tag(spec: str, expected: str) -> None:
    with pytest.raises(ModelUnavailable, match=expected):
        OpenClipEncoder(parse_model_spec(spec), EncoderOptions(allow_download=False))
