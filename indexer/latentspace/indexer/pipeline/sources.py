"""Corpus readers: a folder, JSONL, CSV or Parquet in; a stream of source entries out.

Readers only parse. They yield a :class:`SourceRecord` per usable record, a :class:`BadRecord` (with
where and why) per unusable one, and an :class:`IgnoredFile` per folder file of another type; they
never stop at a bad record. Files named by records (images, text files) are not opened here: the
bulk pipeline reads them in a thread pool, batch by batch, so a corpus is never held in memory.

Tabular sources share one record shape (:mod:`~latentspace.indexer.pipeline.records`). A record
without an id gets a stable one made of the file name and its line (or row) number.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import JsonObject
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.parquet_source import read_parquet
from latentspace.indexer.pipeline.read_options import ReadOptions
from latentspace.indexer.pipeline.records import (
    BadRecord,
    IgnoredFile,
    SourceEntry,
    SourceRecord,
    checked_vector_record,
    group_vector_rows,
    json_type,
    record_from_row,
    require_content_columns,
)
from latentspace.indexer.pipeline.vector_blocks import read_npy

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
TEXT_EXTENSIONS = frozenset({".txt", ".md"})
#: Column names with a meaning; every other column goes into the payload.


Reader = Callable[[Path, ReadOptions], Iterator[SourceEntry]]
_DEFAULT_OPTIONS = ReadOptions()


def open_source(path: str | Path, options: ReadOptions = _DEFAULT_OPTIONS) -> Iterator[SourceEntry]:
    """Pick the reader for ``path`` (a folder, ``.jsonl``/``.ndjson``, ``.csv``, ``.parquet``, ``.npy``).

    ``options`` maps a table's columns onto the item (folders have none to map).

    Raises :class:`InvalidInput` at once (not on first iteration) for a missing path or another format.
    """
    source = Path(path).expanduser()
    if not source.exists():
        raise InvalidInput(f"no such file or folder: {path}", field="source")
    if source.is_dir():
        return read_folder(source)
    reader = _READERS.get(source.suffix.lower())
    if reader is None:
        raise InvalidInput(
            f"cannot index {path}: expected a folder, a .jsonl, .csv, .parquet or .npy file", field="source"
        )
    return reader(source, options)


def read_folder(folder: Path) -> Iterator[SourceEntry]:
    """Every image and ``.txt``/``.md`` file under ``folder``, recursively, in sorted path order.

    The id is the path relative to ``folder`` (with ``/``); the payload is ``{"path", "folder"}``
    (``folder`` is the relative parent, ``"."`` at the top); images keep their absolute path as the
    content reference. Hidden files and folders are passed over; other files come out as ignored.
    """
    root = folder.resolve()
    for file in _walk(root):
        relative = PurePosixPath(file.relative_to(root).as_posix())
        suffix = file.suffix.lower()
        payload: JsonObject = {"path": str(relative), "folder": str(relative.parent)}
        if suffix in IMAGE_EXTENSIONS:
            yield SourceRecord(str(relative), str(relative), Modality.IMAGE, path=file,
                               payload=payload, content_ref=str(file))
        elif suffix in TEXT_EXTENSIONS:
            yield SourceRecord(str(relative), str(relative), Modality.TEXT, path=file, payload=payload)
        else:
            yield IgnoredFile(str(relative))


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in sorted path order, files and subfolders interleaved by name.

    Sorting makes the same folder give the same ids in the same order. Hidden entries and symlinked
    folders (which could loop) are passed over.
    """
    with os.scandir(folder) as scan:
        entries = sorted((e for e in scan if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file():
            yield Path(entry.path)


def read_jsonl(path: Path, options: ReadOptions = _DEFAULT_OPTIONS) -> Iterator[SourceEntry]:
    """One JSON object per line; blank lines are passed over, bad lines come out as bad records.

    Runs of vector records become vector blocks: their lists become one numpy array, with no
    Python loop over the numbers.
    """
    return group_vector_rows(_jsonl_entries(path, options), checked_vector_record)


def _jsonl_entries(path: Path, options: ReadOptions) -> Iterator[SourceEntry]:
    base = path.resolve().parent
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            location = f"{path}:{number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield BadRecord(location, "line is not UTF-8")
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRecord(location, f"not valid JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(row, dict):
                yield BadRecord(location, f"expected a JSON object, got {json_type(row)}")
                continue
            yield record_from_row(row, location=location, base_dir=base, default_id=f"{path.name}:{number}",
                                  options=options, raw_vectors=True)


def read_csv(path: Path, options: ReadOptions = _DEFAULT_OPTIONS) -> Iterator[SourceEntry]:
    """A CSV file with a header row; empty cells count as missing."""
    base = path.resolve().parent
    # utf-8-sig: spreadsheet exports often start with a byte-order mark that would stick to "id".
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, restkey="\0extra")
        require_content_columns(path, reader.fieldnames, options)
        start = reader.line_num + 1
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except UnicodeDecodeError:
                yield BadRecord(f"{path}:{start}", "file is not UTF-8 from here on; the rest is not read")
                return
            except csv.Error as exc:
                yield BadRecord(f"{path}:{start}", f"not valid CSV: {exc}; the rest is not read")
                return
            location, default_id = f"{path}:{start}", f"{path.name}:{start}"
            start = reader.line_num + 1
            if "\0extra" in row:
                yield BadRecord(location, "row has more cells than the header")
                continue
            cells = {key: value for key, value in row.items() if value not in (None, "")}
            yield record_from_row(cells, location=location, base_dir=base, default_id=default_id,
                                  json_cells=True, options=options)


_READERS: dict[str, Reader] = {
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".csv": read_csv,
    ".parquet": read_parquet,
    ".pq": read_parquet,
    ".npy": lambda path, _: read_npy(path),
}


