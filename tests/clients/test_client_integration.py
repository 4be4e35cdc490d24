"""The SDK against the real server on a loopback port, over a vector-only collection.

The vectors are chosen so every answer is known exactly: four axes e0..e3, the diagonals
m01 = (e0+e1)/√2 and m12 = (e1+e2)/√2, and n0 close to e0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import grpc
import pytest

from latentspace_client import (
    AlreadyExists,
    Analogy,
    Client,
    Edit,
    FailedPrecondition,
    Id,
    InvalidArgument,
    LatentSpaceError,
    Mix,
    NotFound,
    UpsertItem,
)

R = 1 / math.sqrt(2)
VECTORS = {
    "e0": [1.0, 0.0, 0.0, 0.0],
    "e1": [0.0, 1.0, 0.0, 0.0],
    "e2": [0.0, 0.0, 1.0, 0.0],
    "e3": [0.0, 0.0, 0.0, 1.0],
    "m01": [1.0, 1.0, 0.0, 0.0],
    "m12": [0.0, 1.0, 1.0, 0.0],
    "n0": [0.9, 0.1, 0.0, 0.0],
}
COLORS = {"e0": "red", "e1": "blue", "e2": "green", "e3": "red", "m01": "blue", "m12": "green", "n0": "red"}


def items() -> list[dict]:
    return [
        {
            "id": key,
            "vector": vector,
            "payload": {
                "color": COLORS[key],
                "price": i,
                "ratio": i / 4,
                "meta": {"axis": key.startswith("e")},
            },
            "content_ref": f"vec://{key}",
        }
        for i, (key, vector) in enumerate(VECTORS.items())
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.conftest import ServerThread

    running = ServerThread(tmp_path_factory.mktemp("data")).start()
    yield running.address
    running.stop()


@pytest.fixture
def client(server: str, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client whose default collection is a fresh vector-only collection holding VECTORS."""
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    with Client(server, collection=name, timeout=60) as connected:
        connected.create_collection(name, dimension=4)
        connected.upsert(items())
        yield connected
        connected.drop_collection(name)


def ids(hits) -> list[str]:
    return [h.id for h in hits]


# ---------------------------------------------------------------- collections


def test_collection_lifecycle(server: str) -> None:
    with Client(server) as client:
        info = client.create_collection("lifecycle", dimension=8)
        assert (info.name, info.model, info.dimension, info.count, info.metric) == (
            "lifecycle",
            "",
            8,
            0,
            "cosine",
        )
        assert "lifecycle" in [c.name for c in client.list_collections()]
        assert client.describe_collection("lifecycle").dimension == 8
        with pytest.raises(AlreadyExists):
            client.create_collection("lifecycle", dimension=8)
        assert client.create_collection("lifecycle", dimension=8, if_not_exists=True).name == "lifecycle"
        assert "lifecycle" in [c.name for c in client.stats().collections]
        client.drop_collection("lifecycle")
        with pytest.raises(NotFound) as caught:
            client.describe_collection("lifecycle")
        assert caught.value.reason == "COLLECTION_NOT_FOUND"
        with pytest.raises(NotFound):
            client.drop_collection("lifecycle")


def test_upsert_get_and_payload_types(client: Client) -> None:
    info = client.describe_collection()
    assert info.count == len(VECTORS) and info.sequence > 0
    got = client.get(["m01", "missing", "e2"], with_vectors=True)
    assert ids(got) == ["m01", "e2"]
    m01 = got[0]
    assert m01.payload == {"color": "blue", "price": 4, "ratio": 1.0, "meta": {"axis": False}}
    assert type(m01.payload["price"]) is int
    assert m01.content == "vec://m01" and m01.modality == "vector"
    assert m01.vector.tolist() == pytest.approx([R, R, 0, 0], abs=1e-6)  # stored unit-normalised
    assert client.get(["e0"])[0].vector is None


def test_upsert_streams_many_batches(client: Client) -> None:
    many = [UpsertItem(id=f"s{i}", vector=[0.0, 0.0, 1.0, float(i)], payload={"i": i}) for i in range(7)]
    result = client.upsert(many, batch_size=2)
    assert result.upserted == 7 and result.sequence > 0
    assert client.describe_collection().count == len(VECTORS) + 7


def test_items_whose_id_holds_their_content_hash_are_unchanged(client: Client) -> None:
    def corpus(changed: str = "") -> list[dict]:
        return [{"id": f"h{i}", "vector": [1.0, float(i), 0.0, 0.0], "content_hash": f"v{i}{changed * (i == 2)}",
                 "payload": {"i": i}} for i in range(5)]

    first = client.upsert(corpus(), batch_size=2)
    assert (first.upserted, first.unchanged) == (5, 0)
    again = client.upsert(corpus(), batch_size=2)
    assert (again.upserted, again.unchanged, again.sequence) == (0, 5, 0)  # nothing written
    one = client.upsert(corpus("x"), batch_size=2)
    assert (one.upserted, one.unchanged) == (1, 4) and one.sequence > first.sequence
    # Without a hash the item is written (and its stored hash dropped): the next hashed send writes it.
    assert client.upsert([{"id": "h0", "vector": [1.0, 0.0, 0.0, 0.0]}]).upserted == 1
    assert client.upsert(corpus("x")[:1]).upserted == 1
    # A refused item is named by its position in the request, unchanged items counted.
    with pytest.raises(InvalidArgument) as caught:
        client.upsert([*corpus("x")[:2], {"id": "h9", "vector": [1.0, 2.0]}])
    assert "items[2].vector" in caught.value.details


def test_a_bad_item_in_a_later_batch_raises_its_own_error(client: Client) -> None:
    batches = [{"id": "ok1", "vector": [1.0, 2.0, 3.0, 4.0]}, {"id": "ok2", "vector": [4.0, 3.0, 2.0, 1.0]}]
    batches += [{"id": "bad", "text": "x", "vector": [1.0]}]
    # The third batch fails to build while the first two are streaming: grpc would report a
    # CANCELLED call; the caller gets the ValueError that caused it.
    with pytest.raises(ValueError, match="exactly one"):
        client.upsert(batches, batch_size=1)


def test_delete_then_search(client: Client) -> None:
    result = client.delete(["e0", "nope"])
    assert result.deleted == 1
    assert client.get(["e0"]) == []
    hits = client.search(vector=[1.0, 0.0, 0.0, 0.0], k=3)
    assert "e0" not in ids(hits) and ids(hits)[0] == "n0"


# ---------------------------------------------------------------- search


def test_search_by_vector(client: Client) -> None:
    hits = client.search([1.0, 0.0, 0.0, 0.0], k=3)
    assert ids(hits) == ["e0", "n0", "m01"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-6) and hits[2].score == pytest.approx(R, abs=1e-6)
    assert hits[0].payload["color"] == "red" and hits[0].vector is None
    assert client.search(vector=[2.0, 0.0, 0.0, 0.0], k=1, with_vectors=True)[0].vector.tolist() == [
        1,
        0,
        0,
        0,
    ]


def test_search_by_id_and_exclude(client: Client) -> None:
    hits = client.search(id="m01", k=2)
    assert ids(hits) == ["m01", "n0"] and hits[0].score == pytest.approx(1.0, abs=1e-6)
    hits = client.search(Id("m01"), k=2, exclude_ids=["m01"])
    assert "m01" not in ids(hits) and len(hits) == 2


def test_filters(client: Client) -> None:
    red = client.search([0.0, 1.0, 0.0, 0.0], k=10, filter={"color": "red"})
    assert sorted(ids(red)) == ["e0", "e3", "n0"]
    some = client.search([0.0, 1.0, 0.0, 0.0], k=10, filter={"color": ["blue", "green"], "price": {"gte": 2}})
    assert sorted(ids(some)) == ["e2", "m01", "m12"]
    nested = client.search([0.0, 1.0, 0.0, 0.0], k=10, filter={"meta": {"axis": False}})
    assert sorted(ids(nested)) == ["m01", "m12", "n0"]


def test_score_threshold(client: Client) -> None:
    hits = client.search([1.0, 0.0, 0.0, 0.0], k=10, score_threshold=0.8)
    assert ids(hits) == ["e0", "n0"]


def test_search_batch_and_encode(client: Client) -> None:
    results = client.search_batch([[1.0, 0.0, 0.0, 0.0], Id("e3")], k=1)
    assert [ids(r) for r in results] == [["e0"], ["e3"]]
    encoded = client.encode([3.0, 4.0, 0.0, 0.0], Id("e2"))
    assert encoded[0].vector.tolist() == pytest.approx([0.6, 0.8, 0, 0], abs=1e-6)
    assert encoded[0].modality == "vector" and encoded[1].vector.tolist() == [0, 0, 1, 0]


def test_mix(client: Client) -> None:
    assert ids(client.search(Mix([(Id("e0"), 1.0), (Id("e1"), 1.0)]), k=1)) == ["m01"]
    assert ids(client.search(Mix([(Id("m01"), 1.0), (Id("e0"), -R)]), k=1)) == ["e1"]


def test_analogy(client: Client) -> None:
    # e0 : m01 :: e2 : m12  (add e1)
    for method in ("cos_add", "cos_mul"):
        hits = client.analogy(Id("e0"), Id("m01"), Id("e2"), method=method, k=3)
        assert ids(hits)[0] == "m12"
        assert not {"e0", "m01", "e2"} & set(ids(hits))  # inputs excluded by default
    assert ids(client.search(Analogy(Id("e0"), Id("m01"), Id("e2")), k=1)) == ["m12"]


# ---------------------------------------------------------------- distances, paths, edits


def test_distance(client: Client) -> None:
    d = client.distance([1.0, 0.0, 0.0, 0.0], Id("e1"))
    assert d.cosine == pytest.approx(0.0, abs=1e-6)
    assert d.angular == pytest.approx(0.5, abs=1e-6) and d.euclidean == pytest.approx(math.sqrt(2), abs=1e-6)
    assert not d.cross_modal and (d.a_modality, d.b_modality) == ("vector", "vector")
    pair = client.distances([(Id("e0"), Id("e0")), (Id("e0"), Id("m01"))])
    assert [p.cosine for p in pair] == pytest.approx([1.0, R], abs=1e-6)


def test_distance_matrix(client: Client) -> None:
    square = client.distance_matrix([Id("e0"), Id("e1"), Id("m01")])
    assert (square.rows, square.columns) == (3, 3) and square.cosine.shape == (3, 3)
    assert square.cosine.diagonal().tolist() == pytest.approx([1, 1, 1], abs=1e-6)
    assert square.cosine[0, 2] == pytest.approx(R, abs=1e-6) and not square.cross_modal.any()
    rect = client.distance_matrix([Id("e0")], [Id("e1"), Id("e2")])
    assert rect.cosine.shape == (1, 2) and rect.angular[0].tolist() == pytest.approx([0.5, 0.5], abs=1e-6)


def test_interpolate_steps(client: Client) -> None:
    path = client.interpolate(Id("e0"), Id("e1"), steps=3, k=1, with_vectors=True)
    assert path.angle == pytest.approx(math.pi / 2, abs=1e-5)
    assert [s.t for s in path.steps] == pytest.approx([0.0, 0.5, 1.0])
    assert [ids(s.hits) for s in path.steps] == [["e0"], ["m01"], ["e1"]]
    middle = path.steps[1]
    assert middle.cos_to_a == pytest.approx(R, abs=1e-6) and middle.cos_to_b == pytest.approx(R, abs=1e-6)
    assert middle.vector.tolist() == pytest.approx([R, R, 0, 0], abs=1e-6)


def test_interpolate_ts_and_distinct(client: Client) -> None:
    path = client.interpolate(Id("e0"), Id("e1"), ts=[0.0, 0.1, 0.5], k=2, distinct=True)
    assert [s.t for s in path.steps] == pytest.approx([0.0, 0.1, 0.5])
    shown = [i for s in path.steps for i in ids(s.hits)]
    assert not {"e0", "e1"} & set(shown) and len(shown) == len(set(shown))
    assert client.interpolate(Id("e0"), Id("e1"), t=0.25, k=0).steps[0].hits == ()
    lerp = client.interpolate([1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], t=0.5, method="lerp", k=1)
    assert ids(lerp.steps[0].hits) == ["m01"]


def test_midpoint(client: Client) -> None:
    step = client.midpoint(Id("e1"), Id("e2"), k=1)
    assert step.t == pytest.approx(0.5) and ids(step.hits) == ["m12"]


def test_edit_with_a_vector_direction(client: Client) -> None:
    added = client.edit(Id("e0"), [0.0, 1.0, 0.0, 0.0], k=1)
    assert ids(added.hits) == ["m01"] and added.vector.tolist() == pytest.approx([R, R, 0, 0], abs=1e-6)
    assert added.cos_to_base == pytest.approx(R, abs=1e-6)
    assert added.base_projection == pytest.approx(0.0, abs=1e-6) and added.result_projection == pytest.approx(
        R
    )
    removed = client.edit(Id("m01"), [1.0, 0.0, 0.0, 0.0], mode="remove", k=1)
    assert ids(removed.hits) == ["e1"] and removed.result_projection == pytest.approx(0.0, abs=1e-6)
    rotated = client.edit(Id("e0"), [0.0, 0.0, 1.0, 0.0], mode="rotate", strength=1.0, k=1)
    assert ids(rotated.hits) == ["e2"]
    assert ids(client.search(Edit(Id("e0"), [0.0, 1.0, 0.0, 0.0]), k=1)) == ["m01"]


# ---------------------------------------------------------------- errors


def test_error_codes(client: Client) -> None:
    cases = [
        (lambda: client.search([1.0, 0.0, 0.0, 0.0], collection="no-such-collection"), NotFound),
        (lambda: client.search([1.0, 0.0, 0.0, 0.0], k=0), InvalidArgument),
        (lambda: client.search([1.0, 0.0, 0.0], k=1), InvalidArgument),
        (lambda: client.upsert([{"id": "short", "vector": [1.0, 2.0]}]), InvalidArgument),
        (lambda: client.search(image=b"\x89PNG\r\n\x1a\n", k=1), FailedPrecondition),
        (lambda: client.search("a red circle", k=1), FailedPrecondition),
        (lambda: client.search(id="no-such-item", k=1), NotFound),
        (lambda: client.interpolate(Id("e0"), [-1.0, 0.0, 0.0, 0.0], t=0.5), InvalidArgument),
    ]
    for call, expected in cases:
        with pytest.raises(expected) as caught:
            call()
        error = caught.value
        assert isinstance(error, LatentSpaceError) and isinstance(error.__cause__, grpc.RpcError)
        assert error.reason and error.request_id and error.details, error
    with pytest.raises(NotFound) as caught:
        client.search([1.0, 0.0, 0.0, 0.0], collection="no-such-collection")
    assert str(caught.value).startswith("NOT_FOUND (COLLECTION_NOT_FOUND): ")
