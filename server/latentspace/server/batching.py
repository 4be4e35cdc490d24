"""Micro-batching: work items from concurrent request threads gathered into one call.

A :class:`Batcher` has one job: take items from many threads, run them as one batch, and hand each
caller its own result. There is no batching thread: the caller that finds a free slot becomes the
*leader*, takes what is queued (up to ``max_batch``), runs it, and passes the lead to the oldest
waiting caller; so a lone caller runs its own item at once and pays no wait, while under load each
batch gathers everything that arrived during the previous one. (A caller that finds nothing
queued and a slot free skips the queue altogether: no slot, no wake-up.) With ``max_wait`` a
leader that saw a bigger batch last time waits that long for the queue to fill again (under load
only).

Each item carries the :class:`~latentspace.indexer.deadline.WorkScope` of its request: an item
whose caller's deadline passed, or who cancelled, while it waited is dropped when dequeued, before
any work is done for it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

from latentspace.indexer import deadline
from latentspace.indexer.errors import Cancelled, DeadlineExceeded

In = TypeVar("In")
Out = TypeVar("Out")


class BatchObserver(Protocol):
    """Where a batcher reports what it does (the server's metrics)."""

    def batch_ran(self, batcher: str, items: int, size: int) -> None: ...
    def queue_changed(self, batcher: str, delta: int) -> None: ...


class _Slot(Generic[In, Out]):
    __slots__ = ("done", "error", "item", "lead", "result", "scope", "wake")

    def __init__(self, item: In, scope: deadline.WorkScope) -> None:
        self.item = item
        self.scope = scope
        #: Made (under the batcher's lock) only by a caller that has to wait: a leader never does.
        self.wake: threading.Event | None = None
        self.lead = False
        self.done = False
        self.result: Out | None = None
        self.error: BaseException | None = None


class Batcher(Generic[In, Out]):
    """Runs ``run(items) -> outputs`` (one output per item, in order) over items from many threads.

    ``size(item)`` is what counts towards ``max_batch`` (e.g. the number of texts in an item); an
    item bigger than ``max_batch`` still runs, alone. ``concurrency`` batches may run at once.
    """

    def __init__(
        self,
        name: str,
        run: Callable[[list[In]], Sequence[Out]],
        *,
        max_batch: int,
        max_wait: float = 0.0,
        concurrency: int = 1,
        size: Callable[[In], int] | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self.name = name
        self._run = run
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self.concurrency = max(1, concurrency)
        self._size = size or (lambda _item: 1)
        self._observer = observer
        self._queue: deque[_Slot[In, Out]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._leaders = 0
        self._last_batch = 0

    def submit(self, item: In) -> Out:
        """Run ``item`` in some batch and return its output (or raise its batch's error).

        Raises :class:`DeadlineExceeded` / :class:`Cancelled` without running it when its request
        gives up while it waits.
        """
        scope = deadline.scope()
        with self._cond:
            alone = not self._queue and self._leaders < self.concurrency
            if alone:
                self._leaders += 1
        if alone:
            return self._run_alone(item, scope)
        slot: _Slot[In, Out] = _Slot(item, scope)
        with self._cond:
            self._queue.append(slot)
            if self._leaders < self.concurrency:
                self._leaders += 1
                slot.lead = True
            elif self.max_wait:
                self._cond.notify_all()  # a leader may be waiting for the queue to fill
        self._queued(+1)
        while True:
            if slot.lead:
                slot.lead = False
                self._lead(slot)
            with self._cond:
                if slot.done:
                    break
                if slot.lead:
                    continue
                wake = slot.wake = slot.wake or threading.Event()
                wake.clear()
            wake.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]  # set with done when error is None

    def _run_alone(self, item: In, scope: deadline.WorkScope) -> Out:
        """Nothing queued and a free slot: run ``item`` as a batch of one, with no queue entry, no
        slot and no wake-up, then pass the lead on as :meth:`_lead` does."""
        size = self._size(item)
        try:
            if scope.expired():
                raise _gave_up(scope, self.name)
            if self._observer is not None:
                self._observer.batch_ran(self.name, 1, size)
            outputs = self._run([item])
            if len(outputs) != 1:
                raise RuntimeError(f"batcher {self.name}: {len(outputs)} outputs for 1 item")
            return outputs[0]
        finally:
            with self._cond:
                self._last_batch = size
                self._pass_lead()

    def _lead(self, own: _Slot[In, Out]) -> None:
        """Run batches until our own item is done (or in another leader's batch), then pass the
        lead on to the oldest waiting caller, or give it up when none waits."""
        while not own.done:
            batch = self._take()
            if not batch:
                break  # our item is in a batch another leader runs
            self._execute(batch)
        with self._cond:
            self._pass_lead()

    def _pass_lead(self) -> None:
        """Hand our lead to the oldest waiting caller, or give it up when none waits (lock held)."""
        if self._queue:
            successor = self._queue[0]
            successor.lead = True
            if successor.wake is not None:
                successor.wake.set()
        else:
            self._leaders -= 1

    def _take(self) -> list[_Slot[In, Out]]:
        with self._cond:
            if self.max_wait and self._last_batch > 1 and self._queued_size() < self._last_batch:
                # Under load the last batch was bigger: give the queue a moment to fill again.
                end = time.monotonic() + self.max_wait
                while self._queued_size() < self._last_batch and (left := end - time.monotonic()) > 0:
                    self._cond.wait(left)
            batch: list[_Slot[In, Out]] = []
            expired: list[_Slot[In, Out]] = []
            total = 0
            while self._queue:
                slot = self._queue[0]
                if slot.scope.expired():
                    expired.append(self._queue.popleft())
                    continue
                size = self._size(slot.item)
                if batch and total + size > self.max_batch:
                    break
                batch.append(self._queue.popleft())
                total += size
            self._last_batch = total
        for slot in expired:
            self._finish(slot, error=_gave_up(slot.scope, self.name))
        self._queued(-(len(batch) + len(expired)))
        if batch and self._observer is not None:
            self._observer.batch_ran(self.name, len(batch), total)
        return batch

    def _queued_size(self) -> int:
        return sum(self._size(s.item) for s in self._queue)

    def _execute(self, batch: list[_Slot[In, Out]]) -> None:
        try:
            outputs = self._run([s.item for s in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"batcher {self.name}: {len(outputs)} outputs for {len(batch)} items")
        except BaseException as error:  # every caller of this batch hears about it
            for slot in batch:
                self._finish(slot, error=error)
            return
        for slot, output in zip(batch, outputs, strict=True):
            self._finish(slot, result=output)

    def _finish(self, slot: _Slot[In, Out], result: Out | None = None, error: BaseException | None = None) -> None:
        with self._cond:
            slot.result, slot.error = result, error
            slot.done = True
            if slot.wake is not None:
                slot.wake.set()

    def _queued(self, delta: int) -> None:
        if self._observer is not None and delta:
            self._observer.queue_changed(self.name, delta)


def _gave_up(scope: deadline.WorkScope, batcher: str) -> Exception:
    if scope.cancelled:
        return Cancelled(f"the request was cancelled while it waited for a {batcher} batch")
    return DeadlineExceeded(f"the deadline passed while the request waited for a {batcher} batch")
