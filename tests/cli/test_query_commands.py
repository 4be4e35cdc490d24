"""``latent search`` and friends as subprocesses against a real server (vector-only collection)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import LATENT, subprocess_env

COLLECTION = "cli_vectors"
VECTORS = {
    "e0": [1.0, 0.0, 0.0, 0.0],
    "e1": [0.0, 1.0, 0.0, 0.0],
    "e2": [0.0, 0.0, 1.0, 0.0],
    "m01": [1.0, 1.0, 0.0, 0.0],
    "m12": [0.0, 1.0, 1.0, 0.0],
}
HIT_KEYS = {"rank", "id", "score", "modality", "content", "payload"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from latentspace_client import Client
    from tests.conftest import ServerThread

    running = ServerThread(tmp_path_factory.mktemp("data")).start()
    with Client(running.address, collection=COLLECTION) as client:
        client.create_collection(COLLECTION, dimension=4)
        client.upsert(
            {
                "id": key,
                "vector": vector,
                "payload": {"color": "red" if key.startswith("e") else "blue", "n": i},
            }
            for i, (key, vector) in enumerate(VECTORS.items())
        )
    yield running.address
    running.stop()


def latent(*args: str, server: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    extra = dict(env)
    if server is not None:
        extra.setdefault("LATENTSPACE_SERVER", server)
        extra.setdefault("LATENTSPACE_COLLECTION", COLLECTION)
    return subprocess.run(
        [*LATENT, *args], capture_output=True, text=True, timeout=120, env=subprocess_env(**extra)
    )


def latent_json(*args: str, server: str) -> dict:
    result = latent(*args, "--json", server=server)
    assert result.returncode == 0, result.stderr
    data: dict = json.loads(result.stdout)
    return data


def test_search_json_has_stable_keys(server: str) -> None:
    data = latent_json("search", "vec:1,0,0,0", "--k", "3", server=server)
    assert list(data) == ["hits"]
    hits = data["hits"]
    assert [h["id"] for h in hits][:2] == ["e0", "m01"] and len(hits) == 3
    assert all(set(h) == HIT_KEYS for h in hits)
    assert hits[0]["rank"] == 1 and hits[0]["score"] == pytest.approx(1.0) and hits[0]["modality"] == "vector"
    assert hits[0]["payload"] == {"color": "red", "n": 0}


def test_search_table_filter_and_flags(server: str) -> None:
    result = latent(
        "search", "id:m01", "-k", "5", "--filter", '{"color": "blue"}', "--exclude", "m01", server=server
    )
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["rank", "score", "id", "modality", "content", "payload"]
    assert [row.split()[2] for row in rows] == ["m12"]
    assert '{"color":"blue","n":4}' in rows[0]


def test_search_with_explicit_server_and_collection_flags(server: str) -> None:
    result = latent(
        "search", "vec:0,0,1,0", "--server", server, "--collection", COLLECTION, "--json", "-k", "1"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hits"][0]["id"] == "e2"


def test_vector_file_point(server: str, tmp_path: Path) -> None:
    np.save(tmp_path / "q.npy", np.array([0.0, 1.0, 1.0, 0.0]))
    data = latent_json("search", f"@{tmp_path / 'q.npy'}", "-k", "1", server=server)
    assert data["hits"][0]["id"] == "m12"


def test_distance(server: str) -> None:
    data = latent_json("distance", "id:e0", "vec:0,1,0,0", server=server)
    assert set(data) == {"cosine", "angular", "euclidean", "cross_modal", "a_modality", "b_modality"}
    assert data["cosine"] == pytest.approx(0.0, abs=1e-6) and data["angular"] == pytest.approx(0.5)
    text = latent("distance", "id:e0", "id:m01", server=server)
    assert text.returncode == 0 and text.stdout.startswith("cosine 0.7071")


def test_midpoint_and_interpolate(server: str) -> None:
    mid = latent_json("midpoint", "id:e0", "id:e1", "--k", "1", server=server)
    assert mid["t"] == pytest.approx(0.5) and [h["id"] for h in mid["hits"]] == ["m01"]
    path = latent_json("interpolate", "id:e0", "id:e1", "--steps", "3", "--k", "1", server=server)
    assert [s["t"] for s in path["steps"]] == pytest.approx([0, 0.5, 1])
    assert [s["hits"][0]["id"] for s in path["steps"]] == ["e0", "m01", "e1"]
    assert path["angle"] == pytest.approx(1.570796, abs=1e-5)
    ts = latent_json("interpolate", "id:e1", "id:e2", "--t", "0.5", "--distinct", "--k", "1", server=server)
    assert len(ts["steps"]) == 1 and ts["steps"][0]["hits"][0]["id"] == "m12"
    text = latent("interpolate", "id:e0", "id:e1", "--steps", "2", "--lerp", server=server)
    assert text.returncode == 0 and text.stdout.startswith("angle 1.5708 rad")


def test_analogy_encode_get_delete_stats(server: str) -> None:
    hits = latent_json("analogy", "id:e0", "id:m01", "id:e2", "-k", "1", server=server)["hits"]
    assert hits[0]["id"] == "m12"
    points = latent_json("encode", "vec:3,4,0,0", "id:e2", server=server)["points"]
    assert points[0]["vector"] == pytest.approx([0.6, 0.8, 0, 0]) and points[0]["dimension"] == 4
    assert points[1]["input"] == "id:e2"
    got = latent_json("get", "e0", "zzz", server=server)
    assert [i["id"] for i in got["items"]] == ["e0"] and got["missing"] == ["zzz"]
    assert "vector" not in got["items"][0]
    stats = latent_json("stats", server=server)
    assert COLLECTION in [c["name"] for c in stats["collections"]]
    text = latent("stats", server=server)
    assert text.returncode == 0 and COLLECTION in text.stdout


def test_collections_commands(server: str) -> None:
    created = latent_json("collections", "create", "cli_tmp", "--dimension", "3", server=server)
    assert created["name"] == "cli_tmp" and created["dimension"] == 3
    names = [c["name"] for c in latent_json("collections", server=server)["collections"]]
    assert {"cli_tmp", COLLECTION} <= set(names)
    assert latent_json("collections", "describe", "cli_tmp", server=server)["count"] == 0
    assert latent("collections", server=server).stdout.splitlines()[0].split()[:3] == ["name", "model", "dim"]
    deleted = latent("delete", "nothing", "-c", "cli_tmp", server=server)
    assert deleted.returncode == 0 and deleted.stdout.startswith("deleted 0 of 1")
    assert latent_json("collections", "drop", "cli_tmp", server=server) == {"dropped": "cli_tmp"}


def test_server_errors_are_one_line_and_exit_1(server: str) -> None:
    result = latent("search", "vec:1,0,0,0", "-c", "no_such_collection", server=server)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: NOT_FOUND (COLLECTION_NOT_FOUND): ")
    assert len(result.stderr.strip().splitlines()) == 1
    wrong_dim = latent("search", "vec:1,0", server=server)
    assert wrong_dim.returncode == 1 and wrong_dim.stderr.startswith("error: INVALID_ARGUMENT")
    # An edit by text needs a model: a vector-only collection refuses it.
    edit = latent("edit", "id:e0", "--from", "a red shape", "--to", "a blue shape", server=server)
    assert edit.returncode == 1 and edit.stderr.startswith("error: FAILED_PRECONDITION")


def test_usage_errors_exit_2(server: str, tmp_path: Path) -> None:
    bad_filter = latent("search", "x", "--filter", "{nope", server=server)
    assert bad_filter.returncode == 2 and bad_filter.stderr.startswith("error: ")
    missing = latent("search", f"@{tmp_path / 'missing.npy'}", server=server)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    argparse_error = latent("interpolate", "a", "b", "--t", "0.5", "--steps", "3", server=server)
    assert argparse_error.returncode == 2
    no_collection = latent("search", "x", LATENTSPACE_SERVER=server)
    assert no_collection.returncode == 2 and "collection" in no_collection.stderr


def test_unreachable_server_names_the_address() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    result = latent("collections", "--server", address)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot reach a latentspace server at {address}")


def test_ranking_flags_score_mode_modality_and_diversity(server: str) -> None:
    plain = latent_json("search", "vec:1,0.9,0,0", "-k", "3", server=server)["hits"]
    assert [h["id"] for h in plain] == ["m01", "e0", "e1"]
    # MMR: after m01, e2 (orthogonal to it) beats e0 and e1 (0.71 to it) once diversity outweighs relevance.
    diverse = latent_json("search", "vec:1,0.9,0,0", "-k", "3", "--diversity", "0.9", "--pool", "5", server=server)
    assert [h["id"] for h in diverse["hits"]] == ["m01", "e2", "e0"]
    # One modality only: calibration keeps the cosine's order; its scores are standardised.
    calibrated = latent_json("search", "vec:1,0.9,0,0", "-k", "3", "--score-mode", "calibrated", server=server)["hits"]
    assert [h["id"] for h in calibrated] == ["m01", "e0", "e1"] and calibrated[0]["score"] > 1.0
    assert latent_json("search", "vec:1,0.9,0,0", "--modality", "text", server=server)["hits"] == []
    path = latent_json("interpolate", "vec:1,0.9,0,0", "id:e2", "--steps", "2", "--k", "2", "--diversity", "0.9",
                       server=server)
    assert [h["id"] for h in path["steps"][0]["hits"]] == ["m01", "e2"]
    text = latent("search", "vec:1,0.9,0,0", "-k", "2", "--score-mode", "calibrated", "--diversity", "0.5",
                  "--explain", server=server)
    assert text.returncode == 0, text.stderr
    assert "calibrated score = (cosine 0.9986 - " in text.stdout and "placed by diversity" in text.stdout
    bad = latent("search", "vec:1,0.9,0,0", "--diversity", "2", server=server)
    assert bad.returncode == 1 and "options.diversity" in bad.stderr
