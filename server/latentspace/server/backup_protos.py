"""The messages of the backup RPCs: snapshot descriptions, and the pages of an export."""

from __future__ import annotations

import threading
from collections.abc import Callable

from latentspace.indexer.backends.base import CollectionBackend, ItemPages, exporter_of
from latentspace.indexer.backup import SnapshotInfo
from latentspace.indexer.errors import InvalidInput, LimitExceeded
from latentspace.indexer.items import StoredItem
from latentspace.indexer.store.item_store import encode_payload
from latentspace.server import convert
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api

#: Items per export page when the request leaves it at 0.
DEFAULT_PAGE_SIZE = 256
#: A page stays under this many bytes of ids, payloads, contents and vectors (but holds one item at
#: least), so pages fit gRPC's default 4 MiB message limit of clients other than the SDKs.
PAGE_BYTES = 3 * 1024 * 1024


def snapshot_to_proto(info: SnapshotInfo) -> api.SnapshotInfo:
    return api.SnapshotInfo(
        name=info.name,
        collection=info.collection,
        created_at=info.created_at,
        sequence=info.sequence,
        count=info.count,
        model=info.model or "",
        dimension=info.dimension,
        index_kind=info.index_kind,
        fingerprint=info.fingerprint or "",
        has_index=info.index_sequence is not None,
        size_bytes=info.size_bytes,
    )


def export_page_size(requested: int, max_batch: int) -> int:
    """The items per page a request asks for (0: the default), within the server's batch limit."""
    if requested > max_batch:
        raise LimitExceeded(f"page_size {requested} is over the limit of {max_batch} items", field="page_size")
    return requested or min(DEFAULT_PAGE_SIZE, max_batch)


class ExportPages:
    """The pages of one export, built one at a time on a request thread; close it when done."""

    def __init__(self, collection: CollectionBackend, page_size: int,
                 describe: Callable[[CollectionBackend], api.CollectionInfo]) -> None:
        """Start reading ``collection`` as of now; ``describe`` builds its description (first page).
        FAILED_PRECONDITION for a backend without the export capability (:class:`ExportsItems`)."""
        if page_size < 1:
            raise InvalidInput(f"page_size must be at least 1, got {page_size}", field="page_size")
        self._collection = collection
        self._page_size = page_size
        self._describe = describe
        self._items: ItemPages = exporter_of(collection).export_items()
        self._first = True
        # The read runs on request threads; a cancelled call closes it from the event loop.
        self._reading = threading.Lock()
        self._closing = False

    def next_page(self) -> api.ExportPage | None:
        """The next page (the first one describes the collection, even with no items); None at the end."""
        with self._reading:
            items = [] if self._closing else self._items.next_page(self._page_size, PAGE_BYTES)
        if self._closing:  # the call ended (cancelled) meanwhile: the read is ours to end
            self.close()
            return None
        if not items and not self._first:
            return None
        page = api.ExportPage(items=[_exported(item) for item in items])
        if self._first:
            info = self._describe(self._collection)
            info.count, info.sequence = self._items.count, self._items.sequence  # the export's moment
            page.collection.CopyFrom(info)
            self._first = False
        return page

    def close(self) -> None:
        """End the export's read; never waits (a page being read finishes first, then closes it)."""
        self._closing = True
        if self._reading.acquire(blocking=False):
            try:
                self._items.close()
            finally:
                self._reading.release()


def _exported(item: StoredItem) -> api.ExportedItem:
    assert item.vector is not None  # export pages always carry vectors
    return api.ExportedItem(
        id=item.id,
        modality=convert.MODALITY_TO_PROTO[item.modality],
        vector=convert.vector_to_proto(item.vector),
        payload_json=encode_payload(item.payload),
        content=item.content,
        sequence=item.sequence,
    )
