"""A real latentspace server on 127.0.0.1 (a free port) for the benchmarks, and timing helpers.

``ServedThread`` runs ``build_server`` on its own event loop in a thread of this process (the
pattern of ``tests/conftest.py``): client and server share one interpreter and its GIL.
``ServedProcess`` runs ``latent serve`` as a child process, whose peak RSS (``VmHWM``) is read
just before it stops. ``start_server(mode, ...)`` picks one.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ServedThread:
    """The server's ``BackgroundServer``: an event loop in a daemon thread of this process."""

    def __init__(self, data_dir: Path, workers: int | None = None) -> None:
        from latentspace.server.background import BackgroundServer
        from latentspace.server.settings import Settings

        settings = Settings(data_dir=data_dir, host="127.0.0.1", port=0, allow_download=False, device="cpu",
                            shutdown_grace=1.0, log_level="WARNING")
        self.server = BackgroundServer(settings if workers is None else dataclasses.replace(settings, workers=workers))

    def start(self) -> ServedThread:
        self.server.start()
        return self

    @property
    def address(self) -> str:
        return self.server.address

    def stop(self) -> None:
        self.server.stop(grace=1.0)

    @property
    def peak_rss_mib(self) -> float | None:
        return None  # not separable from the client's: they share this process


class ServedProcess:
    """``latent serve`` in a child process; ``peak_rss_mib`` is read as it stops (Linux)."""

    _READY = re.compile(r"serving .* on 127\.0\.0\.1:(\d+)")

    def __init__(self, data_dir: Path, workers: int | None = None) -> None:
        self.command = [sys.executable, "-m", "latentspace.cli.main", "serve", "--data", str(data_dir),
                        "--host", "127.0.0.1", "--port", "0", "--device", "cpu", "--no-download",
                        "--log-level", "WARNING"]
        if workers is not None:
            self.command += ["--workers", str(workers)]
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self.peak_rss_mib: float | None = None

    def start(self) -> ServedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTSPACE_")}
        env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 300
        for line in self.proc.stdout:
            self.output.append(line)
            match = self._READY.search(line)
            if match:
                self.port = int(match.group(1))
                threading.Thread(target=self._drain, daemon=True).start()
                return self
            if time.monotonic() > deadline:
                break
        self.proc.kill()
        raise RuntimeError("the server did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        # VmHWM is the peak RSS of the server's own address space. (getrusage's ru_maxrss of a
        # child is no good here: it starts from this process's RSS at the time of the fork.)
        self.peak_rss_mib = _peak_rss_mib(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def _peak_rss_mib(pid: int) -> float | None:
    """A live process's peak resident set (VmHWM in /proc; Linux only, else None)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def start_server(mode: str, data_dir: Path, workers: int | None = None) -> ServedThread | ServedProcess:
    """Start a server over ``data_dir``: ``mode`` "thread" (this process) or "process" (a child)."""
    if mode == "thread":
        return ServedThread(data_dir, workers).start()
    if mode == "process":
        return ServedProcess(data_dir, workers).start()
    raise ValueError(f"server mode is 'thread' or 'process', not {mode!r}")


def own_peak_rss_mib() -> float:
    """This process's peak RSS so far."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class Figure:
    """One measured way of doing the work: how many operations, how long, and per-call latencies."""

    name: str
    operations: int  # queries or texts handled
    seconds: float
    latencies_ms: tuple[float, ...] = ()  # per call, when calls were timed one by one

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed_calls(name: str, calls: Sequence[Any], repeats: int = 1) -> Figure:
    """Run zero-argument callables one after another, timing each; the fastest of ``repeats`` passes."""
    passes = []
    for _ in range(repeats):
        latencies = []
        started = time.perf_counter()
        for call in calls:
            t0 = time.perf_counter()
            call()
            latencies.append((time.perf_counter() - t0) * 1000)
        passes.append(Figure(name, len(calls), time.perf_counter() - started, tuple(latencies)))
    return min(passes, key=lambda figure: figure.seconds)


def best_of(repeats: int, name: str, operations: int, run: Any) -> Figure:
    """The fastest of ``repeats`` timed runs of ``run()`` (for whole-batch figures)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return Figure(name, operations, min(times))


def print_table(rows: Sequence[tuple[Figure, Figure | None]], unit: str) -> None:
    """One line per served (or library) figure, beside the in-process limit it is compared with.

    ``ratio`` is served throughput / limit throughput (1.0 = no overhead); ``+ms/op`` is the extra
    wall time per operation over the limit.
    """
    header = (f"{'measurement':<44} {unit + '/s':>10} {'p50 ms':>8} {'p95 ms':>8}   "
              f"{'limit':<28} {'limit/s':>10} {'ratio':>6} {'+ms/op':>7}")
    print(header)
    print("-" * len(header))
    for figure, limit in rows:
        p50, p95 = figure.percentile(50), figure.percentile(95)
        cells = [f"{figure.name:<44}", f"{figure.per_second:>10.1f}",
                 f"{p50:>8.2f}" if p50 is not None else f"{'':>8}",
                 f"{p95:>8.2f}" if p95 is not None else f"{'':>8}"]
        if limit is None:
            cells.append(f"   {'(the limit)':<28}")
        else:
            extra = 1000 * (1 / figure.per_second - 1 / limit.per_second)
            cells.append(f"   {limit.name:<28} {limit.per_second:>10.1f} {figure.per_second / limit.per_second:>6.3f} "
                         f"{extra:>7.3f}")
        print(" ".join(cells))

