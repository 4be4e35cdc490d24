"""Corpus readers: a folder, JSONL, CSV or Parquet in; a stream of source entries out.

Readers only parse. They yield a :class:`SourceRecord` per usable record, a :class:`BadRecord` (with
where and why) per unusable one, and an :class:`IgnoredFile` per folder file of another type; they
never stop at a bad record. Files named by records (images, text files) are not opened here: the
bulk pipeline reads them in a thread pool, batch by batch, so a corpus is never held in memory.

Tabular sources (JSONL, CSV, Parquet) share one record shape: ``id``, exactly one of ``text``,
``image`` (a path relative to the source file, or absolute; in Parquet also the image bytes) or
``vector``, an optional ``payload`` object and ``content_ref``; any other column goes into the
payload (CSV cells stay strings: CSV has no types). A record without an id gets a stable one made
of the file name and its line (or row) number.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import JsonObject
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.read_options import ReadOptions
from latentspace.indexer.pipeline.vector_blocks import VectorBlock, group_vector_rows, read_npy

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
TEXT_EXTENSIONS = frozenset({".txt", ".md"})
#: Column names with a meaning; every other column goes into the payload.
RESERVED_COLUMNS = ("id", "text", "image", "vector", "payload", "content_ref")
PARQUET_READ_ROWS = 1024


@dataclass(frozen=True)
class SourceRecord:
    """One item to index, not yet loaded: inline text or a vector, or a file to read (text or image).

    ``location`` says where it came from (``"notes/a.txt"``, ``"corpus.jsonl:12"``) for reports.
    """

    id: str
    location: str
    modality: Modality
    text: str | None = None
    #: A UTF-8 text file (modality TEXT) or an image file (modality IMAGE) to read when indexing.
    path: Path | None = None
    #: Inline encoded image bytes (Parquet binary columns).
    image: bytes | None = None
    #: A remote image (``http(s)://``), fetched when the record is loaded (``ReadOptions.fetch_urls``).
    url: str | None = None
    #: Numbers, or (from a reader that checks them as an array later) the JSON list as parsed.
    vector: tuple[float, ...] | list[Any] | None = None
    payload: JsonObject = field(default_factory=dict)
    content_ref: str = ""


@dataclass(frozen=True)
class BadRecord:
    """A record that cannot be indexed, and why."""

    location: str
    reason: str
    #: The record's id when it could be read ("" otherwise).
    id: str = ""


@dataclass(frozen=True)
class IgnoredFile:
    """A file in a source folder that is neither an image nor a text file."""

    location: str


SourceEntry = SourceRecord | BadRecord | IgnoredFile | VectorBlock
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
                yield BadRecord(location, f"expected a JSON object, got {_json_type(row)}")
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
    ".parquet": lambda path, options: _parquet_reader()(path, options),
    ".pq": lambda path, options: _parquet_reader()(path, options),
    ".npy": lambda path, _: read_npy(path),
}


def _parquet_reader() -> Reader:
    from latentspace.indexer.pipeline.parquet_source import read_parquet  # it imports this module

    return read_parquet


def record_from_row(
    row: Mapping[str, Any],
    *,
    location: str,
    base_dir: Path,
    default_id: str,
    json_cells: bool = False,
    options: ReadOptions = _DEFAULT_OPTIONS,
    raw_vectors: bool = False,
) -> SourceRecord | BadRecord:
    """Turn one tabular row into a record, or a bad record naming what is wrong.

    ``json_cells``: ``payload`` and ``vector`` may arrive as JSON strings (CSV and Parquet text columns).
    ``options`` renames the row's columns first (see :class:`ReadOptions`). ``raw_vectors``: a vector
    list is passed on as parsed, for the caller to check as an array (:func:`checked_vector_record`
    checks one alone).
    """
    if options.renames:
        row = options.rename(row)
    record_id = row.get("id")
    if record_id is None or record_id == "":
        record_id = default_id
    elif isinstance(record_id, int) and not isinstance(record_id, bool):
        record_id = str(record_id)
    elif not isinstance(record_id, str):
        return BadRecord(location, f"id must be a string, got {_json_type(record_id)}")

    given = [name for name in ("text", "image", "vector") if row.get(name) not in (None, "")]
    if not given:
        return _bad(location, record_id, "record has no text, image or vector")
    if len(given) > 1:
        return _bad(location, record_id, f"record has both {' and '.join(given)}; give exactly one")

    payload: JsonObject = {
        key: json_safe(value) for key, value in row.items() if key not in RESERVED_COLUMNS
    }
    explicit = row.get("payload")
    if isinstance(explicit, str) and json_cells:
        try:
            explicit = json.loads(explicit)
        except json.JSONDecodeError as exc:
            return _bad(location, record_id, f"payload is not valid JSON: {exc.msg}")
    if explicit is not None:
        if not isinstance(explicit, dict):
            return _bad(location, record_id, f"payload must be a JSON object, got {_json_type(explicit)}")
        payload.update({key: json_safe(value) for key, value in explicit.items()})
    content_ref = row.get("content_ref") or ""
    if not isinstance(content_ref, str):
        return _bad(location, record_id, f"content_ref must be a string, got {_json_type(content_ref)}")

    kind, value = given[0], row[given[0]]
    if kind == "text":
        if not isinstance(value, str):
            return _bad(location, record_id, f"text must be a string, got {_json_type(value)}")
        return SourceRecord(record_id, location, Modality.TEXT, text=value, payload=payload,
                            content_ref=content_ref)
    if kind == "image":
        return _image_record(record_id, location, value, base_dir, payload, content_ref, options)
    return _vector_record(record_id, location, value, payload, content_ref, json_cells, raw_vectors)


def _image_record(record_id: str, location: str, value: Any, base_dir: Path, payload: JsonObject,
                  content_ref: str, options: ReadOptions) -> SourceRecord | BadRecord:
    # Hugging Face datasets store images as {"bytes": ..., "path": ...}; take the bytes when present.
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, bytes):
        return SourceRecord(record_id, location, Modality.IMAGE, image=value, payload=payload,
                            content_ref=content_ref)
    if not isinstance(value, str):
        return _bad(location, record_id, f"image must be a file path, got {_json_type(value)}")
    if value.startswith(("http://", "https://")):
        if not options.fetch_urls:
            return _bad(location, record_id, "image is a remote URL; latent index fetches none unless "
                        "--fetch-urls is given")
        return SourceRecord(record_id, location, Modality.IMAGE, url=value, payload=payload,
                            content_ref=content_ref or value)
    image_path = (base_dir / Path(value).expanduser()).resolve()
    return SourceRecord(record_id, location, Modality.IMAGE, path=image_path, payload=payload,
                        content_ref=content_ref or str(image_path))


def _vector_record(record_id: str, location: str, value: Any, payload: JsonObject, content_ref: str,
                   json_cells: bool, raw: bool = False) -> SourceRecord | BadRecord:
    if isinstance(value, str) and json_cells:
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return _bad(location, record_id, "vector must be a JSON array of numbers")
    if raw and isinstance(value, list):
        return SourceRecord(record_id, location, Modality.VECTOR, vector=value, payload=payload,
                            content_ref=content_ref)
    if not isinstance(value, list | tuple) or not all(_is_number(x) for x in value):
        return _bad(location, record_id, "vector must be an array of numbers")
    return SourceRecord(record_id, location, Modality.VECTOR, vector=tuple(float(x) for x in value),
                        payload=payload, content_ref=content_ref)


def checked_vector_record(record: SourceRecord) -> SourceRecord | BadRecord:
    """A vector record passed on raw, checked on its own (numbers only, JSON booleans refused)."""
    return _vector_record(record.id, record.location, record.vector, record.payload, record.content_ref, False)


def require_content_columns(path: Path, columns: Iterable[str] | None, options: ReadOptions) -> None:
    """A table without any content column is a mistake in the whole file, not in one row."""
    names = list(columns or [])
    wanted = options.content_columns()
    if not set(wanted) & set(names):
        raise InvalidInput(
            f"{path} has no {wanted[0]!r}, {wanted[1]!r} or {wanted[2]!r} column "
            f"(columns: {', '.join(names) or 'none'}); "
            "name yours with --text-field, --image-field or --vector-field",
            field="source",
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if _is_number(value) else type(value).__name__)


def json_safe(value: Any) -> Any:
    """Parquet cells can be dates, decimals or bytes; payloads are JSON, so turn those into JSON values."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _bad(location: str, record_id: str, reason: str) -> BadRecord:
    return BadRecord(location, reason, record_id)
