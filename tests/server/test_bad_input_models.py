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

    limits = Limits(max_image_pixels=128 * 128, max_text_chars=200)
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
