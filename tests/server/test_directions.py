"""Named directions and explained scores on the wire: exact status codes and reasons, restarts, a
direction whose model changed, and hit messages cached per item that never carry a stale explanation.

Vector-only collections (no model); the shapes model's behaviour is tests/semantic/test_shapes_directions.py.
"""

from __future__ import annotations

import sqlite3

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, reason_of, search, unpack, vec, vector_items

DIM = 8
AXIS = np.eye(DIM, dtype=np.float32)[0]
rng = np.random.default_rng(11)
# Even items lean along AXIS, odd ones against it: "parity" labels a direction.
VECTORS = (rng.normal(scale=0.5, size=(40, DIM)) + np.where(np.arange(40) % 2 == 0, 1.0, -1.0)[:, None] * AXIS
           ).astype(np.float32)


def create(stubs: Stubs, name: str, source: api.DirectionSource, collection: str = "vec",
           **fields) -> api.DirectionInfo:
    request = api.CreateDirectionRequest(collection=collection, name=name, source=source, **fields)
    return stubs.latent.CreateDirection(request, timeout=60)


def labels(positive: str, negative: str, field: str = "parity") -> api.DirectionSource:
    return api.DirectionSource(labels=api.Labels(field=field, positive=struct_pb2.Value(string_value=positive),
                                                 negative=struct_pb2.Value(string_value=negative)))


def named_edit(name: str, base: str = "v1", k: int = 5, strength: float | None = None) -> api.EditRequest:
    edit = pb.Edit(base=pb.Query(id=base), direction=pb.Direction(name=name), strength=strength)
    return api.EditRequest(collection="vec", edit=edit, k=k)


@pytest.fixture
def served(tmp_path):
    from tests.conftest import ServerThread

    servers: list[ServerThread] = []

    def start() -> Stubs:
        servers.append(ServerThread(tmp_path / "data").start())
        return Stubs(servers[-1].address)

    def stop() -> None:
        servers.pop().stop()

    yield start, stop
    for server in servers:
        server.stop()


@pytest.fixture
def stubs(served):
    start, _ = served
    stubs = start()
    stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM), timeout=30)
    stubs.collections.Upsert(api.UpsertRequest(collection="vec", items=vector_items(VECTORS)), timeout=30)
    yield stubs
    stubs.close()


def test_create_list_use_and_delete(stubs):
    made = create(stubs, "even", labels("even", "odd"), method=api.DIRECTION_METHOD_LOGISTIC, holdout=0.3, seed=2)
    assert made.source == "labels" and made.method == api.DIRECTION_METHOD_LOGISTIC
    assert made.quality.HasField("auc") and made.quality.auc > 0.95 and made.quality.evaluated_on == "held_out"
    assert (made.quality.positives, made.quality.held_out_positives) == (20, 6)
    assert float(unpack(made.vector) @ AXIS) > 0.8 and made.description.startswith('parity == "even"')
    create(stubs, "raw", api.DirectionSource(vector=vec(2 * AXIS)))
    listed = stubs.latent.ListDirections(api.ListDirectionsRequest(collection="vec"), timeout=30).directions
    assert [d.name for d in listed] == ["even", "raw"] and not listed[0].HasField("vector")
    assert not listed[1].quality.HasField("auc") and listed[1].norm == pytest.approx(2.0)
    moved = stubs.latent.Edit(named_edit("even", base="v1", strength=2.0), timeout=30)
    assert moved.result_projection > moved.base_projection and moved.direction_norm == pytest.approx(made.norm)
    stubs.latent.DeleteDirection(api.DeleteDirectionRequest(collection="vec", name="even"), timeout=30)
    listed = stubs.latent.ListDirections(api.ListDirectionsRequest(collection="vec", with_vectors=True), timeout=30)
    assert [d.name for d in listed.directions] == ["raw"] and listed.directions[0].HasField("vector")


def refusal(call) -> tuple[grpc.StatusCode, str | None, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), reason_of(caught.value), caught.value.details()


def test_refusals_have_exact_codes_and_name_the_field(stubs):
    create(stubs, "taken", api.DirectionSource(vector=vec(AXIS)))
    latent = stubs.latent
    cases = [
        (lambda: create(stubs, "taken", api.DirectionSource(vector=vec(AXIS))),
         grpc.StatusCode.ALREADY_EXISTS, "DIRECTION_EXISTS", "name"),
        (lambda: latent.Edit(named_edit("nope"), timeout=30),
         grpc.StatusCode.NOT_FOUND, "DIRECTION_NOT_FOUND", "edit.direction.name"),
        (lambda: search(stubs, "vec", pb.Query(direction=pb.Direction(name="nope"))),
         grpc.StatusCode.NOT_FOUND, "DIRECTION_NOT_FOUND", "query.direction.name"),
        (lambda: latent.DeleteDirection(api.DeleteDirectionRequest(collection="vec", name="nope"), timeout=30),
         grpc.StatusCode.NOT_FOUND, "DIRECTION_NOT_FOUND", "name"),
        (lambda: create(stubs, "few", labels("even", "neither")),
         grpc.StatusCode.INVALID_ARGUMENT, "TOO_FEW_ITEMS", "source.labels.negative"),
        (lambda: create(stubs, "bad name!", api.DirectionSource(vector=vec(AXIS))),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", "name"),
        (lambda: create(stubs, "x", api.DirectionSource()),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", "source"),
        (lambda: create(stubs, "x", api.DirectionSource(vector=vec([1.0, 2.0]))),
         grpc.StatusCode.INVALID_ARGUMENT, "WRONG_DIMENSION", "source.vector"),
        (lambda: create(stubs, "x", labels("even", "odd"), holdout=0.0),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", "holdout"),
        (lambda: create(stubs, "x", api.DirectionSource(vector=vec(AXIS)), method=api.DIRECTION_METHOD_LOGISTIC),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_INPUT", "method"),
        (lambda: create(stubs, "x", api.DirectionSource(text_pair=pb.TextPair(neutral="a", target="b"))),
         grpc.StatusCode.FAILED_PRECONDITION, "MODALITY_NOT_SUPPORTED", "source.text_pair"),
        (lambda: create(stubs, "x", labels("even", "odd"), collection="nope"),
         grpc.StatusCode.NOT_FOUND, "COLLECTION_NOT_FOUND", ""),
    ]
    for call, code, reason, field in cases:
        got = refusal(call)
        assert got[:2] == (code, reason), (field, got)
        assert got[2].startswith(field), (field, got)
    listed = stubs.latent.ListDirections(api.ListDirectionsRequest(collection="vec"), timeout=30).directions
    assert [d.name for d in listed] == ["taken"]


def test_directions_survive_a_restart_and_are_refused_once_the_model_changed(served, stubs, tmp_path):
    start, stop = served
    create(stubs, "even", labels("even", "odd"), seed=5)
    before = stubs.latent.Edit(named_edit("even"), timeout=30)
    stubs.close()
    stop()
    stubs = start()
    after = stubs.latent.Edit(named_edit("even"), timeout=30)
    assert [h.id for h in after.hits] == [h.id for h in before.hits]
    stubs.close()
    stop()
    # The direction was made under a model other than the collection's (e.g. copied from another one).
    store = tmp_path / "data" / "collections" / "vec" / "items.sqlite3"
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE directions SET record = json_set(record, '$.fingerprint', 'other-model')")
    stubs = start()
    code, reason, details = refusal(lambda: stubs.latent.Edit(named_edit("even"), timeout=30))
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DIRECTION_MODEL_MISMATCH")
    assert details.startswith("edit.direction.name") and "other-model" in details
    stubs.latent.DeleteDirection(api.DeleteDirectionRequest(collection="vec", name="even"), timeout=30)
    stubs.close()


def test_dropping_a_collection_drops_its_directions(stubs):
    create(stubs, "raw", api.DirectionSource(vector=vec(AXIS)))
    stubs.collections.DropCollection(api.DropCollectionRequest(name="vec"), timeout=30)
    stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM), timeout=30)
    assert not stubs.latent.ListDirections(api.ListDirectionsRequest(collection="vec"), timeout=30).directions


def test_cached_hit_messages_never_carry_another_querys_explanation(stubs):
    create(stubs, "raw", api.DirectionSource(vector=vec(AXIS)))
    mix = pb.Query(mix=pb.Mix(parts=[pb.WeightedQuery(query=pb.Query(id="v0")),
                                     pb.WeightedQuery(query=pb.Query(direction=pb.Direction(name="raw")), weight=0.5)]))
    plain = search(stubs, "vec", mix, k=6)
    explained = search(stubs, "vec", mix, k=6, explain=True)
    other = search(stubs, "vec", pb.Query(id="v2"), k=6, explain=True)
    again = search(stubs, "vec", mix, k=6)
    assert [(h.id, h.score) for h in plain] == [(h.id, h.score) for h in explained] == [(h.id, h.score) for h in again]
    assert not any(h.HasField("explanation") for h in plain + again)
    for hit in explained:
        e = hit.explanation
        assert e.form == pb.SCORE_FORM_SUM and not hit.HasField("vector")
        assert [t.path for t in e.terms] == ["query.mix.parts[0].query", "query.mix.parts[1].query.direction"]
        assert sum(t.share for t in e.terms) == pytest.approx(hit.score, abs=1e-5)
        assert [(p.path, p.name) for p in e.projections] == [("query.mix.parts[1].query.direction", "raw")]
    for hit in other:
        assert [t.path for t in hit.explanation.terms] == ["query"] and not hit.explanation.projections
        assert hit.explanation.terms[0].share == pytest.approx(hit.score, abs=1e-6)


def test_every_rpc_that_returns_hits_explains_them(stubs):
    batch = stubs.latent.SearchBatch(api.SearchBatchRequest(
        collection="vec", queries=[pb.Query(id="v1"), pb.Query(vector=vec(AXIS))],
        options=api.SearchOptions(k=3, explain=True)), timeout=30)
    path = stubs.latent.Interpolate(api.InterpolateRequest(
        collection="vec", a=pb.Query(id="v1"), b=pb.Query(id="v2"), steps=3, k=2, explain=True), timeout=30)
    edit = stubs.latent.Edit(api.EditRequest(
        collection="vec", edit=pb.Edit(base=pb.Query(id="v1"), direction=pb.Direction(vector=vec(AXIS)),
                                       mode=pb.EDIT_MODE_ROTATE), k=3, explain=True, with_vectors=True), timeout=30)
    hits = [h for r in batch.results for h in r.hits] + [h for s in path.steps for h in s.hits] + list(edit.hits)
    assert len(hits) == 6 + 6 + 3
    for hit in hits:
        assert sum(t.share for t in hit.explanation.terms) == pytest.approx(hit.score, abs=1e-5)
    assert {t.path for s in path.steps for h in s.hits for t in h.explanation.terms} == {"a", "b"}
    assert all(h.HasField("vector") for h in edit.hits)
    assert [p.path for p in edit.hits[0].explanation.projections] == ["edit.direction"]
