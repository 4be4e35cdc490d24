"""Limits per request: each refused with RESOURCE_EXHAUSTED naming its field and limit, and the server
keeps serving; what is just within a limit works.

Texts and images summed over a request are in ``test_bad_input_models.py`` (they need real models).
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from latentspace.server.settings import Limits
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, reason_of, search, vec, vector_items

DIM = 8
VECTORS = np.random.default_rng(5).normal(size=(60, DIM)).astype(np.float32)
LIMITS = Limits(max_batch=64, max_k=50, max_filter_conditions=4, max_exclude_ids=30, max_ids=40, max_hits=200)
DEFAULT = Limits()


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    from tests.conftest import ServerThread

    server = ServerThread(tmp_path_factory.mktemp("data"), limits=LIMITS).start()
    stubs = Stubs(server.address)
    stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM), timeout=30)
    stubs.collections.Upsert(api.UpsertRequest(collection="vec", items=vector_items(VECTORS)), timeout=30)
    yield stubs
    stubs.close()
    server.stop()


def values(items: list) -> pb.Filter:
    listed = struct_pb2.ListValue()
    listed.extend(items)
    return pb.Filter(must=[pb.Condition(field="i", any_of=listed)])


def conditions(n: int) -> pb.Filter:
    return pb.Filter(must=[pb.Condition(field="i", range=pb.Range(gte=0.0)) for _ in range(n)])


def search_call(k: int = 5, **options):
    return lambda s: s.latent.Search(api.SearchRequest(
        collection="vec", query=pb.Query(id="v1"), options=api.SearchOptions(k=k, **options)), timeout=30)


def interpolate_call(**fields):
    return lambda s: s.latent.Interpolate(api.InterpolateRequest(
        collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), **fields), timeout=30)


NUMBER_ONE = struct_pb2.Value(number_value=1)
EXHAUSTED, INVALID = grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT
#: case -> (call, code, reason, the field the details start with, the limit named)
CASES = {
    "filter conditions": (search_call(filter=conditions(5)), EXHAUSTED, "LIMIT_EXCEEDED",
                          "options.filter.must", "max_filter_conditions"),
    # Before, 12,000 values became one SQL OR-chain past SQLite's limits: INTERNAL.
    "12,000 any_of values": (search_call(filter=values(list(range(12_000)))), EXHAUSTED, "LIMIT_EXCEEDED",
                             "options.filter.must[0].any_of", "max_filter_values"),
    "any_of values summed over conditions": (
        search_call(filter=pb.Filter(must=[values(list(range(6_000))).must[0], values(list(range(4_001))).must[0]])),
        EXHAUSTED, "LIMIT_EXCEEDED", "options.filter.must[1].any_of", "max_filter_values"),
    "excluded ids": (search_call(exclude_ids=[f"x{i}" for i in range(31)]), EXHAUSTED, "LIMIT_EXCEEDED",
                     "options.exclude_ids", "max_exclude_ids"),
    "hits of a batch (queries x k)": (
        lambda s: s.latent.SearchBatch(api.SearchBatchRequest(
            collection="vec", queries=[pb.Query(id="v1")] * 5, options=api.SearchOptions(k=41)), timeout=30),
        EXHAUSTED, "LIMIT_EXCEEDED", "options.k", "max_hits"),
    "hits of a path (steps x k)": (interpolate_call(steps=21, k=10), EXHAUSTED, "LIMIT_EXCEEDED", "k", "max_hits"),
    "path filter conditions": (interpolate_call(steps=3, k=1, filter=conditions(5)), EXHAUSTED, "LIMIT_EXCEEDED",
                               "filter.must", "max_filter_conditions"),
    "path excluded ids": (interpolate_call(steps=3, k=1, exclude_ids=[f"x{i}" for i in range(31)]), EXHAUSTED,
                          "LIMIT_EXCEEDED", "exclude_ids", "max_exclude_ids"),
    "edit filter values": (
        lambda s: s.latent.Edit(api.EditRequest(
            collection="vec", k=3, filter=values(list(range(10_001))),
            edit=pb.Edit(base=pb.Query(id="v1"), direction=pb.Direction(vector=vec(VECTORS[2])))), timeout=30),
        EXHAUSTED, "LIMIT_EXCEEDED", "filter.must[0].any_of", "max_filter_values"),
    "ids of a Get": (lambda s: s.collections.Get(api.GetRequest(collection="vec", ids=[f"v{i}" for i in range(41)]),
                                                 timeout=30), EXHAUSTED, "LIMIT_EXCEEDED", "ids", "max_ids"),
    "ids of a Delete": (
        lambda s: s.collections.Delete(api.DeleteRequest(collection="vec", ids=[f"v{i}" for i in range(41)]),
                                       timeout=30), EXHAUSTED, "LIMIT_EXCEEDED", "ids", "max_ids"),
    "items of an Upsert": (
        lambda s: s.collections.Upsert(api.UpsertRequest(collection="vec", items=vector_items(
            np.ones((65, DIM), np.float32), prefix="over-")), timeout=30),
        EXHAUSTED, "LIMIT_EXCEEDED", "items", "max_batch"),
    "parts of a mix": (
        lambda s: s.latent.Encode(api.EncodeRequest(collection="vec", queries=[pb.Query(mix=pb.Mix(
            parts=[pb.WeightedQuery(query=pb.Query(id="v1"))] * 65))]), timeout=30),
        EXHAUSTED, "LIMIT_EXCEEDED", "queries[0].mix.parts", "max_batch"),
    "an empty Get": (lambda s: s.collections.Get(api.GetRequest(collection="vec"), timeout=30), INVALID,
                     "INVALID_INPUT", "ids", "empty"),
    "an empty any_of": (search_call(filter=values([])), INVALID, "INVALID_INPUT", "options.filter.must[0].any_of",
                        "at least one"),
    "a NaN filter value": (search_call(filter=values([float("nan")])), INVALID, "INVALID_INPUT",
                           "options.filter.must[0].any_of[0]", "finite"),
    "a filter on no field": (search_call(filter=pb.Filter(must=[pb.Condition(equals=NUMBER_ONE)])), INVALID,
                             "INVALID_INPUT", "options.filter.must[0].field", "no payload field"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_a_request_over_a_limit_is_refused_by_name(stubs, case):
    call, code, reason, field, says = CASES[case]
    with pytest.raises(grpc.RpcError) as caught:
        call(stubs)
    error = caught.value
    assert error.code() is code, error.details()
    assert reason_of(error) == reason
    assert error.details().startswith(f"{field}: "), error.details()
    assert says in error.details()
    # Still serving, with the same answers, and nothing was deleted or written.
    assert search(stubs, "vec", pb.Query(id="v3"), k=3)[0].id == "v3"
    assert stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name="vec"), timeout=30).count == 60


def test_the_default_limits_are_the_documented_ones():
    assert (DEFAULT.max_filter_values, DEFAULT.max_filter_conditions, DEFAULT.max_ids) == (10_000, 64, 10_000)
    assert DEFAULT.max_filter_values < 12_000  # so the case above is over the default too


def test_a_large_any_of_within_the_limit_filters_exactly(stubs):
    # 10,000 values (the default limit): strings and numbers, a few of which are payload values.
    wanted = [1, 4, 9, 16, 25]
    filler = [f"no-{i}" for i in range(5_000)] + [1000.5 + i for i in range(4_995)]
    big = values(filler[:2500] + wanted + filler[2500:])
    assert len(big.must[0].any_of.values) == DEFAULT.max_filter_values
    hits = search(stubs, "vec", pb.Query(id="v1"), k=50, filter=big)
    assert sorted(h.id for h in hits) == sorted(f"v{i}" for i in wanted)
    # Types stay exact: "1" (a string) and true are not the number 1.
    odd = values(["1", True, "parity"] + [f"s{i}" for i in range(3000)])
    assert search(stubs, "vec", pb.Query(id="v1"), k=50, filter=odd) == []


def test_just_within_each_limit_is_served(stubs):
    batch = stubs.latent.SearchBatch(api.SearchBatchRequest(
        collection="vec", queries=[pb.Query(id="v1")] * 5, options=api.SearchOptions(k=40)), timeout=30)
    assert [len(r.hits) for r in batch.results] == [40] * 5  # 200 hits = max_hits
    path = stubs.latent.Interpolate(api.InterpolateRequest(
        collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), steps=20, k=10,
        exclude_ids=[f"v{i}" for i in range(30)], filter=conditions(4)), timeout=30)
    assert len(path.steps) == 20 and all(len(s.hits) == 10 for s in path.steps)
    assert not {h.id for s in path.steps for h in s.hits} & {f"v{i}" for i in range(30)}
    got = stubs.collections.Get(api.GetRequest(collection="vec", ids=[f"v{i}" for i in range(40)]), timeout=30)
    assert len(got.items) == 40
