"""The SDK stays a small client: grpcio and protobuf only, never the service or a GPU stack."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

SDK_ROOT = Path(__file__).resolve().parents[2] / "clients" / "python"
PACKAGE = SDK_ROOT / "latentspace_client"
FORBIDDEN = ("torch", "faiss", "open_clip", "sentence_transformers", "numpy", "PIL", "latentspace")

PROBE = """
import json, sys
import latentspace_client
from latentspace_client import Client, Id, Mix, TextPair, Edit
from latentspace_client.points import to_query
to_query(Mix([("a red circle", 0.5), (Id("x"), 0.5)]))
to_query(Edit("a", TextPair("b", "c")))
Client("127.0.0.1:1").close()
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_and_using_the_sdk_loads_no_service_or_heavy_modules(tmp_path: Path) -> None:
    # A fresh interpreter, outside the repository, so nothing the test run imported leaks in.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(result.stdout)
    offenders = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert offenders == [], f"importing latentspace_client loaded {offenders}"


def test_no_sdk_module_imports_the_service_or_heavy_libraries() -> None:
    # numpy and PIL may be imported inside functions (guarded); the service and torch never.
    for path in PACKAGE.rglob("*.py"):
        if "_generated" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in {"torch", "faiss", "open_clip", "sentence_transformers", "latentspace"}, (
                    f"{path.name} imports {name}"
                )
                if top in {"numpy", "PIL"}:
                    assert node.col_offset > 0, f"{path.name} imports {name} at module level"


def test_distribution_depends_on_grpcio_and_protobuf_only() -> None:
    project = tomllib.loads((SDK_ROOT / "pyproject.toml").read_text())["project"]
    names = sorted(dep.split(">")[0].split("=")[0].split("<")[0].strip() for dep in project["dependencies"])
    assert names == ["grpcio", "protobuf"]
