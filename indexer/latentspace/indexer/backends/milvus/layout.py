"""How a latentspace collection is laid out in Milvus: its name there, its fields, its rows.

One Milvus collection per latentspace collection, named ``latentspace_<name>`` (``_`` written
``__`` and ``-`` written ``_d``, since Milvus names allow neither ``-`` nor a leading digit)::

    id        VARCHAR primary key      the item id
    vector    FLOAT_VECTOR(dimension)  unit-normalised; the index uses the inner product (= cosine)
    modality  VARCHAR                  text | image | vector
    content   VARCHAR                  the text itself, or the image's reference
    payload   JSON                     the metadata that filters read
    sequence  INT64                    the write stamp of the item's last upsert

The collection's manifest (model spec, fingerprint, dimension, metric, index kind, backend) is the
collection property ``latentspace.manifest``, and its named directions are a second Milvus
collection, ``latentspacedirections_<encoded name>`` (:mod:`.directions`), so every process pointed
at the same Milvus finds the same collections, models and directions without any file of its own.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import numpy as np

from latentspace.indexer.errors import InvalidInput
from latentspace.indexer.items import Hit, ItemRecord, StoredItem
from latentspace.indexer.modality import Modality

from .expressions import ID_FIELD, PAYLOAD_FIELD, is_quotable

PREFIX = "latentspace_"
#: Not ``latentspace_...``: a directions collection is never listed as a latentspace collection.
DIRECTIONS_PREFIX = "latentspacedirections_"
MANIFEST_PROPERTY = "latentspace.manifest"
VECTOR_FIELD, MODALITY_FIELD, CONTENT_FIELD, SEQUENCE_FIELD = "vector", "modality", "content", "sequence"
#: Milvus's limits: VARCHAR up to 65,535 bytes, a JSON value up to 65,536 bytes.
MAX_ID_BYTES = 2_048
MAX_CONTENT_BYTES = 65_535
MAX_PAYLOAD_BYTES = 65_536
ROW_FIELDS = [ID_FIELD, MODALITY_FIELD, CONTENT_FIELD, PAYLOAD_FIELD, SEQUENCE_FIELD]
_ENCODED = re.compile(r"(?:[A-Za-z0-9]|__|_d)+")


def milvus_name(name: str) -> str:
    """The Milvus collection that holds latentspace collection ``name``."""
    return PREFIX + name.replace("_", "__").replace("-", "_d")


def directions_name(name: str) -> str:
    """The Milvus collection that holds the named directions of latentspace collection ``name``."""
    return DIRECTIONS_PREFIX + milvus_name(name)[len(PREFIX):]


def latentspace_name(physical: str) -> str | None:
    """The latentspace name of a Milvus collection, or None when it is not one of ours."""
    if not physical.startswith(PREFIX) or not _ENCODED.fullmatch(physical[len(PREFIX):]):
        return None
    return re.sub("__|_d", lambda m: "_" if m.group() == "__" else "-", physical[len(PREFIX):])


def schema(module: Any, client: Any, dimension: int) -> Any:
    """The Milvus schema of a collection of ``dimension``-d vectors (no dynamic fields)."""
    types = module.DataType
    result = client.create_schema(auto_id=False, enable_dynamic_field=False)
    result.add_field(ID_FIELD, types.VARCHAR, is_primary=True, max_length=MAX_ID_BYTES)
    result.add_field(VECTOR_FIELD, types.FLOAT_VECTOR, dim=dimension)
    result.add_field(MODALITY_FIELD, types.VARCHAR, max_length=16)
    result.add_field(CONTENT_FIELD, types.VARCHAR, max_length=MAX_CONTENT_BYTES)
    result.add_field(PAYLOAD_FIELD, types.JSON)
    result.add_field(SEQUENCE_FIELD, types.INT64)
    return result


def row(record: ItemRecord, sequence: int, where: str) -> dict[str, Any]:
    """A validated record (``check_records``) as a Milvus row, or InvalidInput for what Milvus cannot hold.

    Ids must be printable (they appear quoted in ``id in [...]`` expressions); ids, content and the
    payload's JSON text must fit Milvus's field limits.
    """
    if not is_quotable(record.id) or len(record.id.encode()) > MAX_ID_BYTES:
        raise InvalidInput(f"id {record.id[:40]!r} is not accepted by the Milvus backend: use printable "
                           f"characters, at most {MAX_ID_BYTES} bytes in UTF-8", field=f"{where}.id")
    if len(record.content.encode()) > MAX_CONTENT_BYTES:
        raise InvalidInput(f"content has more than {MAX_CONTENT_BYTES} bytes in UTF-8, Milvus's limit",
                           field=f"{where}.content")
    payload_bytes = len(json.dumps(record.payload, ensure_ascii=False).encode())
    if payload_bytes > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"payload is {payload_bytes} bytes of JSON; the Milvus backend holds at most "
                           f"{MAX_PAYLOAD_BYTES}", field=f"{where}.payload")
    return {ID_FIELD: record.id, VECTOR_FIELD: record.vector.tolist(), MODALITY_FIELD: record.modality.value,
            CONTENT_FIELD: record.content, PAYLOAD_FIELD: record.payload, SEQUENCE_FIELD: sequence}


def stored_item(entity: dict[str, Any]) -> StoredItem:
    """A Milvus row (from ``query``/``get``) as a stored item."""
    vector = entity.get(VECTOR_FIELD)
    return StoredItem(entity[ID_FIELD], Modality(entity[MODALITY_FIELD]), _payload(entity),
                      entity[CONTENT_FIELD], int(entity[SEQUENCE_FIELD]),
                      None if vector is None else np.asarray(vector, dtype=np.float32))


def hit(entity: dict[str, Any], score: float, with_vector: bool) -> Hit:
    """A search result row as a hit (scores of unit vectors clipped into [-1, 1])."""
    vector = entity.get(VECTOR_FIELD) if with_vector else None
    return Hit(entity[ID_FIELD], min(1.0, max(-1.0, float(score))), Modality(entity[MODALITY_FIELD]),
               _payload(entity), entity[CONTENT_FIELD],
               None if vector is None else np.asarray(vector, dtype=np.float32))


def _payload(entity: dict[str, Any]) -> dict[str, Any]:
    payload = entity.get(PAYLOAD_FIELD)
    if isinstance(payload, bytes | str):  # some pymilvus versions hand JSON back as text
        payload = json.loads(payload)
    return payload if isinstance(payload, dict) else {}


class WriteStamps:
    """Sequence numbers for Milvus writes: microseconds since the epoch, strictly increasing in this
    process. Milvus has no sequence of its own that a client sees; stamps from different servers
    are ordered by their clocks."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1000)
            return self._last


stamps = WriteStamps()
