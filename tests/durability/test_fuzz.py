"""Random but well-typed requests of every RPC against ``latent serve``: only documented codes.

Requests are drawn from the proto descriptors (:mod:`tests.durability.proto_strategies`), so an RPC
added to the contract is fuzzed without a change here; hints steer half of the fields towards
values that get past the first check (the collections and ids below, vectors of their dimensions,
a real image, values at and just past the limits). The server runs as a child process with a
vector collection (Flat), an HNSW one and a ``shapes-clip`` one (text and images). Every call must
end with a documented status code (never INTERNAL or UNKNOWN), the server must stay up, and its RSS
after the run must stay within bounds of what it was once warmed up.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
import psutil
from google.protobuf import message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from latentspace.indexer.shapes.render import ShapeSpec, render_shape
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.conftest import ServerProcess
from tests.durability.proto_strategies import MessageStrategies
from tests.server.wire import Stubs, vec

EXAMPLES = 208  # 13 per RPC of the 16 today; each RPC gets its share
TIMEOUT = 120.0
DOCUMENTED = {grpc.StatusCode[name] for name in (
    "OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED",
    "UNAUTHENTICATED", "PERMISSION_DENIED", "DEADLINE_EXCEEDED", "UNAVAILABLE")}
#: RSS may grow past the warmed-up server's by this much (caches filling, a collection or two made
#: by the fuzz, allocator slack), never more.
RSS_SLACK = 1.5

COLLECTIONS = ["vec", "hnsw", "text"]
IDS = [f"v{i}" for i in range(5)] + [f"h{i}" for i in range(5)] + ["t0", "t1", "img0"]
DIMENSIONS = [8, 128]  # the vector collections', shapes-clip's


def png(color: str = "red", shape: str = "circle", size: str = "large", seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    render_shape(ShapeSpec(color, shape, size), np.random.default_rng(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = png()


def vectors() -> st.SearchStrategy[pb.Vector]:
    floats = st.floats(-1, 1, width=32)
    right = st.sampled_from(DIMENSIONS).flatmap(
        lambda d: hnp.arrays(np.float32, d, elements=floats).map(lambda a: vec(a)))
    odd = st.sampled_from([np.full(8, np.nan), np.full(8, np.inf), np.zeros(8), np.ones(3)]).map(vec)
    raw = st.builds(pb.Vector, dimension=st.integers(0, 2**32 - 1), data=st.binary(max_size=64))
    return st.one_of(right, odd, raw)


def strategies() -> MessageStrategies:
    many_ids = st.just([f"n{i}" for i in range(1100)])  # past the per-request limit
    hints = {
        "collection": st.sampled_from([*COLLECTIONS, *COLLECTIONS, "nope", ""]),
        "CreateCollectionRequest.name": st.sampled_from(["fz-a", "fz-b", "vec", "text", "", "bad name!", "x" * 65]),
        "DropCollectionRequest.name": st.sampled_from(["fz-a", "fz-b", "nope", ""]),
        "DescribeCollectionRequest.name": st.sampled_from([*COLLECTIONS, "fz-a", "nope"]),
        "model": st.sampled_from(["", "shapes-clip", "open_clip:/etc", "open_clip:RN50/openai", "no-such-model"]),
        "index_kind": st.sampled_from(["", "Flat", "HNSW8", "HNSW0", "IVF2,Flat", "PQ7", "SQ8", "IVF1000000,Flat",
                                       "OPQ4,PQ4", "no such kind"]),
        "CreateCollectionRequest.dimension": st.sampled_from([0, 1, 8, 128, 65_536, 65_537]),
        "id": st.sampled_from([*IDS, "missing", ""]),
        "UpsertItem.id": st.sampled_from(["fz0", "fz1", "v3", "", "x" * 600]),
        "ids": st.sampled_from([*IDS, "missing"]),
        "ids[]": many_ids,
        "exclude_ids": st.sampled_from(IDS),
        "exclude_ids[]": many_ids,
        "k": st.sampled_from([1, 1, 3, 5, 10, 10, 1000, 0, 1001, -1]),
        "steps": st.sampled_from([2, 3, 5, 5, 256, 0, 1, 257, -1]),
        "strength": st.sampled_from([0.5, 1.0, 2.0, -1.0]),
        "weight": st.sampled_from([1.0, 0.5, -0.5, 0.0]),
        "t": st.sampled_from([0.0, 0.5, 1.0, 1.5]),
        "text": st.sampled_from(["a red circle", "a blue square", "a green triangle", "ünïcødé ✓ 🙂", "",
                                 "x" * 10_001]),
        "neutral": st.sampled_from(["a red circle", "a blue circle", ""]),
        "target": st.sampled_from(["a blue circle", "a red square", ""]),
        "image": st.sampled_from([PNG, b"", b"not an image", PNG[:40]]),
        "field": st.sampled_from(["i", "parity", "tag", "a.b", "", "$", "i.j"]),
        "ef_search": st.sampled_from([0, 16, 10_000, 10_001]),
        "nprobe": st.sampled_from([0, 1, 65_536, 65_537]),
        "sample_size": st.sampled_from([0, 1, 30, 10_000, 10_001]),
        "clusters": st.sampled_from([0, 1, 3, 64, 65]),
        "color_by": st.sampled_from(["", "parity", "tag.a.b", "missing", "$"]),
    }
    simple_queries = st.one_of(
        st.sampled_from(IDS).map(lambda i: pb.Query(id=i)),
        st.sampled_from(["a red circle", "a blue square", "a green triangle"]).map(lambda t: pb.Query(text=t)),
        st.just(pb.Query(image=PNG)),
        vectors().map(lambda v: pb.Query(vector=v)))
    hints["latentspace.v1.Query"] = simple_queries
    hints["latentspace.v1.SearchOptions"] = st.sampled_from([1, 3, 10]).map(lambda k: api.SearchOptions(k=k))
    return MessageStrategies(hints, special={"latentspace.v1.Vector": vectors()})


def rpcs() -> list[tuple[str, str, type, type]]:
    """Every RPC of the contract: (path, kind, request class, response class); kind is
    ``unary``, ``client_stream`` or ``server_stream``."""
    found = []
    for service in api.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            assert not (method.client_streaming and method.server_streaming), f"{method.full_name}: not fuzzed"
            kind = "client_stream" if method.client_streaming else \
                "server_stream" if method.server_streaming else "unary"
            found.append((f"/{service.full_name}/{method.name}", kind,
                          message_factory.GetMessageClass(method.input_type),
                          message_factory.GetMessageClass(method.output_type)))
    return found


def seed(stubs: Stubs) -> None:
    create, upsert = stubs.collections.CreateCollection, stubs.collections.Upsert
    rng = np.random.default_rng(5)
    for name, kind in (("vec", "Flat"), ("hnsw", "HNSW8")):
        create(api.CreateCollectionRequest(name=name, dimension=8, index_kind=kind), timeout=TIMEOUT)
        items = []
        for i, row in enumerate(rng.normal(size=(40, 8))):
            item = api.UpsertItem(id=f"{name[0]}{i}", vector=vec(row))
            item.payload.update({"i": i, "parity": "even" if i % 2 == 0 else "odd", "tag": {"a": {"b": i % 3}}})
            items.append(item)
        upsert(api.UpsertRequest(collection=name, items=items), timeout=TIMEOUT)
    create(api.CreateCollectionRequest(name="text", model="shapes-clip"), timeout=TIMEOUT)
    texts = [api.UpsertItem(id=f"t{i}", text=t) for i, t in enumerate(["a red circle", "a blue square"])]
    images = [api.UpsertItem(id=f"img{i}", image=png(c, s, seed=i)) for i, (c, s) in
              enumerate([("red", "circle"), ("green", "triangle")])]
    upsert(api.UpsertRequest(collection="text", items=texts + images), timeout=TIMEOUT)
    for name in COLLECTIONS:  # warm every path once: model loaded, indexes built, caches in use
        stubs.latent.Search(api.SearchRequest(collection=name, query=pb.Query(id=f"{name[0]}1" if name != "text"
                                                                              else "t1"),
                                              options=api.SearchOptions(k=3)), timeout=TIMEOUT)
    stubs.latent.Search(api.SearchRequest(collection="text", query=pb.Query(image=PNG),
                                          options=api.SearchOptions(k=3)), timeout=TIMEOUT)


def test_random_requests_of_every_rpc_get_documented_codes(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", "--no-download")
    stubs = Stubs(server.address)
    try:
        seed(stubs)
        process = psutil.Process(server.proc.pid)
        warmed = process.memory_info().rss
        peak = warmed
        calls = rpcs()
        builder = strategies()
        codes: Counter[tuple[str, str]] = Counter()

        @settings(max_examples=max(1, EXAMPLES // len(calls)), deadline=None, database=None, derandomize=True,
                  print_blob=False, suppress_health_check=list(HealthCheck))
        @given(data=st.data())
        def one_call(rpc: tuple[str, str, type, type], data: st.DataObject) -> None:
            nonlocal peak
            path, kind, request_cls, response_cls = rpc
            request = builder.for_message(request_cls.DESCRIPTOR)
            if kind == "client_stream":
                requests = data.draw(st.lists(request, max_size=3), label="requests")
                send = stubs.channel.stream_unary(path, request_serializer=request_cls.SerializeToString,
                                                  response_deserializer=response_cls.FromString)
                call = lambda: send(iter(requests), timeout=TIMEOUT)  # noqa: E731
            elif kind == "server_stream":
                one_of_many = data.draw(request, label="request")
                read = stubs.channel.unary_stream(path, request_serializer=request_cls.SerializeToString,
                                                  response_deserializer=response_cls.FromString)
                call = lambda: list(read(one_of_many, timeout=TIMEOUT))  # noqa: E731
            else:
                one = data.draw(request, label="request")
                send = stubs.channel.unary_unary(path, request_serializer=request_cls.SerializeToString,
                                                 response_deserializer=response_cls.FromString)
                call = lambda: send(one, timeout=TIMEOUT)  # noqa: E731
            try:
                call()
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
                assert code in DOCUMENTED, f"{path}: {code.name}: {error.details()}"
            finally:
                assert server.proc.poll() is None, "the server died:\n" + "".join(server.output[-40:])
            codes[(path.rsplit("/", 1)[-1], code.name)] += 1
            peak = max(peak, process.memory_info().rss)

        for rpc in calls:
            one_call(rpc)
        final = process.memory_info().rss
        health = stubs.collections.ListCollections(api.ListCollectionsRequest(), timeout=TIMEOUT)
        assert {"vec", "hnsw", "text"} <= {c.name for c in health.collections}
    finally:
        stubs.close()
        if server.proc.poll() is None:
            server.kill()
    print(f"\nfuzz: {sum(codes.values())} calls over {len({m for m, _ in codes})} of {len(calls)} RPCs; "
          f"server RSS warmed {warmed / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB, final {final / 2**20:.0f} MiB")
    for (method, code), n in sorted(codes.items()):
        print(f"  {method:18s} {code:20s} {n}")
    assert {m for m, _ in codes} == {p.rsplit("/", 1)[-1] for p, *_ in calls}, "some RPC was never called"
    assert final < RSS_SLACK * warmed


def test_payload_numbers_without_a_json_form_are_invalid_argument(tmp_path: Path) -> None:
    """Found by the fuzz: a payload holding NaN or infinity was INTERNAL (JSON conversion failed)."""
    from tests.conftest import ServerThread

    server = ServerThread(tmp_path / "data").start()
    stubs = Stubs(server.address)
    try:
        stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=2), timeout=30)
        for bad in (float("nan"), float("inf")):
            item = api.UpsertItem(id="x", vector=vec([1.0, 0.0]))
            item.payload.fields["a"].list_value.values.add().number_value = bad
            try:
                stubs.collections.Upsert(api.UpsertRequest(collection="vec", items=[item]), timeout=30)
                raise AssertionError("accepted a payload holding NaN or infinity")
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert error.details().startswith("items[0].payload: ")
        assert stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name="vec"), timeout=30).count == 0
    finally:
        stubs.close()
        server.stop()
