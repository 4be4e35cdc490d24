"""A served data dir survives a graceful restart and a killed process with identical answers."""

from __future__ import annotations

import numpy as np

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, vec, vector_items

DIM = 16


def answers(address: str, queries: np.ndarray) -> list[list[tuple[str, float]]]:
    stubs = Stubs(address)
    try:
        response = stubs.latent.SearchBatch(
            api.SearchBatchRequest(collection="c", queries=[pb.Query(vector=vec(q)) for q in queries],
                                   options=api.SearchOptions(k=10)),
            timeout=60,
        )
        return [[(h.id, round(h.score, 5)) for h in r.hits] for r in response.results]
    finally:
        stubs.close()


def test_restart_and_kill_keep_every_acknowledged_write(tmp_path, server_process):
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(300, DIM)), rng.normal(size=(200, DIM))
    queries = rng.normal(size=(8, DIM))
    data = tmp_path / "data"

    server = server_process(data)
    stubs = Stubs(server.address)
    stubs.collections.CreateCollection(api.CreateCollectionRequest(name="c", dimension=DIM), timeout=30)
    stubs.collections.Upsert(api.UpsertRequest(collection="c", items=vector_items(first)), timeout=60)
    stubs.collections.Delete(api.DeleteRequest(collection="c", ids=["v0", "v1"]), timeout=30)
    stubs.close()
    before = answers(server.address, queries)
    assert server.terminate() == 0

    server = server_process(data)
    assert answers(server.address, queries) == before
    stubs = Stubs(server.address)
    acked = stubs.collections.Upsert(
        api.UpsertRequest(collection="c", items=vector_items(second, prefix="w")), timeout=60
    )
    assert acked.upserted == 200
    stubs.close()
    after_writes = answers(server.address, queries)
    server.kill()  # no graceful snapshot: the index must be caught up from SQLite

    server = server_process(data)
    assert answers(server.address, queries) == after_writes
    stubs = Stubs(server.address)
    info = stubs.collections.DescribeCollection(api.DescribeCollectionRequest(name="c"), timeout=30)
    assert info.count == 300 - 2 + 200
    got = stubs.collections.Get(api.GetRequest(collection="c", ids=["w199", "v0"]), timeout=30)
    assert [i.id for i in got.items] == ["w199"] and list(got.missing) == ["v0"]
    stubs.close()


def test_second_server_on_the_same_data_dir_fails_at_once(tmp_path, server_process):
    import subprocess

    from tests.conftest import LATENT, subprocess_env

    server = server_process(tmp_path / "data")
    result = subprocess.run(
        [*LATENT, "serve", "--data", str(tmp_path / "data"), "--port", "0"],
        capture_output=True, text=True, timeout=120, env=subprocess_env(),
    )
    assert result.returncode == 1
    assert f"pid {server.proc.pid}" in result.stderr
