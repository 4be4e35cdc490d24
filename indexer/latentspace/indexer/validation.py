"""The rules what callers send must meet, each kept once: ingest, the store, the resolver, the
operations and the server's conversion all call these.

Storable values: ids, texts without NUL characters or lone surrogates, unit vectors, and payloads
that stay exact when filtered in SQL (JSON objects with string keys, no NaN/inf, integers within 64
bits, bounded nesting). Request shapes: query texts, point nesting, filters and search options,
checked against :class:`~latentspace.indexer.limits.Limits`. A whole batch of records is checked
before any write.

Errors name the field in proto path form (``items[3].payload.tags[0]``, ``options.filter.must[1]``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence, Sized
from typing import Any

import numpy as np

from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.filters import AnyOf, Equals, PayloadFilter, Range
from latentspace.indexer.index.auto_kind import AUTO
from latentspace.indexer.index.index_kind_gate import vet_index_kind
from latentspace.indexer.index.index_kind_grammar import IndexKindLimits
from latentspace.indexer.items import ItemRecord
from latentspace.indexer.limits import Limits, RequestBudget
from latentspace.indexer.manifest import BACKENDS
from latentspace.indexer.modality import Modality
from latentspace.indexer.search_options import SearchOptions

MAX_ID_LENGTH = 512
#: A client's content hash is an opaque string of at most this many characters.
MAX_CONTENT_HASH_LENGTH = 128
#: Payloads nest at most this deep (a dict or list inside another counts one level).
MAX_PAYLOAD_DEPTH = 32
#: Composite points (mix, edit, analogy) nest at most this deep: each mix part, edit base, example
#: and analogy term is one level below its parent. Any tree within it fits protobuf's own limit of
#: 100 nested messages on the wire (a mix level costs three), so the SDKs can refuse deeper ones first.
MAX_POINT_DEPTH = 16
#: Below this L2 norm a vector is treated as zero: its direction is numerical noise.
MIN_NORM = 1e-12
#: A vector whose L2 norm is this close to 1 is unit already (float32 rounding) and stored as given.
UNIT_TOLERANCE = 1e-6
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# ---------------------------------------------------------------- ids and strings


#: A direction name: 1-64 letters, digits, '_' or '-', starting with a letter or digit (as collection names).
DIRECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def check_direction_name(name: Any, field: str = "name") -> str:
    """A name to store a direction under."""
    if not isinstance(name, str) or not DIRECTION_NAME.fullmatch(name):
        raise InvalidInput(f"direction name {name!r} is not valid: use 1-64 letters, digits, '_' or '-', "
                           "starting with a letter or digit", field=field)
    return name


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


def check_content_hash(value: Any, field: str) -> str:
    """A content hash sent with an item: an opaque string ("" for none) of at most
    ``MAX_CONTENT_HASH_LENGTH`` characters."""
    check_text(value, field, "content_hash")
    if len(value) > MAX_CONTENT_HASH_LENGTH:
        raise InvalidInput(f"content_hash has {len(value)} characters; the limit is {MAX_CONTENT_HASH_LENGTH} "
                           "(send a digest, not the content)", field=field)
    return str(value)


def check_ids(ids: Sequence[Any], field: str = "ids") -> list[str]:
    """A list of strings to look up or delete (unknown ids are not an error)."""
    if isinstance(ids, str | bytes):
        raise InvalidInput("expected a list of ids, got a single string", field=field)
    return [check_text(v, f"{field}[{i}]", "id") for i, v in enumerate(ids)]


def check_requested_ids(ids: Sequence[Any], limits: Limits, field: str = "ids") -> list[str]:
    """The ids of one Get or Delete request: at least one, at most ``limits.max_ids``."""
    if not ids:
        raise InvalidInput("must not be empty; name at least one id", field=field)
    limits.check_count("max_ids", len(ids), field, "ids in one request")
    return check_ids(ids, field)


def check_query_text(text: Any, field: str, max_chars: int, budget: RequestBudget | None = None) -> str:
    """A text to encode: not blank, at most ``max_chars`` (``max_text_chars``); drawn from ``budget``."""
    if not isinstance(text, str):
        raise InvalidInput(f"text must be a string, not {type(text).__name__}", field=field)
    if not text.strip():
        raise InvalidInput("text is empty; send the text to encode", field=field)
    if len(text) > max_chars:
        raise LimitExceeded(f"text has {len(text)} characters, over the limit of {max_chars} "
                            "(max_text_chars); send a shorter text", field=field)
    if budget is not None:
        budget.spend_text(len(text), field)
    return text


def check_backend(value: Any, field: str = "backend") -> str | None:
    """The backend a create asks for (``embedded``, ``milvus``); None when empty (the server's default)."""
    if value is None or value == "":
        return None
    check_text(value, field, "backend")
    if value not in BACKENDS:
        raise InvalidInput(f"backend {value!r} is not known; use one of {', '.join(BACKENDS)}, or leave it "
                           "empty for the server's default", field=field)
    return str(value)


def check_batch(items: Sized, limits: Limits, field: str, *, allow_empty: bool = False) -> None:
    """A list of queries, items, pairs or rows: not empty (unless allowed), at most ``max_batch``."""
    if not items and not allow_empty:
        raise InvalidInput("must not be empty", field=field)
    limits.check_count("max_batch", len(items), field, "entries in one request")


# ---------------------------------------------------------------- vectors and payloads


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


def check_payload_object(value: Any, field: str) -> dict[str, Any]:
    """An item's payload: a JSON object meeting :func:`check_payload`."""
    if not isinstance(value, dict):
        raise InvalidInput(f"payload must be a JSON object (a dict), not {type(value).__name__}", field=field)
    check_payload(value, field)
    return value


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
        check_payload_object(record.payload, f"{where}.payload")
        check_text(record.content, f"{where}.content", "content")
        checked.append(dataclasses.replace(record, vector=vector, modality=modality))
    return checked


# ---------------------------------------------------------------- filters and search options


def check_filter(payload_filter: PayloadFilter, limits: Limits, field: str = "filter") -> None:
    """A filter's conditions are well formed and within ``max_filter_conditions`` / ``max_filter_values``."""
    conditions = payload_filter.must
    limits.check_count("max_filter_conditions", len(conditions), f"{field}.must", "filter conditions")
    values = 0
    for i, condition in enumerate(conditions):
        where = f"{field}.must[{i}]"
        if not isinstance(condition.field, str) or not condition.field:
            raise InvalidInput("condition names no payload field", field=f"{where}.field")
        check_text(condition.field, f"{where}.field", "payload field")
        if isinstance(condition, Equals):
            _check_filter_value(condition.value, f"{where}.equals")
        elif isinstance(condition, AnyOf):
            if not condition.values:
                raise InvalidInput("any_of needs at least one value", field=f"{where}.any_of")
            values += len(condition.values)
            limits.check_count("max_filter_values", values, f"{where}.any_of", "any_of values in one filter")
            for j, value in enumerate(condition.values):
                _check_filter_value(value, f"{where}.any_of[{j}]")
        elif isinstance(condition, Range):
            if all(b is None for b in (condition.gt, condition.gte, condition.lt, condition.lte)):
                raise InvalidInput("range sets no bound (gt, gte, lt, lte)", field=f"{where}.range")
        else:
            raise InvalidInput(f"not a filter condition: {type(condition).__name__}", field=where)


def _check_filter_value(value: Any, field: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput("filter value must be finite", field=field)
    if isinstance(value, str):
        check_text(value, field, "filter value")


def check_index_kind(kind: Any, dimension: int, limits: IndexKindLimits | None = None,
                     field: str = "index_kind") -> str:
    """``auto``, or an index kind (FAISS factory string) within the grammar and ``limits`` that passed
    its trial run in a child process (kinds that train): the kind, stripped. Refused with
    :class:`InvalidInput` on ``field`` saying what is allowed."""
    if not isinstance(kind, str) or not kind.strip():
        raise InvalidInput(f"index_kind is empty: name a FAISS kind (Flat, HNSW32, IVF1024,PQ8x8, ...) "
                           f"or {AUTO!r} (the kind follows the collection's size)", field=field)
    kind = kind.strip()
    if kind == AUTO:
        return kind
    try:  # the grammar, then (kinds that train) a trial run in a child process
        vet_index_kind(dimension, kind, limits)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=field) from None
    return kind


def check_search_options(options: SearchOptions, limits: Limits, prefix: str = "options.") -> None:
    """Threshold, index knobs, exclusions and filter of a search (``k`` is checked by its operation).

    ``prefix`` is where the options sit in the request: ``options.`` for Search, empty for the
    top-level ``filter`` and ``exclude_ids`` of Interpolate and Edit.
    """
    threshold = options.score_threshold
    if threshold is not None and not math.isfinite(threshold):
        raise InvalidInput("score_threshold must be finite", field=f"{prefix}score_threshold")
    knobs = (("ef_search", limits.max_ef_search), ("nprobe", limits.max_nprobe), ("rerank", limits.max_rerank))
    for knob, bound in knobs:
        value = getattr(options, knob)
        if not 0 <= value <= bound:
            raise InvalidInput(f"{knob} must be between 0 (the index default) and {bound}, got {value}",
                               field=f"{prefix}params.{knob}")
    limits.check_count("max_exclude_ids", len(options.exclude_ids), f"{prefix}exclude_ids", "excluded ids")
    check_filter(options.filter, limits, f"{prefix}filter")
    if not (math.isfinite(options.diversity) and 0.0 <= options.diversity <= 1.0):
        raise InvalidInput(f"diversity must be between 0 (plain ranking) and 1, got {options.diversity}",
                           field=f"{prefix}diversity")
    if options.pool < 0:
        raise InvalidInput(f"pool must be 0 (the default) or at least k, got {options.pool}", field=f"{prefix}pool")
    limits.check_count("max_diversity_pool", options.pool, f"{prefix}pool", "candidates in the diversity pool")


# ---------------------------------------------------------------- decoded images


def check_decoded_images(count: int, limits: Limits, field: str) -> None:
    """A request draws at most ``limits.max_decoded_images`` images with a decoder (LimitExceeded)."""
    limits.check_count("max_decoded_images", count, field, "images to decode in one request")
