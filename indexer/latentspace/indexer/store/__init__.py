"""The collection store: items, payloads and raw vectors in SQLite, with write sequence numbers."""

from latentspace.indexer.store.item_store import Changes, ItemStore

__all__ = ["Changes", "ItemStore"]
