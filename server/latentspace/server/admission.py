"""Admission control: a bound on calls in flight, so overload is refused at once, never queued.

A call past the bound gets RESOURCE_EXHAUSTED (reason ``OVERLOADED``) before any work is done; the
client retries with backoff. Admitted calls hold their place until they answer, fail or are
cancelled. Lives on the event loop thread, so a plain counter is enough.
"""

from __future__ import annotations

from latentspace.indexer.errors import LimitExceeded


class AdmissionGate:
    """At most ``limit`` calls admitted at once."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_flight = 0

    def enter(self) -> None:
        """Admit a call or raise :class:`LimitExceeded` when ``limit`` are in flight."""
        if self.in_flight >= self.limit:
            raise LimitExceeded(
                f"the server is at its limit of {self.limit} calls in flight (LATENTSPACE_MAX_IN_FLIGHT); "
                "retry with backoff", reason="OVERLOADED")
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
