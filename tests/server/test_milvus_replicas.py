"""Stateless replicas: several processes serve the collections of one Milvus at once.

What runs here, all as separate processes: Milvus Lite as a standalone server (``python -m
milvus_lite server``: the cluster's client protocol on a loopback port; one Lite *file* cannot be
opened by two processes, see docs/milvus.md), ``latent index --backend milvus`` writing a JSONL
corpus into it, and two ``latent serve`` processes, each on its own empty data dir, pointed at it.
Both list and serve what the indexer created; a write through one is seen by the other's very next
read (consistency Strong); a named direction made through one is listed and used through the
other, and deleted for both; a drop through one is NOT_FOUND on the other; the indexer adds to a
collection while both serve it.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from latentspace_client import AlreadyExists, Client, Id, NamedDirection, NotFound
from tests.conftest import LATENT, ServerProcess, subprocess_env

DIM = 8
TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[str]:
    """Milvus Lite served on a loopback port, as its own process; yields its URI."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "milvus.db"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=subprocess_env())
    timer = threading.Timer(120, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "listening on" in line:
                break
        else:
            raise RuntimeError("Milvus Lite did not start")
    finally:
        timer.cancel()
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def corpus(path: Path, start: int, n: int) -> Path:
    vectors = np.random.default_rng(start).normal(size=(n, DIM))
    with path.open("w") as out:
        for i, vector in enumerate(vectors, start):
            out.write(json.dumps({"id": f"d{i}", "vector": vector.tolist(), "payload": {"part": start}}) + "\n")
    return path


def latent_index(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LATENT, "index", *map(str, args), "--no-progress"], capture_output=True, text=True,
                          env=subprocess_env(), timeout=TIMEOUT, check=False)


def test_two_servers_on_empty_data_dirs_serve_what_the_indexer_wrote_to_milvus(milvus: str, tmp_path: Path) -> None:
    indexed = latent_index(corpus(tmp_path / "a.jsonl", 0, 40), "--collection", "docs", "--dimension", str(DIM),
                           "--backend", "milvus", "--milvus-uri", milvus, "--data", tmp_path / "indexer")
    assert indexed.returncode == 0, indexed.stderr
    assert f"in Milvus at {milvus}" in indexed.stdout and "the collection now holds 40" in indexed.stdout

    one = ServerProcess(tmp_path / "one", "--milvus-uri", milvus)
    two = ServerProcess(tmp_path / "two", "--milvus-uri", milvus)
    try:
        with Client(one.address, collection="docs", timeout=60) as a, \
                Client(two.address, collection="docs", timeout=60) as b:
            for client in (a, b):
                (info,) = client.list_collections()
                assert (info.name, info.backend, info.count, info.dimension) == ("docs", "milvus", 40, DIM)
            query = np.random.default_rng(9).normal(size=DIM).astype(np.float32)
            assert [h.id for h in a.search(query, k=5)] == [h.id for h in b.search(query, k=5)]

            # A write through one server is seen by the other's very next read.
            a.upsert([{"id": "fresh", "vector": query, "payload": {"part": -1}}])
            assert b.search(query, k=1)[0].id == "fresh"
            assert [i.id for i in b.get(["fresh"])] == ["fresh"] and b.describe_collection().count == 41
            assert b.delete(["fresh", "d0"]).deleted == 2
            assert a.get(["fresh", "d0"]) == [] and a.describe_collection().count == 39

            # The indexer adds to the collection while both serve it.
            more = latent_index(corpus(tmp_path / "b.jsonl", 100, 10), "--collection", "docs",
                                "--milvus-uri", milvus, "--data", tmp_path / "indexer")
            assert more.returncode == 0, more.stderr
            assert a.describe_collection().count == b.describe_collection().count == 49
            assert len(b.search(query, k=20, filter={"part": 100})) == 10

            # A named direction made through one server is usable through the other (it lives in Milvus).
            made = a.create_direction("axis", np.random.default_rng(3).normal(size=DIM).astype(np.float32))
            assert [(d.name, d.norm) for d in b.list_directions()] == [("axis", made.norm)]
            edited = b.edit(Id("d1"), NamedDirection("axis"), strength=0.5, k=5)
            assert [h.id for h in edited.hits] == [h.id for h in a.edit(Id("d1"), NamedDirection("axis"),
                                                                        strength=0.5, k=5).hits]
            with pytest.raises(AlreadyExists):
                b.create_direction("axis", query)
            b.delete_direction("axis")
            assert a.list_directions() == []
            with pytest.raises(NotFound):
                a.edit(Id("d1"), NamedDirection("axis"))

            # Collections made or dropped through one server are so for the other, directions included.
            b.create_collection("shared", dimension=4, backend="milvus")
            assert a.describe_collection("shared").backend == "milvus"
            b.create_direction("tilt", np.ones(4, np.float32), collection="shared")
            a.drop_collection("shared")
            with pytest.raises(NotFound):
                b.search(np.ones(4, np.float32), k=1, collection="shared")
            assert [c.name for c in b.list_collections()] == ["docs"]
            b.create_collection("shared", dimension=4, backend="milvus")
            assert a.list_directions(collection="shared") == []
            a.drop_collection("shared")
    finally:
        assert one.terminate() == 0
        assert two.terminate() == 0
    # Nothing of it was kept in the servers' data dirs.
    assert not list((tmp_path / "one" / "collections").iterdir())
    assert not list((tmp_path / "two" / "collections").iterdir())


def test_a_second_process_on_the_same_lite_file_is_told_how_to_share_it(tmp_path: Path) -> None:
    lite = tmp_path / "milvus.db"
    first = ServerProcess(tmp_path / "one", "--milvus-uri", str(lite))
    try:
        second = subprocess.run([*LATENT, "serve", "--data", str(tmp_path / "two"), "--port", "0",
                                 "--milvus-uri", str(lite)], capture_output=True, text=True, env=subprocess_env(),
                                timeout=TIMEOUT, check=False)
        assert second.returncode == 1
        (error,) = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert "milvus-lite server" in error and str(lite) not in error  # the way out, not the server's path
    finally:
        assert first.terminate() == 0
