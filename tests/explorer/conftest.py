"""One real server on demo-like data and one explorer over it, shared by the explorer's tests.

The data is the shapes demo's own corpus, smaller: 96 rendered images (two of each colour x shape x
size) and their 144 captions, written by the demo's corpus writer and upserted through the SDK, so
the thumbnails are the ones the Upsert RPC makes; and one stored direction, red to blue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from latentspace.explorer.api import ExplorerApi
from latentspace.explorer.http_app import ExplorerServer
from latentspace.indexer.demo.shapes_corpus import write_shapes_corpus
from latentspace_client import Client, Labels

COLLECTION = "shapes"
IMAGES = 96
#: A stored direction: red images to blue ones, from the payload labels.
DIRECTION = "red-to-blue"


def corpus_items(folder: Path) -> list[dict[str, Any]]:
    corpus = write_shapes_corpus(folder, n=IMAGES)
    items = []
    for line in corpus.images_jsonl.read_text().splitlines():
        record = json.loads(line)
        items.append({"id": record["id"], "image": (folder / record["image"]).read_bytes(),
                      "payload": record["payload"]})
    for line in corpus.captions_jsonl.read_text().splitlines():
        record = json.loads(line)
        items.append({"id": record["id"], "text": record["text"], "payload": record["payload"]})
    return items


@pytest.fixture(scope="session")
def shapes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.conftest import ServerThread

    server = ServerThread(tmp_path_factory.mktemp("explorer-data")).start()
    with Client(server.address, collection=COLLECTION, timeout=300) as client:
        client.create_collection(COLLECTION, model="shapes-clip")
        client.upsert(corpus_items(tmp_path_factory.mktemp("corpus")), batch_size=128)
        client.create_direction(DIRECTION, Labels("color", "blue", "red", filter={"kind": "image"}), holdout=0.25)
        client.create_collection("vectors", dimension=4)
        client.upsert([{"id": "v1", "vector": [1, 0, 0, 0], "payload": {"n": 1}}], collection="vectors")
    yield server.address
    server.stop()


@pytest.fixture(scope="session")
def explorer(shapes_server: str) -> Iterator[ExplorerServer]:
    client = Client(shapes_server, timeout=120)
    server = ExplorerServer(ExplorerApi(client), "127.0.0.1", 0).start()
    yield server
    server.stop()
    client.close()
