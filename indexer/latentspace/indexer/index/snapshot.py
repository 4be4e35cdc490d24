"""Index snapshots in a collection folder: ``index.faiss`` plus ``index.meta.json``.

The meta file says which sequence number of which item store the index is exact at, and carries
the index's own state (kind, tombstones, the file's SHA-256). It is written last and is the commit
point of a snapshot: a crash after the index file was replaced but before the meta file was leaves
a digest that no longer matches, so the pair is rejected (and the index rebuilt) rather than
caught up from the wrong sequence.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from latentspace.indexer.index.faiss_index import FaissIndex
from latentspace.indexer.index.vector_index import VectorSource
from latentspace.indexer.store.atomic_files import write_atomic

INDEX_FILE = "index.faiss"
INDEX_META_FILE = "index.meta.json"
#: 2: IVF kinds keep tombstones instead of ``IDMap2.remove_ids``. A format-1 snapshot of an IVF
#: kind may hold an id table that no longer matches the IVF lists (wrong ids, aborts on the next
#: removal), so older snapshots are never trusted: the index is rebuilt from the item store.
SNAPSHOT_FORMAT = 2


@dataclass(frozen=True)
class StoreState:
    """What a snapshot must agree with to be caught up from, rather than rebuilt."""

    uuid: str
    sequence: int
    #: The store has removal-log entries for every sequence above this (see ItemStore).
    removals_logged_after: int
    #: The kind the snapshot must be of; None accepts any (a collection whose kind follows its size).
    index_kind: str | None


def write_snapshot(folder: Path, index: FaissIndex, sequence: int, store_uuid: str) -> None:
    """Atomically write ``index`` as exact at ``sequence`` of the store ``store_uuid``."""
    state = index.save(folder / INDEX_FILE)
    meta = {
        "format": SNAPSHOT_FORMAT,
        "sequence": sequence,
        "store_uuid": store_uuid,
        "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "index": state,
    }
    write_atomic(folder / INDEX_META_FILE, json.dumps(meta).encode("utf-8"))


def read_snapshot(folder: Path, store: StoreState, vector_source: VectorSource) -> tuple[FaissIndex, int]:
    """Load the snapshot and the sequence it is exact at.

    Raises ``OSError``/``ValueError`` (with the reason) when it is missing, damaged, or cannot be
    caught up with ``store``; the caller then rebuilds from the store.
    """
    meta = json.loads((folder / INDEX_META_FILE).read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != SNAPSHOT_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(f"snapshot has format {found!r}, not {SNAPSHOT_FORMAT}")
    sequence = int(meta["sequence"])
    state = meta["index"]
    if meta.get("store_uuid") != store.uuid:
        raise ValueError("snapshot was taken from another item store")
    if sequence > store.sequence:
        raise ValueError(f"snapshot is at sequence {sequence}, ahead of the item store ({store.sequence})")
    if sequence < store.removals_logged_after:
        raise ValueError("snapshot is older than the item store's removal log")
    if not isinstance(state, dict) or (store.index_kind is not None and state.get("factory") != store.index_kind):
        raise ValueError(f"snapshot is not of index kind {store.index_kind!r}")
    return FaissIndex.load(folder / INDEX_FILE, state, vector_source=vector_source), sequence


def snapshot_files_exist(folder: Path) -> bool:
    """Whether any part of a snapshot is present (a partial one is worth a warning)."""
    return (folder / INDEX_FILE).exists() or (folder / INDEX_META_FILE).exists()
