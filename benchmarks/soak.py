"""The soak of ``tests/durability/test_soak.py``, for longer: figures printed, nothing asserted.

``latent serve`` runs as a child process on a temporary data dir with a ``minilm`` collection and a
vector (HNSW) collection; ``--clients`` clients (threads of this process, each with its own channel)
loop over mixed searches, encodes, upserts, deletes and gets for ``--seconds``; then the server gets
SIGTERM while they still run, is restarted, and every acknowledged write is checked. Printed: calls
per kind with p50/p99 latency, unexpected errors, how the calls in flight at SIGTERM ended, the
server's RSS every few seconds and its growth from the first to the last quarter, the exit code,
and what the check after the restart found.

    .venv/bin/python benchmarks/soak.py                 # 32 clients, 60 s
    .venv/bin/python benchmarks/soak.py --seconds 300 --clients 64
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo root: tests.* below

from tests.conftest import ServerProcess
from tests.durability.soak import Soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--snapshot-every", type=int, default=100, help="LATENTSPACE_SNAPSHOT_EVERY of the server")
    parser.add_argument("--grace", type=float, default=60.0, help="LATENTSPACE_SHUTDOWN_GRACE of the server")
    args = parser.parse_args()
    env = {"LATENTSPACE_SNAPSHOT_EVERY": str(args.snapshot_every), "LATENTSPACE_SHUTDOWN_GRACE": str(args.grace)}
    with tempfile.TemporaryDirectory(prefix="latent-soak-") as tmp:
        data = Path(tmp) / "data"
        server = ServerProcess(data, "--no-download", env=env)
        try:
            soak = Soak(server.address, clients=args.clients)
            soak.prepare()
            figures = soak.run(args.seconds, server.proc.pid, then=lambda: server.proc.send_signal(signal.SIGTERM))
            stopping = time.monotonic()
            code = server.proc.wait(timeout=args.grace + 60)
            stopped_in = time.monotonic() - stopping
        finally:
            if server.proc.poll() is None:
                server.kill()
        print(figures.report())
        step = max(1, int(args.seconds // 12))
        timeline = [f"{t:.0f}s {rss / 2**20:.0f}" for t, rss in figures.rss[:: step * 4]]
        print("  server RSS (MiB) over time: " + ", ".join(timeline))
        for error in figures.unexpected[:10]:
            print(f"  unexpected: {error}")
        print(f"  SIGTERM: exit code {code} after {stopped_in:.1f} s")
        restarted = ServerProcess(data, "--no-download")
        try:
            problems = soak.check(restarted.address)
            written = {name: ledger.acked_writes for name, ledger in soak.ledgers.items()}
            print(f"  after restart: {len(problems)} problems over {sum(written.values())} acknowledged writes "
                  f"({written})")
            for problem in problems[:10]:
                print(f"    {problem}")
            restarted.terminate()
        finally:
            if restarted.proc.poll() is None:
                restarted.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
