"""The create-time trial run of an index kind (a FAISS factory string).

FAISS builds some factory strings that cannot serve a collection (a refine stage that cannot
search after removals, NSG that cannot add incrementally, ...). ``check_index_kind`` runs a kind
through what a collection does with its index, on seeded random vectors, before any data is
written. It runs in a child process (``index_kind_gate.py``), after the grammar, so that a kind
that crashes FAISS ends the child, never the server; ``DataDir.create_collection`` turns its
``ValueError`` into INVALID_ARGUMENT on ``index_kind``. It drives :class:`FaissIndex` from the
inside (training knobs, the widening pass), so it lives beside it.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import faiss
import numpy as np

from latentspace.indexer.index.faiss_index import FaissIndex, _as_keys, _nested, _transforms
from latentspace.indexer.index.vector_index import SearchParams

#: The index-kind trial run (``check_index_kind``): IVF list counts are capped at this so it
#: trains in milliseconds (same code paths); a kind that needs more training vectors than the
#: second even so (a huge codebook, OPQ at a huge dimension) is refused.
_TRIAL_NLIST = 16
_TRIAL_MAX_VECTORS = 8192


def check_index_kind(dimension: int, factory: str) -> None:
    """Refuse a factory string that FAISS builds but that cannot serve a collection here.

    Builds the kind and runs it through what a collection does with its index, on seeded random
    unit vectors: add until trained, search (plain, filtered, widened), remove, add again, search,
    save and load, search. IVF list counts are capped at 16 for the run (the same code paths,
    trained in milliseconds). Raises ``ValueError`` naming the kind and what failed.
    """
    FaissIndex(dimension, factory)  # ValueError when FAISS cannot build it at all
    trial = re.sub(r"IVF(\d+)", lambda m: f"IVF{min(int(m.group(1)), _TRIAL_NLIST)}", factory)
    try:
        _trial_run(dimension, trial)
    except Exception as exc:  # anything FAISS (or our checks) raise means: not usable
        raise ValueError(f"index kind {factory!r} failed a trial run on random vectors: "
                         f"{_faiss_message(exc)}") from exc


def _faiss_message(exc: Exception) -> str:
    """The first line of an error, without FAISS's ``Error in <signature> at <file>:<line>:`` prefix."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^Error in .*? at \S+:\d+: (Error: )?", "", line) or line


class _TrialSource:
    """A dict-backed vector source for the trial run, standing in for the item store."""

    def __init__(self, dimension: int):
        self.dimension = dimension
        self.table: dict[int, np.ndarray] = {}

    def __call__(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = np.array([k for k in _as_keys(keys).tolist() if k in self.table], dtype=np.int64)
        rows = [self.table[k] for k in found.tolist()]
        return found, np.array(rows, dtype=np.float32).reshape(-1, self.dimension)


def _trial_run(dimension: int, factory: str) -> None:
    rng = np.random.default_rng(0)
    source = _TrialSource(dimension)
    probe = FaissIndex(dimension, factory)
    count = 100 if probe.is_trained else max(300, 2 * probe.largest_codebook, probe._train_floor)
    if count > _TRIAL_MAX_VECTORS:
        why = (f"OPQ at dimension {dimension}" if probe._train_floor == count
               else f"a codebook of {probe.largest_codebook} centroids")
        raise ValueError(f"training it needs {count} vectors ({why}), over the {_TRIAL_MAX_VECTORS} "
                         "a trial may use")
    vectors = rng.standard_normal((count + 40, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = np.arange(1, 2 * len(vectors) + 1, 2, dtype=np.int64)
    source.table = {int(k): v for k, v in zip(keys.tolist(), vectors, strict=True)}
    index = FaissIndex(dimension, factory, vector_source=source, min_train_size=count)
    # Skip training effort that changes no code path.
    for part in _nested(index._index.index):
        if hasattr(part, "do_polysemous_training"):
            part.do_polysemous_training = False  # seconds of annealing that only reorders codes
    for transform in _transforms(index._index.index):
        if isinstance(transform, faiss.OPQMatrix):
            transform.niter = 2  # (default 50 rotations, each with a product quantizer training)
    half = count // 2
    index.add(keys[:half], vectors[:half])  # waits in the exact side index (kinds that train)
    _trial_searches(index, vectors[:4], keys[:half])
    index.add(keys[half:count], vectors[half:count])  # trains here
    index.add(keys[count : count + 20], vectors[count : count + 20])  # adds to a trained index
    live = keys[: count + 20]
    _trial_searches(index, vectors[:4], live)
    gone = live[: count // 3]
    index.remove(gone)
    live = live[count // 3 :]
    _trial_searches(index, vectors[:4], live)
    index.add(keys[count + 20 :], vectors[count + 20 :])  # e.g. the new rows of replaced items
    live = np.concatenate([live, keys[count + 20 :]])
    _trial_searches(index, vectors[:4], live)
    with tempfile.TemporaryDirectory(prefix="latentspace-trial-") as folder:
        path = Path(folder) / "index.faiss"
        loaded = FaissIndex.load(path, index.save(path), vector_source=source)
    _trial_searches(loaded, vectors[:4], live)


def _trial_searches(index: FaissIndex, queries: np.ndarray, live: np.ndarray) -> None:
    """Plain, filtered and widened searches; each must give min(k, allowed) live, distinct hits."""
    k = 10
    params = SearchParams(ef_search=16, nprobe=2)
    allowed = live[::3]
    runs = [(None, index.search(queries, k, params=params)),
            (allowed, index.search(queries, k, allowed_keys=allowed, params=params))]
    if index.is_trained and not index.is_exact:  # the widening pass itself, not the exact shortcut
        runs.append((allowed, index._search_widening(queries, k, allowed, params)))
    for allowed_keys, (scores, got) in runs:
        pool = live if allowed_keys is None else allowed_keys
        want = min(k, len(pool))
        if got.shape != (len(queries), k) or scores.shape != got.shape:
            raise RuntimeError(f"search returned shape {got.shape}, expected {(len(queries), k)}")
        for row in got:
            hits = row[row >= 0]
            if len(hits) != want or len(np.unique(hits)) != len(hits):
                raise RuntimeError(f"search returned {len(hits)} distinct hits, expected {want}")
            if not np.isin(hits, pool).all():
                raise RuntimeError("search returned keys that were removed or not allowed")
