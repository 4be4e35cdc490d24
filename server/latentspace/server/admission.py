"""Admission control: a bound on calls in flight, so overload is refused at once, never queued.

A call past the bound gets RESOURCE_EXHAUSTED (reason ``OVERLOADED``) before any work is done; the
client retries with backoff. Admitted calls hold their place until they answer, fail or are
cancelled. Lives on the event loop thread, so a plain counter is enough.
"""

from __future__ import annotations

import time

from latentspace.indexer.errors import LimitExceeded

#: A call admitted this long after the last one ended did not wait behind it: the server is quiet.
#: (A sequential caller's next call comes a round trip later, at least ~0.3 ms here; a call that
#: queued while the loop was busy is admitted within ~0.1 ms of the previous one's end.)
QUIET_GAP_S = 0.0002


class AdmissionGate:
    """At most ``limit`` calls admitted at once."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.in_flight = 0
        self._left_at = 0.0

    def enter(self) -> None:
        """Admit a call or raise :class:`LimitExceeded` when ``limit`` are in flight."""
        if self.in_flight >= self.limit:
            raise LimitExceeded(
                f"the server is at its limit of {self.limit} calls in flight (LATENTSPACE_MAX_IN_FLIGHT); "
                "retry with backoff", reason="OVERLOADED")
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        self._left_at = time.perf_counter()

    def alone(self) -> bool:
        """Whether the one call in flight is the only one the server has: nothing else admitted,
        and it did not wait behind the previous call (which a call queued in gRPC would have)."""
        return self.in_flight == 1 and time.perf_counter() - self._left_at >= QUIET_GAP_S
