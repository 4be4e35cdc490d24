"""The create-time gate: kinds that crash FAISS, run out of memory or hang are refused, and this process lives.

Each ``run_trial_in_child`` below would kill the test process if the trial ran in it: reaching
the assertion after it is the proof that it did not.
"""

from __future__ import annotations

import pytest

from latentspace.indexer.index.index_kind_gate import run_trial_in_child, vet_index_kind
from latentspace.indexer.index.index_kind_grammar import PROVEN_HNSW_M, IndexKindLimits, parse_index_kind
from latentspace.indexer.index.index_kind_trial import check_index_kind

GiB = 1 << 30


@pytest.mark.parametrize(("factory", "crash"), [
    ("HNSW0", "SIGABRT: assertion 'i < end' failed"),  # FAISS aborts on the first add
    ("HNSW1", "SIGSEGV"),
    ("PQ8x0", "SIGSEGV"),
])
def test_a_kind_that_crashes_faiss_is_a_value_error_here(factory: str, crash: str) -> None:
    with pytest.raises(ValueError) as err:
        run_trial_in_child(8, factory, timeout_s=120, memory_bytes=4 * GiB)
    assert f"index kind {factory!r} crashed FAISS in a trial run on random vectors ({crash})" in str(err.value)
    check_index_kind(8, "HNSW16")  # and this process still runs FAISS


def test_a_trial_out_of_memory_is_a_value_error_naming_the_limit() -> None:
    with pytest.raises(ValueError, match=r"needed more than 1 MiB .*\(limit index_trial_memory_bytes\)"):
        run_trial_in_child(384, "IVF1024,PQ32", timeout_s=120, memory_bytes=1 << 20)


def test_a_trial_over_time_is_killed_and_a_value_error_naming_the_limit() -> None:
    with pytest.raises(ValueError, match=r"took longer than 0\.05 s .*\(limit index_trial_timeout_s\)"):
        run_trial_in_child(384, "IVF1024,PQ32", timeout_s=0.05, memory_bytes=4 * GiB)


def test_a_failed_trial_comes_back_with_its_reason() -> None:
    # Outside the grammar, so only reachable directly: a refine stage over IVF fails every search.
    with pytest.raises(ValueError, match="params have incorrect type"):
        run_trial_in_child(8, "IVF2,Flat,RFlat", timeout_s=120, memory_bytes=4 * GiB)


@pytest.mark.parametrize(("dimension", "factory"), [
    (8, "IVF16,PQ4"), (8, "IVF1024,PQ4x4fs"), (8, "OPQ4,IVF2,PQ4"), (8, "PCAR4,HNSW8_SQ8"), (3, "SQ6"),
    (7, "IVF3_HNSW4,SQ4"), (12, "OPQ2_6,PQ3np"), (16, "PCA5,IVF7,Flat"), (8, "SQfp16"), (8, "HNSW4_SQfp16"),
])
def test_kinds_in_the_grammar_pass_their_trial(dimension: int, factory: str) -> None:
    kind = vet_index_kind(dimension, factory)
    assert kind.factory == factory and kind.needs_trial


def test_grammar_refusals_never_start_a_child() -> None:
    no_time = IndexKindLimits(index_trial_timeout_s=0.001)  # any child would time out
    with pytest.raises(ValueError, match="nlist must be"):
        vet_index_kind(8, "IVF1000000,Flat", no_time)
    with pytest.raises(ValueError, match="took longer"):
        vet_index_kind(8, "IVF4,Flat", no_time)


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "HNSW4_Flat", "HNSW128,Flat"])
def test_flat_and_hnsw_over_flat_are_admitted_without_a_child(factory: str) -> None:
    no_time = IndexKindLimits(index_trial_timeout_s=0.001)
    assert not vet_index_kind(8, factory, no_time).needs_trial


# The proof behind skipping the child: the whole trial of every such kind, at the grammar's bounds
# and at dimensions from 1 up, in this process.
@pytest.mark.parametrize("dimension", [1, 2, 3, 8, 384])
@pytest.mark.parametrize("factory", ["Flat", "HNSW4", "HNSW5", "HNSW", f"HNSW{PROVEN_HNSW_M}", "HNSW4_Flat",
                                     f"HNSW{PROVEN_HNSW_M},Flat"])
def test_kinds_admitted_without_a_child_pass_their_trial_in_process(dimension: int, factory: str) -> None:
    assert not parse_index_kind(dimension, factory).needs_trial
    check_index_kind(dimension, factory)


def test_hnsw_above_the_proven_m_goes_to_a_child() -> None:
    loose = IndexKindLimits(max_index_hnsw_m=2 * PROVEN_HNSW_M)
    assert parse_index_kind(8, f"HNSW{PROVEN_HNSW_M + 1}", loose).needs_trial
