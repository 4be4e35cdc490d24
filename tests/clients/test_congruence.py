"""One set of scenarios, run against the sync ``Client`` and the ``AsyncClient`` on one real server.

Each scenario is a small function of a ``call`` adapter: ``call("search", vector, k=5)`` calls the
method on whichever client the adapter wraps (awaiting it for the async one) and ``call.collection``
names the collection. Before each run the collection is created afresh with the same 200 random
vectors and payloads (streamed in several batches), and dropped after it, so both clients see the
same state, the same names and the same sequence numbers. The results must be identical: the same
ids and values, scores equal to 1e-6, the same exception classes, status codes and reasons.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import math
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import grpc
import numpy as np
import pytest

from latentspace_client import (
    AlreadyExists,
    AsyncClient,
    Client,
    Edit,
    FailedPrecondition,
    Id,
    InvalidArgument,
    LatentSpaceError,
    Mix,
    NotFound,
    Unavailable,
    UpsertItem,
)

DIM = 16
COUNT = 200
COLLECTION = "congruence"
TOLERANCE = 1e-6

_rng = np.random.default_rng(20240611)
VECTORS = _rng.standard_normal((COUNT, DIM)).astype(np.float32)
QUERIES = _rng.standard_normal((8, DIM)).astype(np.float32)
COLORS = ("red", "green", "blue", "yellow")


def ident(i: int) -> str:
    return f"v{i:03d}"


def items() -> list[dict[str, Any]]:
    return [
        {
            "id": ident(i),
            "vector": VECTORS[i],
            "payload": {"color": COLORS[i % 4], "rank": i, "ratio": i / 8, "meta": {"even": i % 2 == 0}},
            "content_ref": f"vec://{i}",
        }
        for i in range(COUNT)
    ]


# ---------------------------------------------------------------- the adapters


class Call(Protocol):
    """Calls a client method by name and returns its result (awaited for the async client)."""

    collection: str

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any: ...


class SyncCall:
    def __init__(self, client: Client) -> None:
        self.client = client
        self.collection = COLLECTION

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, method)(*args, **kwargs)


class AsyncCall:
    def __init__(self, client: AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop
        self.collection = COLLECTION

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return self.loop.run_until_complete(getattr(self.client, method)(*args, **kwargs))


# ---------------------------------------------------------------- the scenarios


@dataclasses.dataclass(frozen=True)
class Scenario:
    run: Callable[[Call], Any]
    #: The exception class the scenario must raise on both clients (None: it must return).
    raises: type[Exception] | None = None

    @property
    def name(self) -> str:
        return self.run.__name__


SCENARIOS: list[Scenario] = []


def scenario(raises: type[Exception] | None = None) -> Callable[[Callable[[Call], Any]], Callable[[Call], Any]]:
    def register(run: Callable[[Call], Any]) -> Callable[[Call], Any]:
        SCENARIOS.append(Scenario(run, raises))
        return run

    return register


@scenario()
def create_describe_list_and_drop(call: Call) -> Any:
    created = call("create_collection", "congruence-extra", dimension=8)
    again = call("create_collection", "congruence-extra", dimension=8, if_not_exists=True)
    names = sorted(c.name for c in call("list_collections"))
    call("drop_collection", "congruence-extra")
    return created, again, names, call("describe_collection")


@scenario()
def stats(call: Call) -> Any:
    figures = call("stats")  # uptime differs between the two runs
    return figures.collections, figures.loaded_models, figures.version


@scenario(raises=AlreadyExists)
def create_an_existing_collection(call: Call) -> Any:
    return call("create_collection", call.collection, dimension=DIM)


@scenario()
def upsert_one_batch_then_get(call: Call) -> Any:
    written = call("upsert", [UpsertItem(id="new-1", vector=[1.0] * DIM, payload={"color": "red", "n": 2**40})])
    return written, call("get", ["new-1", "v001", "missing"], with_vectors=True), call("describe_collection")


@scenario()
def upsert_streams_many_batches(call: Call) -> Any:
    many = [{"id": f"s{i}", "vector": VECTORS[i] + 1.0, "payload": {"i": i}} for i in range(50)]
    return call("upsert", many, batch_size=7), call("describe_collection").count


@scenario()
def upsert_nothing(call: Call) -> Any:
    return call("upsert", [])


@scenario(raises=ValueError)
def upsert_a_bad_item_in_a_later_batch(call: Call) -> Any:
    # Built while the stream is being sent: the caller gets the ValueError, not a CANCELLED call.
    bad = [{"id": f"ok{i}", "vector": VECTORS[i]} for i in range(5)] + [{"id": "bad", "text": "x", "vector": [1.0]}]
    return call("upsert", bad, batch_size=2)


@scenario(raises=InvalidArgument)
def upsert_a_wrong_dimension_in_a_later_batch(call: Call) -> Any:
    batch = [{"id": f"w{i}", "vector": VECTORS[i]} for i in range(5)] + [{"id": "short", "vector": [1.0, 2.0]}]
    return call("upsert", batch, batch_size=2)


@scenario()
def search_by_vector(call: Call) -> Any:
    return call("search", QUERIES[0], k=10)


@scenario()
def search_with_filter_exclude_and_threshold(call: Call) -> Any:
    hits = call(
        "search",
        QUERIES[1],
        k=15,
        filter={"color": ["red", "blue"], "rank": {"gte": 20, "lt": 180}, "meta": {"even": True}},
        exclude_ids=[ident(20), ident(22), ident(24)],
        score_threshold=-0.2,
    )
    return hits, call("search", vector=QUERIES[2], k=50, score_threshold=0.3)


@scenario()
def search_by_id_with_vectors(call: Call) -> Any:
    return call("search", id=ident(7), k=5, with_vectors=True), call("search", Id(ident(7)), k=5, exclude_ids=ident(7))


@scenario()
def search_batch(call: Call) -> Any:
    return call("search_batch", [QUERIES[3], Id(ident(9)), QUERIES[4]], k=4, filter={"color": "green"})


@scenario()
def get_items(call: Call) -> Any:
    return call("get", [ident(5), "missing", ident(150)], with_vectors=True), call("get", [ident(5)])


@scenario()
def delete_then_search(call: Call) -> Any:
    before = call("search", QUERIES[5], k=5)
    deleted = call("delete", [h.id for h in before[:3]] + ["missing"])
    after = call("search", QUERIES[5], k=5)
    return before, deleted, after, call("get", [h.id for h in before]), call("describe_collection").count


@scenario()
def encode_vectors_and_ids(call: Call) -> Any:
    return call("encode", QUERIES[0], Id(ident(3)))


@scenario()
def distances(call: Call) -> Any:
    one = call("distance", QUERIES[0], Id(ident(0)))
    many = call("distances", [(Id(ident(i)), Id(ident(i + 1))) for i in range(10)])
    return one, many


@scenario()
def distance_matrix(call: Call) -> Any:
    square = call("distance_matrix", [Id(ident(i)) for i in range(6)])
    rect = call("distance_matrix", [QUERIES[0], QUERIES[1]], [Id(ident(i)) for i in range(5)])
    return square, rect


@scenario()
def interpolate_steps_distinct(call: Call) -> Any:
    return call("interpolate", Id(ident(1)), Id(ident(2)), steps=5, k=3, distinct=True, with_vectors=True)


@scenario()
def interpolate_ts_lerp_and_filter(call: Call) -> Any:
    lerp = call("interpolate", QUERIES[2], QUERIES[3], ts=[0.0, 0.3, 0.9], method="lerp", k=4)
    filtered = call("interpolate", Id(ident(10)), Id(ident(11)), t=0.5, k=5, filter={"color": "yellow"})
    return lerp, filtered


@scenario()
def midpoint(call: Call) -> Any:
    return call("midpoint", Id(ident(4)), QUERIES[6], k=6, exclude_ids=[ident(4)], with_vectors=True)


@scenario()
def edit_with_a_vector_direction(call: Call) -> Any:
    direction = QUERIES[7]
    return (
        call("edit", Id(ident(12)), direction, k=5, with_vectors=True),
        call("edit", Id(ident(12)), direction, mode="rotate", strength=0.3, k=5),
        call("edit", Id(ident(12)), direction, mode="remove", k=5, filter={"color": "red"}),
        call("search", Edit(Id(ident(12)), direction, strength=0.5), k=5),
    )


@scenario()
def mix(call: Call) -> Any:
    mixed = Mix([(Id(ident(1)), 0.7), (QUERIES[0], 0.3), (Id(ident(2)), -0.2)])
    return call("search", mixed, k=8), call("encode", mixed)


@scenario()
def analogy_cos_add_and_cos_mul(call: Call) -> Any:
    a, a_star, b = Id(ident(30)), Id(ident(31)), Id(ident(32))
    return (
        call("analogy", a, a_star, b, k=6),
        call("analogy", a, a_star, b, method="cos_mul", k=6),
        call("analogy", a, a_star, b, k=3, include_inputs=True, filter={"color": ["red", "green"]}),
    )


@scenario(raises=NotFound)
def unknown_collection(call: Call) -> Any:
    return call("search", QUERIES[0], collection="no-such-collection")


@scenario(raises=NotFound)
def drop_unknown_collection(call: Call) -> Any:
    return call("drop_collection", "no-such-collection")


@scenario(raises=NotFound)
def unknown_id(call: Call) -> Any:
    return call("search", id="no-such-item", k=1)


@scenario(raises=InvalidArgument)
def k_zero(call: Call) -> Any:
    return call("search", QUERIES[0], k=0)


@scenario(raises=InvalidArgument)
def wrong_dimension(call: Call) -> Any:
    return call("search", QUERIES[0][:-1], k=3)


@scenario(raises=InvalidArgument)
def antipodal_interpolation(call: Call) -> Any:
    return call("interpolate", QUERIES[0], -QUERIES[0], t=0.5)


@scenario(raises=FailedPrecondition)
def text_in_a_vector_only_collection(call: Call) -> Any:
    return call("search", "a red circle", k=1)


@scenario(raises=ValueError)
def two_of_t_steps_ts(call: Call) -> Any:
    return call("interpolate", Id(ident(0)), Id(ident(1)), t=0.5, steps=3)


# ---------------------------------------------------------------- running and comparing


def outcome(scenario: Scenario, call: Call) -> tuple[Any, ...]:
    """Run a scenario on a fresh copy of the collection (see :func:`attempt`)."""
    call("create_collection", call.collection, dimension=DIM)
    call("upsert", items(), batch_size=64)
    try:
        return attempt(scenario, call)
    finally:
        call("drop_collection", call.collection)


def attempt(scenario: Scenario, call: Call) -> tuple[Any, ...]:
    """("returned", value), or ("raised", class, code, reason, has a request id, chained to an RpcError)."""
    try:
        return ("returned", scenario.run(call))
    except LatentSpaceError as error:
        chained = isinstance(error.__cause__, grpc.RpcError)
        return ("raised", type(error), error.code, error.reason, bool(error.request_id), chained)
    except (TypeError, ValueError) as error:
        return ("raised", type(error), str(error))


def assert_same(sync: Any, async_: Any, path: str = "result") -> None:
    """Equal values, floats (and float arrays) to TOLERANCE, through dataclasses and containers."""
    assert type(sync) is type(async_), f"{path}: {type(sync).__name__} != {type(async_).__name__}"
    if dataclasses.is_dataclass(sync) and not isinstance(sync, type):
        for field in dataclasses.fields(sync):
            assert_same(getattr(sync, field.name), getattr(async_, field.name), f"{path}.{field.name}")
    elif isinstance(sync, np.ndarray):
        assert sync.shape == async_.shape and sync.dtype == async_.dtype, path
        if sync.dtype == np.bool_:
            assert np.array_equal(sync, async_), path
        else:
            np.testing.assert_allclose(sync, async_, rtol=0, atol=TOLERANCE, err_msg=path)
    elif isinstance(sync, float):
        assert math.isclose(sync, async_, rel_tol=0, abs_tol=TOLERANCE), f"{path}: {sync} != {async_}"
    elif isinstance(sync, list | tuple):
        assert len(sync) == len(async_), f"{path}: {len(sync)} items != {len(async_)}"
        for i, (a, b) in enumerate(zip(sync, async_, strict=True)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(sync, dict):
        assert sync.keys() == async_.keys(), f"{path}: keys {sorted(sync)} != {sorted(async_)}"
        for key in sync:
            assert_same(sync[key], async_[key], f"{path}[{key!r}]")
    else:
        assert sync == async_, f"{path}: {sync!r} != {async_!r}"


def is_empty(value: Any) -> bool:
    return isinstance(value, list | tuple) and (not value or all(is_empty(v) for v in value))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.conftest import ServerThread

    running = ServerThread(tmp_path_factory.mktemp("data")).start()
    yield running.address
    running.stop()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


@pytest.fixture(scope="module")
def calls(server: str, loop: asyncio.AbstractEventLoop) -> Iterator[tuple[SyncCall, AsyncCall]]:
    async def connect() -> AsyncClient:  # an aio channel belongs to the loop it is made in
        return AsyncClient(server, collection=COLLECTION, timeout=60)

    async_client = loop.run_until_complete(connect())
    with Client(server, collection=COLLECTION, timeout=60) as sync_client:
        yield SyncCall(sync_client), AsyncCall(async_client, loop)
    loop.run_until_complete(async_client.close())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sync_and_async_clients_agree(scenario: Scenario, calls: tuple[SyncCall, AsyncCall]) -> None:
    sync_call, async_call = calls
    sync, async_ = outcome(scenario, sync_call), outcome(scenario, async_call)
    if scenario.raises is None:
        assert sync[0] == "returned", f"sync client raised {sync[1:]}"
        assert not is_empty(sync[1]), "a scenario must return something to compare"
    else:
        assert sync[0] == "raised" and sync[1] is scenario.raises, sync
        if issubclass(scenario.raises, LatentSpaceError):
            assert sync[4:] == (True, True), "a server error carries a request id and its RpcError"
    assert_same(sync, async_)


def test_scenarios_cover_every_client_method() -> None:
    source = inspect.getsource(sys.modules[__name__])
    called = set(re.findall(r'call\(\s*"(\w+)"', source))
    public = {name for name, member in vars(Client).items() if callable(member) and not name.startswith("_")}
    assert public - {"close"} <= called, sorted(public - {"close"} - called)


def test_the_two_clients_have_the_same_methods_and_signatures() -> None:
    def methods(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in vars(cls).items()
            if callable(member) and (not name.startswith("_") or name in {"__init__"})
        }

    sync, async_ = methods(Client), methods(AsyncClient)
    assert sync.keys() == async_.keys()
    for name, signature in sync.items():
        if name == "__init__":  # the channel is a grpc.Channel vs a grpc.aio.Channel
            assert list(signature.parameters) == list(async_[name].parameters)
            continue
        assert signature == async_[name], name
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


def test_concurrent_async_searches_match_sequential_sync_ones(calls: tuple[SyncCall, AsyncCall]) -> None:
    sync_call, async_call = calls
    queries = [*QUERIES, *(Id(ident(i)) for i in range(0, COUNT, 10))]

    async def concurrently(client: AsyncClient) -> list[Any]:
        return list(await asyncio.gather(*(client.search(q, k=7, filter={"color": "blue"}) for q in queries)))

    def run(call: Call) -> Any:
        if isinstance(call, AsyncCall):
            return call.loop.run_until_complete(concurrently(call.client))
        return [call("search", q, k=7, filter={"color": "blue"}) for q in queries]

    results = []
    for call in (sync_call, async_call):
        call("create_collection", COLLECTION, dimension=DIM)
        call("upsert", items(), batch_size=64)
        try:
            results.append(run(call))
        finally:
            call("drop_collection", COLLECTION)
    assert len(results[0]) == len(queries) and all(results[0])
    assert_same(results[0], results[1])


def test_async_context_manager_closes_the_channel(server: str, loop: asyncio.AbstractEventLoop) -> None:
    async def use() -> tuple[list[Any], Exception | None]:
        async with AsyncClient(server, timeout=10) as client:
            listed = await client.list_collections()
        try:
            await client.stats()
        except Exception as error:  # a closed aio channel refuses new calls
            return listed, error
        return listed, None

    listed, error = loop.run_until_complete(use())
    assert isinstance(listed, list) and error is not None


def test_an_unreachable_server_is_unavailable_on_both(loop: asyncio.AbstractEventLoop) -> None:
    async def connect() -> AsyncClient:
        return AsyncClient("127.0.0.1:1", timeout=10)

    async_client = loop.run_until_complete(connect())
    with Client("127.0.0.1:1", timeout=10) as sync_client:
        unreachable = Scenario(lambda call: call("list_collections"), raises=Unavailable)
        sync = attempt(unreachable, SyncCall(sync_client))
        async_ = attempt(unreachable, AsyncCall(async_client, loop))
    loop.run_until_complete(async_client.close())
    # No server, so no reason and no request id; still chained to the RpcError.
    assert sync == ("raised", Unavailable, grpc.StatusCode.UNAVAILABLE, None, False, True), sync
    assert_same(sync, async_)

