"""Bad input gets the documented status code, names the field, and the server keeps serving."""

from __future__ import annotations

import functools

import grpc
import numpy as np
import pytest

from latentspace.indexer.validation import MAX_POINT_DEPTH
from latentspace.server.settings import Limits
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, reason_of, search, trailers, vec, vector_items

DIM = 8
rng = np.random.default_rng(7)
VECTORS = rng.normal(size=(40, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    from tests.conftest import ServerThread

    server = ServerThread(tmp_path_factory.mktemp("data"), limits=Limits(max_batch=64, max_k=100)).start()
    stubs = Stubs(server.address)
    stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM), timeout=30)
    stubs.collections.Upsert(api.UpsertRequest(collection="vec", items=vector_items(VECTORS)), timeout=30)
    yield stubs
    stubs.close()
    server.stop()


def search_call(query: pb.Query, k: int = 5, collection: str = "vec", **options):
    return lambda s: s.latent.Search(
        api.SearchRequest(collection=collection, query=query, options=api.SearchOptions(k=k, **options)), timeout=30
    )


NAN = np.full(DIM, np.nan, dtype=np.float32)
CASES = {
    "empty query": (search_call(pb.Query()), grpc.StatusCode.INVALID_ARGUMENT, "query"),
    "wrong dimension": (search_call(pb.Query(vector=vec([1.0, 2.0, 3.0]))), grpc.StatusCode.INVALID_ARGUMENT,
                        "query.vector"),
    "bytes not matching dimension": (
        search_call(pb.Query(vector=pb.Vector(dimension=DIM, data=b"\x00" * 5))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.vector"),
    "NaN vector": (search_call(pb.Query(vector=vec(NAN))), grpc.StatusCode.INVALID_ARGUMENT, "query.vector"),
    "zero vector": (search_call(pb.Query(vector=vec(np.zeros(DIM)))), grpc.StatusCode.INVALID_ARGUMENT, "query"),
    "k = 0": (search_call(pb.Query(id="v1"), k=0), grpc.StatusCode.INVALID_ARGUMENT, "options.k"),
    "k < 0": (search_call(pb.Query(id="v1"), k=-3), grpc.StatusCode.INVALID_ARGUMENT, "options.k"),
    "k over the limit": (search_call(pb.Query(id="v1"), k=101), grpc.StatusCode.INVALID_ARGUMENT, "options.k"),
    "unknown collection": (search_call(pb.Query(id="v1"), collection="nope"), grpc.StatusCode.NOT_FOUND, None),
    "unknown id": (search_call(pb.Query(id="missing")), grpc.StatusCode.NOT_FOUND, "missing"),
    "empty text": (search_call(pb.Query(text="  ")), grpc.StatusCode.INVALID_ARGUMENT, "query.text"),
    "image to a vector-only collection": (
        search_call(pb.Query(image=b"\x89PNG not really")), grpc.StatusCode.FAILED_PRECONDITION, None),
    "text to a vector-only collection": (
        search_call(pb.Query(text="a red circle")), grpc.StatusCode.FAILED_PRECONDITION, None),
    "empty filter condition": (
        search_call(pb.Query(id="v1"), filter=pb.Filter(must=[pb.Condition(field="i")])),
        grpc.StatusCode.INVALID_ARGUMENT, "options.filter.must[0]"),
    "NaN threshold": (search_call(pb.Query(id="v1"), score_threshold=float("nan")),
                      grpc.StatusCode.INVALID_ARGUMENT, "options.score_threshold"),
    "mix that cancels": (
        search_call(pb.Query(mix=pb.Mix(parts=[pb.WeightedQuery(query=pb.Query(id="v1"), weight=1.0),
                                               pb.WeightedQuery(query=pb.Query(id="v1"), weight=-1.0)]))),
        grpc.StatusCode.INVALID_ARGUMENT, None),
    "batch over the limit": (
        lambda s: s.latent.SearchBatch(api.SearchBatchRequest(
            collection="vec", queries=[pb.Query(id="v1")] * 65, options=api.SearchOptions(k=1)), timeout=30),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "queries"),
    "create existing collection": (
        lambda s: s.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM)),
        grpc.StatusCode.ALREADY_EXISTS, None),
    "bad collection name": (
        lambda s: s.collections.CreateCollection(api.CreateCollectionRequest(name="../etc", dimension=DIM)),
        grpc.StatusCode.INVALID_ARGUMENT, "name"),
    "unknown model": (
        lambda s: s.collections.CreateCollection(api.CreateCollectionRequest(name="m", model="no-such-model")),
        grpc.StatusCode.INVALID_ARGUMENT, "model"),
    "upsert without content": (
        lambda s: s.collections.Upsert(api.UpsertRequest(collection="vec", items=[api.UpsertItem(id="x")])),
        grpc.StatusCode.INVALID_ARGUMENT, "items[0]"),
    "upsert of wrong dimension": (
        lambda s: s.collections.Upsert(api.UpsertRequest(
            collection="vec", items=[api.UpsertItem(id="x", vector=vec([1.0, 0.0]))])),
        grpc.StatusCode.INVALID_ARGUMENT, "items[0]"),
    "drop unknown collection": (
        lambda s: s.collections.DropCollection(api.DropCollectionRequest(name="nope")),
        grpc.StatusCode.NOT_FOUND, None),
    "interpolate t out of range": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), ts=[1.5])),
        grpc.StatusCode.INVALID_ARGUMENT, "ts"),
    "interpolate one step": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), steps=1)),
        grpc.StatusCode.INVALID_ARGUMENT, "steps"),
    "antipodal interpolation": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(vector=vec(VECTORS[0])), b=pb.Query(vector=vec(-VECTORS[0])), steps=3)),
        grpc.StatusCode.INVALID_ARGUMENT, None),
    "edit without direction": (
        lambda s: s.latent.Edit(api.EditRequest(collection="vec", edit=pb.Edit(base=pb.Query(id="v1")))),
        grpc.StatusCode.INVALID_ARGUMENT, "edit.direction"),
    "distance without pairs": (
        lambda s: s.latent.Distance(api.DistanceRequest(collection="vec")),
        grpc.StatusCode.INVALID_ARGUMENT, "pairs"),

    # Composite queries (issue 3): every new field has its error.
    "mix without parts": (search_call(pb.Query(mix=pb.Mix())), grpc.StatusCode.INVALID_ARGUMENT,
                          "query.mix.parts"),
    "mix weight NaN": (
        search_call(pb.Query(mix=pb.Mix(parts=[pb.WeightedQuery(query=pb.Query(id="v1"), weight=float("nan"))]))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.mix.parts[0].weight"),
    "mix part empty": (
        search_call(pb.Query(mix=pb.Mix(parts=[pb.WeightedQuery(query=pb.Query(id="v1")),
                                               pb.WeightedQuery(query=pb.Query())]))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.mix.parts[1].query"),
    "edit direction of wrong dimension": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"),
                                          direction=pb.Direction(vector=vec([1.0, 0.0]))))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.edit.direction.vector"),
    "edit rotate strength above 1": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), mode=pb.EDIT_MODE_ROTATE, strength=1.5,
                                          direction=pb.Direction(vector=vec(VECTORS[2]))))),
        grpc.StatusCode.INVALID_ARGUMENT, "strength"),
    "edit strength infinite": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), strength=float("inf"),
                                          direction=pb.Direction(vector=vec(VECTORS[2]))))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.edit.strength"),
    "edit unknown mode": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), mode=42,
                                          direction=pb.Direction(vector=vec(VECTORS[2]))))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.edit.mode"),
    "edit text direction on a vector-only collection": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), direction=pb.Direction(
            text_pair=pb.TextPair(neutral="a red circle", target="a blue circle"))))),
        grpc.StatusCode.FAILED_PRECONDITION, None),
    "direction from no examples": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), direction=pb.Direction(examples=pb.Examples())))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.edit.direction.examples.positive"),
    "direction from identical examples": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), direction=pb.Direction(
            examples=pb.Examples(positive=[pb.Query(id="v2")], negative=[pb.Query(id="v2")]))))),
        grpc.StatusCode.INVALID_ARGUMENT, None),
    "empty text pair": (
        search_call(pb.Query(edit=pb.Edit(base=pb.Query(id="v1"), direction=pb.Direction(
            text_pair=pb.TextPair(neutral="", target="blue"))))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.edit.direction.text_pair.neutral"),
    "analogy with an empty part": (
        search_call(pb.Query(analogy=pb.Analogy(a=pb.Query(id="v1"), a_star=pb.Query(id="v2")))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.analogy.b"),
    "analogy unknown method": (
        search_call(pb.Query(analogy=pb.Analogy(a=pb.Query(id="v1"), a_star=pb.Query(id="v2"),
                                                b=pb.Query(id="v3"), method=9))),
        grpc.StatusCode.INVALID_ARGUMENT, "query.analogy.method"),
    "3CosMul is not a point for distance": (
        lambda s: s.latent.Distance(api.DistanceRequest(collection="vec", pairs=[api.QueryPair(
            a=pb.Query(analogy=pb.Analogy(a=pb.Query(id="v1"), a_star=pb.Query(id="v2"), b=pb.Query(id="v3"),
                                          method=pb.ANALOGY_METHOD_COS_MUL)),
            b=pb.Query(id="v4"))])),
        grpc.StatusCode.INVALID_ARGUMENT, "analogy"),
    "queries nested too deep": (
        search_call(functools.reduce(lambda q, _: pb.Query(mix=pb.Mix(parts=[pb.WeightedQuery(query=q)])),
                                     range(MAX_POINT_DEPTH + 1), pb.Query(id="v1"))),
        grpc.StatusCode.INVALID_ARGUMENT, "deeper"),
    "interpolate unknown method": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), steps=3, method=7)),
        grpc.StatusCode.INVALID_ARGUMENT, "method"),
    "interpolate k over the limit": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), steps=3, k=101)),
        grpc.StatusCode.INVALID_ARGUMENT, "k"),
    "interpolate NaN t": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), ts=[0.2, float("nan")])),
        grpc.StatusCode.INVALID_ARGUMENT, "ts"),
    "interpolate too many steps": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(
            collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), steps=100_000)),
        grpc.StatusCode.INVALID_ARGUMENT, "steps"),
    "edit negative k": (
        lambda s: s.latent.Edit(api.EditRequest(collection="vec", k=-1, edit=pb.Edit(
            base=pb.Query(id="v1"), direction=pb.Direction(vector=vec(VECTORS[2]))))),
        grpc.StatusCode.INVALID_ARGUMENT, "k"),
    "matrix over the batch limit": (
        lambda s: s.latent.DistanceMatrix(api.DistanceMatrixRequest(collection="vec", rows=[pb.Query(id="v1")] * 65)),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "rows"),
    "ef_search over the limit": (
        search_call(pb.Query(id="v1"), params=pb.SearchParams(ef_search=2**31 - 1)),
        grpc.StatusCode.INVALID_ARGUMENT, "options.params.ef_search"),
    "nprobe over the limit": (
        search_call(pb.Query(id="v1"), params=pb.SearchParams(nprobe=10**6)),
        grpc.StatusCode.INVALID_ARGUMENT, "options.params.nprobe"),
    "rerank over the limit": (
        search_call(pb.Query(id="v1"), params=pb.SearchParams(rerank=10**6)),
        grpc.StatusCode.INVALID_ARGUMENT, "options.params.rerank"),
    "unknown score mode": (search_call(pb.Query(id="v1"), score_mode=7), grpc.StatusCode.INVALID_ARGUMENT,
                           "options.score_mode"),
    "unknown modality": (search_call(pb.Query(id="v1"), modality=9), grpc.StatusCode.INVALID_ARGUMENT,
                         "options.modality"),
    "diversity above 1": (search_call(pb.Query(id="v1"), diversity=1.5), grpc.StatusCode.INVALID_ARGUMENT,
                          "options.diversity"),
    "pool under k": (search_call(pb.Query(id="v1"), k=5, diversity=0.5, pool=2), grpc.StatusCode.INVALID_ARGUMENT,
                     "options.pool"),
    "pool over the limit": (search_call(pb.Query(id="v1"), diversity=0.5, pool=20_000),
                            grpc.StatusCode.RESOURCE_EXHAUSTED, "options.pool"),
    "interpolate diversity below 0": (
        lambda s: s.latent.Interpolate(api.InterpolateRequest(collection="vec", a=pb.Query(id="v1"),
                                                              b=pb.Query(id="v2"), k=2, diversity=-0.1)),
        grpc.StatusCode.INVALID_ARGUMENT, "diversity"),
    "filter range without bounds": (
        search_call(pb.Query(id="v1"), filter=pb.Filter(must=[pb.Condition(field="i", range=pb.Range())])),
        grpc.StatusCode.INVALID_ARGUMENT, "options.filter.must[0].range"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_gets_its_status_and_the_server_keeps_serving(stubs, case):
    call, code, field = CASES[case]
    with pytest.raises(grpc.RpcError) as caught:
        call(stubs)
    error = caught.value
    assert error.code() is code, error.details()
    if field:
        assert field in error.details()
    assert reason_of(error)
    assert trailers(error)["latentspace-request-id"]
    # Still serving, with the same answers.
    hits = search(stubs, "vec", pb.Query(id="v3"), k=3)
    assert hits[0].id == "v3"


def test_caller_request_id_is_echoed(stubs):
    with pytest.raises(grpc.RpcError) as caught:
        stubs.latent.Search(api.SearchRequest(collection="nope", query=pb.Query(id="x"),
                                              options=api.SearchOptions(k=1)),
                            metadata=(("x-request-id", "trace-123"),), timeout=30)
    assert trailers(caught.value)["latentspace-request-id"] == "trace-123"


def test_a_refused_batch_in_a_stream_is_named_and_earlier_batches_stay(stubs):
    good = api.UpsertRequest(collection="vec", items=vector_items(VECTORS[:3], prefix="stream-ok-"))
    bad = api.UpsertRequest(collection="vec", items=[api.UpsertItem(id="stream-bad", vector=vec(np.zeros(DIM)))])
    with pytest.raises(grpc.RpcError) as caught:
        stubs.collections.UpsertStream(iter([good, bad]), timeout=30)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[1].items[0]" in caught.value.details()
    got = stubs.collections.Get(api.GetRequest(collection="vec", ids=["stream-ok-0", "stream-bad"]), timeout=30)
    assert [i.id for i in got.items] == ["stream-ok-0"] and list(got.missing) == ["stream-bad"]
