"""A Milvus collection's named directions, kept in Milvus beside its items.

Each latentspace collection's directions live in a Milvus collection of their own,
``latentspacedirections_<encoded name>`` (:func:`.layout.directions_name`), one row per direction::

    name    VARCHAR primary key      the direction's name
    vector  FLOAT_VECTOR(dimension)  its unit vector (Milvus requires a vector field; FLAT index)
    record  VARCHAR                  the rest of the DirectionRecord as JSON

So every server pointed at the same Milvus sees the same directions: one made through one server is
usable by name through any other. The collection is created on the first direction saved (a
collection without directions costs nothing) and dropped with the items' collection; a leftover
of a drop that failed half-way is dropped when the name is created again.

Reads are ``Strong``: a direction saved or deleted through any server is seen by the next call
anywhere. Names are unique within a server (check, then write, under the collection's write lock);
two servers saving the same new name at the same moment both succeed and the later write is the
direction kept, since Milvus has no insert-if-absent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from latentspace.indexer.directions import DirectionRecord

from .connection import MilvusConnection, pymilvus
from .layout import directions_name

NAME_FIELD, VECTOR_FIELD, RECORD_FIELD = "name", "vector", "record"
#: Direction names are at most 64 characters (``validation.DIRECTION_NAME``).
MAX_NAME_BYTES = 64
MAX_RECORD_BYTES = 65_535
#: Rows per page when listing (an iterator: Milvus bounds one query's window at 16,384 rows).
LIST_BATCH = 1_000


class MilvusDirections:
    """The named directions of collection ``name`` (``dimension``-d), in Milvus."""

    def __init__(self, connection: MilvusConnection, name: str, dimension: int) -> None:
        self.name = name
        self.dimension = dimension
        self.physical = directions_name(name)
        self._connection = connection
        self._client = connection.client
        self._ready = False  # the Milvus collection exists and is loaded (as this process last saw)
        self._lock = threading.Lock()

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._connection.call(f"direction {what}", method, self.physical, *args, collection=self.name,
                                     **kwargs)

    def _available(self, create: bool) -> bool:
        """Whether the directions collection exists (creating it when ``create``), loaded for reads."""
        if self._ready:
            return True
        with self._lock:
            if self._ready:
                return True
            if not self._call("lookup", self._client.has_collection):
                if not create:
                    return False
                self._create()
            state = self._call("load-state check", self._client.get_load_state).get("state")
            if getattr(state, "name", str(state)) != "Loaded":
                self._call("load", self._client.load_collection)
            self._ready = True
            return True

    def _create(self) -> None:
        types = pymilvus().DataType
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(NAME_FIELD, types.VARCHAR, is_primary=True, max_length=MAX_NAME_BYTES)
        schema.add_field(VECTOR_FIELD, types.FLOAT_VECTOR, dim=self.dimension)
        schema.add_field(RECORD_FIELD, types.VARCHAR, max_length=MAX_RECORD_BYTES)
        params = self._client.prepare_index_params()
        params.add_index(VECTOR_FIELD, index_type="FLAT", metric_type="IP")
        # Another server creating it at the same moment is answered without error by Milvus.
        self._call("creation", self._client.create_collection, schema=schema, index_params=params,
                   consistency_level="Strong")

    def _read(self, expression: str) -> list[DirectionRecord]:
        rows = self._call("read", self._client.query, filter=expression,
                          output_fields=[NAME_FIELD, VECTOR_FIELD, RECORD_FIELD], consistency_level="Strong")
        return [_record(r) for r in rows]

    def insert(self, record: DirectionRecord) -> bool:
        """Save ``record``; False (nothing written) when its name is taken. The caller serialises."""
        self._available(create=True)
        if self._read(_named(record.name)):
            return False
        row = {NAME_FIELD: record.name, VECTOR_FIELD: np.asarray(record.vector, dtype=np.float32).tolist(),
               RECORD_FIELD: json.dumps(record.to_json(), allow_nan=False, separators=(",", ":"))}
        self._call("write", self._client.upsert, [row])
        return True

    def get(self, name: str) -> DirectionRecord | None:
        """The direction named ``name``, or None."""
        if not self._available(create=False):
            return None
        found = self._read(_named(name))
        return found[0] if found else None

    def all(self) -> list[DirectionRecord]:
        """Every direction, sorted by name."""
        if not self._available(create=False):
            return []
        iterator = self._call("listing", self._client.query_iterator, batch_size=LIST_BATCH,
                              filter=f'{NAME_FIELD} != ""', output_fields=[NAME_FIELD, VECTOR_FIELD, RECORD_FIELD],
                              consistency_level="Strong")
        records: list[DirectionRecord] = []
        try:
            while batch := self._connection.call("direction listing", lambda timeout: iterator.next(),
                                                 collection=self.name):
                records += [_record(r) for r in batch]
        finally:
            iterator.close()
        return sorted(records, key=lambda r: r.name)

    def delete(self, name: str) -> bool:
        """Delete the direction named ``name``; False when there was none. The caller serialises."""
        if not self._available(create=False) or not self._read(_named(name)):
            return False
        self._call("deletion", self._client.delete, filter=_named(name))
        return True


def _named(name: str) -> str:
    # Names are checked by the validation layer (letters, digits, '_', '-'), so quoting is safe;
    # json.dumps escapes anything else all the same.
    return f"{NAME_FIELD} == {json.dumps(name)}"


def _record(row: dict[str, Any]) -> DirectionRecord:
    return DirectionRecord.from_json(row[NAME_FIELD], np.asarray(row[VECTOR_FIELD], dtype=np.float32),
                                     json.loads(row[RECORD_FIELD]))
