"""ItemStore: writes, sequences, the removal log, reads, and SQL filters equal to PayloadFilter.matches."""

from __future__ import annotations

import math
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latentspace.indexer.filters import AnyOf, Condition, Equals, PayloadFilter, Range
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality
from latentspace.indexer.store import ItemStore
from latentspace.indexer.store.filter_sql import compile_filter

DIM = 4


def rec(item_id: str, seed: int = 0, payload: dict[str, Any] | None = None, content: str = "") -> ItemRecord:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return ItemRecord(item_id, v / np.linalg.norm(v), Modality.VECTOR, payload or {}, content)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ItemStore]:
    s = ItemStore(tmp_path / "items.sqlite3", DIM)
    yield s
    s.close()


def test_new_store_uses_wal_and_full_sync(store: ItemStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    # synchronous is per connection: check the store's own one.
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.sequence == 0 and store.count() == 0


def test_upsert_then_get_in_request_order(store: ItemStore) -> None:
    seq = store.upsert([rec("a", 1, {"n": 1}, "alpha"), rec("b", 2), rec("c", 3)])
    assert seq == 1 and store.sequence == 1 and store.count() == 3
    items = store.get(["c", "missing", "a"], with_vectors=True)
    assert [i.id for i in items] == ["c", "a"]
    assert items[1].payload == {"n": 1} and items[1].content == "alpha" and items[1].sequence == 1
    assert items[1].vector is not None and items[1].vector.dtype == np.float32
    np.testing.assert_array_equal(items[1].vector, rec("a", 1).vector)  # float32 round-trips exactly
    assert store.get(["a"])[0].vector is None


def test_content_hashes_live_and_die_with_their_items(store: ItemStore) -> None:
    import dataclasses

    store.upsert([dataclasses.replace(rec("a", 1), content_hash="h-a"),
                  dataclasses.replace(rec("b", 2), content_hash="h-b"), rec("c", 3)])
    assert store.content_hashes(["a", "b", "c", "missing"]) == {"a": "h-a", "b": "h-b"}
    store.upsert([rec("a", 4)])  # written again without a hash (e.g. the server's Upsert): the old one is stale
    store.delete(["b"])
    assert store.content_hashes(["a", "b", "c"]) == {}
    store.upsert([dataclasses.replace(rec("c", 3), content_hash="h-c")])
    assert store.content_hashes(["c"]) == {"c": "h-c"}
    assert [page for page in store.all_ids(batch_size=1)] == [["a"], ["c"]]
    # A store made before the table existed gets it on open.
    old = sqlite3.connect(store.path)
    old.execute("DROP TABLE content_hashes")
    old.close()
    store.close()
    reopened = ItemStore(store.path, DIM)
    assert reopened.content_hashes(["c"]) == {}
    reopened.close()


def test_replace_gets_new_key_and_logs_the_old_one(store: ItemStore) -> None:
    store.upsert([rec("a", 1), rec("b", 2)])
    (old_key,) = store.keys_for_ids(["a"])
    seq = store.upsert([rec("a", 9, {"v": 2})])
    # Until the index has dropped it, the old key stays findable (and its row readable).
    assert store.keys_for_ids(["a"]).tolist()[0] == old_key
    assert store.items_by_keys([old_key])[old_key].payload == {}
    store.purge_retired(seq)
    (new_key,) = store.keys_for_ids(["a"])
    assert new_key > old_key and store.count() == 2
    assert store.items_by_keys([old_key], with_vectors=True) == {}  # the row cache may still hold it
    changes = store.changes_since(1)
    assert changes.sequence == seq == 2
    assert changes.added_keys.tolist() == [new_key]
    assert changes.removed_keys.tolist() == [old_key]
    np.testing.assert_array_equal(changes.added_vectors[0], rec("a", 9).vector)


def test_rows_added_and_removed_after_a_point_are_in_neither_list(store: ItemStore) -> None:
    store.upsert([rec("a", 1)])
    store.upsert([rec("b", 2)])
    store.delete(["b"])
    changes = store.changes_since(1)
    assert changes.added_keys.size == 0 and changes.removed_keys.size == 0
    assert store.changes_since(0).added_keys.tolist() == store.keys_for_ids(["a"]).tolist()


def test_retired_rows_stay_readable_by_key_until_purged(store: ItemStore) -> None:
    store.upsert([rec("a", 1, {"g": 1}), rec("b", 2, {"g": 1})])
    ka, kb = store.keys_for_ids(["a", "b"])
    store.delete(["a"])
    assert store.get(["a"]) == [] and store.count() == 1  # gone for reads by id
    assert store.keys_for_filter(PayloadFilter((Equals("g", 1),))).tolist() == [ka, kb]
    found, vectors = store.vectors_for_keys(np.array([ka]))
    assert found.tolist() == [ka] and vectors.shape == (1, store.dimension)
    store.purge_retired()
    assert store.keys_for_filter(PayloadFilter((Equals("g", 1),))).tolist() == [kb]
    assert store.vectors_for_keys(np.array([ka]))[0].size == 0


def test_reads_from_many_threads_use_their_own_connections(store: ItemStore) -> None:
    store.upsert([rec(str(i), i) for i in range(50)])
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                assert len(store.get([str(i) for i in range(50)])) == 50
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(store._readers) >= 4


def test_delete_counts_and_unknown_ids_use_no_sequence(store: ItemStore) -> None:
    store.upsert([rec("a"), rec("b"), rec("c")])
    assert store.delete(["a", "nope", "a"]) == (1, 2)
    assert store.delete(["nope"]) == (0, 2)
    assert store.count() == 2 and [i.id for i in store.get(["a", "b", "c"])] == ["b", "c"]


def test_keys_are_never_reused(store: ItemStore) -> None:
    store.upsert([rec("a"), rec("b")])
    (top,) = store.keys_for_ids(["b"])
    store.delete(["b"])
    store.upsert([rec("c")])
    assert store.keys_for_ids(["c"])[0] > top


def test_all_vectors_pages_in_key_order(store: ItemStore) -> None:
    store.upsert([rec(f"i{n}", n) for n in range(25)])
    store.delete(["i3", "i17"])
    batches = list(store.all_vectors(batch_size=10))
    assert [len(k) for k, _ in batches] == [10, 10, 3]
    keys = np.concatenate([k for k, _ in batches])
    assert np.all(np.diff(keys) > 0) and len(keys) == store.count()
    found, vectors = store.vectors_for_keys(keys[::-1])
    np.testing.assert_array_equal(found, keys)
    np.testing.assert_array_equal(vectors, np.concatenate([v for _, v in batches]))


def test_items_by_keys_maps_keys_in_request_order(store: ItemStore) -> None:
    store.upsert([rec("a"), rec("b")])
    ka, kb = store.keys_for_ids(["a", "b"])
    items = store.items_by_keys([kb, 999, -1, ka])
    assert list(items) == [kb, ka] and items[kb].id == "b"


def test_reopen_keeps_sequence_uuid_and_count(tmp_path: Path) -> None:
    s = ItemStore(tmp_path / "x.sqlite3", DIM)
    s.upsert([rec("a"), rec("b")])
    s.delete(["a"])
    uuid, seq = s.uuid, s.sequence
    s.close()
    s = ItemStore(tmp_path / "x.sqlite3", DIM)
    assert (s.uuid, s.sequence, s.count()) == (uuid, seq, 1)
    s.close()


def test_forget_removed_prunes_the_log_and_remembers_where(store: ItemStore) -> None:
    store.upsert([rec("a"), rec("b")])
    store.delete(["a"])
    store.forget_removed(2)
    assert store.removals_logged_after == 2
    assert store._conn.execute("SELECT count(*) FROM removed").fetchone()[0] == 0


# --------------------------------------------------------------------------- filters


def keys_of(store: ItemStore, ids: list[str]) -> list[int]:
    return sorted(store.keys_for_ids(ids).tolist())


PAYLOADS: dict[str, dict[str, Any]] = {
    "t": {"flag": True, "n": 1, "s": "x", "nested": {"k": 2.5}},
    "f": {"flag": False, "n": 0, "s": "y", "nested": {"k": None}},
    "one": {"flag": 1, "n": 1.0, "s": "1", "nested": [1]},
    "none": {"flag": None},
    "empty": {},
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (Equals("flag", True), ["t"]),  # True never equals 1
        (Equals("flag", 1), ["one"]),
        (Equals("flag", None), ["none"]),  # JSON null, not a missing field
        (Equals("n", 1), ["t", "one"]),  # 1 == 1.0
        (Equals("s", "1"), ["one"]),  # the string, not the number
        (Equals("nested.k", 2.5), ["t"]),
        (Equals("nested.k", None), ["f"]),
        (Equals("nested.0", 1), []),  # paths do not index into arrays
        (AnyOf("s", ("x", "y", 7)), ["t", "f"]),
        (AnyOf("s", ()), []),
        (Range("n", gte=0.5), ["t", "one"]),
        (Range("flag", gte=0), ["one"]),  # booleans are not numbers
        (Range("nested.k", lt=3), ["t"]),
        (Range("missing", lt=3), []),
        (Range("n", gt=float("nan")), []),
    ],
)
def test_filter_cases(store: ItemStore, condition: Condition, expected: list[str]) -> None:
    store.upsert([rec(i, payload=p) for i, p in PAYLOADS.items()])
    f = PayloadFilter((condition,))
    assert [i for i, p in PAYLOADS.items() if f.matches(p)] == expected  # the reference semantics
    assert store.keys_for_filter(f).tolist() == keys_of(store, expected)


def test_a_long_any_of_is_exact_and_its_sql_does_not_grow(store: ItemStore) -> None:
    # Thousands of OR terms passed SQLite's expression depth limit (1000); the list now travels as one
    # JSON parameter per type, whatever its length.
    store.upsert([rec(i, payload=p) for i, p in PAYLOADS.items()])
    filler: list[Any] = [f"no-{i}" for i in range(6000)] + [0.5 + i for i in range(6000)]
    for wanted in [("x", 7), (1,), (True, None), ("1", False), (2**63 - 1, "y", 0.0)]:
        condition = AnyOf("s" if isinstance(wanted[0], str) else "flag", (*filler, *wanted))
        f = PayloadFilter((condition,))
        expected = [i for i, p in PAYLOADS.items() if f.matches(p)]
        assert store.keys_for_filter(f).tolist() == keys_of(store, expected), wanted
        compiled = compile_filter(f)
        assert len(compiled.params) <= 12 and compiled.residual.must == ()


def test_keys_sqlite_cannot_address_fall_back_to_python(store: ItemStore) -> None:
    store.upsert([rec("q", payload={'a"b': 1, "c\\d": {"e": 2}}), rec("r", payload={"big": 2.0**70})])
    cases: list[tuple[Condition, list[str]]] = [(Equals('a"b', 1), ["q"]), (Equals("c\\d.e", 2), ["q"]),
                                                 (Equals("big", 2**70), ["r"])]
    for condition, expected in cases:
        compiled = compile_filter(PayloadFilter((condition,)))
        assert compiled.residual.must == (condition,)
        assert store.keys_for_filter(PayloadFilter((condition,))).tolist() == keys_of(store, expected)


_KEYS = st.sampled_from(["a", "b", "n", "é", "0", "", " sp", 'q"t', "back\\", "a.b"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.integers(-3, 3)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e-300, 2.0**53, 2.0**53 + 2])
    | st.text(alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=4)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=8,
)
_PAYLOAD = st.dictionaries(_KEYS, _VALUES, max_size=4)


def _paths(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out.append((path, item))
            out += _paths(item, path)
    return out


@st.composite
def _case(draw: st.DrawFn) -> tuple[list[dict[str, Any]], PayloadFilter]:
    payloads = draw(st.lists(_PAYLOAD, min_size=1, max_size=6))
    seen = [pv for p in payloads for pv in _paths(p)]
    fields = [p for p, _ in seen] + ["a", "a.b", "n.a", "zz"]
    leaves = [v for _, v in seen if not isinstance(v, dict | list)]
    value = st.sampled_from(leaves) | _SCALARS | st.sampled_from([2**64, float("nan"), float("inf")]) \
        if leaves else _SCALARS
    number = st.none() | st.floats(allow_nan=True) | st.integers(-5, 5) | st.sampled_from(
        [v for v in leaves if isinstance(v, int | float)] or [0])
    field = st.sampled_from(fields)
    condition = st.one_of(
        st.builds(Equals, field, value),
        st.builds(AnyOf, field, st.lists(value, max_size=3).map(tuple)),
        st.builds(Range, field, number, number, number, number),
    )
    return payloads, PayloadFilter(tuple(draw(st.lists(condition, min_size=1, max_size=3))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_case())
def test_sql_filter_equals_python_matches(case: tuple[list[dict[str, Any]], PayloadFilter]) -> None:
    payloads, payload_filter = case
    with tempfile.TemporaryDirectory() as tmp:
        store = ItemStore(Path(tmp) / "items.sqlite3", DIM)
        try:
            store.upsert([rec(f"i{n}", payload=p) for n, p in enumerate(payloads)])
            expected = [f"i{n}" for n, p in enumerate(payloads) if payload_filter.matches(p)]
            assert store.keys_for_filter(payload_filter).tolist() == keys_of(store, expected)
        finally:
            store.close()


def test_nan_and_inf_conditions_behave_like_python(store: ItemStore) -> None:
    store.upsert([rec("a", payload={"x": 1.0})])
    conditions: list[Condition] = [Equals("x", math.nan), AnyOf("x", (math.nan,)), Range("x", lt=math.inf),
                                   Range("x", gt=-math.inf, lte=math.nan)]
    for condition in conditions:
        f = PayloadFilter((condition,))
        assert (store.keys_for_filter(f).size == 1) == f.matches({"x": 1.0})
