"""The committed protobuf code must be exactly what proto/ generates."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_matches_proto_sources():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate_protos.py"), "--check"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_detects_a_stale_file(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import generate_protos
    finally:
        sys.path.pop(0)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    generate_protos.generate_python(fresh)
    stale = tmp_path / "stale"
    import shutil

    shutil.copytree(fresh, stale)
    target = stale / "latentspace" / "v1" / "types_pb2.py"
    target.write_text(target.read_text() + "\n# edited by hand\n")
    assert generate_protos._differences(fresh, stale) == ["latentspace/v1/types_pb2.py"]
