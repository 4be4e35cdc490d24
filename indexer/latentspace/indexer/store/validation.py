"""The rules an item must meet before it is written, checked for a whole batch before any write.

Besides plain sanity (id length, vector shape, finite numbers), the payload rules are what keeps
filtering exact in SQL: JSON objects with string keys, no NaN/inf, integers within 64 bits,
no NUL characters (SQLite's JSON functions stop at them), valid UTF-8 (no lone surrogates).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.modality import Modality

MAX_ID_LENGTH = 512
MAX_PAYLOAD_DEPTH = 32
#: Below this L2 norm a vector is treated as zero: its direction is numerical noise.
MIN_NORM = 1e-12
#: A vector whose L2 norm is this close to 1 is unit already (float32 rounding) and stored as given.
UNIT_TOLERANCE = 1e-6
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def check_text(value: Any, field: str, what: str) -> str:
    """A string that SQLite and JSON keep intact: valid UTF-8, no NUL characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{what} is not valid Unicode (lone surrogate)", field=field) from None
    return value


def check_id(value: Any, field: str) -> str:
    """An item id: a non-empty string of at most ``MAX_ID_LENGTH`` characters."""
    check_text(value, field, "id")
    if not value:
        raise InvalidInput("id must not be empty", field=field)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"id has {len(value)} characters; the limit is {MAX_ID_LENGTH}", field=field)
    return str(value)


def check_ids(ids: Sequence[Any], field: str = "ids") -> list[str]:
    """A list of strings to look up or delete (unknown ids are not an error)."""
    if isinstance(ids, str | bytes):
        raise InvalidInput("expected a list of ids, got a single string", field=field)
    return [check_text(v, f"{field}[{i}]", "id") for i, v in enumerate(ids)]


def normalised_vector(value: Any, dimension: int, field: str) -> np.ndarray:
    """``value`` as a unit-norm float32 vector of ``dimension``; InvalidInput naming the fix otherwise."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput("vector must be a sequence of numbers", field=field) from None
    if array.shape != (dimension,):
        raise InvalidInput(f"vector has shape {array.shape}; this collection needs {dimension} numbers",
                           field=field)
    if not np.all(np.isfinite(array)):
        raise InvalidInput("vector contains NaN or infinity", field=field)
    norm = float(np.linalg.norm(array))
    if norm < MIN_NORM:
        raise InvalidInput("vector is zero (it has no direction); send a non-zero vector", field=field)
    if abs(norm - 1.0) <= UNIT_TOLERANCE:
        # Already unit (say, read back from a store): kept bit for bit, so a copy of a collection
        # made from its items (an export loaded back) holds exactly its vectors.
        return array.astype(np.float32)
    return (array / norm).astype(np.float32)


def check_payload(value: Any, field: str, depth: int = 0) -> None:
    """Raise InvalidInput at the first part of ``value`` that is not storable, filterable JSON."""
    if depth > MAX_PAYLOAD_DEPTH:
        raise InvalidInput(f"payload nests deeper than {MAX_PAYLOAD_DEPTH} levels", field=field)
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidInput("payload integers must fit in 64 bits", field=field)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput("payload numbers must be finite (JSON has no NaN or infinity)", field=field)
    elif isinstance(value, str):
        check_text(value, field, "payload string")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_payload(item, f"{field}[{i}]", depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, field, "payload key")
            check_payload(item, f"{field}.{key}", depth + 1)
    else:
        raise InvalidInput(
            f"payload value of type {type(value).__name__} is not JSON; use str, int, float, bool, None, "
            "list or dict", field=field)


def check_records(records: Sequence[ItemRecord], dimension: int) -> list[ItemRecord]:
    """Validate a whole batch and return it with unit float32 vectors; raise before any write.

    Ids must be unique within a batch: a batch that names an id twice is refused rather than
    resolved silently ("last wins" would hide a bug in the caller's data).
    """
    seen: dict[str, int] = {}
    checked = []
    for i, record in enumerate(records):
        where = f"items[{i}]"
        if not isinstance(record, ItemRecord):
            raise InvalidInput(f"expected an ItemRecord, got {type(record).__name__}", field=where)
        item_id = check_id(record.id, f"{where}.id")
        if item_id in seen:
            raise InvalidInput(f"duplicate id {item_id!r} (also at items[{seen[item_id]}]); "
                               "send each id once per batch", field=f"{where}.id")
        seen[item_id] = i
        vector = normalised_vector(record.vector, dimension, f"{where}.vector")
        try:
            modality = Modality(record.modality)
        except ValueError:
            raise InvalidInput(f"unknown modality {record.modality!r}; use text, image or vector",
                               field=f"{where}.modality") from None
        if not isinstance(record.payload, dict):
            raise InvalidInput("payload must be a JSON object (a dict)", field=f"{where}.payload")
        check_payload(record.payload, f"{where}.payload")
        check_text(record.content, f"{where}.content", "content")
        checked.append(dataclasses.replace(record, vector=vector, modality=modality))
    return checked
