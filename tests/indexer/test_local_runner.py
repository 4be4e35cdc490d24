"""The local runner: stages in threads, results in source order, bounded queues, clean failures.

No test here measures time. A hang would be the failure mode of a runner bug, so each test has a
pytest-timeout that turns one into a failure instead of a stuck suite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from latentspace.indexer.pipeline.local_runner import Stage, run_stages

pytestmark = pytest.mark.timeout(60)
PREFIX = "runner-test"
#: How long a test waits for the pipeline to reach a state; only a bug makes it wait this long.
WAIT = 30


def runner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(PREFIX)]


def test_values_pass_every_stage_in_source_order() -> None:
    seen_by_stage: dict[str, list[int]] = {"double": [], "add": []}

    def double(x: int) -> int:
        seen_by_stage["double"].append(x)
        return 2 * x

    def add(x: int) -> int:
        seen_by_stage["add"].append(x)
        return x + 1

    stages = [Stage("double", double), Stage("add", add)]
    with run_stages(range(100), stages, queue_size=1, thread_prefix=PREFIX) as results:
        assert list(results) == [2 * i + 1 for i in range(100)]
    assert seen_by_stage == {"double": list(range(100)), "add": [2 * i for i in range(100)]}
    assert runner_threads() == []


def test_stages_run_in_their_own_threads_concurrently() -> None:
    """Stage 1 works on value 2 while stage 2 still holds value 1: the stages overlap."""
    second_started = threading.Event()
    first_may_finish = threading.Event()
    names: set[str] = set()

    def stage_one(x: int) -> int:
        names.add(threading.current_thread().name)
        if x == 2:
            second_started.set()  # stage 2 is blocked on value 1 until this happens
        return x

    def stage_two(x: int) -> int:
        names.add(threading.current_thread().name)
        if x == 1:
            assert second_started.wait(WAIT), "stage one never got to value 2 while stage two held value 1"
            first_may_finish.set()
        return x

    with run_stages([1, 2, 3], [Stage("one", stage_one), Stage("two", stage_two)],
                    thread_prefix=PREFIX) as results:
        assert list(results) == [1, 2, 3]
    assert first_may_finish.is_set()
    assert names == {f"{PREFIX}-one", f"{PREFIX}-two"} and threading.current_thread().name not in names


@pytest.mark.parametrize(("stages", "queue_size"), [(1, 1), (2, 2), (3, 1)])
def test_memory_is_bounded_however_long_the_source(stages: int, queue_size: int) -> None:
    """With the caller not taking results, the source is read exactly up to the bound and no further."""
    bound = (stages + 1) * queue_size + stages + 1
    state = threading.Condition()
    pulled = taken = 0
    most_ahead = 0

    def source() -> Iterator[int]:
        nonlocal pulled, most_ahead
        for i in range(10 * bound):
            with state:
                pulled += 1
                most_ahead = max(most_ahead, pulled - taken)
                state.notify_all()
            yield i

    def ahead_is(n: int) -> bool:
        return pulled - taken == n

    identity = [Stage(f"s{i}", lambda x: x) for i in range(stages)]
    with run_stages(source(), identity, queue_size=queue_size, thread_prefix=PREFIX) as results:
        for expected in range(10 * bound):
            with state:
                # Wait until the pipeline is full (or holds the rest of the source), then take one.
                assert state.wait_for(lambda e=expected: ahead_is(min(bound, 10 * bound - e)), WAIT), (
                    f"pipeline never filled: {pulled - taken} values ahead, bound {bound}")
            assert next(results) == expected
            with state:
                taken += 1
        assert next(results, None) is None
    assert most_ahead == bound


class StageBroke(Exception):
    pass


def test_an_exception_in_a_stage_comes_after_the_results_before_it() -> None:
    def breaks_at_5(x: int) -> int:
        if x == 5:
            raise StageBroke("value 5 is bad")
        return x

    got: list[int] = []
    with pytest.raises(StageBroke, match="value 5 is bad") as caught, \
            run_stages(range(1000), [Stage("check", breaks_at_5), Stage("copy", lambda x: x)],
                       thread_prefix=PREFIX) as results:
        for value in results:
            got.append(value)
    assert got == [0, 1, 2, 3, 4]
    assert any("'check' stage" in note for note in caught.value.__notes__)
    assert runner_threads() == []


def test_an_exception_in_the_source_surfaces_and_the_rest_stop() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"), \
            run_stages(source(), [Stage("copy", lambda x: x)], thread_prefix=PREFIX) as results:
        assert list(results) == [1, 2]
    assert runner_threads() == []


def test_leaving_early_stops_every_thread_and_closes_the_source() -> None:
    closed = threading.Event()
    stage_calls = 0

    def source() -> Iterator[int]:
        try:
            yield from range(10**9)  # far more than anyone reads
        finally:
            closed.set()

    def count(x: int) -> int:
        nonlocal stage_calls
        stage_calls += 1
        return x

    with pytest.raises(KeyError), run_stages(source(), [Stage("count", count)], thread_prefix=PREFIX) as results:
        for value in results:
            if value == 3:
                raise KeyError("the caller gave up")  # e.g. an on_batch callback that fails
    assert closed.is_set()
    assert runner_threads() == []
    assert stage_calls < 20  # bounded by the queues, nowhere near the source's length


def test_a_stage_busy_when_the_run_stops_finishes_its_value_first() -> None:
    """A write in progress is never abandoned halfway: stop waits for the stage's current value."""
    entered, release = threading.Event(), threading.Event()
    finished: list[Any] = []

    def slow_write(x: int) -> int:
        if x == 1:
            entered.set()
            release.wait(WAIT)
        finished.append(x)
        return x

    def caller() -> None:
        with run_stages(range(10), [Stage("write", slow_write)], thread_prefix=PREFIX) as results:
            next(results)  # value 0
            assert entered.wait(WAIT)
            # Leave while value 1 is being written; release it from another thread meanwhile.
            threading.Timer(0.2, release.set).start()

    caller()
    assert 1 in finished  # stop() returned only after the write of value 1 completed
    assert runner_threads() == []


def test_an_empty_source_and_no_stages() -> None:
    with run_stages([], [Stage("copy", lambda x: x)], thread_prefix=PREFIX) as results:
        assert list(results) == []
    with run_stages("abc", [], thread_prefix=PREFIX) as results:
        assert list(results) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="queue_size"), run_stages([], [], queue_size=0):
        pass
