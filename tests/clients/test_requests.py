"""SDK request building, conversions and error translation, with no server."""

from __future__ import annotations

import array
import io
import math
import struct
import sys

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2

from latentspace_client import (
    Analogy,
    Edit,
    Examples,
    Id,
    LatentSpaceError,
    Mix,
    TextPair,
    UpsertItem,
    errors,
)
from latentspace_client import requests as rq
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client._generated.latentspace.v1 import types_pb2 as tpb
from latentspace_client.payloads import from_struct, to_filter, to_struct
from latentspace_client.points import point_from_keywords, to_direction, to_query
from latentspace_client.results import DistanceMatrix, EditResult, Hit, Interpolation
from latentspace_client.vectors import matrix, pack_vector, unpack_vector


def floats(vector: tpb.Vector) -> list[float]:
    return list(struct.unpack(f"<{vector.dimension}f", vector.data))


@pytest.fixture
def no_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import numpy`` fail inside the SDK, as on a host without numpy."""
    monkeypatch.setitem(sys.modules, "numpy", None)


# ---------------------------------------------------------------- points


def test_text_bytes_and_id_points() -> None:
    assert to_query("a red circle") == tpb.Query(text="a red circle")
    assert to_query(b"\x89PNG") == tpb.Query(image=b"\x89PNG")
    assert to_query(bytearray(b"ab")) == tpb.Query(image=b"ab")
    assert to_query(Id("item-7")) == tpb.Query(id="item-7")


def test_a_str_is_always_text_even_when_it_names_a_file(tmp_path) -> None:
    image = tmp_path / "x.png"
    image.write_bytes(b"png-bytes")
    assert to_query(str(image)) == tpb.Query(text=str(image))
    assert to_query(image) == tpb.Query(image=b"png-bytes")  # a Path is read client-side


def test_pil_image_is_sent_as_png() -> None:
    from PIL import Image

    picture = Image.new("RGB", (3, 2), (255, 0, 0))
    query = to_query(picture)
    assert query.image.startswith(b"\x89PNG")
    decoded = Image.open(io.BytesIO(query.image))
    assert decoded.size == (3, 2) and decoded.getpixel((0, 0)) == (255, 0, 0)


@pytest.mark.parametrize(
    "vector",
    [
        [0.5, -1.0, 2.0],
        (0.5, -1.0, 2.0),
        np.array([0.5, -1.0, 2.0]),
        array.array("f", [0.5, -1.0, 2.0]),
        [0.5, -1, 2],
    ],
)
def test_vector_points(vector: object) -> None:
    query = to_query(vector)
    assert query.WhichOneof("kind") == "vector"
    assert query.vector.dimension == 3
    assert floats(query.vector) == [0.5, -1.0, 2.0]


def test_query_passes_through() -> None:
    query = tpb.Query(id="x")
    assert to_query(query) is query


@pytest.mark.parametrize("bad", [None, 3, 1.5, {"text": "x"}, object(), [True, False], ["a", "b"], []])
def test_unsupported_points_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError, match="point"):
        to_query(bad)


def test_mix_weights_and_bare_parts() -> None:
    query = to_query(Mix([("a red circle", 0.7), (Id("sq"), -0.3), "plain", (0.1, 0.2)]))
    parts = query.mix.parts
    assert [p.query.WhichOneof("kind") for p in parts] == ["text", "id", "text", "vector"]
    assert parts[0].weight == pytest.approx(0.7) and parts[1].weight == pytest.approx(-0.3)
    # Unset weights mean 1.0 on the server; a 2-tuple of numbers is a 2-d vector, not (point, weight).
    assert not parts[2].HasField("weight") and not parts[3].HasField("weight")
    assert parts[3].query.vector.dimension == 2


def test_empty_mix_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Mix([])


@pytest.mark.parametrize(
    ("mode", "wire"),
    [("add", tpb.EDIT_MODE_ADD), ("rotate", tpb.EDIT_MODE_ROTATE), ("REMOVE", tpb.EDIT_MODE_REMOVE)],
)
def test_edit_with_text_pair(mode: str, wire: int) -> None:
    query = to_query(Edit(Id("c1"), TextPair("a red shape", "a blue shape"), mode=mode, strength=0.8))
    edit = query.edit
    assert edit.base == tpb.Query(id="c1")
    assert edit.direction.text_pair == tpb.TextPair(neutral="a red shape", target="a blue shape")
    assert edit.mode == wire
    assert edit.strength == pytest.approx(0.8)


def test_edit_defaults_leave_strength_unset() -> None:
    edit = to_query(Edit("x", [1.0, 0.0])).edit
    assert edit.mode == tpb.EDIT_MODE_ADD and not edit.HasField("strength")
    assert edit.direction.WhichOneof("kind") == "vector"


def test_examples_direction() -> None:
    direction = to_direction(Examples(["a red circle", Id("r2")], [b"img"]))
    assert [q.WhichOneof("kind") for q in direction.examples.positive] == ["text", "id"]
    assert direction.examples.negative[0].image == b"img"
    with pytest.raises(TypeError):
        to_direction(Examples("not a list"))
    with pytest.raises(TypeError, match="direction"):
        to_direction("a blue shape")


def test_unknown_edit_mode_names_the_choices() -> None:
    with pytest.raises(ValueError, match="add, rotate, remove"):
        to_query(Edit("x", [1.0], mode="scale"))


def test_analogy_and_nesting() -> None:
    query = to_query(
        Analogy("a red circle", Mix([("a blue circle", 1.0)]), Edit(Id("sq"), [0.0, 1.0]), method="cos_mul")
    )
    analogy = query.analogy
    assert analogy.method == tpb.ANALOGY_METHOD_COS_MUL and not analogy.include_inputs
    assert analogy.a.text == "a red circle"
    assert analogy.a_star.mix.parts[0].query.text == "a blue circle"
    assert analogy.b.edit.base.id == "sq"
    assert to_query(Analogy("a", "b", "c", include_inputs=True)).analogy.method == tpb.ANALOGY_METHOD_COS_ADD
    with pytest.raises(ValueError, match="cos_add, cos_mul"):
        to_query(Analogy("a", "b", "c", method="cos_sub"))


def test_keyword_points(tmp_path) -> None:
    path = tmp_path / "i.jpg"
    path.write_bytes(b"jpeg")
    assert to_query(point_from_keywords(text="hi")) == tpb.Query(text="hi")
    assert to_query(point_from_keywords(image=path)) == tpb.Query(image=b"jpeg")
    assert to_query(point_from_keywords(image=str(path))) == tpb.Query(image=b"jpeg")  # image= takes a path
    assert to_query(point_from_keywords(vector=[1.0, 2.0])).vector.dimension == 2
    assert to_query(point_from_keywords(id="a")) == tpb.Query(id="a")
    assert point_from_keywords("positional") == "positional"
    with pytest.raises(ValueError, match="exactly one"):
        point_from_keywords()
    with pytest.raises(ValueError, match="point, text"):
        point_from_keywords("x", text="y")
    with pytest.raises(TypeError):
        point_from_keywords(text=3)


# ---------------------------------------------------------------- filters and payloads


def test_filter_dict_to_conditions() -> None:
    message = to_filter(
        {
            "color": "red",
            "size": ["small", "large"],
            "price": {"gte": 1, "lt": 5},
            "meta": {"lang": "en"},
            "ok": True,
            "gone": None,
        }
    )
    assert message is not None
    by_field = {c.field: c for c in message.must}
    assert list(by_field) == ["color", "size", "price", "meta.lang", "ok", "gone"]
    assert by_field["color"].equals.string_value == "red"
    assert [v.string_value for v in by_field["size"].any_of.values] == ["small", "large"]
    price = by_field["price"].range
    assert price.gte == 1 and price.lt == 5 and not price.HasField("gt") and not price.HasField("lte")
    assert by_field["meta.lang"].equals.string_value == "en"
    assert by_field["ok"].equals.bool_value is True
    assert by_field["gone"].equals.WhichOneof("kind") == "null_value"


def test_empty_and_passthrough_filters() -> None:
    assert to_filter(None) is None and to_filter({}) is None
    message = tpb.Filter(must=[tpb.Condition(field="a", equals=struct_pb2.Value(string_value="b"))])
    assert to_filter(message) is message


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"p": {"gte": 1, "color": "x"}}, ValueError),
        ({"p": {"lt": "5"}}, TypeError),
        ({"p": {"lt": True}}, TypeError),
        ({"p": []}, ValueError),
        ({"p": {}}, ValueError),
        ({"p": [["nested"]]}, TypeError),
        ({"p": float("nan")}, ValueError),
        ({3: "x"}, TypeError),
        (["color", "red"], TypeError),
    ],
)
def test_bad_filters(spec: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        to_filter(spec)


def test_payload_round_trip_keeps_integers() -> None:
    payload = {
        "year": 2024,
        "price": 9.5,
        "whole": 3.0,
        "tags": ["a", 1, None, True],
        "nested": {"n": -7},
        "big": 2**53 - 1,
        "name": "x",
        "none": None,
    }
    back = from_struct(to_struct(payload))
    assert back == payload
    assert type(back["year"]) is int and type(back["price"]) is float and type(back["nested"]["n"]) is int
    assert type(back["tags"][1]) is int and back["tags"][3] is True
    assert type(back["whole"]) is int  # documented: integral floats come back as int


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ({"n": 2**53}, ValueError),
        ({"n": float("inf")}, ValueError),
        ({1: "x"}, TypeError),
        ({"d": {1, 2}}, TypeError),
    ],
)
def test_bad_payloads(payload: dict, error: type[Exception]) -> None:
    with pytest.raises(error, match="payload"):
        to_struct(payload)


# ---------------------------------------------------------------- vectors


def test_pack_is_little_endian_float32() -> None:
    vector = pack_vector([1.0, -2.5])
    assert vector.dimension == 2 and vector.data == struct.pack("<2f", 1.0, -2.5)
    big_endian = np.array([1.0, -2.5], dtype=">f8")
    assert pack_vector(big_endian).data == vector.data


def test_unpack_with_numpy() -> None:
    out = unpack_vector(pack_vector([0.25, 0.5, 1.0]))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.flags.writeable
    assert out.tolist() == [0.25, 0.5, 1.0]


@pytest.mark.usefixtures("no_numpy")
def test_pack_and_unpack_without_numpy() -> None:
    vector = pack_vector([1.0, -2.5, 3])
    assert vector.data == struct.pack("<3f", 1.0, -2.5, 3.0)
    assert pack_vector(array.array("f", [1.0, -2.5, 3.0])).data == vector.data
    out = unpack_vector(vector)
    assert isinstance(out, list) and out == [1.0, -2.5, 3.0]
    assert matrix([1.0, 2.0, 3.0, 4.0], 2, 2) == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(TypeError):
        pack_vector(["x"])
    with pytest.raises(ValueError):
        pack_vector([])


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0], [3.0, 4.0]], np.zeros((2, 2))])
def test_pack_refuses_non_1d(bad: object) -> None:
    with pytest.raises(ValueError, match="1-D"):
        pack_vector(bad)


def test_unpack_refuses_wrong_length() -> None:
    with pytest.raises(ValueError, match="bytes"):
        unpack_vector(tpb.Vector(dimension=3, data=b"\0" * 8))


# ---------------------------------------------------------------- requests


def test_search_options() -> None:
    options = rq.search_options(5, {"color": "red"}, ["a", "b"], 0.25, True, ef_search=64, nprobe=8)
    assert options.k == 5 and list(options.exclude_ids) == ["a", "b"] and options.with_vectors
    assert options.filter.must[0].field == "color"
    assert options.score_threshold == pytest.approx(0.25)
    assert options.params.ef_search == 64 and options.params.nprobe == 8
    bare = rq.search_options(3)
    assert not bare.HasField("filter") and not bare.HasField("score_threshold")
    assert list(rq.search_options(3, exclude_ids="solo").exclude_ids) == ["solo"]  # not ["s", "o", ...]


def test_analogy_request_is_a_search() -> None:
    request = rq.analogy_request("c", "a", "b", Id("x"), "cos_mul", False, rq.search_options(4))
    assert isinstance(request, pb.SearchRequest) and request.collection == "c"
    assert request.query.analogy.method == tpb.ANALOGY_METHOD_COS_MUL
    assert request.query.analogy.b.id == "x" and request.options.k == 4


def test_interpolate_request_forms() -> None:
    assert list(rq.interpolate_request("c", "a", "b", t=0.25).ts) == [0.25]
    steps = rq.interpolate_request("c", "a", "b", steps=7, method="lerp", via=Id("v"), distinct=True)
    assert steps.steps == 7 and not steps.ts and steps.method == pb.INTERPOLATION_METHOD_LERP
    assert steps.via.id == "v" and steps.distinct and steps.k == 5
    ts = rq.interpolate_request("c", "a", "b", ts=[0.0, 0.5, 1.5], allow_extrapolation=True, filter={"a": 1})
    assert list(ts.ts) == [0.0, 0.5, 1.5] and ts.allow_extrapolation and ts.filter.must[0].field == "a"
    midpoint = rq.interpolate_request("c", "a", "b")
    assert midpoint.steps == 0 and not midpoint.ts and not midpoint.HasField("via")
    assert midpoint.method == pb.INTERPOLATION_METHOD_SLERP
    with pytest.raises(ValueError, match="t, steps"):
        rq.interpolate_request("c", "a", "b", t=0.5, steps=3)
    with pytest.raises(ValueError, match="slerp, lerp"):
        rq.interpolate_request("c", "a", "b", method="cubic")


def test_edit_request() -> None:
    request = rq.edit_request(
        "c", Id("b"), TextPair("x", "y", use_templates=True), mode="rotate", strength=0.3, k=0
    )
    assert request.edit.mode == tpb.EDIT_MODE_ROTATE and request.edit.direction.text_pair.use_templates
    assert request.k == 0 and not request.HasField("filter") and not request.decode


def test_decode_requests() -> None:
    request = rq.decode_request("c", ["a red circle", Id("x"), [1.0, 0.0]])
    assert isinstance(request, pb.DecodeRequest) and request.collection == "c"
    assert [q.WhichOneof("kind") for q in request.queries] == ["text", "id", "vector"]
    assert rq.interpolate_request("c", "a", "b", steps=3, decode=True).decode
    assert not rq.interpolate_request("c", "a", "b", steps=3).decode
    assert rq.edit_request("c", "a", [1.0, 0.0], decode=True).decode


def test_distance_requests() -> None:
    request = rq.distance_request("c", [("a", Id("b")), ([1.0], b"img")])
    assert [(p.a.WhichOneof("kind"), p.b.WhichOneof("kind")) for p in request.pairs] == [
        ("text", "id"),
        ("vector", "image"),
    ]
    matrix_request = rq.distance_matrix_request("c", ["a", "b"], None)
    assert len(matrix_request.rows) == 2 and not matrix_request.columns


def test_upsert_batches_and_items(tmp_path) -> None:
    image = tmp_path / "i.png"
    image.write_bytes(b"png")
    items = [{"id": f"v{i}", "vector": [float(i), 1.0], "payload": {"i": i}} for i in range(5)]
    items.append(UpsertItem(id="t", text="a red circle", content_ref="doc-1"))
    items.append({"id": "img", "image": image})
    batches = list(rq.upsert_requests("c", items, batch_size=3))
    assert [len(b.items) for b in batches] == [3, 3, 1] and all(b.collection == "c" for b in batches)
    assert from_struct(batches[0].items[2].payload) == {"i": 2}
    text_item = batches[1].items[2]
    assert text_item.text == "a red circle" and text_item.content_ref == "doc-1"
    assert batches[2].items[0].image == b"png"


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ({"id": "a"}, "exactly one"),
        ({"id": "a", "text": "x", "vector": [1.0]}, "exactly one"),
        ({"text": "x"}, "needs an id"),
        ({"id": "a", "text": "x", "paylaod": {}}, "paylaod"),
    ],
)
def test_bad_upsert_items(item: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        list(rq.upsert_requests("c", [item], batch_size=10))


def test_resolve_collection() -> None:
    assert rq.resolve_collection(None, "default") == "default"
    assert rq.resolve_collection("given", "default") == "given"
    with pytest.raises(ValueError, match="collection"):
        rq.resolve_collection(None, None)


# ---------------------------------------------------------------- results


def test_hit_from_proto() -> None:
    message = tpb.Hit(
        id="a", score=0.5, modality=tpb.MODALITY_IMAGE, payload=to_struct({"n": 1}), content="c"
    )
    hit = Hit.from_proto(message)
    assert (hit.id, hit.score, hit.modality, hit.payload, hit.content, hit.vector) == (
        "a",
        0.5,
        "image",
        {"n": 1},
        "c",
        None,
    )
    message.vector.CopyFrom(pack_vector([1.0, 0.0]))
    assert Hit.from_proto(message).vector.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("numpy_present", [True, False])
def test_distance_matrix_from_proto(numpy_present: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not numpy_present:
        monkeypatch.setitem(sys.modules, "numpy", None)
    reply = pb.DistanceMatrixResponse(
        rows=2,
        columns=3,
        cosine=[1, 0.5, 0, 0.5, 1, 0],
        angular=[0] * 6,
        euclidean=[0] * 6,
        cross_modal=[False, True, False, False, False, True],
    )
    result = DistanceMatrix.from_proto(reply)
    if numpy_present:
        assert result.cosine.shape == (2, 3) and result.cross_modal.dtype == bool
        assert result.cross_modal[0, 1] and result.cosine[1, 1] == 1.0
    else:
        assert result.cosine == [[1, 0.5, 0], [0.5, 1, 0]]
        assert result.cross_modal[1] == [False, False, True]


def test_interpolation_and_edit_from_proto() -> None:
    reply = pb.InterpolateResponse(
        angle=math.pi / 2, steps=[pb.PathStep(t=0.5, cos_to_a=0.7, cos_to_b=0.7, hits=[tpb.Hit(id="m")])]
    )
    path = Interpolation.from_proto(reply)
    assert path.angle == pytest.approx(math.pi / 2) and path.steps[0].hits[0].id == "m"
    assert path.steps[0].vector is None
    edit = EditResult.from_proto(pb.EditResponse(vector=pack_vector([0.0, 1.0]), cos_to_base=0.9))
    assert edit.vector.tolist() == [0.0, 1.0] and edit.hits == ()


# ---------------------------------------------------------------- errors


class FakeRpcError(grpc.RpcError):
    """Stands in for the error a failed call raises (it is also a ``grpc.Call``)."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple = ()):
        self._code, self._details, self._trailing = code, details, trailing

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple:
        return self._trailing


@pytest.mark.parametrize(("code", "cls"), list(errors.ERROR_CLASSES.items()))
def test_every_status_code_has_its_class(code: grpc.StatusCode, cls: type[LatentSpaceError]) -> None:
    error = errors.translate(FakeRpcError(code, "details here"))
    assert type(error) is cls and isinstance(error, LatentSpaceError)
    assert error.code == code and error.details == "details here"


def test_reason_and_request_id_come_from_trailing_metadata() -> None:
    rpc_error = FakeRpcError(
        grpc.StatusCode.NOT_FOUND,
        "collection 'x' does not exist",
        (
            ("latentspace-reason", "COLLECTION_NOT_FOUND"),
            ("latentspace-request-id", b"req-42"),
            ("other", "v"),
        ),
    )
    error = errors.translate(rpc_error)
    assert isinstance(error, errors.NotFound)
    assert error.reason == "COLLECTION_NOT_FOUND" and error.request_id == "req-42"
    assert str(error) == "NOT_FOUND (COLLECTION_NOT_FOUND): collection 'x' does not exist"


def test_unlisted_codes_and_bare_errors_use_the_base_class() -> None:
    error = errors.translate(FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "no such method"))
    assert type(error) is LatentSpaceError and error.code == grpc.StatusCode.UNIMPLEMENTED
    assert error.reason is None and str(error) == "UNIMPLEMENTED: no such method"
    bare = errors.translate(grpc.RpcError())
    assert type(bare) is LatentSpaceError and bare.code == grpc.StatusCode.UNKNOWN


def test_connection_refused_is_unavailable_and_chained() -> None:
    import socket

    from latentspace_client import Client, Unavailable

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"127.0.0.1:{port}", timeout=10) as client, pytest.raises(Unavailable) as caught:
        client.list_collections()
    assert caught.value.reason is None
    assert isinstance(caught.value.__cause__, grpc.RpcError)


def test_named_directions_are_directions_and_points() -> None:
    from latentspace_client import NamedDirection

    assert to_direction(NamedDirection("to-blue")) == tpb.Direction(name="to-blue")
    assert to_query(NamedDirection("to-blue")) == tpb.Query(direction=tpb.Direction(name="to-blue"))
    mixed = to_query(Mix([(Id("a"), 1.0), (NamedDirection("to-blue"), 0.5)]))
    assert mixed.mix.parts[1].query.direction.name == "to-blue" and mixed.mix.parts[1].weight == 0.5
    assert to_query(TextPair("a", "b")).direction.text_pair.target == "b"
    edit = to_query(Edit(Id("a"), NamedDirection("to-blue")))
    assert edit.edit.direction.name == "to-blue"


def test_a_direction_points_examples_count_towards_the_depth() -> None:
    from latentspace_client.points import MAX_POINT_DEPTH

    point: object = "x"
    for _ in range(MAX_POINT_DEPTH - 1):
        point = Mix([point])
    to_query(Examples([point]))  # the examples sit one level below the direction: depth 16
    with pytest.raises(ValueError, match="nest deeper"):
        to_query(Examples([Mix([point])]))
    with pytest.raises(ValueError, match="nest deeper"):
        to_query(Mix([tpb.Query(direction=to_direction(Examples([Mix([point])])))]))


def test_create_direction_requests() -> None:
    from latentspace_client import Labels, NamedDirection

    labels = rq.create_direction_request("c", "blue", Labels("color", "blue", "red", filter={"kind": "image"}),
                                         method="logistic", holdout=0.3, seed=7)
    assert labels.source.labels.field == "color" and labels.source.labels.positive.string_value == "blue"
    assert labels.source.labels.filter.must[0].field == "kind"
    assert (labels.method, labels.seed) == (pb.DIRECTION_METHOD_LOGISTIC, 7)
    assert labels.holdout == pytest.approx(0.3) and labels.HasField("holdout")
    pair = rq.create_direction_request("c", "t", TextPair("a", "b", use_templates=True))
    assert pair.source.text_pair.use_templates and not pair.HasField("holdout")
    assert rq.create_direction_request("c", "v", [1.0, 0.0]).source.vector.dimension == 2
    assert rq.create_direction_request("c", "e", Examples([Id("a")])).source.examples.positive[0].id == "a"
    assert rq.create_direction_request("c", "n", Labels("n", 3, True)).source.labels.negative.bool_value
    with pytest.raises(TypeError):
        rq.create_direction_request("c", "copy", NamedDirection("blue"))
    with pytest.raises(ValueError, match="direction method"):
        rq.create_direction_request("c", "x", [1.0], method="ridge")
    assert rq.search_options(3, explain=True).explain
    assert rq.edit_request("c", Id("a"), NamedDirection("d"), explain=True).explain


def test_explanations_from_proto() -> None:
    message = tpb.Hit(id="x", score=0.75, explanation=tpb.Explanation(
        form=tpb.SCORE_FORM_SUM,
        terms=[tpb.ScoreTerm(path="query.mix.parts[0].query", cosine=0.5, coefficient=1.0, share=0.5),
               tpb.ScoreTerm(path="query.mix.parts[0].query", cosine=0.25, coefficient=1.0, share=0.25)],
        projections=[tpb.DirectionProjection(path="query.edit.direction", name="d", projection=0.1)]))
    hit = Hit.from_proto(message)
    assert hit.explanation is not None and hit.explanation.form == "sum"
    assert hit.explanation.shares() == {"query.mix.parts[0].query": 0.75}
    assert hit.explanation.projections[0].name == "d"
    assert Hit.from_proto(tpb.Hit(id="y")).explanation is None


def test_ranking_fields_on_search_interpolate_and_edit() -> None:
    options = rq.search_options(5, score_mode="calibrated", modality="image", diversity=0.3, pool=40)
    assert options.score_mode == tpb.SCORE_MODE_CALIBRATED and options.modality == tpb.MODALITY_IMAGE
    assert options.diversity == pytest.approx(0.3) and options.pool == 40
    bare = rq.search_options(5)
    assert (bare.score_mode, bare.modality, bare.diversity, bare.pool) == (tpb.SCORE_MODE_RAW, tpb.MODALITY_UNSPECIFIED,
                                                                          0.0, 0)
    path = rq.interpolate_request("c", "a", "b", steps=3, diversity=0.5, modality="text")
    assert path.diversity == pytest.approx(0.5) and path.modality == tpb.MODALITY_TEXT
    edit = rq.edit_request("c", Id("b"), TextPair("x", "y"), score_mode="CALIBRATED", pool=7)
    assert edit.score_mode == tpb.SCORE_MODE_CALIBRATED and edit.pool == 7
    with pytest.raises(ValueError, match="raw, calibrated"):
        rq.search_options(5, score_mode="zscore")
    with pytest.raises(ValueError, match="text, image, vector"):
        rq.search_options(5, modality="audio")
