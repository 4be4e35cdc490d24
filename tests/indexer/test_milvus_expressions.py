"""The Milvus backend's pure parts: filters as expressions, names, index kinds (no Milvus needed)."""

from __future__ import annotations

import math

import pytest

from latentspace.indexer.backends.milvus.expressions import both, compile_filter, ids_expression, quote
from latentspace.indexer.backends.milvus.index_kinds import milvus_index
from latentspace.indexer.backends.milvus.layout import latentspace_name, milvus_name
from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.filters import AnyOf, Equals, PayloadFilter, Range


def expression(*conditions: Equals | AnyOf | Range) -> str:
    compiled = compile_filter(PayloadFilter(tuple(conditions)))
    assert not compiled.never
    return compiled.expression


def test_conditions_become_expressions_over_the_payload_field() -> None:
    assert expression(Equals("color", "red")) == 'payload["color"] == "red"'
    assert expression(Equals("meta.even", True)) == 'payload["meta"]["even"] == true'
    assert expression(Equals("n", 3), Equals("r", 0.5)) == 'payload["n"] == 3 and payload["r"] == 0.5'
    assert expression(AnyOf("c", ("a", 2, False))) == \
        '(payload["c"] == "a" or payload["c"] == 2 or payload["c"] == false)'
    assert expression(Range("n", gte=1, lt=2.5)) == '(payload["n"] >= 1 and payload["n"] < 2.5)'


def test_strings_are_quoted_and_unsayable_parts_are_left_to_the_python_check() -> None:
    assert expression(Equals("s", 'say "hi" \\ bye')) == r'payload["s"] == "say \"hi\" \\ bye"'
    assert expression(Equals("s", "tab\there")) == ""  # no escape means the same to every Milvus
    assert expression(Equals("s", None)) == ""  # null: Milvus's `is null` also matches a missing key
    assert expression(Equals("n", 2**70)) == ""
    assert expression(Equals('we"ird', 1), Equals("a..b", 1), Equals("ok", 1)) == 'payload["ok"] == 1'
    assert expression(Range("n", gt=math.inf, lte=3)) == '(payload["n"] <= 3)'
    assert expression(Range("n")) == ""
    assert expression(AnyOf("c", ("a", None))) == ""


def test_filters_that_match_nothing_skip_milvus() -> None:
    assert compile_filter(PayloadFilter((AnyOf("c", ()),))).never
    assert compile_filter(PayloadFilter((Equals("c", math.nan),))).never
    assert compile_filter(PayloadFilter((Equals("ok", 1), Range("n", lt=math.nan)))).never
    assert compile_filter(PayloadFilter()).expression == ""


def test_id_lists_and_conjunctions() -> None:
    assert ids_expression(["a", 'b"c']) == r'id in ["a", "b\"c"]'
    assert ids_expression(["a"], negate=True) == 'id not in ["a"]'
    assert both("", "x == 1") == "x == 1"
    assert both("x == 1", "id in []") == "(x == 1) and (id in [])"
    with pytest.raises(ValueError, match="cannot carry"):
        quote("line\nbreak")


@pytest.mark.parametrize("name", ["docs", "a-b", "a_b", "a__b", "a_d", "0x", "A-_-z9", "x" * 64])
def test_collection_names_map_to_milvus_names_and_back(name: str) -> None:
    physical = milvus_name(name)
    assert physical.startswith("latentspace_") and all(c.isalnum() or c == "_" for c in physical)
    assert latentspace_name(physical) == name


def test_foreign_milvus_collections_are_not_ours() -> None:
    assert latentspace_name("movies") is None
    assert latentspace_name("latentspace_a_x") is None  # "_x" is no escape this layout writes


@pytest.mark.parametrize(("kind", "label"), [
    ("auto", "AUTOINDEX"),
    ("Flat", "FLAT"),
    ("HNSW32", "HNSW(M=32,efConstruction=80)"),
    ("HNSW16_Flat", "HNSW(M=16,efConstruction=80)"),
    ("IVF64,Flat", "IVF_FLAT(nlist=64)"),
    ("IVF64,SQ8", "IVF_SQ8(nlist=64)"),
    ("IVF64,PQ8x4", "IVF_PQ(nlist=64,m=8,nbits=4)"),
])
def test_index_kinds_map_onto_milvus_indexes(kind: str, label: str) -> None:
    assert milvus_index(kind, 64).label == label


@pytest.mark.parametrize("kind", ["OPQ8,IVF64,PQ8", "SQ8", "HNSW32_SQ8", "PQ8", "IVF64_HNSW32,Flat", "HNSW2",
                                  "IVF99999999,Flat", "bogus"])
def test_index_kinds_without_a_milvus_counterpart_are_refused(kind: str) -> None:
    with pytest.raises(InvalidInput, match="the Milvus backend takes auto, Flat, HNSW<M>") as refused:
        milvus_index(kind, 64)
    assert refused.value.field == "index_kind"


def test_search_knobs_map_onto_milvus_parameters() -> None:
    hnsw, ivf, flat = milvus_index("HNSW32", 8), milvus_index("IVF64,Flat", 8), milvus_index("Flat", 8)
    # The embedded defaults (efSearch max(128, 2k)), so both backends search alike.
    assert hnsw.search_params(10, 0, 0) == {"metric_type": "IP", "params": {"ef": 128}}
    assert hnsw.search_params(100, 0, 0)["params"] == {"ef": 200}
    assert hnsw.search_params(40, 16, 0)["params"] == {"ef": 40}  # Milvus needs ef >= limit
    assert hnsw.search_params(10, 100, 0, widen=4)["params"] == {"ef": 400}
    assert ivf.search_params(10, 0, 0)["params"] == {}
    assert ivf.search_params(10, 0, 4, widen=4)["params"] == {"nprobe": 16}
    assert ivf.search_params(10, 0, 0, widen=64)["params"] == {"nprobe": 64}  # at most nlist
    assert flat.exact and not hnsw.exact and not flat.can_widen(0, 0, 4)
