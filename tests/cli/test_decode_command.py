"""``latent decode`` and ``--decode-dir`` on interpolate and edit, as subprocesses against a real server.

A shapes-clip collection (its model ships a decoder) and a vector-only one (no decoder).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentspace.indexer.shapes import IMAGE_SIZE, ShapeSpec, render_shape
from tests.conftest import LATENT, subprocess_env

pytestmark = pytest.mark.semantic


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from latentspace_client import Client
    from tests.conftest import ServerThread

    running = ServerThread(tmp_path_factory.mktemp("data")).start()
    rng = np.random.default_rng(11)
    with Client(running.address, timeout=300) as client:
        client.create_collection("shapes", model="shapes-clip")
        client.upsert([{"id": f"{color}-circle", "image": _png(render_shape(ShapeSpec(color, "circle", "large"), rng))}
                       for color in ("red", "blue")], collection="shapes")
        client.create_collection("vectors", dimension=4)
        client.upsert([{"id": "e0", "vector": [1.0, 0.0, 0.0, 0.0]}], collection="vectors")
    yield running.address
    running.stop()


def _png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def latent(server: str, collection: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(LATENTSPACE_SERVER=server, LATENTSPACE_COLLECTION=collection)
    return subprocess.run([*LATENT, *args], capture_output=True, text=True, timeout=120, env=env)


def _is_png(path: Path) -> bool:
    with Image.open(path) as image:
        return image.format == "PNG" and image.size == (IMAGE_SIZE, IMAGE_SIZE)


def test_decode_writes_one_png_per_point(server: str, tmp_path: Path) -> None:
    out = tmp_path / "decoded"
    done = latent(server, "shapes", "decode", "a green star", "id:red-circle", "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["decoder"] == "shapes-attention-decoder/latentspace-v1" and data["width"] == IMAGE_SIZE
    assert [image["input"] for image in data["images"]] == ["a green star", "id:red-circle"]
    assert sorted(p.name for p in out.iterdir()) == ["point-00.png", "point-01.png"]
    assert all(_is_png(p) for p in out.iterdir())
    table = latent(server, "shapes", "decode", "a green star", "--out", str(tmp_path / "table"))
    assert table.returncode == 0 and "1 images of 64x64" in table.stdout and "point-00.png" in table.stdout


def test_interpolate_and_edit_write_their_images(server: str, tmp_path: Path) -> None:
    path_dir, edit_dir = tmp_path / "path", tmp_path / "edit"
    done = latent(server, "shapes", "interpolate", "id:red-circle", "id:blue-circle", "--steps", "5", "-k", "1",
                  "--decode-dir", str(path_dir), "--json")
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)["steps"]
    assert [Path(s["image_file"]).name for s in steps] == [
        "step-00-t0.000.png", "step-01-t0.250.png", "step-02-t0.500.png", "step-03-t0.750.png", "step-04-t1.000.png"]
    assert all("image" not in s for s in steps) and all(_is_png(Path(s["image_file"])) for s in steps)
    done = latent(server, "shapes", "edit", "id:red-circle", "--from", "a red circle", "--to", "a blue circle",
                  "--decode-dir", str(edit_dir))
    assert done.returncode == 0, done.stderr
    assert "images:" in done.stdout and sorted(p.name for p in edit_dir.iterdir()) == ["base.png", "edited.png"]
    # Without the flag, nothing is decoded and the JSON keeps its keys.
    plain = json.loads(latent(server, "shapes", "interpolate", "id:red-circle", "id:blue-circle", "--json").stdout)
    assert all("image_file" not in s and "image" not in s for s in plain["steps"])


def test_a_collection_without_a_decoder_exits_1(server: str, tmp_path: Path) -> None:
    done = latent(server, "vectors", "decode", "id:e0", "--out", str(tmp_path / "none"))
    assert done.returncode == 1 and "NO_DECODER" in done.stderr and "without a model" in done.stderr
    assert not (tmp_path / "none").exists()
    missing = latent(server, "shapes", "decode", "a red circle")
    assert missing.returncode == 2 and "--out" in missing.stderr
