"""One set of scenarios, run against the sync ``Client`` and the ``AsyncClient`` on one real server.

The scenarios are data, shared with the TypeScript SDK's tests: ``congruence_scenarios.json``, run
by :mod:`tests.clients.scenarios` through a ``call`` adapter (``call("search", vector, k=5)`` calls
the method on whichever client the adapter wraps, awaiting it for the async one). Before each run
the collection is created afresh with the same 200 random vectors and payloads (streamed in
several batches), and dropped after it, so both clients see the same state, the same names and the
same sequence numbers. The results must be identical: the same ids and values, scores equal to
1e-6, the same exception classes, status codes and reasons.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import math
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest

import latentspace_client
from latentspace_client import AsyncClient, Client, ExportStream, Id, LatentSpaceError, Unavailable
from tests.clients.scenarios import (
    Call,
    Scenario,
    attempt,
    called_methods,
    load_fixtures,
    load_scenarios,
    outcome,
)

TOLERANCE = 1e-6
FIXTURES = load_fixtures()
FIXTURE = FIXTURES["vectors"]
SCENARIOS = load_scenarios()
COLLECTION = FIXTURE.collection
QUERIES = FIXTURE.matrices["queries"]
COUNT = len(FIXTURE.items)


def ident(i: int) -> str:
    return f"v{i:03d}"


def items() -> list[dict[str, Any]]:
    return FIXTURE.upsert_items()


# ---------------------------------------------------------------- the adapters


class SyncCall:
    def __init__(self, client: Client) -> None:
        self.client = client

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.client, method)(*args, **kwargs)


class AsyncCall:
    def __init__(self, client: AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.loop = loop

    def __call__(self, method: str, /, *args: Any, **kwargs: Any) -> Any:
        result = self.loop.run_until_complete(getattr(self.client, method)(*args, **kwargs))
        if isinstance(result, ExportStream):  # read it here, on the loop: a scenario iterates it plainly
            return Collected(result.collection, self.loop.run_until_complete(_read(result)))
        return result


class Collected(list[Any]):
    """An async stream read to its end: its items, and its ``collection`` like an ``ExportStream``."""

    def __init__(self, collection: Any, items: list[Any]) -> None:
        super().__init__(items)
        self.collection = collection


async def _read(stream: ExportStream) -> list[Any]:
    return [item async for item in stream]


# ---------------------------------------------------------------- running and comparing


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
def clients(server: str, loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, tuple[SyncCall, AsyncCall]]]:
    """A sync and an async client per fixture, each with the fixture's collection as its default."""

    async def connect(collection: str) -> AsyncClient:  # an aio channel belongs to the loop it is made in
        return AsyncClient(server, collection=collection, timeout=60)

    pairs = {
        name: (
            SyncCall(Client(server, collection=fixture.collection, timeout=60)),
            AsyncCall(loop.run_until_complete(connect(fixture.collection)), loop),
        )
        for name, fixture in FIXTURES.items()
    }
    yield pairs
    for sync_call, async_call in pairs.values():
        sync_call.client.close()
        loop.run_until_complete(async_call.client.close())


@pytest.fixture(scope="module")
def calls(clients: dict[str, tuple[SyncCall, AsyncCall]]) -> tuple[SyncCall, AsyncCall]:
    """The clients of the vector fixture."""
    return clients[FIXTURE.name]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_sync_and_async_clients_agree(scenario: Scenario, clients: dict[str, tuple[SyncCall, AsyncCall]]) -> None:
    sync_call, async_call = clients[scenario.fixture]
    fixture = FIXTURES[scenario.fixture]
    sync, async_ = outcome(scenario, fixture, sync_call), outcome(scenario, fixture, async_call)
    if scenario.raises is None:
        assert sync[0] == "returned", f"sync client raised {sync[1:]}"
        assert not is_empty(sync[1]), "a scenario must return something to compare"
    else:
        assert sync[0] == "raised" and sync[1] is raised_class(scenario.raises), sync
        if issubclass(sync[1], LatentSpaceError):
            assert sync[4:] == (True, True), "a server error carries a request id and its RpcError"
    assert_same(sync, async_)


def raised_class(name: str) -> type[Exception]:
    """A scenario's ``raises``: an SDK error class, or ValueError / TypeError."""
    cls = {"ValueError": ValueError, "TypeError": TypeError}.get(name) or getattr(latentspace_client, name)
    assert isinstance(cls, type) and issubclass(cls, Exception), name
    return cls


def members(cls: type) -> dict[str, Any]:
    """What a client class has, its own and inherited (the channel and lifecycle are in its base)."""
    return {name: member for klass in reversed(cls.__mro__[:-1]) for name, member in vars(klass).items()}


def test_scenarios_cover_every_client_method() -> None:
    called = called_methods()
    public = {name for name, member in members(Client).items() if callable(member) and not name.startswith("_")}
    assert public - {"close"} <= called, sorted(public - {"close"} - called)


def test_the_two_clients_have_the_same_methods_and_signatures() -> None:
    def methods(cls: type) -> dict[str, inspect.Signature]:
        return {
            name: inspect.signature(member)
            for name, member in members(cls).items()
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
        call("create_collection", COLLECTION, dimension=FIXTURE.dimension)
        call("upsert", items(), batch_size=FIXTURE.batch_size)
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
        sync = attempt(lambda: SyncCall(sync_client)("list_collections"))
        async_ = attempt(lambda: AsyncCall(async_client, loop)("list_collections"))
    loop.run_until_complete(async_client.close())
    # No server, so no reason and no request id; still chained to the RpcError.
    assert sync == ("raised", Unavailable, grpc.StatusCode.UNAVAILABLE, None, False, True), sync
    assert_same(sync, async_)

