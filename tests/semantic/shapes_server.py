"""The shapes collection behind a real server, shared by the semantic modules that query it.

One collection is built once per test session: 288 rendered images (6 of each colour x shape x size,
payload ``kind``, ``color``, ``shape``, ``size``) and the 24 captions "a {colour} {shape}". Query
images are rendered fresh with other seeds, so nothing is answered by finding the query itself.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from latentspace.indexer.shapes.render import COLORS, SHAPES, SIZES, ShapeSpec, render_shape
from latentspace_client import Client

IMAGES = {"kind": "image"}


def png(spec: ShapeSpec, seed: int) -> bytes:
    buffer = io.BytesIO()
    render_shape(spec, np.random.default_rng(seed)).save(buffer, format="PNG")
    return buffer.getvalue()


def kind_of(hit) -> tuple[str, str]:
    return hit.payload["color"], hit.payload["shape"]


def shapes_client(data_dir: Path) -> Iterator[Client]:
    """A client of a server over ``data_dir`` holding the built ``shapes`` collection (a fixture body)."""
    from tests.conftest import ServerThread

    server = ServerThread(data_dir).start()
    client = Client(server.address, collection="shapes", timeout=300)
    client.create_collection("shapes", model="shapes-clip")
    items = [
        {
            "id": f"{color}-{shape}-{size}-{j}",
            "image": png(ShapeSpec(color, shape, size), seed=1000 + n),
            "payload": {"kind": "image", "color": color, "shape": shape, "size": size},
        }
        for n, (color, shape, size, j) in enumerate(itertools.product(COLORS, SHAPES, SIZES, range(6)))
    ]
    items += [
        {"id": f"caption/{color}-{shape}", "text": f"a {color} {shape}",
         "payload": {"kind": "caption", "color": color, "shape": shape}}
        for color, shape in itertools.product(COLORS, SHAPES)
    ]
    assert client.upsert(items, batch_size=64).upserted == 288 + 24
    try:
        yield client
    finally:
        client.close()
        server.stop()
