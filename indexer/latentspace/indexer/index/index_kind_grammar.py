"""The index kinds a collection may be created with: a grammar of FAISS factory strings, with bounds.

FAISS's own factory parser accepts far more than a collection can serve, and some strings it
accepts crash the process later (``HNSW1`` segfaults and ``HNSW0`` aborts when vectors are
added, ``PQ8x0`` segfaults) or allocate without bound (``IVF1000000,Flat`` holds 150 MB while
empty). :func:`parse_index_kind` accepts only this grammar, before any FAISS object exists::

    kind      := [transform ","] structure
    transform := "OPQ" m ["_" d_out] | "PCA" d_out | "PCAR" d_out
    structure := "Flat"
               | "HNSW" [M] [("_" | ",") ("Flat" | sq)]
               | "IVF" nlist ["_HNSW" [M]] "," ("Flat" | sq | pq)
               | sq | pq
    sq        := "SQ4" | "SQ6" | "SQ8" | "SQfp16"
    pq        := "PQ" m ["x" nbits] ["np"] | "PQ" m "x4fs"

Bounds: HNSW ``M`` 4..``max_index_hnsw_m`` (32 when left out), ``nlist`` 1..``max_index_nlist``,
PQ ``m`` divides the dimension it codes (the transform's output when there is one), ``nbits``
4..8 (8 when left out; wider codebooks train for minutes), OPQ's ``m`` divides its ``d_out``,
and a transform's ``d_out`` is at most the dimension. The memory estimate (bytes per vector,
and the fixed cost of centroids, codebooks, transform matrices and the training sample) is
checked against ``max_index_bytes_per_vector`` and ``max_index_fixed_bytes``.

Left out on purpose: refine stages (``RFlat``, ``Refine(...)``: compressed codes are already
re-ranked with the exact stored vectors, so a refine stage only adds a copy of every vector, and
over an IVF it fails every search), NSG (cannot add after its first build), PQ storage under
HNSW (FAISS builds it for the L2 metric only), IMI, Residual and LSH (L2 only), additive
quantizers (RQ, LSQ, ...: training takes minutes), whitening PCA, chains of transforms, and
``IDMap`` (the collection maps keys itself).

Pure Python: no FAISS import. The estimate mirrors how FAISS lays an index out in memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

#: FaissIndex trains on this many vectors per centroid of the largest codebook (faiss_index.py).
POINTS_PER_CENTROID = 39
#: OPQ trains an 8-bit product quantizer inside (FAISS fixes its size).
OPQ_CENTROIDS = 256
#: HNSW with fewer links crashes FAISS (M 0 aborts, M 1 segfaults); 4 is the smallest useful graph.
MIN_HNSW_M = 4
DEFAULT_HNSW_M = 32
#: HNSW over Flat is trialled in-process by the tests up to this M; above it (a raised limit) it is
#: trialled in a child like every other kind.
PROVEN_HNSW_M = 128
PQ_BITS = range(4, 9)
DEFAULT_PQ_BITS = 8
MAX_KIND_CHARS = 64

# Memory model, in bytes (measured with FAISS 1.15 on Linux).
#: IDMap2 keeps each key in its id table (8 B) and in a reverse hash map (~64 B with the allocator).
_KEY_BYTES = 72
#: An IVF list stores each vector's position beside its code.
_LIST_ENTRY_BYTES = 8
#: An empty inverted list (IVF1000000,Flat at d=8 holds 160 MB before any vector is added).
_LIST_HEAD_BYTES = 160
#: HNSW keeps a level (int32) and a link offset (int64) per vector.
_HNSW_NODE_BYTES = 12


@dataclass(frozen=True)
class IndexKindLimits:
    """Bounds on the index kinds a caller may create collections with, and on their trial run."""

    max_index_nlist: int = 65_536  # IVF lists
    max_index_hnsw_m: int = 128  # HNSW links per vector and level (twice that on level 0)
    #: Memory a kind needs whatever it holds: coarse centroids and list heads, codebooks, transform
    #: matrices, and the sample it trains on (held until trained, then copied once to train).
    max_index_fixed_bytes: int = 2 * GiB
    #: Index memory per stored vector (codes, graph links, key maps). 1 MiB never binds by default
    #: (Flat at the largest dimension is 256 KiB); lower it to make big dimensions use codes.
    max_index_bytes_per_vector: int = 1 * MiB
    #: The create-time trial run, in a child process: wall time, and memory beyond its imports.
    index_trial_timeout_s: float = 60.0
    index_trial_memory_bytes: int = 4 * GiB

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"index kind limit {name} must be a positive number, got {value!r}")


class Structure(StrEnum):
    """How vectors are found: by scanning every code, through a graph, or through inverted lists."""

    FLAT = "flat"
    HNSW = "hnsw"
    IVF = "ivf"


class CodeKind(StrEnum):
    """How each vector is stored: raw floats, a scalar quantizer or a product quantizer."""

    FLAT = "Flat"
    SQ = "SQ"
    PQ = "PQ"


@dataclass(frozen=True)
class Codes:
    """The stored code of each vector. ``bits`` per component (Flat, SQ) or per sub-quantizer (PQ)."""

    kind: CodeKind
    bits: int = 32
    m: int = 0  # PQ sub-quantizers
    fast_scan: bool = False

    @property
    def trains(self) -> bool:
        """PQ learns codebooks and SQ its ranges; fp16 is a fixed conversion."""
        return self.kind is CodeKind.PQ or (self.kind is CodeKind.SQ and self.bits != 16)

    @property
    def centroids(self) -> int:
        """Centroids of the codebook this code trains (1: none)."""
        return 1 << self.bits if self.kind is CodeKind.PQ else 1

    def bytes_per_vector(self, dimension: int) -> int:
        if self.kind is CodeKind.PQ:
            return math.ceil(self.m * self.bits / 8)
        return math.ceil(dimension * self.bits / 8)

    def codebook_bytes(self, dimension: int) -> int:
        if self.kind is CodeKind.PQ:
            return 4 * dimension * self.centroids  # m codebooks of 2^bits centroids of d/m floats
        return 8 * dimension if self.kind is CodeKind.SQ else 0  # SQ: a trained range per component


@dataclass(frozen=True)
class Transform:
    """A learned linear map in front of the index: ``OPQ`` (rotation for PQ), ``PCA`` or ``PCAR``."""

    name: str
    d_out: int
    m: int = 0  # OPQ's sub-quantizers

    def fixed_bytes(self, d_in: int, training_vectors: int) -> int:
        matrix = 4 * d_in * self.d_out
        if self.name == "OPQ":  # its PQ, copies of the projected sample, the SVD in doubles
            return matrix + 4 * self.d_out * OPQ_CENTROIDS + 8 * training_vectors * self.d_out \
                + 24 * d_in * self.d_out
        return matrix + 28 * d_in * d_in  # PCA keeps all d_in eigenvectors; covariance, eigensolver


@dataclass(frozen=True)
class IndexKind:
    """A parsed, bounded index kind; ``factory`` is the string FAISS builds."""

    factory: str
    dimension: int
    structure: Structure
    codes: Codes
    transform: Transform | None = None
    hnsw_m: int = 0  # of the HNSW graph, or of the IVF's HNSW coarse quantizer (0: none)
    nlist: int = 0

    @property
    def code_dimension(self) -> int:
        """The dimension the structure and codes see (the transform's output)."""
        return self.transform.d_out if self.transform is not None else self.dimension

    @property
    def trains(self) -> bool:
        """Whether FAISS must train it before it holds vectors (FaissIndex waits for enough)."""
        return self.transform is not None or self.structure is Structure.IVF or self.codes.trains

    @property
    def largest_codebook(self) -> int:
        """The most centroids any k-means inside must place (as ``FaissIndex.largest_codebook``)."""
        sizes = [self.codes.centroids, self.nlist]
        if self.transform is not None and self.transform.name == "OPQ":
            sizes.append(OPQ_CENTROIDS)
        return max(sizes)

    @property
    def training_vectors(self) -> int:
        """How many vectors FaissIndex trains it on (0 when it needs no training)."""
        if not self.trains:
            return 0
        floor = 2 * self.dimension if self.transform is not None and self.transform.name == "OPQ" else 1
        return max(POINTS_PER_CENTROID * self.largest_codebook, floor)

    @property
    def bytes_per_vector(self) -> int:
        """Estimated index memory per stored vector."""
        size = _KEY_BYTES + self.codes.bytes_per_vector(self.code_dimension)
        if self.structure is Structure.HNSW:
            size += _hnsw_node_bytes(self.hnsw_m)
        if self.structure is Structure.IVF:
            size += _LIST_ENTRY_BYTES
        return size

    @property
    def fixed_bytes(self) -> int:
        """Estimated memory whatever the index holds, including the training sample and its copy."""
        d = self.code_dimension
        size = self.codes.codebook_bytes(d) + 2 * self.training_vectors * 4 * self.dimension
        if self.transform is not None:
            size += self.transform.fixed_bytes(self.dimension, self.training_vectors)
        if self.structure is Structure.IVF:
            size += self.nlist * (4 * d + _LIST_HEAD_BYTES)
            if self.hnsw_m:
                size += self.nlist * _hnsw_node_bytes(self.hnsw_m)
        return size

    @property
    def needs_trial(self) -> bool:
        """False only for Flat and HNSW over Flat, whose trial is proven at the bounds in the tests."""
        proven = self.structure in (Structure.FLAT, Structure.HNSW) and self.codes.kind is CodeKind.FLAT \
            and self.hnsw_m <= PROVEN_HNSW_M
        return self.transform is not None or not proven


def _hnsw_node_bytes(m: int) -> int:
    # 2M links on level 0, M on each upper level; a node reaches level 1 with probability ~1/M.
    return 4 * (2 * m + 1) + _HNSW_NODE_BYTES


def allowed_index_kinds(limits: IndexKindLimits) -> str:
    """What the grammar allows, in one line (part of every refusal)."""
    return (f"Flat; HNSW<M>[_Flat|_SQ<b>] (M {MIN_HNSW_M}..{limits.max_index_hnsw_m}); "
            f"IVF<nlist>[_HNSW<M>],<codes> (nlist 1..{limits.max_index_nlist}; codes Flat, SQ<b> or PQ); "
            f"SQ<b> (b 4, 6, 8 or fp16); PQ<m>[x<nbits>][np] or PQ<m>x4fs (m divides the dimension, "
            f"nbits {PQ_BITS.start}..{PQ_BITS.stop - 1}); any of them after one transform OPQ<m>[_<d>], "
            "PCA<d> or PCAR<d> (d at most the dimension)")


_NUMBER = r"([0-9]+)"  # ASCII digits only: FAISS reads nothing else
_SQ = r"SQ(?:4|6|8|fp16)"
_PQ = rf"PQ{_NUMBER}(?:x{_NUMBER})?(np)?|PQ{_NUMBER}x4fs"
_TRANSFORM = re.compile(rf"OPQ{_NUMBER}(?:_{_NUMBER})?|(PCAR?){_NUMBER}")
_HNSW = re.compile(rf"HNSW([0-9]*)(?:[_,](Flat|{_SQ}))?")
_IVF = re.compile(rf"IVF{_NUMBER}(?:_HNSW([0-9]*))?,(Flat|{_SQ}|{_PQ})")
_CODES = re.compile(rf"(Flat|{_SQ})|{_PQ}")
_SQ_BITS = {"SQ4": 4, "SQ6": 6, "SQ8": 8, "SQfp16": 16}

#: Components FAISS knows that are left out, and why (see the module docstring).
_LEFT_OUT = [
    (re.compile(r"IDMap"), "IDMap is left out, as the collection maps keys itself"),
    (re.compile(r"RFlat|Refine\("), "refine stages are left out, as compressed codes are already "
                                    "re-ranked with the exact stored vectors"),
    (re.compile(r"NSG"), "NSG is left out, as it cannot add vectors after its first build"),
    (re.compile(r"HNSW[0-9]*[_,]PQ"), "HNSW with PQ storage is left out, as FAISS builds it for L2 only"),
    (re.compile(r"IMI|Residual|LSH"), "IMI, Residual and LSH are left out, as FAISS builds them for L2 only"),
    (re.compile(r"P?(?:RQ|LSQ)|RCQ|LSCQ|RaBitQ|ZnLattice"), "additive and lattice quantizers are left out"),
    (re.compile(r"PCAW"), "whitening PCA is left out"),
    (re.compile(r"IVF\d+[kM]"), "write nlist as a plain number (e.g. IVF4096, not IVF4k)"),
]


def parse_index_kind(dimension: int, factory: str, limits: IndexKindLimits | None = None) -> IndexKind:
    """Parse and bound an index kind for vectors of ``dimension``; ``ValueError`` says what is allowed.

    Nothing here builds a FAISS object: a refused string never reaches FAISS.
    """
    limits = limits or IndexKindLimits()
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise ValueError(f"dimension must be a positive integer, got {dimension!r}")
    if not isinstance(factory, str):
        raise ValueError(f"index kind must be a string, got {type(factory).__name__}")
    if len(factory) > MAX_KIND_CHARS:
        raise ValueError(f"index kind of {len(factory)} characters is not allowed (at most {MAX_KIND_CHARS}); "
                         f"Allowed: {allowed_index_kinds(limits)}")
    transform, rest = None, factory
    head, comma, tail = factory.partition(",")
    if comma and (match := _TRANSFORM.fullmatch(head)):
        transform, rest = _transform(factory, match, dimension), tail
    kind = _structure(factory, rest, dimension, transform, limits)
    _check_memory(kind, limits)
    return kind


def _refuse(factory: str, why: str, limits: IndexKindLimits) -> ValueError:
    return ValueError(f"index kind {factory!r} is not allowed: {why}. Allowed: {allowed_index_kinds(limits)}")


def _out_of_bounds(factory: str, what: str, value: int, low: int, high: int, limit: str = "") -> ValueError:
    where = f" (limit {limit})" if limit else ""
    return ValueError(f"index kind {factory!r}: {what} must be {low}..{high}{where}, got {value}")


def _transform(factory: str, match: re.Match[str], dimension: int) -> Transform:
    opq_m, opq_out, pca, pca_out = match.groups()
    if pca is not None:
        d_out = int(pca_out)
        if not 1 <= d_out <= dimension:
            raise _out_of_bounds(factory, f"{pca}'s output dimension", d_out, 1, dimension)
        return Transform(pca, d_out)
    m, d_out = int(opq_m), int(opq_out) if opq_out is not None else dimension
    if not 1 <= d_out <= dimension:
        raise _out_of_bounds(factory, "OPQ's output dimension", d_out, 1, dimension)
    if m < 1 or d_out % m:
        raise ValueError(f"index kind {factory!r}: OPQ's {m} sub-quantizers must divide its output "
                         f"dimension {d_out}")
    return Transform("OPQ", d_out, m)


def _structure(factory: str, rest: str, dimension: int, transform: Transform | None,
               limits: IndexKindLimits) -> IndexKind:
    d = transform.d_out if transform is not None else dimension
    if _CODES.fullmatch(rest):  # Flat, SQ<b> or PQ<m>: every code scanned
        return IndexKind(factory, dimension, Structure.FLAT, _codes(factory, rest, d), transform)
    if match := _HNSW.fullmatch(rest):
        m = _hnsw_m(factory, match.group(1), limits)
        codes = _codes(factory, match.group(2) or "Flat", d)
        return IndexKind(factory, dimension, Structure.HNSW, codes, transform, hnsw_m=m)
    if match := _IVF.fullmatch(rest):
        nlist = int(match.group(1))
        if not 1 <= nlist <= limits.max_index_nlist:
            raise _out_of_bounds(factory, "nlist", nlist, 1, limits.max_index_nlist, "max_index_nlist")
        m = _hnsw_m(factory, match.group(2), limits) if match.group(2) is not None else 0
        codes = _codes(factory, match.group(3), d)
        return IndexKind(factory, dimension, Structure.IVF, codes, transform, hnsw_m=m, nlist=nlist)
    for pattern, why in _LEFT_OUT:
        if pattern.search(factory):
            raise _refuse(factory, why, limits)
    if _TRANSFORM.match(rest):
        raise _refuse(factory, "a transform is followed by an index, and there is at most one", limits)
    raise _refuse(factory, "it is not in the grammar", limits)


def _hnsw_m(factory: str, digits: str, limits: IndexKindLimits) -> int:
    m = int(digits) if digits else DEFAULT_HNSW_M
    if not MIN_HNSW_M <= m <= limits.max_index_hnsw_m:
        raise _out_of_bounds(factory, "HNSW's M", m, MIN_HNSW_M, limits.max_index_hnsw_m, "max_index_hnsw_m")
    return m


def _codes(factory: str, text: str, dimension: int) -> Codes:
    match = _CODES.fullmatch(text)
    assert match is not None  # every caller's pattern embeds _CODES's alternatives
    simple, m, bits, _no_polysemous, fast_m = match.groups()
    if simple == "Flat":
        return Codes(CodeKind.FLAT)
    if simple is not None:
        return Codes(CodeKind.SQ, bits=_SQ_BITS[simple])
    sub = int(m if m is not None else fast_m)
    nbits = 4 if fast_m is not None else int(bits) if bits is not None else DEFAULT_PQ_BITS
    if sub < 1 or dimension % sub:
        raise ValueError(f"index kind {factory!r}: PQ's {sub} sub-quantizers must divide the dimension "
                         f"{dimension} they code (e.g. PQ{_divisor_near(dimension, sub)})")
    if nbits not in PQ_BITS:
        raise _out_of_bounds(factory, "PQ's nbits", nbits, PQ_BITS.start, PQ_BITS.stop - 1)
    return Codes(CodeKind.PQ, bits=nbits, m=sub, fast_scan=fast_m is not None)


def _divisor_near(dimension: int, wanted: int) -> int:
    """The divisor of ``dimension`` closest to ``wanted`` (for a hint)."""
    divisors = [k for k in range(1, min(dimension, 4096) + 1) if dimension % k == 0]
    return min(divisors, key=lambda k: (abs(k - wanted), k))


def _check_memory(kind: IndexKind, limits: IndexKindLimits) -> None:
    if kind.bytes_per_vector > limits.max_index_bytes_per_vector:
        raise ValueError(
            f"index kind {kind.factory!r} at dimension {kind.dimension} needs about "
            f"{_size(kind.bytes_per_vector)} per vector, over the limit of "
            f"{_size(limits.max_index_bytes_per_vector)} (max_index_bytes_per_vector); use codes "
            "(SQ8, PQ<m>) or a smaller M")
    if kind.fixed_bytes > limits.max_index_fixed_bytes:
        sample = f", and a training sample of {kind.training_vectors:,} vectors" if kind.trains else ""
        raise ValueError(
            f"index kind {kind.factory!r} at dimension {kind.dimension} needs about {_size(kind.fixed_bytes)} "
            f"whatever it holds (centroids, codebooks and transforms{sample}), over the limit of "
            f"{_size(limits.max_index_fixed_bytes)} (max_index_fixed_bytes); use fewer IVF lists, "
            "fewer PQ bits, or a smaller transform or none")


def _size(n: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
