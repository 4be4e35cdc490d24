"""A FAISS index behind the :class:`VectorIndex` interface, for any factory string.

The index is ``IDMap2,<factory>`` with inner-product metric, so FAISS ids are the store's keys.
What a kind cannot do is made up for here, so callers never need to know the kind:

- kinds that cannot remove safely keep a tombstone set, filtered out at search time and counted
  so that the collection can compact (rebuild) when it grows. Only flat-code storages (Flat, PQ,
  SQ, RQ/LSQ, optionally behind a pre-transform such as OPQ or PCA) remove for real: their removal
  compacts codes in order, exactly as ``IndexIDMap2`` compacts its id table. Everything else uses
  tombstones: HNSW and NSG cannot remove at all, and an IVF (alone or inside OPQ/refine wrappers)
  removes from its lists without renumbering the positions IDMap2 maps, so after an
  ``IDMap2.remove_ids`` its hits carry the wrong ids and later removals abort the process;
- kinds that need training (IVF, PQ, OPQ, ...) hold their first vectors in an exact side index until
  there are enough to train on (39 per centroid of the largest codebook); until then searches are
  exact;
- ANN kinds widen their candidate list when a filter or tombstones leave fewer than k hits, and
  finally fall back to an exact search over the allowed keys' vectors;
- kinds that store compressed codes (PQ, SQ) re-rank their candidates with the exact vectors.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from latentspace.indexer.index.exact_search import empty_results, exact_top_k, merge_top_k
from latentspace.indexer.index.vector_index import IndexState, SearchParams, VectorIndex, VectorSource
from latentspace.indexer.store.atomic_files import replacing

#: Below this many allowed keys an ANN kind goes straight to exact search: cheaper than widening.
EXACT_SEARCH_MAX_KEYS = 20_000
#: Keys per batch when reading vectors for exact search (bounds memory: 64k x 768 x 4 B = 200 MB).
_EXACT_BATCH = 65_536
#: Compressed-code kinds (PQ, SQ) re-rank at least this many ANN candidates with exact vectors ...
RERANK_MIN_CANDIDATES = 64
#: ... and at least this many per result asked for (a request's ``rerank`` overrides both).
RERANK_PER_K = 10
# (1M clustered vectors in IVF4096,PQ96x8, nprobe 32: re-ranking 40 candidates for k=10 found 0.954
# of the exact top-10, 64 found 0.984, 100 found 0.993 at 78% of the speed; benchmarks/README.md.)
#: Tombstones above this fraction of the stored vectors make ``needs_compaction`` true.
COMPACTION_RATIO = 0.2
#: FAISS's k-means wants this many training points per centroid (it warns below it).
_POINTS_PER_CENTROID = 39
#: OPQ trains an 8-bit product quantizer internally (FAISS fixes its size).
_OPQ_CENTROIDS = 256
# HNSW defaults, from benchmarks/hnsw_recall.py (table and reasoning: benchmarks/README.md, "HNSW
# defaults"). FAISS's own (efConstruction 40, efSearch 16) find 0.80 of the exact top-10 of MiniLM
# vectors of 117k WordNet glosses and 0.71 on 100k clustered vectors; these find 0.96 and 0.97, at
# about 5x the search time of efSearch 16 (about 0.5 ms a query on one core) and 1.4x the build time.
#: ``hnsw.efConstruction`` of every HNSW kind: candidates kept while linking each added vector.
DEFAULT_EF_CONSTRUCTION = 80
#: The least ``efSearch`` a search uses when the request sets none (see :func:`default_ef_search`).
DEFAULT_EF_SEARCH = 128
#: Above ``DEFAULT_EF_SEARCH / EF_SEARCH_PER_K`` results, efSearch grows with k.
EF_SEARCH_PER_K = 2
#: Past ``DEFAULT_EF_SEARCH * VECTORS_PER_EF`` vectors, efSearch grows with the graph: at a fixed
#: efSearch recall falls as it grows (1M clustered vectors: 0.89 at 128, 0.95 at 256, 0.96 at 384-512,
#: where efConstruction 80 caps it; 200k: 0.98 at 128).
VECTORS_PER_EF = 2500
# IVF defaults, from benchmarks/million_vectors.py (benchmarks/README.md, "A million vectors"):
# FAISS's own nprobe (1 list) finds 0.71 of the exact top-10 on 200k clustered vectors in
# IVF2048,PQ96x8; 16 lists (1/128 of them) find 0.96. The share of lists, not their number, is what
# holds recall as nlist grows with the collection.
#: The least ``nprobe`` an IVF search uses when the request sets none (see :func:`default_nprobe`).
DEFAULT_NPROBE = 16
#: Past ``DEFAULT_NPROBE * NLIST_PER_PROBE`` lists, a default search probes one list in this many.
NLIST_PER_PROBE = 128


def default_ef_search(k: int, vectors: int = 0) -> int:
    """The efSearch of an HNSW search for ``k`` results in a graph of ``vectors`` when the request
    sets none."""
    return max(DEFAULT_EF_SEARCH, EF_SEARCH_PER_K * k, vectors // VECTORS_PER_EF)


def default_nprobe(nlist: int) -> int:
    """The nprobe of an IVF search over ``nlist`` lists when the request sets none."""
    return min(nlist, max(DEFAULT_NPROBE, nlist // NLIST_PER_PROBE))


def rerank_depth(k: int, requested: int = 0) -> int:
    """How many candidates a compressed-code search for ``k`` results re-ranks exactly."""
    return max(k, requested or max(RERANK_PER_K * k, RERANK_MIN_CANDIDATES))


def _as_keys(keys: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(keys, dtype=np.int64).reshape(-1))


def _as_vectors(vectors: np.ndarray, dimension: int) -> np.ndarray:
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2 or array.shape[1] != dimension:
        raise ValueError(f"vectors have shape {array.shape}, expected (n, {dimension})")
    return array


# FAISS only reads its search parameters, so one object per value serves every search at once;
# making one costs about as much as the rest of the Python around a search.
@functools.lru_cache(maxsize=64)
def _hnsw_params(ef_search: int) -> faiss.SearchParameters:
    params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]  # not in faiss's stubs
    params.efSearch = ef_search
    return params


@functools.lru_cache(maxsize=64)
def _ivf_params(nprobe: int) -> faiss.SearchParameters:
    params = faiss.SearchParametersIVF()
    params.nprobe = nprobe
    return params


def _file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _new_idmap(dimension: int, factory: str) -> faiss.IndexIDMap2:
    index = faiss.index_factory(dimension, f"IDMap2,{factory}", faiss.METRIC_INNER_PRODUCT)
    assert isinstance(index, faiss.IndexIDMap2)
    return index


def _removes_in_place(inner: faiss.Index) -> bool:
    """Whether ``IDMap2.remove_ids`` keeps ids right for this inner index (else: tombstones).

    IDMap2 removes by internal position, then compacts its id table in order. That is right only
    when the inner index compacts its vectors in the same order: the flat-code storages do
    (``IndexFlatCodes``: Flat, PQ, SQ, additive quantizers), also behind pre-transforms, which
    delegate. An IVF removes from its lists but keeps the old positions there, so hits after a
    removal carry other items' ids; HNSW, NSG, fast-scan and refine indexes cannot remove at all.
    """
    if faiss.try_extract_index_ivf(inner) is not None:
        return False
    base = faiss.downcast_index(inner)
    while isinstance(base, faiss.IndexPreTransform):
        base = faiss.downcast_index(base.index)
    return isinstance(base, faiss.IndexFlatCodes)


def _nested(index: faiss.Index) -> Iterator[faiss.Index]:
    """``index`` and the indexes a factory string can nest in it (pre-transform, refine, HNSW storage).

    The wrappers are non-owning: they live as long as the outermost index does.
    """
    index = faiss.downcast_index(index)
    yield index
    if isinstance(index, faiss.IndexPreTransform):
        yield from _nested(index.index)
    if isinstance(index, faiss.IndexRefine):
        yield from _nested(index.base_index)
    if isinstance(index, faiss.IndexHNSW):
        yield from _nested(index.storage)


def _transforms(index: faiss.Index) -> Iterator[faiss.VectorTransform]:
    """The vector transforms (OPQ, PCA, ...) of every pre-transform in ``index``."""
    for part in _nested(index):
        if isinstance(part, faiss.IndexPreTransform):
            chain: Any = part.chain  # a SWIG std::vector at run time (faiss's stubs say list)
            for i in range(chain.size()):
                yield faiss.downcast_VectorTransform(chain.at(i))


def _has_opq(index: faiss.Index) -> bool:
    return any(isinstance(t, faiss.OPQMatrix) for t in _transforms(index))


def _largest_codebook(index: faiss.Index) -> int:
    """The most centroids any k-means inside ``index`` must place (1 when nothing is trained so):
    IVF lists, product and additive quantizer codebooks, and OPQ's own product quantizer."""
    sizes = [_OPQ_CENTROIDS] if _has_opq(index) else [1]
    for part in _nested(index):
        if isinstance(part, faiss.IndexIVF):
            sizes.append(int(part.nlist))
        pq = getattr(part, "pq", None)
        if isinstance(pq, faiss.ProductQuantizer):
            sizes.append(1 << int(pq.nbits))
        aq = getattr(part, "aq", None)
        if isinstance(aq, faiss.AdditiveQuantizer):
            nbits = faiss.vector_to_array(aq.nbits)
            if len(nbits):
                sizes.append(1 << int(nbits.max()))
    return max(sizes)


class FaissIndex(VectorIndex):
    """A FAISS index of any factory kind; see the module docstring for what it adds."""

    def __init__(
        self,
        dimension: int,
        factory: str = "Flat",
        *,
        vector_source: VectorSource | None = None,
        min_train_size: int | None = None,
    ):
        """Build an empty index from a FAISS factory string (without ``IDMap``: it is added here).

        ``vector_source`` supplies exact vectors by key for exact fallback and re-ranking; without
        it they are reconstructed from the index (exact only for Flat/HNSW-Flat storage).
        Raises ``ValueError`` for a factory string FAISS does not accept.
        """
        if "idmap" in factory.lower():
            raise ValueError(f"index kind {factory!r} must not contain IDMap; keys are mapped here")
        try:
            self._index = _new_idmap(dimension, factory)
        except RuntimeError as exc:
            first_line = str(exc).splitlines()[0] if str(exc) else "unknown error"
            raise ValueError(f"FAISS cannot build index kind {factory!r}: {first_line}") from exc
        self.dimension = dimension
        self.factory = factory
        self._vector_source = vector_source
        inner = faiss.downcast_index(self._index.index)
        self._ivf = faiss.try_extract_index_ivf(inner)
        self._hnsw = inner if isinstance(inner, faiss.IndexHNSW) else None
        # Both are stored in the index file. Searches here take efSearch from default_ef_search(k)
        # whatever the file holds, so snapshots written before these defaults search at them too.
        if self._hnsw is not None:
            self._hnsw.hnsw.efConstruction = DEFAULT_EF_CONSTRUCTION
            self._hnsw.hnsw.efSearch = DEFAULT_EF_SEARCH
        self.is_exact = isinstance(inner, faiss.IndexFlat)
        # Scores of these storages are exact inner products; others (PQ, SQ codes) get re-ranked.
        self._exact_scores = isinstance(inner, faiss.IndexFlat | faiss.IndexHNSWFlat | faiss.IndexIVFFlat)
        # Never IDMap2.remove_ids on an IVF (see _removes_in_place): those kinds keep tombstones.
        self._can_remove = _removes_in_place(inner)
        self._tombstones: set[int] = set()
        self._tombstone_array: np.ndarray | None = None
        self.largest_codebook = _largest_codebook(inner)
        # OPQ trained on fewer vectors than dimensions corrupts FAISS's heap (the process dies), so
        # it is never trained on fewer than twice the dimension.
        self._train_floor = 2 * dimension if _has_opq(inner) else 1
        self.min_train_size = max(min_train_size or _POINTS_PER_CENTROID * self.largest_codebook,
                                  self._train_floor)
        # Until trained, vectors live in an exact side index (and searches are exact).
        self._pending = None if self._index.is_trained else _new_idmap(dimension, "Flat")

    # ------------------------------------------------------------------ state
    @property
    def ntotal(self) -> int:
        """Number of live (searchable) vectors."""
        pending = self._pending.ntotal if self._pending is not None else 0
        return int(self._index.ntotal) - len(self._tombstones) + pending

    @property
    def is_trained(self) -> bool:
        """False while vectors wait in the exact side index for enough to train on."""
        return self._pending is None

    @property
    def tombstone_count(self) -> int:
        """Removed keys still physically in the index (kinds that cannot remove)."""
        return len(self._tombstones)

    @property
    def needs_compaction(self) -> bool:
        """True when tombstones are a large share of the index: rebuild it from the store."""
        return len(self._tombstones) > COMPACTION_RATIO * max(int(self._index.ntotal), 1)

    def _blocked(self) -> np.ndarray:
        if self._tombstone_array is None:
            self._tombstone_array = np.fromiter(sorted(self._tombstones), np.int64, len(self._tombstones))
        return self._tombstone_array

    def live_keys(self) -> np.ndarray:
        """The keys a search can return (tombstones left out), sorted."""
        keys = faiss.vector_to_array(self._index.id_map).astype(np.int64)
        if self._pending is not None:
            keys = np.concatenate([keys, faiss.vector_to_array(self._pending.id_map).astype(np.int64)])
        return np.setdiff1d(keys, self._blocked(), assume_unique=True) if self._tombstones else np.sort(keys)

    # ------------------------------------------------------------------ writes
    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors under new keys; may train the index once enough vectors have arrived."""
        keys, vectors = _as_keys(keys), _as_vectors(vectors, self.dimension)
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys for {len(vectors)} vectors")
        if len(keys) == 0:
            return
        if self._pending is None:
            self._index.add_with_ids(vectors, keys)
            return
        self._pending.add_with_ids(vectors, keys)
        if self._pending.ntotal >= self.min_train_size:
            self._train_from_pending()

    def train(self, vectors: np.ndarray) -> None:
        """Train on a sample now (e.g. from a bulk indexer), then move pending vectors in."""
        if self._pending is None:
            return
        sample = _as_vectors(vectors, self.dimension)
        if len(sample) < self._train_floor:
            raise ValueError(f"index kind {self.factory!r} needs at least {self._train_floor} training "
                             f"vectors, got {len(sample)}")
        self._index.train(sample)
        self._move_pending()

    def _pending_rows(self) -> np.ndarray:
        """The side index's vectors as a view of its own storage (no copy: at a million vectors the
        training sample is hundreds of MB); valid while the side index lives and is not added to."""
        assert self._pending is not None
        flat = faiss.downcast_index(self._pending.index)
        assert isinstance(flat, faiss.IndexFlat)  # the side index is IDMap2,Flat
        count = int(flat.ntotal)
        if count == 0:
            return np.empty((0, self.dimension), dtype=np.float32)
        return faiss.rev_swig_ptr(flat.get_xb(), count * self.dimension).reshape(count, self.dimension)

    def _train_from_pending(self) -> None:
        self._index.train(self._pending_rows())
        self._move_pending()

    def _move_pending(self) -> None:
        assert self._pending is not None
        keys = faiss.vector_to_array(self._pending.id_map).astype(np.int64)
        if len(keys):
            self._index.add_with_ids(self._pending_rows(), keys)
        self._pending = None

    def remove(self, keys: np.ndarray) -> None:
        """Remove keys; kinds that cannot remove record tombstones instead."""
        keys = _as_keys(keys)
        if len(keys) == 0:
            return
        if self._pending is not None:
            self._pending.remove_ids(faiss.IDSelectorBatch(keys))  # IDMap2 over Flat: safe
        if self._can_remove:
            self._index.remove_ids(faiss.IDSelectorBatch(keys))
            return
        present = keys[np.isin(keys, faiss.vector_to_array(self._index.id_map))]
        self._tombstones.update(int(k) for k in present)
        self._tombstone_array = None

    # ------------------------------------------------------------------ search
    def search(
        self,
        queries: np.ndarray,
        k: int,
        allowed_keys: np.ndarray | None = None,
        params: SearchParams | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k inner products; see :meth:`VectorIndex.search` for the guarantees."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = _as_vectors(queries, self.dimension)
        params = params or SearchParams()
        allowed = None if allowed_keys is None else np.unique(_as_keys(allowed_keys))
        if allowed is not None and self._tombstones:
            allowed = np.setdiff1d(allowed, self._blocked(), assume_unique=True)
        if len(queries) == 0 or self.ntotal == 0 or (allowed is not None and len(allowed) == 0):
            return empty_results(len(queries), k)
        if self._pending is not None:
            return self._search_selected(self._pending, queries, k, allowed)
        if self.is_exact:
            return self._search_selected(self._index, queries, k, allowed)
        if allowed is not None and len(allowed) <= max(EXACT_SEARCH_MAX_KEYS, 4 * k):
            return exact_top_k(queries, k, self._vector_batches(allowed))
        if allowed is None and not self._tombstones and self._exact_scores:
            # The common case (nothing to filter out, scores exact): one FAISS call, no Python loop,
            # unless the graph could not reach k keys for some row.
            width = min(k, int(self._index.ntotal))
            scores, keys = self._index.search(queries, width, params=self._faiss_params(params, k, width, 1))
            if width == k and bool((keys >= 0).all()):
                return scores.astype(np.float32, copy=False), keys.astype(np.int64, copy=False)
        return self._search_widening(queries, k, allowed, params)

    @staticmethod
    def _search_selected(
        index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact search of a Flat-backed index, restricted by an id selector inside FAISS."""
        if allowed is None:
            scores, keys = index.search(queries, k)
        else:
            selector = faiss.IDSelectorBatch(allowed)  # must outlive the search: params hold a raw pointer
            search_params = faiss.SearchParameters()
            search_params.sel = selector
            scores, keys = index.search(queries, k, params=search_params)
        return np.where(keys < 0, -np.inf, scores).astype(np.float32), keys.astype(np.int64)

    def _faiss_params(
        self, params: SearchParams, k: int, width: int, widen: int
    ) -> faiss.SearchParameters | None:
        """Per-request knobs, raised with the candidate width so a wider pass also looks further."""
        if self._hnsw is not None:
            return _hnsw_params(max(params.ef_search or default_ef_search(k, int(self._index.ntotal)), width))
        if self._ivf is not None:
            return _ivf_params(self._nprobe(params, widen))
        return None

    def _nprobe(self, params: SearchParams, widen: int) -> int:
        assert self._ivf is not None
        nlist = int(self._ivf.nlist)
        return min(nlist, (params.nprobe or default_nprobe(nlist)) * widen)

    def _search_widening(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None, params: SearchParams
    ) -> tuple[np.ndarray, np.ndarray]:
        """ANN search, post-filtered, widened (x4 each pass) for rows left with fewer than k hits."""
        stored = int(self._index.ntotal)
        need = min(k, len(allowed) if allowed is not None else self.ntotal)
        # Compressed-code kinds keep more candidates for exact re-ranking; exact-score kinds keep k.
        keep = k if self._exact_scores else rerank_depth(k, params.rerank)
        filtered = allowed is not None or bool(self._tombstones)
        width, widen = min(stored, keep * 4 if filtered else keep), 1
        out_scores, out_keys = empty_results(len(queries), keep)
        rows = np.arange(len(queries))
        while len(rows):
            search_params = self._faiss_params(params, k, width, widen)
            scores, keys = self._index.search(queries[rows], width, params=search_params)
            ok = keys >= 0
            if allowed is not None:
                ok &= np.isin(keys, allowed)
            if self._tombstones:
                ok &= ~np.isin(keys, self._blocked())
            for i, row in enumerate(rows):
                hits = np.flatnonzero(ok[i])[:keep]
                out_scores[row], out_keys[row] = -np.inf, -1
                out_scores[row, : len(hits)], out_keys[row, : len(hits)] = scores[i, hits], keys[i, hits]
            rows = rows[(out_keys[rows] >= 0).sum(axis=1) < need]
            probed_all = self._ivf is None or self._nprobe(params, widen) >= self._ivf.nlist
            if width >= stored and probed_all:
                break
            width, widen = min(stored, width * 4), widen * 4
        if len(rows):  # the ANN structure could not reach enough allowed keys: answer exactly
            candidates = allowed if allowed is not None else self.live_keys()
            exact_scores, exact_keys = exact_top_k(queries[rows], keep, self._vector_batches(candidates))
            out_scores[rows], out_keys[rows] = exact_scores, exact_keys
        if not self._exact_scores:
            return self._rerank(queries, out_keys, k)
        return out_scores.astype(np.float32), out_keys

    def _rerank(self, queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Replace approximate (compressed-code) scores with exact ones; keep the best ``k``."""
        found, vectors = self._vectors(np.unique(keys[keys >= 0]))
        if len(found) == 0:
            return empty_results(len(keys), k)
        order = np.argsort(found)
        found, vectors = found[order], vectors[order]
        position = np.clip(np.searchsorted(found, keys), 0, len(found) - 1)
        valid = (keys >= 0) & (found[position] == keys)
        scores = np.einsum("nd,nkd->nk", queries, vectors[position]).astype(np.float32)
        scores[~valid] = -np.inf
        return merge_top_k(scores, np.where(valid, keys, -1), *empty_results(len(keys), 0), k)

    def _vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._vector_source is not None:
            return self._vector_source(keys)
        try:
            return keys, self._index.reconstruct_batch(keys)
        except RuntimeError as exc:
            raise RuntimeError(
                f"index kind {self.factory!r} cannot give back exact vectors; pass a vector_source"
            ) from exc

    def _vector_batches(self, keys: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, len(keys), _EXACT_BATCH):
            yield self._vectors(keys[start : start + _EXACT_BATCH])

    # ------------------------------------------------------------------ snapshots
    def save(self, path: Path) -> IndexState:
        """Write the index atomically and durably; return the state ``load`` needs to trust it.

        The index is streamed to the file and hashed on the way, never serialised in memory: a
        snapshot costs no memory beyond the index itself. Only reads the index, so searches may
        run meanwhile; the caller keeps writers out.
        """
        target = self._pending if self._pending is not None else self._index
        digest = hashlib.sha256()
        with replacing(Path(path)) as tmp, open(tmp, "wb") as out:

            def sink(chunk: bytes) -> int:
                out.write(chunk)
                digest.update(chunk)
                return len(chunk)

            writer = faiss.PyCallbackIOWriter(sink)  # type: ignore[attr-defined]  # not in faiss stubs
            faiss.write_index(target, writer)
            del writer  # flushes its buffer into ``sink``
            out.flush()
        return {
            "factory": self.factory,
            "dimension": self.dimension,
            "pending": self._pending is not None,
            "stored": int(target.ntotal),
            "tombstones": sorted(self._tombstones),
            # Ties the state to this exact file: a state paired with another file is rejected.
            "sha256": digest.hexdigest(),
        }

    @classmethod
    def load(cls, path: Path, state: IndexState, vector_source: VectorSource | None = None) -> FaissIndex:
        """Read a snapshot; ``ValueError`` if it is truncated, corrupt or not the one ``state`` names."""
        # The digest is checked before FAISS parses a byte: a damaged file must never reach its reader.
        # Hashed in chunks, then read by FAISS from the file: no in-memory copy of the file.
        if _file_sha256(Path(path)) != state.get("sha256"):
            raise ValueError(f"index file {path} does not match its snapshot state (truncated or replaced)")
        index = cls(int(state["dimension"]), str(state["factory"]), vector_source=vector_source)
        loaded = faiss.read_index(str(path))
        if not isinstance(loaded, faiss.IndexIDMap2) or loaded.d != index.dimension:
            raise ValueError(f"index file {path} is not an IDMap2 index of dimension {index.dimension}")
        if loaded.ntotal != int(state["stored"]):
            raise ValueError(f"index file {path} holds {loaded.ntotal} vectors, state says {state['stored']}")
        pending = bool(state.get("pending"))
        if pending and index._pending is None:
            raise ValueError(f"index kind {index.factory!r} needs no training, but the snapshot is untrained")
        template = index._pending if index._pending is not None and pending else index._index
        got, want = faiss.downcast_index(loaded.index), faiss.downcast_index(template.index)
        # Readers may return a subclass of what the factory built (IndexFlatIP for IndexFlat).
        same_kind = isinstance(got, type(want)) or isinstance(want, type(got))
        if not same_kind or loaded.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError(f"index file {path} is not an inner-product index of kind {index.factory!r}")
        if pending:
            index._pending = loaded
            return index
        if not loaded.is_trained:
            raise ValueError(f"index file {path} is untrained, but its state says trained")
        index._index, index._pending = loaded, None
        index._tombstones = {int(k) for k in state.get("tombstones", [])}
        # Derived helpers must point at the loaded inner index, not the fresh one.
        inner = faiss.downcast_index(loaded.index)
        index._ivf = faiss.try_extract_index_ivf(inner)
        index._hnsw = inner if isinstance(inner, faiss.IndexHNSW) else None
        return index
