"""The index-kind grammar: what it accepts, what it refuses and why, and that FAISS builds what it accepts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentspace.indexer.index.faiss_index import FaissIndex
from latentspace.indexer.index.index_kind_grammar import (
    CodeKind,
    IndexKind,
    IndexKindLimits,
    Structure,
    parse_index_kind,
)

ALLOWED = "Allowed: Flat; HNSW<M>"


@pytest.mark.parametrize(("dimension", "factory", "structure", "codes", "m", "nlist"), [
    (8, "Flat", Structure.FLAT, CodeKind.FLAT, 0, 0),
    (8, "HNSW32", Structure.HNSW, CodeKind.FLAT, 32, 0),
    (8, "HNSW", Structure.HNSW, CodeKind.FLAT, 32, 0),  # FAISS's default M
    (8, "HNSW16_Flat", Structure.HNSW, CodeKind.FLAT, 16, 0),
    (8, "HNSW16,SQ8", Structure.HNSW, CodeKind.SQ, 16, 0),
    (8, "HNSW4_SQfp16", Structure.HNSW, CodeKind.SQ, 4, 0),
    (384, "IVF1024,PQ32", Structure.IVF, CodeKind.PQ, 0, 1024),
    (384, "IVF4096_HNSW32,Flat", Structure.IVF, CodeKind.FLAT, 32, 4096),
    (384, "OPQ32_128,IVF4096,PQ32", Structure.IVF, CodeKind.PQ, 0, 4096),
    (384, "PCAR64,HNSW32_SQ8", Structure.HNSW, CodeKind.SQ, 32, 0),
    (384, "PQ48x4fs", Structure.FLAT, CodeKind.PQ, 0, 0),
    (384, "PQ96x6np", Structure.FLAT, CodeKind.PQ, 0, 0),
    (3, "SQ4", Structure.FLAT, CodeKind.SQ, 0, 0),
    (65_536, "Flat", Structure.FLAT, CodeKind.FLAT, 0, 0),
])
def test_accepted_kinds_parse_into_their_parts(dimension: int, factory: str, structure: Structure,
                                               codes: CodeKind, m: int, nlist: int) -> None:
    kind = parse_index_kind(dimension, factory)
    assert (kind.factory, kind.dimension, kind.structure, kind.codes.kind) == (factory, dimension, structure, codes)
    assert (kind.hnsw_m, kind.nlist) == (m, nlist)


def test_parts_give_code_sizes_and_transforms() -> None:
    kind = parse_index_kind(384, "OPQ32_128,IVF4096,PQ32x6")
    assert kind.transform is not None and (kind.transform.name, kind.transform.m, kind.transform.d_out) == \
        ("OPQ", 32, 128)
    assert kind.code_dimension == 128 and kind.codes.bytes_per_vector(128) == 24  # 32 x 6 bits
    assert kind.largest_codebook == 4096 and kind.training_vectors == 39 * 4096
    assert parse_index_kind(8, "PQ4x4fs").codes.fast_scan


@pytest.mark.parametrize(("dimension", "factory", "message"), [
    # FAISS would build these; each costs memory or crashes the process later.
    (8, "IVF1000000,Flat", "nlist must be 1..65536 (limit max_index_nlist), got 1000000"),
    (8, "IVF0,Flat", "nlist must be 1..65536"),
    (8, "HNSW1", "HNSW's M must be 4..128 (limit max_index_hnsw_m), got 1"),  # segfaults FAISS
    (8, "HNSW0", "HNSW's M must be 4..128"),  # aborts FAISS
    (8, "HNSW100000", "HNSW's M must be 4..128"),
    (8, "IVF16_HNSW2,Flat", "HNSW's M must be 4..128"),
    (8, "PQ8x0", "PQ's nbits must be 4..8, got 0"),  # segfaults FAISS
    (8, "PQ2x14", "PQ's nbits must be 4..8"),
    (8, "PQ7", "PQ's 7 sub-quantizers must divide the dimension 8 they code (e.g. PQ8)"),
    (8, "IVF4,PQ3", "PQ's 3 sub-quantizers must divide the dimension 8"),
    (384, "PQ0", "PQ's 0 sub-quantizers must divide"),
    (384, "OPQ10_100,PQ16", "PQ's 16 sub-quantizers must divide the dimension 100"),
    (8, "OPQ3,PQ3", "OPQ's 3 sub-quantizers must divide its output dimension 8"),
    (8, "PCA16,Flat", "PCA's output dimension must be 1..8, got 16"),
    (8, "OPQ4_16,PQ4", "OPQ's output dimension must be 1..8, got 16"),
    (768, "IVF65536,PQ32", "over the limit of 2.0 GiB (max_index_fixed_bytes)"),
    (65_536, "PCA64,Flat", "over the limit of 2.0 GiB (max_index_fixed_bytes)"),
    (8, "IVF99999999999999999999999,Flat", "nlist must be 1..65536"),
])
def test_kinds_out_of_bounds_are_refused_with_the_bound(dimension: int, factory: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_index_kind(dimension, factory)
    assert message in str(err.value) and repr(factory) in str(err.value)


@pytest.mark.parametrize(("factory", "why"), [
    ("Flat,RFlat", "refine stages are left out"),
    ("IVF2,Flat,RFlat", "refine stages are left out"),
    ("HNSW8,Refine(SQ8)", "refine stages are left out"),
    ("NSG16", "NSG is left out"),
    ("HNSW8_PQ4", "HNSW with PQ storage is left out"),
    ("IMI2x4,Flat", "L2 only"),
    ("LSH", "L2 only"),
    ("RQ2x4", "additive and lattice quantizers are left out"),
    ("IDMap2,Flat", "IDMap is left out"),
    ("PCAW4,Flat", "whitening PCA is left out"),
    ("IVF4k,Flat", "write nlist as a plain number"),
    ("PCA4,OPQ2,PQ2", "at most one"),
    ("PCA4", "a transform is followed by an index"),
    ("NoSuchKind", "not in the grammar"),
    ("", "not in the grammar"),
    ("flat", "not in the grammar"),  # FAISS is case-sensitive, and so is the grammar
    (" Flat", "not in the grammar"),
    ("HNSW\u0663\u0662", "not in the grammar"),  # Arabic-Indic digits: Python reads them, FAISS does not
    ("Flat" + ",Flat" * 20, "at most 64"),
])
def test_kinds_outside_the_grammar_are_refused_with_what_is_allowed(factory: str, why: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_index_kind(8, factory)
    assert why in str(err.value)
    assert ALLOWED in str(err.value) and "PQ<m>[x<nbits>][np]" in str(err.value)


def test_the_limits_are_parameters() -> None:
    tight = IndexKindLimits(max_index_nlist=1000, max_index_hnsw_m=48, max_index_fixed_bytes=1 << 20,
                            max_index_bytes_per_vector=1024)
    with pytest.raises(ValueError, match=r"nlist must be 1\.\.1000"):
        parse_index_kind(8, "IVF2000,Flat", tight)
    with pytest.raises(ValueError, match=r"M must be 4\.\.48"):
        parse_index_kind(8, "HNSW64", tight)
    with pytest.raises(ValueError, match=r"over the limit of 1\.0 MiB \(max_index_fixed_bytes\)"):
        parse_index_kind(384, "IVF1000,SQ8", tight)
    with pytest.raises(ValueError, match=r"per vector, over the limit of 1\.0 KiB \(max_index_bytes_per_vector\)"):
        parse_index_kind(384, "Flat", tight)  # 1,536 B of floats: this operator wants codes at 384-d
    assert parse_index_kind(384, "HNSW48_SQ4", tight).bytes_per_vector <= 1024
    with pytest.raises(ValueError, match=r"Allowed: .*\(M 4\.\.48\).*\(nlist 1\.\.1000;"):
        parse_index_kind(8, "Nope", tight)


@pytest.mark.parametrize("field", ["max_index_nlist", "max_index_fixed_bytes", "index_trial_timeout_s"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        IndexKindLimits(**{field: 0})


def test_dimension_must_be_positive() -> None:
    with pytest.raises(ValueError, match="dimension"):
        parse_index_kind(0, "Flat")


def test_flat_and_hnsw_over_flat_need_no_trial_and_everything_that_trains_does() -> None:
    assert not any(parse_index_kind(8, k).needs_trial for k in ("Flat", "HNSW32", "HNSW4_Flat", "HNSW128,Flat"))
    assert all(parse_index_kind(8, k).needs_trial
               for k in ("SQ8", "SQfp16", "PQ4", "HNSW8_SQ8", "IVF4,Flat", "PCA4,Flat", "OPQ2,Flat", "PCAR4,HNSW8"))
    assert not parse_index_kind(8, "SQfp16").trains  # a fixed conversion, but not proven here: trialled


# --------------------------------------------------------------------------- the memory estimate
def _rss_growth(setup: str, grow: str) -> int:
    """Bytes of RSS that ``grow`` adds after ``setup``, in a fresh process: in this one, memory freed
    by earlier tests is reused and hides the growth."""
    code = (
        "import faiss, numpy as np\n"
        "from latentspace.indexer.index.faiss_index import FaissIndex\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096\n"
        f"{setup}\n"
        "before = rss()\n"
        f"{grow}\n"
        "print(rss() - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def test_the_estimate_of_ivf_list_heads_matches_what_faiss_allocates() -> None:
    kind = parse_index_kind(8, "IVF65536,Flat")
    grown = _rss_growth("", "index = faiss.index_factory(8, 'IVF65536,Flat', faiss.METRIC_INNER_PRODUCT)")
    centroid_and_heads = kind.nlist * (4 * 8 + 160)
    assert 0.5 * grown <= centroid_and_heads <= 3 * grown  # heads now, centroids after training


def test_the_estimate_per_vector_matches_what_an_hnsw_index_takes() -> None:
    kind = parse_index_kind(8, "HNSW32")
    grown = _rss_growth(
        "vectors = np.random.default_rng(0).standard_normal((50_000, 8)).astype(np.float32)\n"
        "index = FaissIndex(8, 'HNSW32')",
        "index.add(np.arange(len(vectors)), vectors)")
    per_vector = grown / 50_000
    assert 0.5 * per_vector <= kind.bytes_per_vector <= 2 * per_vector


# --------------------------------------------------------------------------- properties
TOKENS = ["Flat", "HNSW", "IVF", "PQ", "SQ", "OPQ", "PCA", "PCAR", "RFlat", "Refine(", ")", "NSG", "IDMap2",
          ",", "_", "x", "np", "fs", "fp16", "0", "1", "2", "4", "8", "16", "32", "64", "999999999999", "k"]


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(st.text(max_size=80), st.lists(st.sampled_from(TOKENS), max_size=12).map("".join)),
       dimension=st.integers(1, 70_000))
def test_the_parser_raises_nothing_but_value_error(text: str, dimension: int) -> None:
    try:
        kind = parse_index_kind(dimension, text)
    except ValueError:
        return
    assert isinstance(kind, IndexKind) and kind.factory == text


@st.composite
def grammar_kinds(draw: st.DrawFn) -> tuple[int, str]:
    """Strings shaped by the grammar, with numbers in and out of its bounds."""
    dimension = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16, 24, 96]))
    number = st.integers(0, 140)
    sq = st.sampled_from(["SQ4", "SQ6", "SQ8", "SQfp16"])
    pq = st.one_of(
        st.builds(lambda m, b, np_: f"PQ{m}" + (f"x{b}" if b else "") + np_, number,
                  st.one_of(st.none(), st.integers(0, 12)), st.sampled_from(["", "np"])),
        st.builds(lambda m: f"PQ{m}x4fs", number))
    transform = st.one_of(st.just(""), st.builds(lambda m, d: f"OPQ{m}" + (f"_{d}" if d else "") + ",", number,
                                                  st.one_of(st.none(), number)),
                          st.builds(lambda r, d: f"PCA{r}{d},", st.sampled_from(["", "R"]), number))
    structure = st.one_of(
        st.just("Flat"), sq, pq,
        st.builds(lambda m, s: f"HNSW{m}{s}", st.one_of(st.just(""), number.map(str)),
                  st.sampled_from(["", "_Flat", ",Flat", "_SQ8", ",SQ4", "_SQfp16"])),
        st.builds(lambda n, q, c: f"IVF{n}{q},{c}", st.integers(0, 70_000),
                  st.sampled_from(["", "_HNSW", "_HNSW4", "_HNSW16"]), st.one_of(st.just("Flat"), sq, pq)))
    return dimension, draw(transform) + draw(structure)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grammar_kinds())
def test_faiss_builds_every_accepted_kind_as_the_estimate_assumes(case: tuple[int, str]) -> None:
    dimension, factory = case
    try:
        kind = parse_index_kind(dimension, factory)
    except ValueError:
        return
    index = FaissIndex(dimension, factory)  # building allocates no vectors: safe in-process
    assert index.is_trained is not kind.trains
    if kind.trains:
        assert index.min_train_size == kind.training_vectors
        assert index.largest_codebook == kind.largest_codebook
