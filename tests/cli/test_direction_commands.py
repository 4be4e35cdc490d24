"""``latent direction create|list|delete``, ``latent edit --direction`` and ``--explain`` as subprocesses
against a real server (a vector-only collection whose items are labelled along the first axis)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import numpy as np
import pytest

from tests.conftest import LATENT, subprocess_env

COLLECTION = "cli_directions"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from latentspace_client import Client
    from tests.conftest import ServerThread

    rng = np.random.default_rng(3)
    running = ServerThread(tmp_path_factory.mktemp("data")).start()
    with Client(running.address, collection=COLLECTION) as client:
        client.create_collection(COLLECTION, dimension=4)
        client.upsert(
            {"id": f"{side}-{i}", "vector": (sign * np.eye(4)[0] + 0.3 * rng.normal(size=4)).tolist(),
             "payload": {"side": side, "n": i}}
            for side, sign in (("right", 1.0), ("left", -1.0)) for i in range(8)
        )
    yield running.address
    running.stop()


def latent(*args: str, server: str) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(LATENTSPACE_SERVER=server, LATENTSPACE_COLLECTION=COLLECTION)
    return subprocess.run([*LATENT, *args], capture_output=True, text=True, timeout=120, env=env)


def ok(*args: str, server: str) -> str:
    result = latent(*args, server=server)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_create_list_use_and_delete(server: str) -> None:
    text = ok("direction", "create", "rightward", "--labels", "side", "right", "left", "--method", "logistic",
              "--seed", "4", server=server)
    assert "labels: side == \"right\" against side == \"left\"" in text
    assert "AUC 1.0000 on 2 + 2 held out (fitted on 8 + 8; holdout 0.25, seed 4)" in text
    data = json.loads(ok("direction", "create", "axis", "--vector", "vec:2,0,0,0", "--json", server=server))
    assert data["name"] == "axis" and data["norm"] == pytest.approx(2.0) and data["quality"]["auc"] is None
    assert "vector" not in data
    listing = ok("direction", "list", server=server)
    assert listing.splitlines()[0].split() == ["name", "source", "method", "auc", "norm", "made", "from"]
    assert [line.split()[0] for line in listing.splitlines()[1:]] == ["axis", "rightward"]
    edited = json.loads(ok("edit", "id:left-0", "--direction", "rightward", "--strength", "3", "--k", "3", "--json",
                           server=server))
    assert all(h["id"].startswith("right-") for h in edited["hits"])
    assert edited["result_projection"] > edited["base_projection"]
    ranked = json.loads(ok("search", "dir:axis", "--k", "8", "--json", server=server))
    assert {h["id"].split("-")[0] for h in ranked["hits"]} == {"right"}
    assert ok("direction", "delete", "axis", server=server).strip() == "deleted direction axis"
    missing = latent("direction", "delete", "axis", server=server)
    assert missing.returncode == 1 and "no direction named 'axis'" in missing.stderr


def test_explain_prints_each_parts_share(server: str) -> None:
    text = ok("search", "vec:1,1,0,0", "--k", "2", "--explain", server=server)
    lines = text.splitlines()
    assert "why (each part's share of the score):" in lines
    why = lines[lines.index("why (each part's share of the score):") + 1:]
    rank, score, equals, share, path = why[0].split()
    assert (rank, equals, path) == ("1", "=", "query") and score == share
    data = json.loads(ok("search", "vec:1,1,0,0", "--k", "2", "--explain", "--json", server=server))
    for hit in data["hits"]:
        assert hit["explanation"]["form"] == "sum"
        assert hit["explanation"]["terms"][0]["share"] == pytest.approx(hit["score"], abs=1e-5)
    plain = json.loads(ok("search", "vec:1,1,0,0", "--k", "2", "--json", server=server))
    assert all("explanation" not in hit for hit in plain["hits"])


def test_usage_mistakes_exit_2(server: str) -> None:
    for args in (["direction", "create", "x"],
                 ["direction", "create", "x", "--from", "a"],
                 ["direction", "create", "x", "--vector", "vec:1,0,0,0", "--labels", "side", "a", "b"],
                 ["direction", "create", "x", "--vector", "vec:1,0,0,0", "--filter", "{}"],
                 ["edit", "id:left-0"],
                 ["edit", "id:left-0", "--direction", "d", "--from", "a", "--to", "b"]):
        result = latent(*args, server=server)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("error: ")
