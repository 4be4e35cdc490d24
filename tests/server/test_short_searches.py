"""Where a search runs: a lone vector search on the event loop (no thread hand-offs), everything
else, and any search while another call is in flight, on a request thread.

Checked by recording the thread that runs ``Collection.search``, not by timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from latentspace.indexer.collection import Collection
from latentspace_client import Client
from tests.conftest import ServerThread

WAIT = 120  # seconds: liveness bounds only
REQUEST_THREAD = "latent-request"


class Recorder:
    """The name of the thread of every ``Collection.search`` call, in order; a search whose filter
    names ``hold`` waits until the test releases it."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.held, self.release = threading.Event(), threading.Event()

    def on_request_threads(self) -> list[bool]:
        return [name.startswith(REQUEST_THREAD) for name in self.names]


@pytest.fixture
def searched(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    real = Collection.search

    def recording(self: Collection, queries: np.ndarray, options: Any) -> Any:
        recorder.names.append(threading.current_thread().name)
        if options.filter and "hold" in str(options.filter):
            recorder.held.set()
            assert recorder.release.wait(WAIT), "the test never released the held search"
        return real(self, queries, options)

    monkeypatch.setattr(Collection, "search", recording)
    return recorder


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    running = ServerThread(tmp_path / "data").start()
    yield running
    running.stop()


def _quiet(call: Callable[[], Any]) -> Any:
    threading.Event().wait(0.02)  # a lone caller: nothing else in flight, nothing queued behind
    return call()


def test_a_lone_vector_search_runs_on_the_event_loop_and_the_rest_on_request_threads(
    server: ServerThread, searched: Recorder
) -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, 8)).astype(np.float32)
    with Client(server.address, collection="c", timeout=WAIT) as client:
        client.create_collection("c", dimension=8)
        client.upsert([{"id": f"i{n}", "vector": row, "payload": {"g": n % 2}} for n, row in enumerate(rows)])
        expected = [h.id for h in _quiet(lambda: client.search(rows[3], k=5))]  # opens the serving objects
        searched.names.clear()
        by_vector = _quiet(lambda: client.search(rows[3], k=5))
        by_id = _quiet(lambda: client.search(id="i3", k=5))
        assert [h.id for h in by_vector] == expected and by_id[0].id == "i3"
        assert searched.on_request_threads() == [False, False], searched.names

        # Not short: a filter (its key lookup can be long), many hits.
        searched.names.clear()
        _quiet(lambda: client.search(rows[3], k=5, filter={"g": 1}))
        _quiet(lambda: client.search(rows[3], k=101))
        _quiet(lambda: client.search(rows[3], k=5, diversity=0.5))  # short too: a pool of 4k re-ranked
        assert searched.on_request_threads() == [True, True, False], searched.names

        # While another call is in flight, a vector search goes to a request thread too.
        holder = threading.Thread(target=lambda: client.search(rows[0], k=5, filter={"hold": 1}))
        holder.start()
        try:
            assert searched.held.wait(WAIT)
            searched.names.clear()
            assert [h.id for h in client.search(rows[3], k=5)] == expected
            assert searched.on_request_threads() == [True], searched.names
        finally:
            searched.release.set()
            holder.join(WAIT)
