"""What corpus readers yield: records, bad records, ignored files and vector blocks.

Tabular sources (JSONL, CSV, Parquet) share one record shape: ``id``, exactly one of ``text``,
``image`` (a path relative to the source file, or absolute; in Parquet also the image bytes) or
``vector``, an optional ``payload`` object and ``content_ref``; any other column goes into the
payload (CSV cells stay strings: CSV has no types). :func:`record_from_row` turns one row into a
record or a bad record naming what is wrong; :func:`group_vector_rows` gathers runs of raw vector
rows into :class:`~latentspace.indexer.pipeline.vector_blocks.VectorBlock` arrays.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import JsonObject
from latentspace.indexer.modality import Modality
from latentspace.indexer.pipeline.read_options import ReadOptions
from latentspace.indexer.pipeline.vector_blocks import BLOCK_ROWS, VectorBlock

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
_DEFAULT_OPTIONS = ReadOptions()


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
        return BadRecord(location, f"id must be a string, got {json_type(record_id)}")

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
            return _bad(location, record_id, f"payload must be a JSON object, got {json_type(explicit)}")
        payload.update({key: json_safe(value) for key, value in explicit.items()})
    content_ref = row.get("content_ref") or ""
    if not isinstance(content_ref, str):
        return _bad(location, record_id, f"content_ref must be a string, got {json_type(content_ref)}")

    kind, value = given[0], row[given[0]]
    if kind == "text":
        if not isinstance(value, str):
            return _bad(location, record_id, f"text must be a string, got {json_type(value)}")
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
        return _bad(location, record_id, f"image must be a file path, got {json_type(value)}")
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


def json_type(value: object) -> str:
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


def group_vector_rows(entries: Iterable[SourceEntry],
                      check_one: Callable[[SourceRecord], SourceRecord | BadRecord]) -> Iterator[SourceEntry]:
    """Gather runs of vector records whose vectors are raw JSON lists into blocks of up to
    :data:`BLOCK_ROWS`; any other entry passes through in order. A run whose lists are not all
    numbers of one length is passed on record by record, each checked by ``check_one``."""
    run: list[SourceRecord] = []
    for entry in entries:
        if isinstance(getattr(entry, "vector", None), list) and not getattr(entry, "content_ref", ""):
            run.append(entry)  # type: ignore[arg-type]  # a SourceRecord: only those have a vector
            if len(run) >= BLOCK_ROWS:
                yield from _run_as_block(run, check_one)
                run = []
            continue
        if run:
            yield from _run_as_block(run, check_one)
            run = []
        yield check_one(entry) if isinstance(getattr(entry, "vector", None), list) else entry  # type: ignore[arg-type]
    if run:
        yield from _run_as_block(run, check_one)


def _run_as_block(run: list[SourceRecord],
                  check_one: Callable[[SourceRecord], SourceRecord | BadRecord]) -> Iterator[SourceEntry]:
    try:
        array = np.array([record.vector for record in run])
    except ValueError:  # ragged lists
        array = np.zeros(0)
    # Numbers only: "u", "i", "f" (all-boolean lists make a bool array, strings a str one). A boolean
    # among numbers passes as 1 or 0: finding one would cost the Python loop this avoids.
    if array.ndim != 2 or array.dtype.kind not in "uif":
        yield from (check_one(record) for record in run)
        return
    payloads = [record.payload for record in run]
    yield VectorBlock([record.id for record in run], array, payloads if any(payloads) else None,
                      source="", first_row=0, locations=[record.location for record in run])
