"""A real latentspace server on 127.0.0.1 (a free port) for the benchmarks, and timing helpers.

``ServedThread`` runs ``build_server`` on its own event loop in a thread of this process (the
pattern of ``tests/conftest.py``): client and server share one interpreter and its GIL.
``ServedProcess`` runs ``latent serve`` as a child process (with extra flags and ``LATENTSPACE_*``
settings if asked), whose peak RSS (``VmHWM``) is read just before it stops. ``start_server(mode,
...)`` picks one. ``concurrent_clients`` drives a server from N ``AsyncClient`` connections in this
process; ``print_rounds`` prints the medians of measurements repeated in rounds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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
    """``latent serve`` in a child process; ``peak_rss_mib`` is read as it stops (Linux).

    ``flags`` are added to the command line (e.g. ``--no-micro-batching``); ``settings`` are
    ``LATENTSPACE_*`` variables for the child (e.g. ``{"LATENTSPACE_COMPUTE_THREADS": "2"}``), the
    only ones it gets: this process's own ``LATENTSPACE_*`` variables are not passed on.
    """

    _READY = re.compile(r"serving .* on 127\.0\.0\.1:(\d+)")

    def __init__(self, data_dir: Path, workers: int | None = None, *, flags: Sequence[str] = (),
                 settings: Mapping[str, str] | None = None, device: str = "cpu", metrics: bool = False) -> None:
        self.command = [sys.executable, "-m", "latentspace.cli.main", "serve", "--data", str(data_dir),
                        "--host", "127.0.0.1", "--port", "0", "--device", device, "--no-download",
                        "--log-level", "WARNING", *flags]
        if workers is not None:
            self.command += ["--workers", str(workers)]
        self.metrics_port: int | None = None
        if metrics:  # a port free now; the server binds it a moment later
            self.metrics_port = _free_port()
            self.command += ["--metrics-port", str(self.metrics_port)]
        self.settings = dict(settings or {})
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.output: list[str] = []
        self.peak_rss_mib: float | None = None

    def start(self) -> ServedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LATENTSPACE_")}
        env.update(HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1", **self.settings)
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

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def batches(self, batcher: str) -> tuple[int, float]:
        """(batches run, items in them) so far by ``batcher`` (e.g. "encode_text"), from /metrics."""
        import urllib.request

        assert self.metrics_port is not None, "start the server with metrics=True"
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30) as reply:
            text = reply.read().decode()
        found = {}
        for kind in ("count", "sum"):
            match = re.search(rf'^latentspace_batch_size_{kind}{{batcher="{batcher}"}} (\S+)$', text, re.M)
            found[kind] = float(match.group(1)) if match else 0.0
        return int(found["count"]), found["sum"]

    def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        # VmHWM is the peak RSS of the server's own address space. (getrusage's ru_maxrss of a
        # child is no good here: it starts from this process's RSS at the time of the fork.)
        self.peak_rss_mib = _peak_rss_mib(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    batch: float | None = None  # mean items per server-side batch, when read from its metrics
    #: CPU milliseconds per operation (server process, client process), where measured; for an
    #: in-process figure (this process, 0.0)
    cpu_ms: tuple[float, float] | None = None

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


def timed_once(name: str, operations: int, run: Callable[[], object]) -> Figure:
    """One timed run of ``run()`` in this process, with this process's CPU time per operation."""
    cpu, started = time.process_time(), time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    return Figure(name, operations, seconds, cpu_ms=(1000 * (time.process_time() - cpu) / operations, 0.0))


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



# ---------------------------------------------------------------- concurrent clients


async def concurrent_clients(
    name: str,
    address: str,
    clients: int,
    items: Sequence[T],
    send: Callable[[Any, T], Awaitable[object]],
    *,
    collection: str,
    warmup: Sequence[T] = (),
    timeout: float = 600,
    batches: Callable[[], tuple[int, float]] | None = None,
    server_pid: int | None = None,
) -> Figure:
    """``clients`` clients, each with its own ``AsyncClient`` (its own channel and TCP connection),
    each awaiting one ``send(client, item)`` at a time over its share of ``items`` (client i takes
    ``items[i::clients]``). The clients first send their shares of ``warmup`` the same way,
    untimed; then all start together. The figure counts ``items`` over the wall time from the start
    to the last reply, with each call's latency; with ``batches`` (e.g. ``ServedProcess.batches``
    for one batcher), also the mean items per server-side batch during the timed part; with
    ``server_pid``, the CPU time the server process and this (client) process spent per item.
    """
    from latentspace_client import AsyncClient

    # A channel of its own per client: by default grpc shares one connection between channels to
    # the same address with the same options.
    options = [("grpc.use_local_subchannel_pool", 1)]
    opened = [AsyncClient(address, collection=collection, timeout=timeout, options=options) for _ in range(clients)]
    latencies: list[float] = []

    async def client_loop(client: Any, share: Sequence[T]) -> None:
        for item in share:
            t0 = time.perf_counter()
            await send(client, item)
            latencies.append((time.perf_counter() - t0) * 1000)

    try:
        await asyncio.gather(*(client_loop(client, warmup[i::clients]) for i, client in enumerate(opened)))
        latencies.clear()
        before = batches() if batches is not None else (0, 0.0)
        cpu_before = (_cpu_seconds(server_pid), time.process_time()) if server_pid is not None else None
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client, items[i::clients]) for i, client in enumerate(opened)))
        seconds = time.perf_counter() - started
        after = batches() if batches is not None else (0, 0.0)
        cpu_ms = None
        if server_pid is not None and cpu_before is not None:
            cpu_ms = (1000 * (_cpu_seconds(server_pid) - cpu_before[0]) / len(items),
                      1000 * (time.process_time() - cpu_before[1]) / len(items))
    finally:
        await asyncio.gather(*(client.close() for client in opened))
    runs = after[0] - before[0]
    return Figure(name, len(items), seconds, tuple(latencies), (after[1] - before[1]) / runs if runs else None,
                  cpu_ms)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- rounds


def load_average() -> float:
    """The 1-minute load average (the machine is shared: printed beside each round)."""
    return os.getloadavg()[0]


def _spread(values: Sequence[float], digits: int) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def print_rounds(rounds: Sequence[Mapping[str, Figure]], ratios: Sequence[tuple[str, str, str]], unit: str,
                 percentiles: Sequence[float] = (50, 99)) -> None:
    """Medians over rounds (range in brackets): each measurement's rate, latency percentiles, mean
    server-side batch and CPU milliseconds per operation in the server + the client (where known),
    then each ratio ``(label, numerator, denominator)`` of
    two measurements' rates, taken within each round and then the median of those."""
    names = list(rounds[0])
    header = f"{'measurement':<52} {unit + '/s (median, range)':>26} " + " ".join(
        f"{f'p{q:g} ms':>9}" for q in percentiles) + f" {'batch':>6} {'cpu ms/op srv+cli':>18}"
    print(header)
    print("-" * len(header))
    for name in names:
        figures = [r[name] for r in rounds]
        cells = [f"{name:<52}", f"{_spread([f.per_second for f in figures], 1):>26}"]
        for q in percentiles:
            values = [v for f in figures if (v := f.percentile(q)) is not None]
            cells.append(f"{statistics.median(values):>9.1f}" if values else f"{'':>9}")
        batches = [f.batch for f in figures if f.batch is not None]
        cells.append(f"{statistics.median(batches):>6.1f}" if batches else f"{'':>6}")
        cpu = [f.cpu_ms for f in figures if f.cpu_ms is not None]
        if cpu:  # an in-process figure has no client part
            server, client = statistics.median(c[0] for c in cpu), statistics.median(c[1] for c in cpu)
            cells.append(f"{server:>9.2f}+{client:<8.2f}" if client else f"{server:>9.2f}")
        print(" ".join(cells))
    print()
    for label, top, bottom in ratios:
        values = [r[top].per_second / r[bottom].per_second for r in rounds]
        print(f"{label:<60} {_spread(values, 2)}")


# ---------------------------------------------------------------- in-process limits


def load_torch_with_sleeping_openmp() -> None:
    """Import torch with OpenMP threads that sleep at barriers instead of spinning, in this
    process only (``OMP_WAIT_POLICY=PASSIVE`` while libgomp loads; child processes started later,
    such as the servers, get the environment as it was).

    Why: by default libgomp spin-waits at every barrier. When other processes hold the cores, the
    thread that spins takes the time slice the thread doing the work needs, and a torch call with
    two threads becomes several times slower than with one (minilm on 2 cores at load 14: 14
    sentences/s spinning, 30-40/s sleeping; a small CNN: 20-30 images/s against ~200/s). A server
    does not suffer from it: each of its request threads that runs a model batch owns an OpenMP
    team, and libgomp throttles spinning once a process has more OpenMP threads than cores. So
    without this the in-process limit, not the service, would be measured at its worst.
    """
    if "torch" in sys.modules:
        raise RuntimeError("torch is already imported: its OpenMP wait policy is fixed")
    saved = os.environ.get("OMP_WAIT_POLICY")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import torch  # noqa: F401  # loads libgomp, which reads the policy once, now
    finally:
        if saved is None:
            del os.environ["OMP_WAIT_POLICY"]
        else:
            os.environ["OMP_WAIT_POLICY"] = saved
