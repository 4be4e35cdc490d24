"""The deadline and cancellation of the request a thread is working for.

The server sets a :class:`WorkScope` in a context variable when a call arrives (from the gRPC
deadline and the call's cancellation); the context travels with the work onto worker threads.
Code that is about to start costly work (a model batch, an index search) or that waits for
something (a collection being opened) calls :func:`check` or :func:`remaining`, so a request whose
caller has given up is dropped before any work is done for it. Outside a request nothing expires.
"""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass

from latentspace.indexer.errors import Cancelled, DeadlineExceeded


@dataclass
class WorkScope:
    """When the caller stops waiting (``time.monotonic()`` seconds; None: never) and whether it left."""

    deadline: float | None = None
    #: Set (once, from the event loop) when the caller cancels; read by worker threads.
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True

    def remaining(self) -> float | None:
        """Seconds left before the deadline (may be negative); None without a deadline."""
        return None if self.deadline is None else self.deadline - time.monotonic()

    def expired(self) -> bool:
        """True when the caller has cancelled or its deadline has passed."""
        if self.cancelled:
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def check(self, what: str = "the request") -> None:
        """Raise :class:`Cancelled` or :class:`DeadlineExceeded` if the caller has given up."""
        if self.cancelled:
            raise Cancelled(f"{what} was cancelled by the caller")
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise DeadlineExceeded(f"the deadline passed before {what} started")


_UNBOUNDED = WorkScope()
current_scope: contextvars.ContextVar[WorkScope] = contextvars.ContextVar("work_scope", default=_UNBOUNDED)


def scope() -> WorkScope:
    """The scope of the request this thread works for (an unbounded one outside requests)."""
    return current_scope.get()


def check(what: str = "the request") -> None:
    """Raise if the current request's caller has given up (see :meth:`WorkScope.check`)."""
    current_scope.get().check(what)


def remaining() -> float | None:
    """Seconds left for the current request; None when it has no deadline."""
    return current_scope.get().remaining()
