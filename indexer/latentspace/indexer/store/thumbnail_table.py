"""The ``thumbnails`` table of an item store: one small encoded preview per image row.

A thumbnail belongs to one row (``key``), not to an id: an upsert that replaces an item gives the new
row the new item's thumbnail (or none), and the write that retires a row deletes its thumbnail in the
same transaction, so a thumbnail can never outlive or belong to another version of its item. Reads go
by id through the live ``items`` rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from latentspace.indexer.items import Thumbnail


def insert(conn: sqlite3.Connection, thumbnails: Sequence[tuple[str, Thumbnail]]) -> None:
    """Store ``(id, thumbnail)`` pairs for the live rows of those ids (inside the caller's write)."""
    conn.executemany(
        "INSERT INTO thumbnails (key, media_type, data) SELECT key, ?, ? FROM items WHERE id = ?",
        [(thumbnail.media_type, thumbnail.data, item_id) for item_id, thumbnail in thumbnails],
    )


def delete_keys(conn: sqlite3.Connection, keys: Sequence[int]) -> None:
    """Forget the thumbnails of rows a write retires (inside its transaction)."""
    conn.execute(f"DELETE FROM thumbnails WHERE key IN ({','.join('?' * len(keys))})", list(keys))


def select(conn: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Thumbnail]:
    """The thumbnails of the live items among ``ids`` that have one."""
    sql = (f"SELECT items.id, t.media_type, t.data FROM items JOIN thumbnails AS t ON t.key = items.key "
           f"WHERE items.id IN ({','.join('?' * len(ids))})")
    return {item_id: Thumbnail(media_type, bytes(data)) for item_id, media_type, data in conn.execute(sql, list(ids))}
