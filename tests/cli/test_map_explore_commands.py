"""``latent map`` and ``latent explore`` as subprocesses against real servers (vector-only data; the
explorer's views in a browser are in tests/explorer)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import LATENT, ServerThread, subprocess_env
from tests.tls_files import Keys, Pki, make_keys, make_pki

COLLECTION = "groups"


def latent(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LATENT, *args], capture_output=True, text=True, timeout=120, env=subprocess_env(**env))


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three tight groups of 20 vectors around three orthogonal axes of an 8-d space."""
    from latentspace_client import Client

    server = ServerThread(tmp_path_factory.mktemp("data")).start()
    rng = np.random.default_rng(7)
    with Client(server.address, collection=COLLECTION) as client:
        client.create_collection(COLLECTION, dimension=8)
        client.upsert({"id": f"{group}-{n}", "vector": np.eye(8)[axis] + rng.normal(0, 0.05, 8),
                       "payload": {"group": group}}
                      for axis, group in enumerate(("a", "b", "c")) for n in range(20))
    yield server.address
    server.stop()


def test_map_json_is_the_same_for_a_seed_and_its_clusters_are_the_groups(groups: str) -> None:
    args = ("map", "vec:1,0,0,0,0,0,0,0", "--clusters", "3", "--seed", "5", "--color-by", "group", "--json",
            "--server", groups, "-c", COLLECTION)
    first, second = latent(*args), latent(*args)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert set(data) == {"points", "clusters", "queries", "count", "explained_x", "explained_y"}
    assert data["count"] == len(data["points"]) == 60
    by_cluster = Counter((p["cluster"], p["color"]) for p in data["points"])
    assert sorted(by_cluster.values()) == [20, 20, 20]  # each cluster is one group, whole
    [query] = data["queries"]
    assert {p["color"] for p in data["points"] if p["cluster"] == query["cluster"]} == {"a"}


def test_map_text_lists_clusters_queries_and_points(groups: str) -> None:
    result = latent("map", "id:b-0", "--clusters", "3", "--points", "--server", groups, "-c", COLLECTION)
    assert result.returncode == 0, result.stderr
    summary, clusters, queries, points = result.stdout.strip().split("\n\n")
    assert summary.startswith("60 of 60 items, 3 clusters; the axes hold ")
    assert clusters.splitlines()[0].split() == ["cluster", "size", "x", "y", "label"]
    assert len(clusters.splitlines()) == 4
    assert queries.splitlines()[1].split()[0] == "id:b-0"
    assert len(points.splitlines()) == 61


def test_map_refuses_a_bad_sample_with_the_field_named(groups: str) -> None:
    result = latent("map", "--sample", "-3", "--server", groups, "-c", COLLECTION)
    assert result.returncode == 2  # a usage mistake, refused before the call
    assert result.stderr == "error: sample_size must be an integer >= 0, got -3\n"


# ---------------------------------------------------------------- latent explore


@pytest.fixture(scope="module")
def protected(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Pki, Keys]]:
    from latentspace_client import Client

    folder = tmp_path_factory.mktemp("protected")
    pki, keys = make_pki(folder / "pki"), make_keys(folder / "keys.txt")
    server = ServerThread(folder / "data", tls_cert=pki.cert, tls_key=pki.key, api_keys_file=keys.file).start()
    with Client(server.address, api_key=keys.admin, tls_ca=pki.ca, collection="c") as client:
        client.create_collection("c", dimension=2)
        client.upsert([{"id": "x", "vector": [1, 0], "payload": {"side": "x"}},
                       {"id": "y", "vector": [0, 1], "payload": {"side": "y"}}])
    yield server.address, pki, keys
    server.stop()


def explore(address: str, ca: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*LATENT, "explore", "--server", address, "--port", "0", "--tls-ca", str(ca)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(**env))


def started(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("latentspace explorer on http://127.0.0.1:"), line
    return line.split()[3]


def call(url: str, body: dict | None = None, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    if host is not None:
        request.add_unredirected_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_explore_reads_with_its_key_over_tls_and_serves_only_its_own_host(protected) -> None:
    address, pki, keys = protected
    process = explore(address, pki.ca, LATENTSPACE_API_KEY=keys.read)
    try:
        url = started(process)
        status, page = call(url)
        assert status == 200 and b"<title>latentspace explorer</title>" in page
        status, body = call(url + "api/collections")
        assert status == 200 and [c["name"] for c in json.loads(body)["collections"]] == ["c"]
        status, body = call(url + "api/search", {"collection": "c", "query": {"id": "x"}, "k": 2})
        assert status == 200
        hits = json.loads(body)["hits"]
        assert [(h["id"], h["payload"]) for h in hits] == [("x", {"side": "x"}), ("y", {"side": "y"})]
        # A vector-only collection has no decoder: the path comes without pictures, not as an error.
        status, body = call(url + "api/interpolate", {"collection": "c", "a": {"id": "x"}, "b": {"id": "y"},
                                                      "steps": 3, "k": 1})
        assert status == 200 and [s["decoded"] for s in json.loads(body)["steps"]] == [None] * 3
        status, body = call(url + "api/search", {"collection": "c", "query": {"path": "/etc/passwd"}})
        assert status == 400 and "unknown point kind" in json.loads(body)["error"]
        # A page elsewhere reaching it through a name it controls (DNS rebinding) is refused.
        port = url.rstrip("/").rsplit(":", 1)[1]
        assert call(url + "api/collections", host=f"evil.example:{port}")[0] == 403
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert process.returncode == 0


def test_explore_without_a_key_reports_the_servers_refusal(protected) -> None:
    address, pki, _ = protected
    process = explore(address, pki.ca)
    try:
        status, body = call(started(process) + "api/collections")
        assert status == 502 and json.loads(body)["code"] == "UNAUTHENTICATED"
    finally:
        process.terminate()
        process.wait(timeout=30)
