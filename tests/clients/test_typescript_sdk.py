"""The TypeScript SDK's own test suite (``npm test`` in clients/typescript), run as one test.

It type-checks and builds the SDK (strict tsc), then runs node's test runner: unit tests, the
error table against the Python SDK's, and the shared scenarios against a real ``latent serve``
with results compared to the Python client's (see clients/typescript/test/congruence.test.ts).
The node packages come from the lockfile (``npm ci`` in scripts/bootstrap.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"


def test_the_typescript_sdk_suite_passes() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is not installed: the TypeScript SDK needs Node 20+ (see scripts/bootstrap.sh)"
    assert (PACKAGE / "node_modules").is_dir(), "run bash scripts/bootstrap.sh (npm ci in clients/typescript)"
    env = {**os.environ, "LATENTSPACE_PYTHON": sys.executable}
    # A bound on a hung run, not a measurement.
    done = subprocess.run([npm, "test"], cwd=PACKAGE, env=env, capture_output=True, text=True, timeout=900)
    tail = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"npm test failed ({done.returncode}):\n{tail}"
