"""prepare_records: per-item validation, one model call per modality, content references."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.errors import InvalidInput, LimitExceeded, ModalityNotSupported
from latentspace.indexer.ingest import ItemFailure, NewItem, prepare_records
from latentspace.indexer.modality import Modality
from latentspace.indexer.validation import MAX_ID_LENGTH
from tests.indexer.fake_collection import FakeCollection

LIMITS = {"max_pixels": 10_000, "max_text_chars": 50}


def png(color: tuple[int, int, int] = (200, 30, 30), size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, format="PNG")
    return out.getvalue()


def test_mixed_batch_is_encoded_with_one_call_per_modality() -> None:
    collection = FakeCollection()
    image = png()
    items = [
        NewItem("t1", text="a red circle", payload={"n": 1}),
        NewItem("i1", image=image),
        NewItem("t2", text="a blue square"),
        NewItem("v1", vector=np.array([3, 0, 0, 0, 0, 0, 0, 4], dtype=np.float32)),
        NewItem("i2", image=png((0, 0, 255)), content_ref="file:///photos/blue.png"),
    ]
    records, failures = prepare_records(collection, items, **LIMITS)
    assert failures == []
    assert collection.text_calls == [["a red circle", "a blue square"]]
    assert collection.image_calls == [2]
    assert [r.id for r in records] == ["t1", "i1", "t2", "v1", "i2"]
    assert [r.modality for r in records] == [Modality.TEXT, Modality.IMAGE, Modality.TEXT, Modality.VECTOR,
                                             Modality.IMAGE]
    by_id = {r.id: r for r in records}
    assert by_id["t1"].content == "a red circle" and by_id["t1"].payload == {"n": 1}
    assert by_id["i1"].content == "sha256:" + hashlib.sha256(image).hexdigest()
    assert by_id["i2"].content == "file:///photos/blue.png"
    assert by_id["v1"].content == ""
    np.testing.assert_allclose(by_id["v1"].vector, [0.6, 0, 0, 0, 0, 0, 0, 0.8], rtol=1e-6)
    for record in records:
        assert record.vector.dtype == np.float32 and record.vector.shape == (8,)
        assert abs(float(np.linalg.norm(record.vector)) - 1) < 1e-5


def test_bad_items_are_reported_and_the_rest_prepared() -> None:
    collection = FakeCollection()
    items = [
        NewItem("ok", text="fine"),
        NewItem("", text="no id"),
        NewItem("x" * (MAX_ID_LENGTH + 1), text="long id"),
        NewItem("none"),
        NewItem("two", text="a", image=png()),
        NewItem("empty", text="   "),
        NewItem("long", text="y" * 51),
        NewItem("corrupt", image=b"\x89PNG\r\n\x1a\nnot really"),
        NewItem("huge", image=png(size=101)),
        NewItem("dim", vector=np.ones(3, dtype=np.float32)),
        NewItem("nan", vector=np.array([np.nan] + [0.0] * 7)),
        NewItem("zero", vector=np.zeros(8)),
        NewItem("payload", text="x", payload={"v": float("inf")}),
        NewItem("ok", text="same id again"),
        NewItem("ok2", image=png()),
    ]
    records, failures = prepare_records(collection, items, **LIMITS)
    assert [r.id for r in records] == ["ok", "ok2"]
    got = {f.index: (f.field, f.error) for f in failures}
    assert got == {
        1: ("id", InvalidInput),
        2: ("id", InvalidInput),
        3: ("content", InvalidInput),
        4: ("content", InvalidInput),
        5: ("text", InvalidInput),
        6: ("text", LimitExceeded),
        7: ("image", InvalidInput),
        8: ("image", LimitExceeded),
        9: ("vector", InvalidInput),
        10: ("vector", InvalidInput),
        11: ("vector", InvalidInput),
        12: ("payload.v", InvalidInput),
        13: ("id", InvalidInput),
    }
    reasons = {f.index: f.reason for f in failures}
    assert "exactly one of text, image or vector; got text and image" in reasons[4]
    assert "51 characters, over the limit of 50 (max_text_chars)" in reasons[6]
    assert "appears twice" in reasons[13]
    assert failures[0].id == "" and failures[7].id == "huge"
    # Only good items reach the model, still in one call per modality.
    assert collection.text_calls == [["fine"]] and collection.image_calls == [1]


def test_failure_as_error_names_the_request_field() -> None:
    failure = ItemFailure(3, "x", "image is too big", "image", LimitExceeded)
    error = failure.as_error()
    assert isinstance(error, LimitExceeded)
    assert error.field == "items[3].image" and str(error) == "items[3].image: image is too big"


def test_modalities_the_model_lacks_are_refused() -> None:
    collection = FakeCollection(modalities=frozenset({Modality.TEXT}))
    records, failures = prepare_records(collection, [NewItem("a", image=png()), NewItem("b", text="t")],
                                        **LIMITS)
    assert [r.id for r in records] == ["b"]
    [failure] = failures
    assert failure.error is ModalityNotSupported and failure.field == "image"
    assert collection.image_calls == []


def test_nothing_to_encode_calls_no_model() -> None:
    collection = FakeCollection()
    records, failures = prepare_records(collection, [], **LIMITS)
    assert (records, failures) == ([], [])
    assert collection.text_calls == [] and collection.image_calls == []


def test_decoding_in_a_thread_pool_gives_the_same_records() -> None:
    items = [NewItem(f"i{n}", image=png((n * 20, 0, 0))) for n in range(8)] + [NewItem("bad", image=b"junk")]
    serial, serial_failures = prepare_records(FakeCollection(), items, **LIMITS)
    with ThreadPoolExecutor(4) as pool:
        parallel, parallel_failures = prepare_records(FakeCollection(), items, decode_executor=pool, **LIMITS)
    assert [r.id for r in parallel] == [r.id for r in serial]
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.vector, b.vector)
    assert [f.index for f in parallel_failures] == [f.index for f in serial_failures] == [8]


def test_vector_only_collection_round_trip(tmp_path: Path) -> None:
    """Against the real store: prepared records upsert and read back."""
    from latentspace.indexer.data_dir import DataDir
    from latentspace.indexer.encoders.base import EncoderOptions
    from latentspace.indexer.encoders.registry import EncoderRegistry

    with DataDir.open(tmp_path, EncoderRegistry(EncoderOptions(device="cpu", allow_download=False))) as data:
        collection = data.create_collection("vectors", None, dimension=4)
        items = [NewItem("a", vector=np.array([1.0, 2, 2, 0]), payload={"k": "a"}),
                 NewItem("b", text="no model to encode this")]
        records, failures = prepare_records(collection, items, **LIMITS)
        assert [f.error for f in failures] == [ModalityNotSupported]
        collection.upsert(records)
        [stored] = collection.get(["a"], with_vectors=True)
        assert stored.payload == {"k": "a"} and stored.modality is Modality.VECTOR
        assert stored.vector is not None
        np.testing.assert_allclose(stored.vector, np.array([1, 2, 2, 0]) / 3, rtol=1e-6)


@pytest.mark.parametrize("bad", [["a", "b"], "not a vector", [[1.0, 0.0, 0.0, 0.0]]])
def test_vector_shapes_are_checked(bad: object) -> None:
    collection = FakeCollection(dimension=4)
    _, [failure] = prepare_records(collection, [NewItem("v", vector=bad)], **LIMITS)
    assert failure.field == "vector"
