"""A bounded soak of ``latent serve`` (32 clients, mixed calls), ended by SIGTERM while they run.

Checked: no call fails outside the shutdown; the server's RSS in the last quarter of the soak is
within 10% of the first quarter's; at SIGTERM, calls in flight end OK, UNAVAILABLE or CANCELLED,
and the server exits 0; after a restart every acknowledged write is there (text items with their
model's encoding). ``SECONDS`` is kept short for CI; ``benchmarks/soak.py`` runs the same soak for
60 s and prints the figures.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import ServerProcess
from tests.durability.soak import Soak

pytestmark = pytest.mark.semantic

SECONDS = 20
CLIENTS = 32
ENV = {"LATENTSPACE_SNAPSHOT_EVERY": "100", "LATENTSPACE_SHUTDOWN_GRACE": "60"}


def test_soak_then_sigterm_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = ServerProcess(data, "--no-download", env=ENV)
    try:
        soak = Soak(server.address, clients=CLIENTS)
        soak.prepare()
        figures = soak.run(SECONDS, server.proc.pid, then=lambda: server.proc.send_signal(signal.SIGTERM))
        assert server.proc.wait(timeout=120) == 0, "".join(server.output[-30:])
    finally:
        if server.proc.poll() is None:
            server.kill()
    print("\n" + figures.report())
    assert not figures.unexpected, figures.unexpected[:20]
    assert sum(len(v) for v in figures.latencies.values()) > CLIENTS, "the soak made next to no calls"
    assert figures.rss_growth() < 0.10, figures.report()

    restarted = ServerProcess(data, "--no-download")
    try:
        problems = soak.check(restarted.address)
        assert not problems, problems[:20]
        assert restarted.terminate() == 0
    finally:
        if restarted.proc.poll() is None:
            restarted.kill()
