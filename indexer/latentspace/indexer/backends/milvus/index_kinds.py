"""Index kinds of Milvus collections, named in the same grammar as the embedded ones where Milvus has
the same index, and the search parameters (``ef``, ``nprobe``) a request's knobs become.

=====================================  ====================================================
index_kind                             Milvus index (metric IP over unit vectors = cosine)
=====================================  ====================================================
``auto`` (or empty)                    ``AUTOINDEX``: Milvus picks (HNSW on Milvus and Lite)
``Flat``                               ``FLAT`` (exact)
``HNSW<M>`` / ``HNSW<M>_Flat``         ``HNSW`` with ``M``, ``efConstruction`` 80 (the embedded one's)
``IVF<nlist>,Flat``                    ``IVF_FLAT``
``IVF<nlist>,SQ8``                     ``IVF_SQ8``
``IVF<nlist>,PQ<m>[x<nbits>]``         ``IVF_PQ`` (Milvus Lite builds it as exact)
=====================================  ====================================================

Everything else in the embedded grammar (transforms, SQ4/6/fp16, HNSW over SQ, PQ without IVF,
fast-scan PQ) has no Milvus counterpart and is refused with this list. Only the grammar's
bounds apply: the index's memory is the cluster's, not this process's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.index.auto_kind import AUTO
from latentspace.indexer.index.faiss_index import DEFAULT_EF_CONSTRUCTION, default_ef_search
from latentspace.indexer.index.index_kind_grammar import (
    CodeKind,
    IndexKindLimits,
    Structure,
    parse_index_kind,
)

#: The embedded HNSW kinds build with efConstruction 80 and search with efSearch max(128, 2k)
#: (``faiss_index.py``): the same here, so the two backends answer alike for the same kind.
HNSW_EF_CONSTRUCTION = DEFAULT_EF_CONSTRUCTION
#: Milvus's default nprobe.
IVF_NPROBE = 8
#: Milvus's bound on ``ef`` (and on how many hits one search returns).
MAX_EF = 32_768
ALLOWED = "auto, Flat, HNSW<M>, IVF<nlist>,Flat, IVF<nlist>,SQ8 or IVF<nlist>,PQ<m>[x<nbits>]"
#: Memory is Milvus's concern: only the grammar's shape bounds are kept.
_NO_MEMORY_BOUND = IndexKindLimits(max_index_fixed_bytes=1 << 62, max_index_bytes_per_vector=1 << 62)


@dataclass(frozen=True)
class MilvusIndex:
    """A Milvus vector index: its type, build parameters and how a search's knobs map onto it."""

    index_type: str
    params: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def exact(self) -> bool:
        """Whether every search is exhaustive (then a short result means nothing else matches)."""
        return self.index_type == "FLAT"

    @property
    def label(self) -> str:
        """How describe shows it, e.g. ``HNSW(M=32,efConstruction=80)``."""
        inside = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.index_type}({inside})" if inside else self.index_type

    def search_params(self, limit: int, ef_search: int, nprobe: int, widen: int = 1) -> dict[str, Any]:
        """Milvus search parameters for one search of ``limit`` hits, knobs widened ``widen`` times."""
        params: dict[str, Any] = {}
        if self.index_type == "HNSW" or (self.index_type == "AUTOINDEX" and ef_search):
            # Milvus requires ef >= limit; FAISS widens efSearch the same way.
            params["ef"] = min(MAX_EF, max((ef_search or default_ef_search(limit)) * widen, limit))
        elif self.index_type.startswith("IVF") and (nprobe or widen > 1):
            params["nprobe"] = min(int(self.params["nlist"]), (nprobe or IVF_NPROBE) * widen)
        return {"metric_type": "IP", "params": params}

    def can_widen(self, ef_search: int, nprobe: int, widen: int) -> bool:
        """Whether the knobs at ``widen`` still reach further than at ``widen / 4``."""
        if self.index_type == "HNSW":
            return (ef_search or default_ef_search(1)) * widen // 4 < MAX_EF
        if self.index_type.startswith("IVF"):
            return (nprobe or IVF_NPROBE) * widen // 4 < int(self.params["nlist"])
        return False


def milvus_index(kind: str, dimension: int, limits: IndexKindLimits | None = None) -> MilvusIndex:
    """The Milvus index for an ``index_kind`` (see the module table); InvalidInput listing what is allowed."""
    text = (kind or AUTO).strip()
    if text == AUTO:
        return MilvusIndex("AUTOINDEX")
    shape = IndexKindLimits(max_index_nlist=(limits or IndexKindLimits()).max_index_nlist,
                            max_index_hnsw_m=(limits or IndexKindLimits()).max_index_hnsw_m,
                            max_index_fixed_bytes=_NO_MEMORY_BOUND.max_index_fixed_bytes,
                            max_index_bytes_per_vector=_NO_MEMORY_BOUND.max_index_bytes_per_vector)
    try:
        parsed = parse_index_kind(dimension, text, shape)
    except ValueError as exc:
        why = "" if "not in the grammar" in str(exc) else f" ({exc})"
        raise InvalidInput(f"index kind {text!r} is not allowed{why}; the Milvus backend takes {ALLOWED}",
                           field="index_kind") from None
    codes = parsed.codes
    if parsed.transform is None and not codes.fast_scan:
        if parsed.structure is Structure.FLAT and codes.kind is CodeKind.FLAT:
            return MilvusIndex("FLAT")
        if parsed.structure is Structure.HNSW and codes.kind is CodeKind.FLAT:
            return MilvusIndex("HNSW", {"M": parsed.hnsw_m, "efConstruction": HNSW_EF_CONSTRUCTION})
        if parsed.structure is Structure.IVF and not parsed.hnsw_m:
            if codes.kind is CodeKind.FLAT:
                return MilvusIndex("IVF_FLAT", {"nlist": parsed.nlist})
            if codes.kind is CodeKind.SQ and codes.bits == 8:
                return MilvusIndex("IVF_SQ8", {"nlist": parsed.nlist})
            if codes.kind is CodeKind.PQ:
                return MilvusIndex("IVF_PQ", {"nlist": parsed.nlist, "m": codes.m, "nbits": codes.bits})
    raise InvalidInput(f"index kind {text!r} has no Milvus counterpart; the Milvus backend takes {ALLOWED}",
                       field="index_kind")
