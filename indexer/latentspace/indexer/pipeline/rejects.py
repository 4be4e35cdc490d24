"""The rejects file: one JSON line per record a run could not index (where, which id, why).

A long run's rejects can be many, so they go to a file as the batches are written rather than into
memory; the summary counts them and names the file. The default path sits beside the source
(:func:`default_rejects_path`). The file is written afresh by each run, and only when there is
something to write: a run without rejects removes the file an earlier run left at that path, so
what is there always describes the last run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, NamedTuple


class Reject(NamedTuple):
    """A record that was not indexed: its source location, its id ("" when unknown) and why."""

    location: str
    id: str
    reason: str


def default_rejects_path(source: Path) -> Path:
    """``corpus.jsonl`` -> ``corpus.rejects.jsonl``; a folder ``photos`` -> ``photos.rejects.jsonl`` beside it."""
    source = source.expanduser().resolve()
    stem = source.name if source.is_dir() else source.stem
    return source.parent / f"{stem}.rejects.jsonl"


class RejectsFile:
    """Appends rejects to ``path`` as JSON lines, creating the file on the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._out: IO[str] | None = None

    def write(self, rejects: Iterable[Reject]) -> None:
        """Write (and flush) ``rejects``: a killed run keeps every line written before."""
        lines = [json.dumps(reject._asdict(), ensure_ascii=False) + "\n" for reject in rejects]
        if not lines:
            return
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("w", encoding="utf-8")
        self._out.writelines(lines)
        self._out.flush()
        self.count += len(lines)

    def close(self) -> None:
        """Close the file; with nothing written, remove what an earlier run left at the path."""
        if self._out is not None:
            self._out.close()
        elif self.path.is_file():
            self.path.unlink()

    def __enter__(self) -> RejectsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
