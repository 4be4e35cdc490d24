"""The create-time gate for an index kind: the grammar first, then a trial run in a child process.

:func:`vet_index_kind` parses the kind against the allowed grammar (``index_kind_grammar.py``):
a refused string never reaches FAISS. Every accepted kind but Flat and HNSW over Flat is then
trial-run (``index_kind_trial.check_index_kind``) in a fresh Python process, so that a FAISS abort,
a segfault, a runaway allocation or a hang ends the child, never the server, and comes back as
``ValueError``. Flat and HNSW over Flat need no child: they train nothing, and
``tests/indexer/test_index_kind_gate.py`` runs their whole trial in-process at the grammar's bounds.

The child gets the parent's ``sys.path``, one FAISS thread, an address-space limit (RLIMIT_AS:
what its imports took plus ``index_trial_memory_bytes``; where the platform has none, only the
timeout bounds it) and ``index_trial_timeout_s`` before it is killed. A process runs one trial at
a time, so a burst of creates cannot start a child per request.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time

from latentspace.indexer.errors import Unavailable
from latentspace.indexer.index.index_kind_grammar import IndexKind, IndexKindLimits, parse_index_kind

log = logging.getLogger(__name__)

_READY = "latentspace-trial-ready"
_RESULT = "latentspace-trial-result "
_CHILD = ("import sys; sys.path[:0] = {path!r}; "
          "from latentspace.indexer.index.index_kind_gate import trial_child_main; trial_child_main(sys.argv[1:])")
_TRIALS = threading.Lock()


def vet_index_kind(dimension: int, factory: str, limits: IndexKindLimits | None = None) -> IndexKind:
    """The parsed kind, once it is in the grammar, within ``limits``, and (if it trains) passed its trial.

    Raises ``ValueError`` naming the kind and the fix; :class:`Unavailable` when no child process
    could be started (not the caller's fault).
    """
    limits = limits or IndexKindLimits()
    kind = parse_index_kind(dimension, factory, limits)
    if kind.needs_trial:
        run_trial_in_child(dimension, factory, timeout_s=limits.index_trial_timeout_s,
                           memory_bytes=limits.index_trial_memory_bytes)
    return kind


def run_trial_in_child(dimension: int, factory: str, *, timeout_s: float, memory_bytes: int) -> None:
    """Trial-run ``factory`` in a child process; ``ValueError`` when it fails, crashes, or runs out of
    time or memory. Any string is taken: the grammar is the caller's business, the child is where a
    bad kind may crash."""
    command = [sys.executable, "-c", _CHILD.format(path=sys.path), str(dimension), factory, str(memory_bytes)]
    with _TRIALS:
        started = time.monotonic()
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:  # run() has killed the child
            raise ValueError(f"index kind {factory!r} took longer than {timeout_s:g} s in a trial run on "
                             "random vectors (limit index_trial_timeout_s)") from None
        except OSError as exc:
            log.error("cannot start the index-kind trial process: %s", exc)
            raise Unavailable("cannot start a process to trial-run the index kind; try again later") from exc
    log.debug("index kind %r trial: exit %s in %.2f s", factory, done.returncode, time.monotonic() - started)
    lines = done.stdout.splitlines()
    results = [json.loads(line.removeprefix(_RESULT)) for line in lines if line.startswith(_RESULT)]
    if done.returncode == 0 and results:
        result = results[-1]  # {} passed, {"memory": true}, or {"error": "..."}
        if result.get("memory"):
            raise _over_memory(factory, memory_bytes)
        if "error" in result:
            raise ValueError(str(result["error"]))
        return
    if _READY not in lines:  # died before the trial began: the environment, not the kind
        log.error("index-kind trial process failed to start (exit %s): %s", done.returncode, done.stderr[-2000:])
        raise Unavailable("the index-kind trial process failed to start; see the server log")
    log.warning("index kind %r crashed its trial process (exit %s): %s", factory, done.returncode,
                done.stderr[-2000:])
    if _OUT_OF_MEMORY.search(done.stderr):  # e.g. OpenBLAS exits when an allocation fails
        raise _over_memory(factory, memory_bytes)
    raise ValueError(f"index kind {factory!r} crashed FAISS in a trial run on random vectors "
                     f"({_crash(done.returncode, done.stderr)}); it cannot be served")


def _over_memory(factory: str, memory_bytes: int) -> ValueError:
    return ValueError(f"index kind {factory!r} needed more than {memory_bytes / 2**20:.0f} MiB in a trial run "
                      "on random vectors (limit index_trial_memory_bytes)")


#: What a child that died for want of memory printed (C++, Python, OpenBLAS, libc).
_OUT_OF_MEMORY = re.compile(r"bad_alloc|MemoryError|Memory allocation .*failed|Cannot allocate memory")


def _crash(returncode: int, stderr: str) -> str:
    """How the child ended, with FAISS's assertion when it printed one (without its source paths)."""
    try:
        how = signal.Signals(-returncode).name if returncode < 0 else f"exit status {returncode}"
    except ValueError:
        how = f"signal {-returncode}"
    assertion = re.search(r"Faiss assertion '(.{1,200}?)' failed", stderr)
    return f"{how}: assertion '{assertion.group(1)}' failed" if assertion else how


# ---------------------------------------------------------------------------------------------- child
def trial_child_main(argv: list[str]) -> None:
    """The child's side: ``argv`` is dimension, factory, memory budget; one result line on stdout."""
    dimension, factory, memory_bytes = int(argv[0]), argv[1], int(argv[2])
    import faiss
    import numpy.random  # noqa: F401  # numpy loads it lazily: an import under the limit may fail to map

    from latentspace.indexer.index.index_kind_trial import check_index_kind

    faiss.omp_set_num_threads(1)  # a trial is small; the server's cores stay with its requests
    _limit_address_space(memory_bytes)
    print(_READY, flush=True)
    result: dict[str, object] = {}
    try:
        check_index_kind(dimension, factory)
    except MemoryError:
        result = {"memory": True}
    except ValueError as exc:
        result = {"memory": True} if _out_of_memory(exc) else {"error": str(exc)}
    print(_RESULT + json.dumps(result), flush=True)


def _out_of_memory(exc: BaseException) -> bool:
    """Whether the trial failed for want of memory (an import that could not map counts too)."""
    cause = exc.__cause__
    return isinstance(cause, MemoryError | ImportError) or "bad_alloc" in f"{exc} {cause}"


def _limit_address_space(budget: int) -> None:
    """Cap the address space at what the imports reserved plus ``budget`` (Linux; elsewhere no cap)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = used + budget if hard == resource.RLIM_INFINITY else min(used + budget, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass  # no /proc or no RLIMIT_AS (macOS): the timeout still bounds the trial
