"""The local runner: each stage in its own thread, bounded queues between them, results in order.

A stage is a function from one value to one value. The source is read in a thread of its own; each
stage takes values from the queue before it and puts its results on the queue after it; the caller
iterates over the last stage's results. So reading, preparing, encoding and writing overlap, while
each stage sees its values one at a time and in source order, as a plain loop would.

Memory stays bounded whatever the source's size: every queue holds at most ``queue_size`` values,
so at most ``(stages + 1) * queue_size + stages + 1`` values are between the source and the caller.

An exception in the source or a stage travels down the queues behind the values made before it:
the caller receives those results first, then the exception is raised from its iteration (the same
exception object, noted with the stage's name). Leaving the ``with`` block, normally, by an
exception or by a KeyboardInterrupt, stops every thread and waits for it: a stage in the middle of
a value finishes that value (a write is never cut in half), then its thread ends.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

#: Values each queue holds. Two keeps every stage busy while the next value is handed over.
DEFAULT_QUEUE_SIZE = 2
#: How often a thread blocked on a queue checks whether the run was stopped.
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Stage:
    """A named step of a pipeline: ``run`` maps one value to the next stage's value."""

    name: str
    run: Callable[[Any], Any]


@contextmanager
def run_stages(
    source: Iterable[Any],
    stages: Sequence[Stage],
    *,
    queue_size: int = DEFAULT_QUEUE_SIZE,
    thread_prefix: str = "latent",
) -> Iterator[Iterator[Any]]:
    """Start the threads and yield an iterator over the last stage's results, in source order.

    ``source`` is iterated in its own thread (named ``<thread_prefix>-read``); a generator source is
    closed when the run ends.
    """
    if queue_size < 1:
        raise ValueError(f"queue_size must be at least 1, got {queue_size}")
    run = _ThreadedRun(source, stages, queue_size, thread_prefix)
    try:
        yield run.results()
    finally:
        run.stop()


class _End:
    """Put on a queue after the last value."""


@dataclass(frozen=True)
class _Failure:
    stage: str
    error: BaseException


_END = _End()
_STOPPED = object()


class _ThreadedRun:
    def __init__(self, source: Iterable[Any], stages: Sequence[Stage], queue_size: int, prefix: str) -> None:
        self._stopping = threading.Event()
        self._queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=queue_size) for _ in range(len(stages) + 1)]
        self._threads = [threading.Thread(target=self._read, args=(source, self._queues[0]),
                                          name=f"{prefix}-read", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, args=(stage, self._queues[i], self._queues[i + 1]),
                             name=f"{prefix}-{stage.name}", daemon=True)
            for i, stage in enumerate(stages)
        ]
        for thread in self._threads:
            thread.start()

    def results(self) -> Iterator[Any]:
        while True:
            value = self._get(self._queues[-1])
            if value is _END or value is _STOPPED:
                return
            if isinstance(value, _Failure):
                raise value.error
            yield value

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def _read(self, source: Iterable[Any], outbox: queue.Queue[Any]) -> None:
        iterator: Iterator[Any] | None = None
        try:
            iterator = iter(source)
            for value in iterator:
                if not self._put(outbox, value):
                    return
            self._put(outbox, _END)
        except BaseException as error:  # handed to the caller's thread, which raises it
            self._fail(outbox, "read", error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def _work(self, stage: Stage, inbox: queue.Queue[Any], outbox: queue.Queue[Any]) -> None:
        while True:
            value = self._get(inbox)
            if value is _STOPPED:
                return
            if value is _END or isinstance(value, _Failure):
                self._put(outbox, value)
                return
            try:
                result = stage.run(value)
            except BaseException as error:  # handed to the caller's thread, which raises it
                self._fail(outbox, stage.name, error)
                return
            if not self._put(outbox, result):
                return

    def _fail(self, outbox: queue.Queue[Any], stage: str, error: BaseException) -> None:
        error.add_note(f"(raised in the {stage!r} stage of a pipeline run)")
        self._put(outbox, _Failure(stage, error))

    def _put(self, box: queue.Queue[Any], value: Any) -> bool:
        """Put ``value`` on ``box``, waiting for room; False when the run stops first."""
        while not self._stopping.is_set():
            try:
                box.put(value, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, box: queue.Queue[Any]) -> Any:
        """The next value on ``box``, or ``_STOPPED`` when the run stops first."""
        while not self._stopping.is_set():
            try:
                return box.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
        return _STOPPED
