"""One background thread for a data dir's maintenance: index snapshots and compactions.

Jobs run one after another, off the threads that serve requests, so a write is acknowledged without
waiting for the snapshot it made due. A job asked for again before it started runs once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)


class MaintenanceQueue:
    """Runs ``schedule``-d jobs in order on one daemon thread, started on first use."""

    def __init__(self, name: str = "latent-maintenance") -> None:
        self._name = name
        self._jobs: OrderedDict[str, Callable[[], None]] = OrderedDict()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._running = False
        self._closed = False

    def schedule(self, key: str, job: Callable[[], None]) -> None:
        """Queue ``job`` under ``key`` (a no-op if that key is already queued or the queue is closed)."""
        with self._cond:
            if self._closed or key in self._jobs:
                return
            self._jobs[key] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                _, job = self._jobs.popitem(last=False)
                self._running = True
            try:
                job()
            except Exception:  # jobs log their own failures; this keeps the thread alive regardless
                log.exception("maintenance job failed")
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job is queued or running; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._running, timeout)

    def close(self) -> None:
        """Drop queued jobs and wait for the running one to finish (idempotent)."""
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
