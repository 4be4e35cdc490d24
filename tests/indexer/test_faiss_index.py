"""FaissIndex: exact and ANN kinds behind one interface, the k-hits guarantee, snapshots."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from latentspace.indexer.index import FaissIndex, SearchParams
from latentspace.indexer.index import faiss_index as faiss_index_module
from latentspace.indexer.index.index_kind_trial import check_index_kind

DIM = 16
N = 3000
KINDS = ["Flat", "HNSW16", "IVF16,Flat", "IVF16,PQ4x4", "HNSW8,SQ8"]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return np.arange(N, dtype=np.int64) * 3 + 1, unit(rng.standard_normal((N, DIM)))


class Source:
    """A dict-backed vector source standing in for the item store."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray):
        self.table = {int(k): v for k, v in zip(keys, vectors, strict=True)}

    def remove(self, keys: np.ndarray) -> None:
        for k in keys:
            self.table.pop(int(k), None)

    def __call__(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = np.array(sorted(int(k) for k in keys if int(k) in self.table), dtype=np.int64)
        vectors = np.array([self.table[int(k)] for k in found], dtype=np.float32).reshape(-1, DIM)
        return found, vectors


def build(kind: str, keys: np.ndarray, vectors: np.ndarray) -> tuple[FaissIndex, Source]:
    source = Source(keys, vectors)
    index = FaissIndex(DIM, kind, vector_source=source, min_train_size=1000)
    for start in range(0, len(keys), 500):
        index.add(keys[start : start + 500], vectors[start : start + 500])
    return index, source


def brute(queries: np.ndarray, keys: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
    return keys[order]


def test_flat_is_exact_and_pads_with_minus_one(data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, _ = build("Flat", keys[:5], vectors[:5])
    scores, got = index.search(vectors[:2], 8)
    assert got.shape == (2, 8) and (got[:, 5:] == -1).all() and np.isneginf(scores[:, 5:]).all()
    np.testing.assert_array_equal(got[:, :5], brute(vectors[:2], keys[:5], vectors[:5], 5))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_trains_searches_and_removes(kind: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, source = build(kind, keys, vectors)
    assert index.is_trained and index.ntotal == N
    _, got = index.search(vectors[:20], 1, params=SearchParams(ef_search=64, nprobe=16))
    assert (got[:, 0] == keys[:20]).mean() >= 0.9  # each vector finds itself (ANN: nearly always)
    gone = keys[:1000]
    index.remove(gone)
    source.remove(gone)
    assert index.ntotal == N - 1000
    _, got = index.search(vectors[:50], 10)
    assert not np.isin(got, gone).any() and (got >= 0).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("share", [0.002, 0.05, 0.5])
def test_filtered_search_returns_exactly_k(
    kind: str, share: float, data: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys, vectors = data
    # Make the widening path run too (not only the exact shortcut for small allowed sets).
    monkeypatch.setattr(faiss_index_module, "EXACT_SEARCH_MAX_KEYS", 10)
    index, source = build(kind, keys, vectors)
    index.remove(keys[::2])  # tombstones for HNSW, real removal elsewhere
    source.remove(keys[::2])
    rng = np.random.default_rng(1)
    allowed = rng.choice(keys, size=max(int(share * N), 12), replace=False)
    live_allowed = allowed[np.isin(allowed, keys[1::2])]
    k = 10
    queries = unit(rng.standard_normal((8, DIM)))
    scores, got = index.search(queries, k, allowed_keys=allowed, params=SearchParams(ef_search=16, nprobe=1))
    want = min(k, len(live_allowed))
    assert ((got >= 0).sum(axis=1) == want).all()
    assert np.isin(got[got >= 0], live_allowed).all()
    assert (np.diff(scores[:, :want], axis=1) <= 1e-6).all()  # best first


def test_flat_filtered_search_is_exact(data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, _ = build("Flat", keys, vectors)
    allowed = keys[::37]
    _, got = index.search(vectors[:5], 7, allowed_keys=allowed)
    np.testing.assert_array_equal(got, brute(vectors[:5], allowed, vectors[::37], 7))
    _, none = index.search(vectors[:5], 7, allowed_keys=np.empty(0, dtype=np.int64))
    assert (none == -1).all()


def test_compressed_kinds_report_exact_scores(data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, source = build("IVF16,PQ4x4", keys, vectors)
    scores, got = index.search(vectors[:5], 5)
    exact = np.array([[vectors[:5][r] @ source.table[int(k)] for k in row] for r, row in enumerate(got)])
    np.testing.assert_allclose(scores, exact, atol=1e-5)


def test_untrained_ivf_is_exact_until_enough_vectors(data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index = FaissIndex(DIM, "IVF16,Flat", vector_source=Source(keys, vectors), min_train_size=1000)
    index.add(keys[:600], vectors[:600])
    assert not index.is_trained and index.ntotal == 600
    _, got = index.search(vectors[:5], 10, allowed_keys=keys[:600:3])
    np.testing.assert_array_equal(got, brute(vectors[:5], keys[:600:3], vectors[:600:3], 10))
    index.remove(keys[:10])
    index.add(keys[600:1200], vectors[600:1200])
    assert index.is_trained and index.ntotal == 1190


def test_hnsw_tombstones_and_compaction_flag(data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, _ = build("HNSW16", keys[:100], vectors[:100])
    index.remove(np.concatenate([keys[:10], [999_999]]))  # an absent key is ignored
    assert index.tombstone_count == 10 and index.ntotal == 90 and not index.needs_compaction
    index.remove(keys[10:30])
    assert index.needs_compaction


@pytest.mark.parametrize("kind", ["Flat", "HNSW16", "IVF16,Flat"])
@pytest.mark.parametrize("count", [600, N])  # IVF: untrained (pending) and trained snapshots
def test_save_load_round_trip(
    kind: str, count: int, tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    keys, vectors = data
    index, source = build(kind, keys[:count], vectors[:count])
    index.remove(keys[:5])
    source.remove(keys[:5])
    state = index.save(tmp_path / "index.faiss")
    loaded = FaissIndex.load(tmp_path / "index.faiss", state, vector_source=source)
    assert loaded.ntotal == index.ntotal and loaded.is_trained == index.is_trained
    assert loaded.tombstone_count == index.tombstone_count
    for allowed in (None, keys[:count:7]):
        a = index.search(vectors[:10], 5, allowed_keys=allowed)
        b = loaded.search(vectors[:10], 5, allowed_keys=allowed)
        np.testing.assert_array_equal(a[1], b[1])
    assert not [p for p in tmp_path.iterdir() if p.name != "index.faiss"]  # no temp files left


def test_load_refuses_damaged_or_foreign_files(tmp_path: Path, data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, _ = build("Flat", keys[:50], vectors[:50])
    path = tmp_path / "index.faiss"
    state = index.save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="does not match"):
        FaissIndex.load(path, state)
    path.write_bytes(raw)
    with pytest.raises(ValueError):
        FaissIndex.load(path, {**state, "factory": "HNSW16"})
    with pytest.raises(ValueError):
        FaissIndex.load(path, {**state, "stored": 49})


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="cannot build"):
        FaissIndex(DIM, "NoSuchKind")
    with pytest.raises(ValueError, match="IDMap"):
        FaissIndex(DIM, "IDMap,Flat")
    index = FaissIndex(DIM)
    with pytest.raises(ValueError):
        index.search(np.zeros((1, DIM), np.float32), 0)
    with pytest.raises(ValueError):
        index.add(np.arange(2), np.zeros((2, DIM + 1), np.float32))


# --------------------------------------------------------------------------- HNSW defaults
def hnsw_knobs(path: Path) -> tuple[int, int]:
    """efConstruction and efSearch as written in an index file."""
    outer = faiss.read_index(str(path))
    inner = faiss.downcast_index(faiss.downcast_index(outer).index)
    return int(inner.hnsw.efConstruction), int(inner.hnsw.efSearch)


@pytest.mark.parametrize("kind", ["HNSW16", "HNSW8,SQ8"])
def test_hnsw_defaults_are_set_and_survive_a_snapshot(
    kind: str, tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    keys, vectors = data
    index, source = build(kind, keys[:1000], vectors[:1000])
    state = index.save(tmp_path / "first.faiss")
    loaded = FaissIndex.load(tmp_path / "first.faiss", state, vector_source=source)
    loaded.add(keys[1000:1500], vectors[1000:1500])
    loaded.save(tmp_path / "second.faiss")
    defaults = (faiss_index_module.DEFAULT_EF_CONSTRUCTION, faiss_index_module.DEFAULT_EF_SEARCH)
    assert defaults != (40, 16)  # not FAISS's own
    assert hnsw_knobs(tmp_path / "first.faiss") == defaults
    assert hnsw_knobs(tmp_path / "second.faiss") == defaults


@pytest.mark.parametrize("k", [10, 300])
def test_hnsw_searches_at_the_default_ef_unless_the_request_sets_one(
    k: int, data: tuple[np.ndarray, np.ndarray]
) -> None:
    keys, vectors = data
    index, _ = build("HNSW16", keys, vectors)

    def distances(params: SearchParams | None) -> int:
        """Vectors FAISS compared with the queries: grows with the efSearch actually used."""
        faiss.cvar.hnsw_stats.reset()
        index.search(vectors[:20], k, params=params)
        return int(faiss.cvar.hnsw_stats.ndis)

    default_ef = faiss_index_module.default_ef_search(k, len(keys))
    assert default_ef >= max(faiss_index_module.DEFAULT_EF_SEARCH, k)
    # Large graphs search wider: 1M vectors at efSearch 128 found 0.89 of the top-10, at 400 0.96.
    assert faiss_index_module.default_ef_search(10, 1_000_000) == 400
    assert faiss_index_module.default_ef_search(10, 200_000) == faiss_index_module.DEFAULT_EF_SEARCH
    assert distances(None) == distances(SearchParams(ef_search=default_ef))
    assert distances(SearchParams(ef_search=16)) < distances(None)  # the request's knob wins
    assert distances(SearchParams(ef_search=2 * default_ef)) > distances(None)


def test_ivf_probes_the_default_share_of_lists_unless_the_request_sets_nprobe(
    data: tuple[np.ndarray, np.ndarray]
) -> None:
    keys, vectors = data
    index, _ = build("IVF32,Flat", keys, vectors)

    def lists_probed(params: SearchParams | None) -> int:
        faiss.cvar.indexIVF_stats.reset()
        index.search(vectors[:1], 10, params=params)
        return int(faiss.cvar.indexIVF_stats.nlist)

    # FAISS's own default (1 list) misses a third of the top-10 on clustered vectors; the default
    # probes 16 lists, or one in 128 of many, and never more than there are.
    assert [faiss_index_module.default_nprobe(n) for n in (8, 32, 2048, 4096, 65536)] == [8, 16, 16, 32, 512]
    assert lists_probed(None) == 16
    assert lists_probed(SearchParams(nprobe=2)) == 2  # the request's knob wins


# --------------------------------------------------------------------------- removal keeps ids right
#: Kinds whose storage compacts in IDMap2's order remove for real; the rest keep tombstones.
#: ("np": no polysemous training, which costs seconds and changes nothing tested here.)
REMOVES_IN_PLACE = {"Flat": True, "PQ4np": True, "SQ8": True, "OPQ4,PQ4np": True, "PCA8,Flat": True,
                    "RQ2x4": True, "HNSW16": False, "IVF4,Flat": False, "IVF2,SQ8": False,
                    "OPQ4,IVF2,PQ4np": False, "IVF4,PQ4x4fs": False, "Flat,RFlat": False}


@pytest.mark.parametrize(("kind", "in_place"), REMOVES_IN_PLACE.items())
def test_only_order_preserving_storages_remove_in_place(kind: str, in_place: bool,
                                                        data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index, _ = build(kind, keys[:1200], vectors[:1200])
    assert index.is_trained
    index.remove(keys[:50])
    assert index.ntotal == 1150
    assert (index.tombstone_count == 0) is in_place  # an IVF never reaches IDMap2.remove_ids


#: Every list, a wide beam: the self-queries below leave no room for ANN misses.
LOOKUP = SearchParams(ef_search=256, nprobe=64)


@pytest.mark.parametrize("kind", ["Flat", "HNSW16", "IVF4,Flat", "IVF2,SQ8", "OPQ4,IVF2,PQ4", "PQ4np", "SQ8"])
def test_self_query_after_deletes_and_replacements_finds_the_right_key(
    kind: str, data: tuple[np.ndarray, np.ndarray]
) -> None:
    keys, vectors = data
    index, source = build(kind, keys[:2000], vectors[:2000])
    assert index.is_trained
    live = dict(zip(keys[:2000].tolist(), range(2000), strict=True))  # key -> row of `vectors`
    # Delete 300 keys, and replace 200 items (their old key goes, the vector comes back under a new key).
    gone = keys[100:600]
    index.remove(gone)
    source.remove(gone)
    new_keys = np.arange(200, dtype=np.int64) * 3 + 10**6
    rows = np.arange(400, 600)
    index.add(new_keys, vectors[rows])
    source.table.update({int(k): vectors[r] for k, r in zip(new_keys, rows, strict=True)})
    for k in gone.tolist():
        del live[k]
    live.update({int(k): int(r) for k, r in zip(new_keys, rows, strict=True)})
    want = np.array(list(live), dtype=np.int64)
    scores, got = index.search(vectors[list(live.values())], 1, params=LOOKUP)
    wrong = want[got[:, 0] != want]
    assert len(wrong) == 0, f"{kind}: {len(wrong)} of {len(want)} self-queries got another key"
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-4)
    assert not np.isin(got, gone).any()


@pytest.mark.parametrize(("kind", "codebook"), [("IVF16,Flat", 16), ("PQ4", 256), ("OPQ4,IVF2,PQ4", 256),
                                                ("OPQ4,PQ4x4", 256), ("HNSW8_PQ4", 256), ("RQ2x4", 16),
                                                ("IVF64,PQ4x4fs", 64), ("Flat", 1), ("HNSW16", 1)])
def test_training_waits_for_the_largest_codebook(kind: str, codebook: int,
                                                 data: tuple[np.ndarray, np.ndarray]) -> None:
    keys, vectors = data
    index = FaissIndex(DIM, kind, vector_source=Source(keys, vectors))
    assert index.largest_codebook == codebook
    assert index.min_train_size == 39 * codebook
    index.add(keys[:300], vectors[:300])  # OPQ/HNSW-PQ used to train (and fail) on 78 vectors here
    _, got = index.search(vectors[:5], 1)
    np.testing.assert_array_equal(got[:, 0], keys[:5])


def test_opq_is_never_trained_on_fewer_vectors_than_twice_the_dimension() -> None:
    # FAISS's OPQ trained on fewer vectors than dimensions corrupts the heap and kills the process.
    rows = unit(np.random.default_rng(3).standard_normal((100, 64)))
    index = FaissIndex(64, "OPQ8,PQ8x4")
    assert index.min_train_size == max(39 * 256, 128)
    with pytest.raises(ValueError, match="at least 128 training vectors"):
        index.train(rows)
    assert FaissIndex(64, "PQ8x4").min_train_size == 39 * 16  # no floor without OPQ


# --------------------------------------------------------------------------- index-kind trial run
@pytest.mark.parametrize("kind", ["Flat", "HNSW16", "IVF4,Flat", "IVF1024,PQ4", "OPQ4,IVF2,PQ4", "HNSW8,SQ8",
                                  "IVF4,PQ4x4fs", "Flat,RFlat"])
def test_trial_run_accepts_kinds_that_work(kind: str) -> None:
    check_index_kind(DIM, kind)  # IVF1024 is trialled with 16 lists: fast


@pytest.mark.parametrize(("kind", "why"), [
    ("IVF2,Flat,RFlat", "params have incorrect type"),  # every search would raise
    ("NSG16", "smaller than 100"),  # cannot index a small collection (nor add incrementally)
    ("HNSW8_PQ4", "not an inner-product index"),  # FAISS builds it with the L2 metric
    ("NoSuchKind", "cannot build"),
    ("PQ2x14", "codebook of 16384 centroids"),  # too big to train even for a trial
])
def test_trial_run_refuses_kinds_that_fail_later(kind: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as err:
        check_index_kind(DIM, kind)
    assert repr(kind) in str(err.value)
