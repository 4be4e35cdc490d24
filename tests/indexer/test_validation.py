"""The one set of rules and limits: each checked once, naming the request field and the limit."""

from __future__ import annotations

import threading

import pytest

from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.filters import AnyOf, Equals, PayloadFilter, Range
from latentspace.indexer.limits import Limits
from latentspace.indexer.search_options import SearchOptions
from latentspace.indexer.validation import (
    check_batch,
    check_filter,
    check_query_text,
    check_requested_ids,
    check_search_options,
)

LIMITS = Limits(max_filter_conditions=3, max_filter_values=10, max_exclude_ids=2, max_ids=3, max_text_chars=5,
                max_request_text_chars=8, max_request_pixels=100, max_batch=4)


def test_filter_conditions_and_values_are_counted_per_filter() -> None:
    check_filter(PayloadFilter((AnyOf("a", tuple(range(6))), AnyOf("b", tuple(range(4))))), LIMITS)
    with pytest.raises(LimitExceeded) as caught:
        check_filter(PayloadFilter((AnyOf("a", tuple(range(6))), Equals("c", 1), AnyOf("b", tuple(range(5))))),
                     LIMITS, "options.filter")
    assert caught.value.field == "options.filter.must[2].any_of"
    assert "11 any_of values" in caught.value.message and "max_filter_values" in caught.value.message
    with pytest.raises(LimitExceeded, match="max_filter_conditions") as caught:
        check_filter(PayloadFilter(tuple(Equals("a", i) for i in range(4))), LIMITS)
    assert caught.value.field == "filter.must"


@pytest.mark.parametrize(("condition", "field", "says"), [
    (Equals("", 1), "filter.must[0].field", "no payload field"),
    (Equals("a\x00b", 1), "filter.must[0].field", "NUL"),
    (AnyOf("a", ()), "filter.must[0].any_of", "at least one"),
    (AnyOf("a", (1, float("inf"))), "filter.must[0].any_of[1]", "finite"),
    (Equals("a", float("nan")), "filter.must[0].equals", "finite"),
    (Range("a"), "filter.must[0].range", "no bound"),
])
def test_malformed_conditions_name_their_field(condition, field: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says) as caught:
        check_filter(PayloadFilter((condition,)), LIMITS)
    assert caught.value.field == field


@pytest.mark.parametrize(("options", "prefix", "field", "error"), [
    (SearchOptions(exclude_ids=frozenset("abc")), "options.", "options.exclude_ids", LimitExceeded),
    (SearchOptions(exclude_ids=frozenset("abc")), "", "exclude_ids", LimitExceeded),
    (SearchOptions(ef_search=10_001), "options.", "options.params.ef_search", InvalidInput),
    (SearchOptions(nprobe=-1), "", "params.nprobe", InvalidInput),
    (SearchOptions(score_threshold=float("nan")), "options.", "options.score_threshold", InvalidInput),
    (SearchOptions(filter=PayloadFilter((Range("a"),))), "", "filter.must[0].range", InvalidInput),
])
def test_search_options_are_named_where_they_sit_in_the_request(options, prefix, field, error) -> None:
    with pytest.raises(error) as caught:
        check_search_options(options, LIMITS, prefix)
    assert caught.value.field == field


def test_ids_of_a_request_and_batches() -> None:
    assert check_requested_ids(["a", "b", "c"], LIMITS) == ["a", "b", "c"]
    with pytest.raises(LimitExceeded, match="max_ids"):
        check_requested_ids(list("abcd"), LIMITS)
    with pytest.raises(InvalidInput, match="empty"):
        check_requested_ids([], LIMITS)
    with pytest.raises(InvalidInput) as caught:
        check_requested_ids(["a", "b\x00"], LIMITS)
    assert caught.value.field == "ids[1]"
    check_batch([], LIMITS, "columns", allow_empty=True)
    with pytest.raises(LimitExceeded, match="max_batch"):
        check_batch([1] * 5, LIMITS, "queries")


def test_texts_are_checked_one_by_one_and_summed_over_a_request() -> None:
    budget = LIMITS.budget()
    check_query_text("abcde", "queries[0].text", LIMITS.max_text_chars, budget)
    with pytest.raises(LimitExceeded, match="max_text_chars"):
        check_query_text("abcdef", "queries[1].text", LIMITS.max_text_chars, budget)
    with pytest.raises(InvalidInput, match="empty"):
        check_query_text("  ", "queries[1].text", LIMITS.max_text_chars, budget)
    with pytest.raises(LimitExceeded, match="max_request_text_chars") as caught:
        check_query_text("wxyz", "queries[2].text", LIMITS.max_text_chars, budget)
    assert caught.value.field == "queries[2].text" and budget.text_chars_spent == 5
    assert LIMITS.budget().text_chars_spent == 0  # each request starts afresh


def test_a_budget_shared_by_threads_never_overspends() -> None:
    budget = Limits(max_request_pixels=1000).budget()
    refused: list[int] = []

    def spend(i: int) -> None:
        for _ in range(50):
            try:
                budget.spend_pixels(7, f"items[{i}].image")
            except LimitExceeded:
                refused.append(i)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.pixels_spent == 7 * (1000 // 7) and len(refused) == 8 * 50 - 1000 // 7


def test_limits_must_be_positive() -> None:
    with pytest.raises(InvalidInput, match="max_hits"):
        Limits(max_hits=0)
