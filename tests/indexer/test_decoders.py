"""Decoders without any model: the manifest, the registry's lookup and fingerprint binding, input checks.

The shipped shapes decoder runs in numpy, so these tests use it as it is; folders with broken
manifests or weights are built in tmp_path.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import save_file

from latentspace.indexer.decoders.attention_decoder import AttentionDecoder
from latentspace.indexer.decoders.base import unit_rows
from latentspace.indexer.decoders.manifest import MANIFEST_FILE, DecoderManifest, read_manifest, write_manifest
from latentspace.indexer.decoders.registry import DecoderRegistry, decoder_folder
from latentspace.indexer.errors import InvalidInput, ModelMismatch, ModelUnavailable
from latentspace.indexer.model_spec import parse_model_spec
from latentspace.indexer.shapes import DECODER_DIR, IMAGE_SIZE

SHAPES_CLIP = parse_model_spec("shapes-clip")
SHIPPED = read_manifest(DECODER_DIR)


def _local_model(tmp_path: Path) -> Path:
    """A local model folder (as ``open_clip:/path`` loads) holding a copy of the shipped decoder."""
    shutil.copytree(DECODER_DIR, tmp_path / "model" / "decoder")
    return tmp_path / "model"


def _rewrite(folder: Path, **changes: object) -> None:
    data = json.loads((folder / MANIFEST_FILE).read_text())
    data.update(changes)
    (folder / MANIFEST_FILE).write_text(json.dumps(data))


def test_shipped_manifest() -> None:
    assert SHIPPED.kind == "attention"
    assert SHIPPED.encoder_spec == SHAPES_CLIP.canonical
    assert len(SHIPPED.fingerprint) == 16
    assert SHIPPED.dimension == 128 and SHIPPED.output_size == (IMAGE_SIZE, IMAGE_SIZE)
    assert (DECODER_DIR / SHIPPED.weights).stat().st_size < 4_000_000  # small enough to ship


def test_manifest_round_trip(tmp_path: Path) -> None:
    manifest = DecoderManifest(kind="attention", name="d/v1", encoder_spec="open_clip:a/b", fingerprint="f" * 16,
                               dimension=8, output_size=(32, 16), weights="w.safetensors",
                               params={"temperature": 3.0})
    write_manifest(tmp_path, manifest)
    assert read_manifest(tmp_path) == manifest
    first = (tmp_path / MANIFEST_FILE).read_bytes()
    write_manifest(tmp_path, manifest)
    assert (tmp_path / MANIFEST_FILE).read_bytes() == first


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "has no decoder.json"),
        ("{not json", "cannot read"),
        ('{"format": 1, "kind": "attention"}', "not a valid decoder manifest"),
        ('{"format": 99}', "format 99"),
    ],
)
def test_broken_manifests_are_model_unavailable(tmp_path: Path, content: str | None, expected: str) -> None:
    if content is not None:
        (tmp_path / MANIFEST_FILE).write_text(content)
    with pytest.raises(ModelUnavailable, match=expected):
        read_manifest(tmp_path)


def test_which_models_have_a_decoder(tmp_path: Path) -> None:
    registry = DecoderRegistry()
    assert decoder_folder(SHAPES_CLIP) == DECODER_DIR
    assert registry.has_decoder(SHAPES_CLIP)
    for spec in ("minilm", "open_clip:ViT-B-32/laion2b_s34b_b79k", f"open_clip:{tmp_path}"):
        assert not registry.has_decoder(parse_model_spec(spec))
        assert registry.get(parse_model_spec(spec), "0" * 16) is None
    local = _local_model(tmp_path)
    assert registry.has_decoder(parse_model_spec(f"open_clip:{local}"))


def test_the_decoder_is_bound_to_its_encoder_fingerprint(tmp_path: Path) -> None:
    registry = DecoderRegistry()
    decoder = registry.get(SHAPES_CLIP, SHIPPED.fingerprint)
    assert decoder is not None and decoder.fingerprint == SHIPPED.fingerprint
    assert decoder.spec == SHAPES_CLIP and decoder.name == SHIPPED.name
    with pytest.raises(ModelMismatch) as caught:
        registry.get(SHAPES_CLIP, "0123456789abcdef")
    message = str(caught.value)
    assert SHIPPED.fingerprint in message and "0123456789abcdef" in message and "retrain" in message
    assert caught.value.field == "model" and caught.value.reason == "MODEL_MISMATCH"
    # The same refusal for a local model folder carrying the decoder.
    local = parse_model_spec(f"open_clip:{_local_model(tmp_path)}")
    with pytest.raises(ModelMismatch):
        registry.get(local, "0123456789abcdef")
    assert registry.get(local, SHIPPED.fingerprint) is not None


def test_one_load_per_folder_for_concurrent_callers() -> None:
    registry = DecoderRegistry()
    decoders: list[object] = []
    threads = [threading.Thread(target=lambda: decoders.append(registry.get(SHAPES_CLIP, SHIPPED.fingerprint)))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(decoders) == 6 and all(d is decoders[0] for d in decoders)
    assert registry.loaded() == [SHIPPED.name]


def test_unknown_kind_missing_backend_and_broken_weights(tmp_path: Path) -> None:
    local = _local_model(tmp_path)
    folder, spec = local / "decoder", parse_model_spec(f"open_clip:{local}")
    with pytest.raises(ModelUnavailable, match="cannot be imported"):
        DecoderRegistry({"attention": "no_such_module_xyz:Decoder"}).get(spec, SHIPPED.fingerprint)
    _rewrite(folder, kind="diffusion")
    with pytest.raises(ModelUnavailable, match=r"kind 'diffusion'.*known kinds: attention"):
        DecoderRegistry().get(spec, SHIPPED.fingerprint)
    _rewrite(folder, kind="attention", weights="missing.safetensors")
    with pytest.raises(ModelUnavailable, match="is missing"):
        DecoderRegistry().get(spec, SHIPPED.fingerprint)
    save_file({"keys": np.zeros((4, 128), np.float16)}, str(folder / "small.safetensors"))
    _rewrite(folder, weights="small.safetensors")
    with pytest.raises(ModelUnavailable, match="lacks"):
        DecoderRegistry().get(spec, SHIPPED.fingerprint)
    save_file({"keys": np.ones((4, 128), np.float16), "values": np.zeros((4, 2), np.float16),
               "basis": np.zeros((2, 10), np.float16), "offset": np.zeros(10, np.float16)},
              str(folder / "small.safetensors"))
    with pytest.raises(ModelUnavailable, match="do not fit"):
        DecoderRegistry().get(spec, SHIPPED.fingerprint)


@pytest.fixture(scope="module")
def decoder() -> AttentionDecoder:
    loaded = DecoderRegistry().get(SHAPES_CLIP, SHIPPED.fingerprint)
    assert isinstance(loaded, AttentionDecoder)
    return loaded


def test_decode_gives_one_rgb_image_per_row(decoder: AttentionDecoder) -> None:
    vectors = np.random.default_rng(0).normal(size=(5, 128)).astype(np.float32)
    images = decoder.decode(vectors)
    assert len(images) == 5
    assert all(image.size == (IMAGE_SIZE, IMAGE_SIZE) and image.mode == "RGB" for image in images)
    assert decoder.decode(vectors[:0]) == []
    # Only the direction counts, a single row is a batch of one, and decoding is deterministic.
    again = decoder.decode(vectors * 3.0)
    assert [a.tobytes() for a in again] == [b.tobytes() for b in images]
    assert decoder.decode(vectors[0])[0].tobytes() == images[0].tobytes()
    # More rows than one chunk decode the same as one at a time.
    many = np.repeat(vectors, 60, axis=0)
    assert [i.tobytes() for i in decoder.decode(many)[::60]] == [b.tobytes() for b in images]


def test_attention_weights_are_a_distribution(decoder: AttentionDecoder) -> None:
    weights = decoder.weights(np.random.default_rng(1).normal(size=(3, 128)))
    assert weights.shape[0] == 3 and np.all(weights >= 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)


def test_decode_png(decoder: AttentionDecoder) -> None:
    vectors = np.random.default_rng(2).normal(size=(2, 128))
    encoded = decoder.decode_png(vectors)
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in encoded)
    decoded = [Image.open(io.BytesIO(data)) for data in encoded]
    assert [image.tobytes() for image in decoded] == [image.tobytes() for image in decoder.decode(vectors)]


@pytest.mark.parametrize(
    ("vectors", "expected"),
    [
        (np.zeros((2, 127)), r"shape \(n, 128\)"),
        (np.zeros((2, 2, 128)), r"shape \(n, 128\)"),
        (np.full((1, 128), np.nan), "NaN or infinity"),
        (np.vstack([np.ones(128), np.zeros(128)]), "vector 1 has .*zero length"),
        (np.array([["a"] * 128]), "real numbers"),
    ],
)
def test_bad_vectors_are_invalid_input(decoder: AttentionDecoder, vectors: np.ndarray, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected) as caught:
        decoder.decode(vectors)
    assert caught.value.field == "vectors"


def test_unit_rows() -> None:
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, -2.0]]), 2)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(rows, [[0.6, 0.8], [0.0, -1.0]])


def test_decoding_with_the_shipped_decoder_does_not_import_torch() -> None:
    indexer_root = Path(__file__).resolve().parents[2] / "indexer"
    code = ("import sys, numpy as np; from latentspace.indexer.decoders.registry import DecoderRegistry; "
            "from latentspace.indexer.decoders.manifest import read_manifest; "
            "from latentspace.indexer.model_spec import parse_model_spec; "
            "from latentspace.indexer.shapes import DECODER_DIR; "
            "d = DecoderRegistry().get(parse_model_spec('shapes-clip'), read_manifest(DECODER_DIR).fingerprint); "
            "assert len(d.decode_png(np.ones((2, 128)))) == 2; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    path = os.pathsep.join(filter(None, [str(indexer_root), os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": path}, timeout=60)
    assert result.returncode == 0
