"""Shared fixtures: real servers on loopback ports.

``start_server`` runs the real ``build_server`` on 127.0.0.1:0 in a background thread with
its own event loop (fast, same process). ``ServerProcess`` runs ``latent serve`` as a child
process, for restarts, kills and a client in another process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
LATENT = [sys.executable, "-m", "latentspace.cli.main"]


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: offline, unbuffered, importable from the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTSPACE_")}
    env.update(
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        LATENTSPACE_ALLOW_DOWNLOAD="0",
        PYTHONPATH=os.pathsep.join(str(REPO / p) for p in ("indexer", "server", "cli", "explorer", "clients/python")),
    )
    env.update(extra)
    return env


class ServerThread:
    """The real gRPC server on 127.0.0.1:0, in a background thread of the test process."""

    def __init__(self, data_dir: Path, **settings: Any) -> None:
        from latentspace.server.background import BackgroundServer
        from latentspace.server.settings import Limits, Settings

        limits = settings.pop("limits", None) or Limits()
        values: dict[str, Any] = {"allow_download": False, "device": "cpu", "workers": 4, "shutdown_grace": 1.0}
        values.update(settings)
        self.server = BackgroundServer(Settings(data_dir=data_dir, host="127.0.0.1", port=0, limits=limits,
                                                **values))

    def start(self) -> ServerThread:
        self.server.start()
        return self

    @property
    def address(self) -> str:
        return self.server.address

    def stop(self) -> None:
        self.server.stop(grace=1.0)


@pytest.fixture
def start_server() -> Iterator[Callable[..., ServerThread]]:
    """Start real servers over given data dirs; all are stopped at teardown."""
    started: list[ServerThread] = []

    def start(data_dir: Path, **settings: Any) -> ServerThread:
        server = ServerThread(data_dir, **settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class ServerProcess:
    """``latent serve`` in a child process on a free loopback port."""

    # The line ``serve`` prints once its signal handlers are in place (not the log line before it).
    _READY = re.compile(r"^latentspace serving .* on 127\.0\.0\.1:(\d+)")

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None,
                 on_line: Callable[[str], None] | None = None) -> None:
        """``env``: extra environment (``LATENTSPACE_*`` settings); ``on_line(line)`` is called, on
        a reader thread, for every line the server writes once it is ready."""
        self.on_line = on_line
        self.proc = subprocess.Popen(
            [*LATENT, "serve", "--data", str(data_dir), "--host", "127.0.0.1", "--port", "0",
             "--device", "cpu", *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=subprocess_env(**(env or {})),
        )
        self.output: list[str] = []
        self.drained = threading.Event()
        self.port = self._wait_ready(timeout=120)

    def _wait_ready(self, timeout: float) -> int:
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.output.append(line)
                match = self._READY.search(line)
                if match:
                    threading.Thread(target=self._drain, daemon=True).start()
                    return int(match.group(1))
        finally:
            timer.cancel()
        raise RuntimeError("server did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                self.output.append(line)
                if self.on_line is not None:
                    self.on_line(line)
        finally:
            self.drained.set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        self.proc.kill()
        return self.proc.wait(timeout=30)


@pytest.fixture
def server_process() -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(data_dir: Path, *extra_args: str, **options: Any) -> ServerProcess:
        server = ServerProcess(data_dir, *extra_args, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.kill()
