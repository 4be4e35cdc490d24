"""The ``directions`` table of an item store: named directions, one row each (plain data).

A row is the name, the unit vector (little-endian float32, like item vectors) and the rest of the
:class:`~latentspace.indexer.directions.DirectionRecord` as JSON. Directions are not items: writing
one takes no sequence number and never touches the vector index.
"""

from __future__ import annotations

import json
import sqlite3

import numpy as np

from latentspace.indexer.directions import DirectionRecord

_DTYPE = np.dtype("<f4")


def insert(conn: sqlite3.Connection, record: DirectionRecord) -> bool:
    """Add ``record``; False (and nothing written) when its name is taken."""
    cursor = conn.execute(
        "INSERT INTO directions (name, vector, record) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (record.name, np.asarray(record.vector, dtype=_DTYPE).tobytes(),
         json.dumps(record.to_json(), allow_nan=False, separators=(",", ":"))))
    return cursor.rowcount == 1


def select(conn: sqlite3.Connection, name: str | None = None) -> list[DirectionRecord]:
    """The record named ``name`` (a list of at most one), or every record by name when ``name`` is None."""
    sql = "SELECT name, vector, record FROM directions"
    rows = conn.execute(sql + " WHERE name = ?", (name,)) if name is not None else conn.execute(sql + " ORDER BY name")
    return [DirectionRecord.from_json(n, np.frombuffer(blob, dtype=_DTYPE).astype(np.float32), json.loads(text))
            for n, blob, text in rows]


def delete(conn: sqlite3.Connection, name: str) -> bool:
    """Delete the record named ``name``; False when there was none."""
    return conn.execute("DELETE FROM directions WHERE name = ?", (name,)).rowcount == 1
