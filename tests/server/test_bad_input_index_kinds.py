"""Index kinds through the real server: refused with INVALID_ARGUMENT on ``index_kind``, never a dead server.

Several of these strings, built by FAISS inside the serving process as before, would abort or
segfault it (``HNSW0``, ``HNSW1``, ``PQ8x0``) or hold 160 MB for an empty collection
(``IVF1000000,Flat``).
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from latentspace.server.settings import Limits, Settings
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import types_pb2 as pb
from tests.server.wire import Stubs, reason_of, search, vector_items

DIM = 8
VECTORS = np.random.default_rng(11).normal(size=(40, DIM)).astype(np.float32)


def serve(tmp_path_factory: pytest.TempPathFactory, limits: Limits):
    from tests.conftest import ServerThread

    server = ServerThread(tmp_path_factory.mktemp("data"), limits=limits).start()
    stubs = Stubs(server.address)
    stubs.collections.CreateCollection(api.CreateCollectionRequest(name="vec", dimension=DIM), timeout=30)
    stubs.collections.Upsert(api.UpsertRequest(collection="vec", items=vector_items(VECTORS)), timeout=30)
    return server, stubs


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    # The limits come from LATENTSPACE_* names, as an operator sets them.
    limits = Settings.load({"LATENTSPACE_MAX_INDEX_NLIST": "4096", "LATENTSPACE_MAX_INDEX_HNSW_M": "64"}).limits
    server, stubs = serve(tmp_path_factory, limits)
    yield stubs
    stubs.close()
    server.stop()


def create(stubs: Stubs, kind: str, name: str = "c", dimension: int = DIM) -> api.CollectionInfo:
    return stubs.collections.CreateCollection(
        api.CreateCollectionRequest(name=name, dimension=dimension, index_kind=kind), timeout=120)


def assert_refused_and_serving(stubs: Stubs, kind: str, message: str, dimension: int = DIM) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        create(stubs, kind, dimension=dimension)
    error = caught.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error.details().startswith("index_kind: ") and repr(kind) in error.details()
    assert message in error.details()
    assert reason_of(error) == "INVALID_INPUT"
    # Still serving, with the same answers, and nothing half-created.
    assert search(stubs, "vec", pb.Query(id="v3"), k=3)[0].id == "v3"
    listed = stubs.collections.ListCollections(api.ListCollectionsRequest(), timeout=30)
    assert [c.name for c in listed.collections] == ["vec"]


ALLOWED = "Allowed: Flat; HNSW<M>[_Flat|_SQ<b>] (M 4..64); IVF<nlist>[_HNSW<M>],<codes> (nlist 1..4096"
CASES = {
    "huge nlist": ("IVF1000000,Flat", "nlist must be 1..4096 (limit max_index_nlist), got 1000000"),
    "nlist over the operator's limit": ("IVF8192,Flat", "nlist must be 1..4096"),
    "huge M": ("HNSW100000", "HNSW's M must be 4..64 (limit max_index_hnsw_m)"),
    "M that aborts FAISS": ("HNSW0", "HNSW's M must be 4..64"),
    "M that segfaults FAISS": ("HNSW1", "HNSW's M must be 4..64"),
    "PQ bits that segfault FAISS": ("PQ8x0", "PQ's nbits must be 4..8"),
    "PQ that does not divide the dimension": ("PQ7", "PQ's 7 sub-quantizers must divide the dimension 8"),
    "IVF-PQ that does not divide the dimension": ("IVF16,PQ3", "must divide the dimension 8"),
    "transform wider than the vectors": ("PCA16,Flat", "PCA's output dimension must be 1..8"),
    "refine stage": ("IVF2,Flat,RFlat", "refine stages are left out"),
    "NSG": ("NSG16", "NSG is left out"),
    "HNSW over PQ (L2 only)": ("HNSW8_PQ4", "HNSW with PQ storage is left out"),
    "IDMap": ("IDMap2,Flat", "IDMap is left out"),
    "unknown": ("NoSuchKind", ALLOWED),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_index_kind_is_invalid_argument_and_the_server_keeps_serving(stubs, case):
    kind, message = CASES[case]
    assert_refused_and_serving(stubs, kind, message)


def test_memory_estimate_over_the_limit(stubs):
    assert_refused_and_serving(stubs, "IVF4096,Flat", "(max_index_fixed_bytes)", dimension=4096)


def test_kinds_in_the_grammar_are_created_after_a_trial_and_serve(stubs):
    for name, kind in (("ivfpq", "IVF16,PQ4"), ("hnsw", "HNSW16")):
        info = create(stubs, kind, name=name)
        assert info.index_kind == kind
        stubs.collections.Upsert(api.UpsertRequest(collection=name, items=vector_items(VECTORS)), timeout=30)
        assert search(stubs, name, pb.Query(id="v3"), k=3)[0].id == "v3"
        stubs.collections.DropCollection(api.DropCollectionRequest(name=name), timeout=30)


@pytest.mark.parametrize(("limits", "message"), [
    (Limits(index_trial_memory_bytes=1 << 20), "needed more than 1 MiB in a trial run on random vectors "
                                               "(limit index_trial_memory_bytes)"),
    (Limits(index_trial_timeout_s=0.01), "took longer than 0.01 s in a trial run on random vectors "
                                         "(limit index_trial_timeout_s)"),
], ids=["out of memory", "out of time"])
def test_a_trial_that_runs_out_of_memory_or_time_is_invalid_argument(tmp_path_factory, limits, message):
    server, stubs = serve(tmp_path_factory, limits)
    try:
        assert_refused_and_serving(stubs, "IVF16,PQ4", message)
        assert create(stubs, "HNSW16", name="hnsw").index_kind == "HNSW16"  # no trial process needed
    finally:
        stubs.close()
        server.stop()
