"""One scenario suite, two backends: the same requests through the real server, once with the
collections in the embedded store and once in Milvus (Milvus Lite), and the answers must agree.

The scenarios are the SDKs' shared ones (``tests/clients/congruence_scenarios.json``: search by
text, image, vector and id, filters, get, upsert, delete, every latent operation, bad inputs) plus
``backend_scenarios.json`` beside this module (filters that must return exactly k, writes then
reads, filter semantics where JSON engines differ, more bad inputs). Each runs on a fresh copy of
its fixture collection, created with the exact index (``Flat`` on both), so the results must be
the same: the same ids in the same order (items of equal score in either), scores and vectors
within 1e-5, the same errors (class, status code, reason). What differs by design is left out of
the comparison: sequence numbers (Milvus's are write stamps), the index kind's label and the
backend's name. Exports are the embedded backend's alone: where the embedded server exports, the
Milvus one must refuse with BACKEND_UNSUPPORTED.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentspace_client import Client, Hit, NotFound
from tests.clients.scenarios import Call, Fixture, Scenario, attempt, caller, load_fixtures, load_scenarios, run
from tests.conftest import ServerThread

TOLERANCE = 1e-5
FIXTURES = load_fixtures()
SCENARIOS = load_scenarios() + load_scenarios(Path(__file__).with_name("backend_scenarios.json"))
#: Fields whose values differ between backends by design (see the module docstring).
BACKEND_FIELDS = {"sequence", "index_kind", "backend"}
#: Capabilities of the embedded backend only (DESIGN.md, "Collections in Milvus"): on Milvus a
#: scenario that uses one is FAILED_PRECONDITION, reason BACKEND_UNSUPPORTED.
#: Calls a Milvus collection refuses (FAILED_PRECONDITION), with the reason: capabilities only the
#: embedded store has (docs/milvus.md, "What differs").
EMBEDDED_ONLY_CALLS = {"export": "BACKEND_UNSUPPORTED", "reindex": "BACKEND_UNSUPPORTED",
                       "get_thumbnails": "THUMBNAILS_NOT_STORED", "map": "MAP_NOT_SUPPORTED"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Call]]]:
    """An embedded server and a Milvus one (every collection it creates goes to Milvus Lite)."""
    root = tmp_path_factory.mktemp("backends")
    started = {
        "embedded": ServerThread(root / "embedded").start(),
        "milvus": ServerThread(root / "milvus", milvus_uri=str(root / "milvus.db"), default_backend="milvus").start(),
    }
    clients = {backend: {name: Client(server.address, collection=f.collection, timeout=120)
                         for name, f in FIXTURES.items()} for backend, server in started.items()}
    yield {backend: {name: caller(c) for name, c in by_fixture.items()} for backend, by_fixture in clients.items()}
    for by_fixture in clients.values():
        for client in by_fixture.values():
            client.close()
    for server in started.values():
        server.stop()


def outcome(scenario: Scenario, fixture: Fixture, call: Call) -> tuple[Any, ...]:
    """A scenario on a fresh, exact copy of its fixture collection (dropped after, if it is still there)."""
    call("create_collection", fixture.collection, model=fixture.model, dimension=fixture.dimension, index_kind="Flat")
    call("upsert", fixture.upsert_items(), batch_size=fixture.batch_size)
    try:
        return attempt(lambda: run(scenario, fixture, call))
    finally:
        with contextlib.suppress(NotFound):  # the scenario may have dropped it
            call("drop_collection", fixture.collection)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_both_backends_answer_alike(scenario: Scenario, servers: dict[str, dict[str, Call]]) -> None:
    fixture = FIXTURES[scenario.fixture]
    embedded = outcome(scenario, fixture, servers["embedded"][scenario.fixture])
    milvus = outcome(scenario, fixture, servers["milvus"][scenario.fixture])
    if scenario.raises is None:
        assert embedded[0] == "returned", f"the embedded backend raised {embedded[1:]}"
    else:
        assert embedded[0] == "raised" and embedded[1].__name__ == scenario.raises, embedded
    refused = [EMBEDDED_ONLY_CALLS[step["call"]] for step in scenario.steps if step["call"] in EMBEDDED_ONLY_CALLS]
    if embedded[0] == "returned" and refused:
        assert milvus[0] == "raised" and milvus[1].__name__ == "FailedPrecondition", milvus
        assert milvus[3] in refused, milvus
        return
    assert_alike(embedded, milvus)


def test_the_milvus_server_put_every_collection_in_milvus(servers: dict[str, dict[str, Call]]) -> None:
    call = servers["milvus"]["vectors"]
    info = call("create_collection", "placement", dimension=4)
    try:
        assert info.backend == "milvus" and info.index_kind == "auto (AUTOINDEX)"
        embedded = call("create_collection", "placement-local", dimension=4, backend="embedded")
        assert embedded.backend == "embedded"
        assert {c.name: c.backend for c in call("list_collections")} == {"placement": "milvus",
                                                                           "placement-local": "embedded"}
    finally:
        call("drop_collection", "placement")
        call("drop_collection", "placement-local")


def test_a_server_without_milvus_refuses_the_backend(servers: dict[str, dict[str, Call]]) -> None:
    result = attempt(lambda: servers["embedded"]["vectors"]("create_collection", "nowhere", dimension=4,
                                                           backend="milvus"))
    assert result[0] == "raised" and result[1].__name__ == "FailedPrecondition", result
    assert result[3] == "BACKEND_NOT_CONFIGURED"


def assert_alike(embedded: Any, milvus: Any, path: str = "result") -> None:
    """Equal values (floats and arrays within TOLERANCE), except the fields that differ by design."""
    assert type(embedded) is type(milvus), f"{path}: {type(embedded).__name__} != {type(milvus).__name__}"
    if dataclasses.is_dataclass(embedded) and not isinstance(embedded, type):
        for field in dataclasses.fields(embedded):
            if field.name not in BACKEND_FIELDS:
                assert_alike(getattr(embedded, field.name), getattr(milvus, field.name), f"{path}.{field.name}")
    elif isinstance(embedded, np.ndarray):
        assert embedded.shape == milvus.shape, path
        np.testing.assert_allclose(embedded, milvus, rtol=0, atol=TOLERANCE, err_msg=path)
    elif isinstance(embedded, float):
        assert math.isclose(embedded, milvus, rel_tol=0, abs_tol=TOLERANCE), f"{path}: {embedded} != {milvus}"
    elif isinstance(embedded, list | tuple):
        assert len(embedded) == len(milvus), f"{path}: {len(embedded)} items != {len(milvus)}: {embedded} {milvus}"
        if embedded and all(isinstance(h, Hit) for h in [*embedded, *milvus]):
            # Items of exactly equal score (e.g. a 50/50 mix of two points) may come in either order.
            embedded, milvus = tie_ordered(embedded), tie_ordered(milvus)
        for i, (a, b) in enumerate(zip(embedded, milvus, strict=True)):
            assert_alike(a, b, f"{path}[{i}]")
    elif isinstance(embedded, dict):
        assert embedded.keys() == milvus.keys(), f"{path}: keys {sorted(embedded)} != {sorted(milvus)}"
        for key in embedded:
            assert_alike(embedded[key], milvus[key], f"{path}[{key!r}]")
    else:
        assert embedded == milvus, f"{path}: {embedded!r} != {milvus!r}"


def tie_ordered(hits: list[Hit] | tuple[Hit, ...]) -> list[Hit]:
    """Hits best first, equal scores (to TOLERANCE) by id."""
    return sorted(hits, key=lambda h: (-round(h.score / TOLERANCE), h.id))
