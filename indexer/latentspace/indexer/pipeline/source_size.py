"""How many records a source holds, counted cheaply, for the progress bar's ETA.

No record is parsed: a folder's files are counted by extension, JSONL and CSV lines by counting
newlines in large chunks, Parquet rows from the file's metadata, ``.npy`` rows from its header.
An estimate (blank lines, quoted newlines in CSV cells) is good enough for an ETA.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from latentspace.indexer.pipeline.sources import IMAGE_EXTENSIONS, TEXT_EXTENSIONS

_CHUNK = 1 << 20


def estimate_records(source: Path) -> int | None:
    """The number of records ``source`` is expected to yield, or None when it cannot tell."""
    try:
        if source.is_dir():
            wanted = IMAGE_EXTENSIONS | TEXT_EXTENSIONS
            return sum(1 for _, dirs, files in _walk(source) for name in files
                       if os.path.splitext(name)[1].lower() in wanted)
        suffix = source.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            return _lines(source)
        if suffix == ".csv":
            return max(0, _lines(source) - 1)
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(source).metadata.num_rows)
        if suffix == ".npy":
            return int(np.load(source, mmap_mode="r", allow_pickle=False).shape[0])
    except (OSError, ValueError):
        return None
    return None


def _walk(folder: Path) -> list[tuple[str, list[str], list[str]]]:
    walked = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        walked.append((root, dirs, [f for f in files if not f.startswith(".")]))
    return walked


def _lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")
