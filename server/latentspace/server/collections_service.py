"""The ``Collections`` service: thin translation from protobuf to the collection store."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future

import numpy as np
from grpc import aio

from latentspace.indexer.backends.base import CollectionBackend, KeepsContentHashes, StoresThumbnails, reindexer_of
from latentspace.indexer.backup import check_snapshot_name
from latentspace.indexer.data_dir import check_name
from latentspace.indexer.errors import FailedPrecondition, InvalidInput, LatentSpaceError
from latentspace.indexer.index.auto_kind import AUTO
from latentspace.indexer.ingest import IngestTarget, NewItem, check_items, to_records
from latentspace.indexer.validation import (
    check_backend,
    check_batch,
    check_content_hash,
    check_ids,
    check_index_kind,
    check_requested_ids,
)
from latentspace.server import convert
from latentspace.server.backup_protos import ExportPages, export_page_size, snapshot_to_proto
from latentspace.server.map_protos import thumbnails_to_proto
from latentspace.server.state import ServerState
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc


def collection_info(collection: CollectionBackend) -> api.CollectionInfo:
    manifest = collection.manifest
    return api.CollectionInfo(
        name=collection.name,
        model=manifest.model or "",
        dimension=manifest.dimension,
        metric=manifest.metric,
        index_kind=_index_kind(manifest.index_kind, collection.index_kind),
        count=collection.count(),
        modalities=sorted(convert.MODALITY_TO_PROTO[m] for m in collection.modalities),
        fingerprint=manifest.fingerprint or "",
        sequence=collection.sequence,
        **convert.modality_stats_to_proto(collection.modality_statistics),
        backend=manifest.backend,
    )


def _index_kind(chosen: str, serving: str) -> str:
    """What CollectionInfo says: the kind chosen, and the one in use when that differs (``auto``, or
    a reindex whose index is still being built while the old one serves)."""
    if chosen == AUTO:
        return f"{AUTO} ({serving})"
    return chosen if chosen == serving else f"{chosen} (being built; {serving} serves meanwhile)"


def changed_positions(collection: CollectionBackend, items: Sequence[NewItem]) -> list[int]:
    """The positions of the items to write: all but those whose id already holds their content hash.

    Checked before any decoding or encoding, so a client re-sending an unchanged corpus costs one
    lookup per batch, no model call and no write. A backend that keeps no content hashes (Milvus)
    skips nothing: every item is written.
    """
    hashed = [item.id for item in items if item.content_hash]
    stored = collection.content_hashes(hashed) if hashed and isinstance(collection, KeepsContentHashes) else {}
    return [position for position, item in enumerate(items)
            if not item.content_hash or stored.get(item.id) != item.content_hash]


class CollectionsService(rpc.CollectionsServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    async def CreateCollection(
        self, request: api.CreateCollectionRequest, context: aio.ServicerContext
    ) -> api.CollectionInfo:
        collection = await self.state.run(
            self.state.data.create_collection,
            request.name,
            request.model or None,
            request.dimension or None,
            request.index_kind or None,
            request.if_not_exists,
            self.state.limits.index_kind_limits(),
            check_backend(request.backend),
            self.state.model_access,  # a caller's model folders only under the operator's model root
        )
        return collection_info(collection)

    async def ListCollections(
        self, request: api.ListCollectionsRequest, context: aio.ServicerContext
    ) -> api.ListCollectionsResponse:
        collections = await self.state.run(self.state.data.list_collections)
        return api.ListCollectionsResponse(collections=[collection_info(c) for c in collections])

    async def DescribeCollection(
        self, request: api.DescribeCollectionRequest, context: aio.ServicerContext
    ) -> api.CollectionInfo:
        return collection_info(await self.state.run(self.state.collection, request.name))

    async def DropCollection(
        self, request: api.DropCollectionRequest, context: aio.ServicerContext
    ) -> api.DropCollectionResponse:
        await self.state.run(self.state.drop_collection, request.name)
        return api.DropCollectionResponse()

    async def Reindex(self, request: api.ReindexRequest, context: aio.ServicerContext) -> api.CollectionInfo:
        limits = self.state.limits.index_kind_limits()

        def start() -> tuple[CollectionBackend, Future[None]]:
            collection = self.state.collection(request.collection)
            kind = check_index_kind(request.index_kind, collection.dimension, limits)  # may trial-run it
            return collection, reindexer_of(collection).start_reindex(kind)  # Milvus: FAILED_PRECONDITION

        collection, job = await self.state.run(start)
        # The rebuild runs on the maintenance thread, not a request thread; shielded, so a caller that
        # stops waiting leaves it running (and other callers waiting on the same job unaffected).
        await asyncio.shield(asyncio.wrap_future(job))
        return collection_info(collection)

    async def Upsert(self, request: api.UpsertRequest, context: aio.ServicerContext) -> api.UpsertResponse:
        upserted, unchanged, sequence = await self._upsert(request)
        return api.UpsertResponse(upserted=upserted, sequence=sequence, unchanged=unchanged)

    async def UpsertStream(
        self, requests: AsyncIterator[api.UpsertRequest], context: aio.ServicerContext
    ) -> api.UpsertResponse:
        total, unchanged_total, sequence, index = 0, 0, 0, 0
        async for request in requests:
            try:
                upserted, unchanged, batch_sequence = await self._upsert(request)
            except LatentSpaceError as error:
                # Name the failing message too: items[i] alone is ambiguous across a stream.
                error.field = f"requests[{index}]" + (f".{error.field}" if error.field else "")
                raise
            total += upserted
            unchanged_total += unchanged
            sequence = batch_sequence or sequence
            index += 1
        return api.UpsertResponse(upserted=total, sequence=sequence, unchanged=unchanged_total)

    async def _upsert(self, request: api.UpsertRequest) -> tuple[int, int, int]:
        """Write one request's items: (written, unchanged, sequence; 0 when nothing was written)."""
        limits = self.state.limits
        check_batch(request.items, limits, "items")
        items = [self._new_item(item, f"items[{i}]") for i, item in enumerate(request.items)]

        def write() -> tuple[int, int]:
            collection = self.state.collection(request.collection)
            positions = changed_positions(collection, items)
            changed = [items[position] for position in positions]
            if not changed:
                return 0, 0
            checked = check_items(IngestTarget.of(collection), changed, max_pixels=limits.max_image_pixels,
                                  max_text_chars=limits.max_text_chars, budget=limits.budget(),
                                  thumbnail_side=self.state.settings.thumbnail_side)
            if checked.failures:
                # The first refused item decides the status (bad input, over a limit, wrong modality);
                # its index is the one in the request, unchanged items counted. Refused before the
                # model runs: the request writes nothing, so its encoding would be wasted.
                failure = checked.failures[0]
                raise dataclasses.replace(failure, index=positions[failure.index]).as_error()
            text_vectors = collection.encode_texts(checked.texts) if checked.texts else None
            image_vectors = collection.encode_images(checked.images) if checked.images else None
            return len(changed), collection.upsert(to_records(checked.good, text_vectors, image_vectors))

        written, sequence = await self.state.run(write)
        return written, len(items) - written, sequence

    @staticmethod
    def _new_item(item: api.UpsertItem, field: str) -> NewItem:
        kind = item.WhichOneof("content")
        if kind is None:
            raise InvalidInput("item has no content; set one of text, image or vector", field=field)
        vector: np.ndarray | None = None
        if kind == "vector":
            vector = convert.vector_from_proto(item.vector, f"{field}.vector")
        return NewItem(
            id=item.id,
            text=item.text if kind == "text" else None,
            image=item.image if kind == "image" else None,
            vector=vector,
            payload=convert.payload_from_proto(item.payload, f"{field}.payload"),
            content_ref=item.content_ref,
            content_hash=check_content_hash(item.content_hash, f"{field}.content_hash"),
        )

    async def Delete(self, request: api.DeleteRequest, context: aio.ServicerContext) -> api.DeleteResponse:
        ids = check_requested_ids(list(request.ids), self.state.limits)
        deleted, sequence = await self.state.run(lambda: self.state.collection(request.collection).delete(ids))
        return api.DeleteResponse(deleted=deleted, sequence=sequence)

    async def Get(self, request: api.GetRequest, context: aio.ServicerContext) -> api.GetResponse:
        ids: Sequence[str] = check_requested_ids(list(request.ids), self.state.limits)

        def read() -> api.GetResponse:
            items = self.state.collection(request.collection).get(ids, request.with_vectors)
            found = {item.id for item in items}
            return api.GetResponse(items=[convert.item_to_proto(item) for item in items],
                                   missing=[i for i in ids if i not in found])

        return await self.state.run(read)

    async def GetThumbnails(
        self, request: api.GetThumbnailsRequest, context: aio.ServicerContext
    ) -> api.GetThumbnailsResponse:
        check_batch(request.ids, self.state.limits, "ids")
        ids = check_ids(list(request.ids))

        def read() -> api.GetThumbnailsResponse:
            collection = self.state.collection(request.collection)
            if not isinstance(collection, StoresThumbnails):
                raise FailedPrecondition(f"collection {request.collection!r} is held by an engine that stores no "
                                         "thumbnails; show its items from their content instead",
                                         field="collection", reason="THUMBNAILS_NOT_STORED")
            return thumbnails_to_proto(ids, collection.thumbnails(ids))

        return await self.state.run(read)

    async def Stats(self, request: api.StatsRequest, context: aio.ServicerContext) -> api.StatsResponse:
        collections = await self.state.run(self.state.data.list_collections)
        return api.StatsResponse(
            collections=[collection_info(c) for c in collections],
            loaded_models=self.state.encoders.loaded(),
            uptime_seconds=time.monotonic() - self.state.started,
            version=importlib.metadata.version("latentspace"),
        )

    # ------------------------------------------------------------ backups
    async def Snapshot(self, request: api.SnapshotRequest, context: aio.ServicerContext) -> api.SnapshotInfo:
        name = check_snapshot_name(request.name) if request.name else None

        def take() -> api.SnapshotInfo:
            backups = self.state.backups()
            return snapshot_to_proto(backups.snapshot(self.state.collection(request.collection), name))

        return await self.state.run(take)

    async def ListSnapshots(
        self, request: api.ListSnapshotsRequest, context: aio.ServicerContext
    ) -> api.ListSnapshotsResponse:
        def snapshots() -> api.ListSnapshotsResponse:
            return api.ListSnapshotsResponse(snapshots=[snapshot_to_proto(s) for s in self.state.backups().snapshots()])

        return await self.state.run(snapshots)

    async def Restore(self, request: api.RestoreRequest, context: aio.ServicerContext) -> api.CollectionInfo:
        snapshot = check_snapshot_name(request.snapshot, field="snapshot")
        name = check_name(request.name) if request.name else None

        def restore() -> api.CollectionInfo:
            return collection_info(self.state.backups().restore(self.state.data, snapshot, name))

        return await self.state.run(restore)

    async def Export(self, request: api.ExportRequest, context: aio.ServicerContext) -> AsyncIterator[api.ExportPage]:
        page_size = export_page_size(request.page_size, self.state.limits.max_batch)
        pages = await self.state.run(
            lambda: ExportPages(self.state.collection(request.collection), page_size, collection_info))
        try:
            while (page := await self.state.run(pages.next_page)) is not None:
                yield page
        finally:
            pages.close()
