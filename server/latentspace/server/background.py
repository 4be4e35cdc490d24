"""Run the server on its own event loop in a background thread of this process.

For embedding a server in a program that is not asyncio (a notebook, a test, a benchmark)::

    with BackgroundServer(Settings(data_dir=Path("data"), port=0)) as server:
        client = Client(server.address)
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from latentspace.server.app import RunningServer, build_server
from latentspace.server.settings import Settings


class BackgroundServer:
    """``build_server(settings)`` on a private event loop in a daemon thread."""

    def __init__(self, settings: Settings, *, start_timeout: float = 300.0) -> None:
        self.settings = settings
        self.start_timeout = start_timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="latentspace-server")
        self._running: RunningServer | None = None

    def start(self) -> BackgroundServer:
        """Start serving; returns once the port is bound. Raises what ``build_server`` raises."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(build_server(self.settings), self._loop)
        try:
            self._running = future.result(timeout=self.start_timeout)
        except BaseException:
            self._shut_loop()
            raise
        return self

    @property
    def port(self) -> int:
        if self._running is None:
            raise RuntimeError("the server is not running")
        return self._running.port

    @property
    def running(self) -> RunningServer:
        """The started server (its state, metrics port, ...)."""
        if self._running is None:
            raise RuntimeError("the server is not running")
        return self._running

    @property
    def address(self) -> str:
        """``host:port`` to connect to (loopback when bound to all interfaces)."""
        host = "127.0.0.1" if self.settings.host in {"0.0.0.0", "::", ""} else self.settings.host
        return f"{host}:{self.port}"

    def stop(self, grace: float | None = None) -> None:
        """Graceful stop: health NOT_SERVING, in-flight calls finish, collections are closed."""
        if self._running is not None:
            future = asyncio.run_coroutine_threadsafe(self._running.stop(grace), self._loop)
            self._running = None
            future.result(timeout=120)
        self._shut_loop()

    def _shut_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
