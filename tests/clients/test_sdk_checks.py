"""What the Python SDK refuses before sending, with a clear ``ValueError`` rather than a raw protobuf
``DecodeError``/``RecursionError`` from inside it or a round trip to the server."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
from google.protobuf.message import DecodeError

from latentspace.indexer import validation
from latentspace_client import Edit, Examples, Id, Mix
from latentspace_client import requests as rq
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client.payloads import MAX_PAYLOAD_DEPTH, to_struct
from latentspace_client.points import MAX_POINT_DEPTH, to_query
from latentspace_client.vectors import pack_vector


def test_the_sdk_bounds_are_the_servers() -> None:
    assert MAX_POINT_DEPTH == validation.MAX_POINT_DEPTH
    assert MAX_PAYLOAD_DEPTH == validation.MAX_PAYLOAD_DEPTH


def mixes(levels: int) -> Mix:
    return functools.reduce(lambda point, _: Mix([point]), range(levels), Id("a"))


def edits(levels: int) -> Edit:
    # Each level: the examples of an edit's direction (the deepest wire nesting per level).
    return functools.reduce(lambda point, _: Edit(Id("b"), Examples([point])), range(levels), Id("a"))


@pytest.mark.parametrize("build", [mixes, edits])
def test_points_nest_up_to_the_bound_and_no_further(build) -> None:
    deepest = to_query(build(MAX_POINT_DEPTH))
    # What is allowed survives protobuf's own parse (the server's side of the wire).
    request = pb.SearchRequest(collection="c", query=deepest)
    assert pb.SearchRequest.FromString(request.SerializeToString()) == request
    for levels in (MAX_POINT_DEPTH + 1, 40):  # 40: protobuf itself raised DecodeError here before
        with pytest.raises(ValueError, match=f"deeper than {MAX_POINT_DEPTH} levels"):
            to_query(build(levels))


def test_a_ready_made_query_counts_its_own_depth() -> None:
    inner = to_query(mixes(MAX_POINT_DEPTH - 1))
    assert to_query(Mix([inner])).mix.parts[0].query == inner
    with pytest.raises(ValueError, match="deeper than"):
        to_query(Mix([Mix([inner])]))


def nested(levels: int, inner: object = 1) -> dict:
    return functools.reduce(lambda value, _: {"a": value}, range(levels), inner)


def test_payloads_nest_up_to_the_bound_and_no_further() -> None:
    item = rq.upsert_item({"id": "x", "vector": [1.0], "payload": nested(MAX_PAYLOAD_DEPTH)})
    assert pb.UpsertItem.FromString(item.SerializeToString()) == item
    for levels in (MAX_PAYLOAD_DEPTH + 1, 40):  # 40: protobuf raised DecodeError inside the SDK before
        with pytest.raises(ValueError, match=f"deeper than {MAX_PAYLOAD_DEPTH} levels") as caught:
            rq.upsert_item({"id": "x", "vector": [1.0], "payload": nested(levels)}, position=3)
        assert not isinstance(caught.value, DecodeError)
        assert str(caught.value).startswith("items[3].payload.a.a")
    lists = functools.reduce(lambda value, _: [value], range(MAX_PAYLOAD_DEPTH), 1)
    with pytest.raises(ValueError, match="deeper than"):
        to_struct({"l": lists})
    to_struct({"l": lists[0]})


def test_the_library_counts_payload_depth_the_same_way() -> None:
    validation.check_payload(nested(MAX_PAYLOAD_DEPTH), "payload")
    with pytest.raises(Exception, match="deeper than"):
        validation.check_payload(nested(MAX_PAYLOAD_DEPTH + 1), "payload")


@pytest.mark.parametrize("bad", [[1.0, float("nan")], np.array([np.inf, 0.0]), [1e39, 0.0]])
def test_vectors_with_nan_or_infinity_are_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        pack_vector(bad)
    with pytest.raises(ValueError, match="finite"):
        rq.search_request("c", bad, rq.search_options(k=1))


def test_vectors_with_nan_are_refused_without_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ValueError, match="finite"):
        pack_vector([0.0, float("nan")])


@pytest.mark.parametrize("build", [lambda ids: rq.get_request("c", ids, False),
                                   lambda ids: rq.delete_request("c", ids)])
def test_an_empty_id_list_is_refused(build) -> None:
    for empty in ([], (), iter(())):
        with pytest.raises(ValueError, match="at least one id"):
            build(empty)
    assert list(build(["a"]).ids) == ["a"]
