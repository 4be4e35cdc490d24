"""Bad input against collections backed by real models (shapes-clip for images, minilm for text only)."""

from __future__ import annotations

import io

import grpc
import pytest
from PIL import Image

from latentspace.server.settings import Limits
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, reason_of, search

pytestmark = pytest.mark.semantic


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    from tests.conftest import ServerThread

    limits = Limits(max_image_pixels=128 * 128, max_text_chars=200, max_request_pixels=3 * 64 * 64,
                    max_request_text_chars=500)
    server = ServerThread(tmp_path_factory.mktemp("data"), limits=limits).start()
    stubs = Stubs(server.address)
    for name, model in (("shapes", "shapes-clip"), ("notes", "minilm")):
        stubs.collections.CreateCollection(api.CreateCollectionRequest(name=name, model=model), timeout=120)
    stubs.collections.Upsert(api.UpsertRequest(collection="notes", items=[
        api.UpsertItem(id="cat", text="a cat sleeps on the sofa"),
        api.UpsertItem(id="tax", text="how to file an income tax return"),
    ]), timeout=60)
    stubs.collections.Upsert(api.UpsertRequest(collection="shapes", items=[
        api.UpsertItem(id="red", image=png((64, 64)))]), timeout=60)
    yield stubs
    stubs.close()
    server.stop()


CASES = {
    "undecodable image": (
        lambda s: search(s, "shapes", pb.Query(image=b"\x89PNG\r\n\x1a\n but then garbage")),
        grpc.StatusCode.INVALID_ARGUMENT, "query.image"),
    "image over the pixel limit": (
        lambda s: search(s, "shapes", pb.Query(image=png((256, 256)))), grpc.StatusCode.RESOURCE_EXHAUSTED,
        "query.image"),
    "image query to a text-only collection": (
        lambda s: search(s, "notes", pb.Query(image=png((64, 64)))), grpc.StatusCode.FAILED_PRECONDITION,
        "query.image"),
    "text over the limit": (
        lambda s: search(s, "notes", pb.Query(text="x" * 201)), grpc.StatusCode.RESOURCE_EXHAUSTED, "query.text"),
    "wrong dimension for the model": (
        lambda s: search(s, "notes", pb.Query(vector=pb.Vector(dimension=3, data=b"\x00\x00\x80?" * 3))),
        grpc.StatusCode.INVALID_ARGUMENT, "384"),
    "empty query": (lambda s: search(s, "notes", pb.Query()), grpc.StatusCode.INVALID_ARGUMENT, "query"),
    "k <= 0": (lambda s: search(s, "notes", pb.Query(text="cat"), k=0), grpc.StatusCode.INVALID_ARGUMENT, "k"),
    "unknown collection": (
        lambda s: search(s, "nope", pb.Query(text="cat")), grpc.StatusCode.NOT_FOUND, "nope"),
    "undecodable image upsert": (
        lambda s: s.collections.Upsert(api.UpsertRequest(collection="shapes", items=[
            api.UpsertItem(id="ok", text="a red circle"), api.UpsertItem(id="bad", image=b"not an image")])),
        grpc.StatusCode.INVALID_ARGUMENT, "items[1]"),
    "image upsert to a text-only collection": (
        lambda s: s.collections.Upsert(api.UpsertRequest(collection="notes", items=[
            api.UpsertItem(id="img", image=png((64, 64)))])),
        grpc.StatusCode.FAILED_PRECONDITION, "items[0]"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_on_model_collections(stubs, case):
    call, code, fragment = CASES[case]
    with pytest.raises(grpc.RpcError) as caught:
        call(stubs)
    assert caught.value.code() is code, caught.value.details()
    assert fragment in caught.value.details()
    assert reason_of(caught.value)
    # The server keeps serving, and a refused batch wrote nothing.
    assert search(stubs, "notes", pb.Query(text="a kitten napping on a couch"), k=1)[0].id == "cat"
    got = stubs.collections.Get(api.GetRequest(collection="shapes", ids=["ok"]), timeout=30)
    assert list(got.missing) == ["ok"]


def squares(n: int) -> list[bytes]:
    """n distinct 64x64 images (each within the per-image limit; three of them fill the request's budget)."""
    buffers = []
    for i in range(n):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (40 * i, 30, 30)).save(buffer, format="PNG")
        buffers.append(buffer.getvalue())
    return buffers


def texts(n: int) -> list[str]:
    """n distinct 200-character texts (each at the per-text limit; two of them fit the request's budget)."""
    return [(f"note {i} " * 40)[:200] for i in range(n)]


EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
#: case -> (call, code, reason, the field the details start with, the limit named)
REQUEST_CASES = {
    "images summed over a request": (
        lambda s: s.latent.Encode(api.EncodeRequest(collection="shapes", queries=[
            pb.Query(image=b) for b in squares(4)]), timeout=60),
        EXHAUSTED, "LIMIT_EXCEEDED", "queries[3].image", "max_request_pixels"),
    "images summed inside one mix": (
        lambda s: search(s, "shapes", pb.Query(mix=pb.Mix(parts=[
            pb.WeightedQuery(query=pb.Query(image=b)) for b in squares(4)]))),
        EXHAUSTED, "LIMIT_EXCEEDED", "query.mix.parts[3].query.image", "max_request_pixels"),
    "images summed over an upsert": (
        lambda s: s.collections.Upsert(api.UpsertRequest(collection="shapes", items=[
            api.UpsertItem(id=f"sq{i}", image=b) for i, b in enumerate(squares(4))]), timeout=60),
        EXHAUSTED, "LIMIT_EXCEEDED", "items[3].image", "max_request_pixels"),
    "texts summed over a request": (
        lambda s: s.latent.Encode(api.EncodeRequest(collection="notes", queries=[
            pb.Query(text=t) for t in texts(3)]), timeout=60),
        EXHAUSTED, "LIMIT_EXCEEDED", "queries[2].text", "max_request_text_chars"),
    "texts summed over a batch of searches": (
        lambda s: s.latent.SearchBatch(api.SearchBatchRequest(collection="notes", queries=[
            pb.Query(text=t) for t in texts(3)], options=api.SearchOptions(k=1)), timeout=60),
        EXHAUSTED, "LIMIT_EXCEEDED", "queries[2].text", "max_request_text_chars"),
    "texts summed over an upsert": (
        lambda s: s.collections.Upsert(api.UpsertRequest(collection="notes", items=[
            api.UpsertItem(id=f"t{i}", text=t) for i, t in enumerate(texts(3))]), timeout=60),
        EXHAUSTED, "LIMIT_EXCEEDED", "items[2].text", "max_request_text_chars"),
    "template prompts count too": (
        lambda s: s.latent.Edit(api.EditRequest(collection="shapes", edit=pb.Edit(
            base=pb.Query(text="a red circle"),
            direction=pb.Direction(text_pair=pb.TextPair(neutral="x" * 40, target="y" * 40, use_templates=True)))),
            timeout=60),
        EXHAUSTED, "LIMIT_EXCEEDED", "edit.direction.text_pair", "max_request_text_chars"),
}


@pytest.mark.parametrize("case", list(REQUEST_CASES), ids=list(REQUEST_CASES))
def test_a_request_over_its_budget_is_refused_by_name(stubs, case):
    call, code, reason, field, says = REQUEST_CASES[case]
    with pytest.raises(grpc.RpcError) as caught:
        call(stubs)
    error = caught.value
    assert error.code() is code, error.details()
    assert reason_of(error) == reason
    assert error.details().startswith(field), error.details()
    assert says in error.details()
    assert search(stubs, "notes", pb.Query(text="a kitten napping on a couch"), k=1)[0].id == "cat"
    got = stubs.collections.Get(api.GetRequest(collection="shapes", ids=["sq0"]), timeout=30)
    assert list(got.missing) == ["sq0"]  # a refused upsert wrote nothing


def test_a_request_within_its_budget_is_served(stubs):
    encoded = stubs.latent.Encode(api.EncodeRequest(collection="shapes", queries=[
        pb.Query(image=b) for b in squares(3)] + [pb.Query(image=squares(1)[0])]), timeout=60)
    assert len(encoded.points) == 4  # the repeated image is decoded (and counted) once
    assert len(stubs.latent.Encode(api.EncodeRequest(collection="notes", queries=[
        pb.Query(text=t) for t in texts(2)]), timeout=60).points) == 2


def test_a_hub_model_without_weights_fails_with_the_fix(stubs):
    # Downloads are off in the test server, so this must not touch the network at all.
    with pytest.raises(grpc.RpcError) as caught:
        stubs.collections.CreateCollection(
            api.CreateCollectionRequest(name="vit", model="clip-vit-b-32"), timeout=120)
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert reason_of(caught.value) == "MODEL_UNAVAILABLE"
    assert "open_clip:ViT-B-32/laion2b_s34b_b79k" in caught.value.details()
    names = [c.name for c in stubs.collections.ListCollections(api.ListCollectionsRequest(), timeout=30).collections]
    assert "vit" not in names
