"""Search clients in threads, for tests that check the server keeps answering while something is held."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from latentspace_client import Client

WAIT = 120  # seconds: liveness bounds only; a blocked search would hit them, a slow machine never


class Searchers:
    """``count`` client threads searching collection ``c`` in a loop (bounded); counts answers per
    thread and records any error (a search that does not return 10 hits is one)."""

    def __init__(self, address: str, queries: np.ndarray, count: int) -> None:
        self.address, self.queries = address, queries
        self.answered = [0] * count
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(count)]

    def _run(self, n: int) -> None:
        with Client(self.address, collection="c", timeout=WAIT) as client:
            for i in range(100_000):  # bounded; stopped long before
                if self.stop.is_set():
                    return
                try:
                    assert len(client.search(self.queries[(n + i) % len(self.queries)], k=10)) == 10
                except BaseException as exc:
                    self.errors.append(exc)
                    return
                self.answered[n] += 1

    def each_answers(self, more: int, while_: Callable[[], bool]) -> bool:
        """Wait until every thread answered ``more`` searches beyond now, while ``while_()`` holds."""
        target = [a + more for a in self.answered]
        for _ in range(WAIT * 20):
            if all(a >= t for a, t in zip(self.answered, target, strict=True)):
                return while_()
            if self.errors:
                return False
            threading.Event().wait(0.05)
        return False

    def __enter__(self) -> Searchers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(WAIT)
