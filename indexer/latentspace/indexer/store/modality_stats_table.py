"""The ``modality_stats`` table of an item store: one row per modality (plain data).

A row keeps what :class:`~latentspace.indexer.modality_stats.ModalityStatistics` needs to resume
without reading every vector: the item count, the float64 sum of the unit vectors, the hash
threshold of the sample and the sample's item ids (JSON). ``meta.modality_stats_seq`` is the write
sequence the rows are exact at; a store whose rows are missing or behind its sequence is rescanned.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from latentspace.indexer.modality import Modality

_SUM_DTYPE = np.dtype("<f8")

@dataclass(frozen=True)
class ModalityRow:
    """One modality's persisted statistics."""

    modality: Modality
    count: int
    vector_sum: np.ndarray
    threshold: float
    sample: tuple[str, ...]


def save(conn: sqlite3.Connection, rows: Iterable[ModalityRow], sequence: int) -> None:
    """Replace the given modalities' rows and record the sequence they are exact at."""
    conn.executemany(
        "INSERT OR REPLACE INTO modality_stats (modality, count, vector_sum, threshold, sample) VALUES (?, ?, ?, ?, ?)",
        [(r.modality.value, r.count, np.asarray(r.vector_sum, dtype=_SUM_DTYPE).tobytes(), r.threshold,
          json.dumps(list(r.sample), separators=(",", ":"))) for r in rows])
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('modality_stats_seq', ?)", (str(sequence),))


def load(conn: sqlite3.Connection) -> tuple[int, list[ModalityRow]] | None:
    """``(sequence, rows)``, or None when the statistics were never saved."""
    found = conn.execute("SELECT value FROM meta WHERE name = 'modality_stats_seq'").fetchone()
    if found is None:
        return None
    rows = [ModalityRow(Modality(m), int(n), np.frombuffer(blob, dtype=_SUM_DTYPE).copy(), float(t),
                        tuple(json.loads(s)))
            for m, n, blob, t, s in conn.execute(
                "SELECT modality, count, vector_sum, threshold, sample FROM modality_stats")]
    return int(found[0]), rows


def scan(conn: sqlite3.Connection, batch_size: int = 8192) -> Iterator[list[tuple[str, str, bytes]]]:
    """Every live item's ``(id, modality, vector blob)``, ``batch_size`` rows at a time."""
    last = -1
    while True:
        rows = conn.execute("SELECT key, id, modality, vector FROM items WHERE key > ? ORDER BY key LIMIT ?",
                            (last, batch_size)).fetchall()
        if not rows:
            return
        last = rows[-1][0]
        yield [(r[1], r[2], r[3]) for r in rows]


def ids_of(conn: sqlite3.Connection, modality: Modality) -> list[str]:
    """The ids of every live item of ``modality``."""
    return [r[0] for r in conn.execute("SELECT id FROM items WHERE modality = ?", (modality.value,))]


def keys_of(conn: sqlite3.Connection, modality: Modality, tables: Iterable[str]) -> list[int]:
    """The index keys of the items of ``modality`` in ``tables`` (``items``, and ``retired`` while it
    may hold rows an index view can still return)."""
    keys: list[int] = []
    for table in tables:
        keys += [r[0] for r in conn.execute(f"SELECT key FROM {table} WHERE modality = ?", (modality.value,))]
    return keys
