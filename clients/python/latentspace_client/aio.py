"""The asyncio client: :class:`AsyncClient` on ``grpc.aio``, the same methods as the sync client.

Every method has the sync :class:`~latentspace_client.client.Client`'s signature and meaning and
is a coroutine. Both build requests with :mod:`.requests` and send them through the one table in
:mod:`.calls` (stub method + reply converter), so a method here is the sync one with ``await``;
``tests/clients/test_congruence.py`` runs one set of scenarios against both and compares.

    async with AsyncClient("127.0.0.1:50051", collection="shapes") as client:
        hits = await client.search("a red circle", k=5)
        many = await asyncio.gather(*(client.search(q, k=5) for q in queries))

Create the client inside the event loop that uses it (a ``grpc.aio`` channel belongs to one loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc
from grpc import aio

from latentspace_client import calls
from latentspace_client import requests as rq
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client.calls import DEFAULT_ADDRESS, ClientSettings, ExportStream, RequestStream, Rpc
from latentspace_client.errors import translate
from latentspace_client.points import Direction, Point, point_from_keywords
from latentspace_client.results import (
    CollectionInfo,
    DeleteResult,
    Distance,
    DistanceMatrix,
    EditResult,
    EncodedPoint,
    Hit,
    Interpolation,
    Item,
    PathStep,
    SnapshotInfo,
    Stats,
    UpsertResult,
)
from latentspace_client.view_results import CollectionMap, Thumbnails

__all__ = ["AsyncClient"]

_R = TypeVar("_R")


class AsyncClient(ClientSettings):
    """An asyncio connection to a latentspace server; use as ``async with AsyncClient(...) as client``.

    The arguments are the sync client's: ``timeout`` is the default deadline in seconds for each
    call (None: no deadline; every method takes ``timeout=``), ``collection`` the default
    collection, ``api_key`` is sent as ``authorization: Bearer <key>``, ``tls_ca`` (a CA file;
    ``tls=True`` for the system's roots), ``tls_client_cert`` and ``tls_client_key`` (mutual TLS)
    or ``credentials`` (``grpc.ssl_channel_credentials(...)``) make a TLS channel, ``options``
    are extra channel options, ``metadata`` is sent with every call, and ``channel``
    is an existing ``grpc.aio.Channel`` to use instead (the client will close it). Many calls may
    be in flight at once on one client. Failed calls raise
    :class:`~latentspace_client.errors.LatentSpaceError` subclasses.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float | None = 30.0,
        collection: str | None = None,
        api_key: str | None = None,
        tls: bool = False,
        tls_ca: calls.PemFile | None = None,
        tls_client_cert: calls.PemFile | None = None,
        tls_client_key: calls.PemFile | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        metadata: Sequence[tuple[str, str]] = (),
        channel: aio.Channel | None = None,
    ):
        super().__init__(address, timeout, collection, calls.call_metadata(metadata, api_key))
        if channel is None:
            merged = calls.channel_options(options)
            credentials = calls.channel_credentials(credentials, tls, tls_ca, tls_client_cert, tls_client_key)
            channel = (
                aio.secure_channel(address, credentials, options=merged)
                if credentials is not None
                else aio.insecure_channel(address, options=merged)
            )
        self._channel = channel
        self._methods: dict[Rpc[Any], Callable[..., Any]] = calls.stub_methods(channel)

    # ------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Close the channel (calls in flight are cancelled); calls made afterwards fail."""
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # ------------------------------------------------------------ plumbing

    async def _send(self, rpc: Rpc[_R], request: Any, timeout: float | None) -> _R:
        try:
            reply = await self._methods[rpc](request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as error:  # grpc.aio.AioRpcError is one
            raise translate(error) from error
        return rpc.reply(reply)

    # ------------------------------------------------------------ collections

    async def create_collection(
        self,
        name: str,
        model: str | None = None,
        dimension: int | None = None,
        index_kind: str | None = None,
        if_not_exists: bool = False,
        *,
        timeout: float | None = None,
    ) -> CollectionInfo:
        """Create a collection bound to ``model`` (a spec or alias), or vector-only of ``dimension``.

        ``await client.create_collection("shapes", model="shapes-clip")``
        """
        request = rq.create_collection_request(name, model, dimension, index_kind, if_not_exists)
        return await self._send(calls.CREATE_COLLECTION, request, timeout)

    async def list_collections(self, *, timeout: float | None = None) -> list[CollectionInfo]:
        """All collections on the server."""
        return await self._send(calls.LIST_COLLECTIONS, pb.ListCollectionsRequest(), timeout)

    async def describe_collection(self, name: str | None = None, *, timeout: float | None = None) -> CollectionInfo:
        """One collection's model, dimension, index kind and count (default: the client's collection)."""
        request = pb.DescribeCollectionRequest(name=self._name(name))
        return await self._send(calls.DESCRIBE_COLLECTION, request, timeout)

    async def drop_collection(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a collection and all its items (NotFound when it does not exist)."""
        await self._send(calls.DROP_COLLECTION, pb.DropCollectionRequest(name=name), timeout)

    async def upsert(
        self,
        items: Iterable[rq.UpsertItem | Mapping[str, Any]],
        *,
        collection: str | None = None,
        batch_size: int = 256,
        timeout: float | None = None,
    ) -> UpsertResult:
        """Insert or replace items: dicts ``{"id", "text"|"image"|"vector", "payload", "content_ref"}``
        or :class:`UpsertItem`. One batch goes as ``Upsert``; more stream as ``UpsertStream``
        (built lazily, each batch committed as it arrives). The deadline covers the whole stream:
        pass a larger ``timeout`` for a big corpus. No items: nothing is sent.

        ``await client.upsert([{"id": "a", "vector": [0.1, 0.2], "payload": {"color": "red"}}])``
        """
        plan = calls.plan_upsert(rq.upsert_requests(self._name(collection), items, batch_size))
        if plan is None:
            return UpsertResult(upserted=0, sequence=0)
        if not isinstance(plan, RequestStream):
            return await self._send(calls.UPSERT, plan, timeout)
        try:
            return await self._send(calls.UPSERT_STREAM, plan, timeout)
        except (Exception, asyncio.CancelledError):
            # grpc.aio cancels the call when the request iterator raises, and awaiting a cancelled
            # call raises CancelledError: give the caller the real error (a task cancelled from
            # outside has none, and its CancelledError goes on).
            plan.reraise()
            raise

    async def delete(
        self, ids: Iterable[str], *, collection: str | None = None, timeout: float | None = None
    ) -> DeleteResult:
        """Delete items by id; unknown ids are ignored and not counted. ``await client.delete(["a", "b"])``"""
        request = rq.delete_request(self._name(collection), ids)
        return await self._send(calls.DELETE, request, timeout)

    async def get(
        self,
        ids: Iterable[str],
        *,
        with_vectors: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> list[Item]:
        """Fetch items by id, in request order; ids that do not exist are left out."""
        request = rq.get_request(self._name(collection), ids, with_vectors)
        return await self._send(calls.GET, request, timeout)

    async def get_thumbnails(
        self, ids: Iterable[str], *, collection: str | None = None, timeout: float | None = None
    ) -> Thumbnails:
        """The small previews stored with image items (``.thumbnails``, in request order; ``.missing``: ids
        without one: unknown, not an image, or written before the server made thumbnails).

        ``(await client.get_thumbnails(["img-1", "img-2"])).by_id()["img-1"].data``
        """
        request = rq.get_thumbnails_request(self._name(collection), ids)
        return await self._send(calls.GET_THUMBNAILS, request, timeout)

    async def stats(self, *, timeout: float | None = None) -> Stats:
        """Server-wide figures: collections, loaded models, uptime, version."""
        return await self._send(calls.STATS, pb.StatsRequest(), timeout)

    async def export(
        self, collection: str | None = None, *, page_size: int = 0, timeout: float | None = None
    ) -> ExportStream:
        """Every item of a collection with its vector and exact payload, as of one moment (writes made
        meanwhile are not in it), read page by page as it is iterated; ``stream.collection`` describes
        the collection as of that moment. The deadline covers the whole stream: pass a larger
        ``timeout`` (or None) for a big collection. ``page_size``: items per page (0: the server's).

        ``await client.export("docs")``, then ``async for item in stream: ...``
        """
        request = rq.export_request(self._name(collection), page_size)
        pages = self._methods[calls.EXPORT](request, timeout=self._deadline(timeout), metadata=self._metadata)
        responses = pages.__aiter__()
        try:
            first = await anext(responses, None)
        except grpc.RpcError as error:
            raise translate(error) from error
        return ExportStream(ExportStream.first_page(first), responses, pages)

    # ------------------------------------------------------------ backups

    async def snapshot(
        self, collection: str | None = None, *, name: str | None = None, timeout: float | None = None
    ) -> SnapshotInfo:
        """Write a consistent copy of a collection (default: the client's) into the server's backup
        folder while it keeps serving, as snapshot ``name`` (None: the server names it). Needs a
        server started with a backup folder (else FailedPrecondition).

        ``await client.snapshot("docs", name="docs-before-reindex")``
        """
        request = rq.snapshot_request(self._name(collection), name)
        return await self._send(calls.SNAPSHOT, request, timeout)

    async def list_snapshots(self, *, timeout: float | None = None) -> list[SnapshotInfo]:
        """The snapshots in the server's backup folder, newest first."""
        return await self._send(calls.LIST_SNAPSHOTS, pb.ListSnapshotsRequest(), timeout)

    async def restore(self, snapshot: str, name: str | None = None, *, timeout: float | None = None) -> CollectionInfo:
        """Bring a snapshot back as the new collection ``name`` (None: the collection it was taken of);
        AlreadyExists when that collection exists (nothing is overwritten).

        ``await client.restore("docs-before-reindex", "docs-restored")``
        """
        return await self._send(calls.RESTORE, rq.restore_request(snapshot, name), timeout)

    # ------------------------------------------------------------ latent space

    async def encode(
        self, *points: Point, collection: str | None = None, timeout: float | None = None
    ) -> list[EncodedPoint]:
        """Turn points into unit vectors with the collection's model. ``await client.encode("a red circle")``"""
        request = rq.encode_request(self._name(collection), points)
        return await self._send(calls.ENCODE, request, timeout)

    async def search(
        self,
        point: Point = None,
        *,
        text: str | None = None,
        image: Any = None,
        vector: Any = None,
        id: str | None = None,
        k: int = 10,
        collection: str | None = None,
        filter: rq.FilterSpec = None,
        exclude_ids: Iterable[str] = (),
        score_threshold: float | None = None,
        with_vectors: bool = False,
        ef_search: int = 0,
        nprobe: int = 0,
        timeout: float | None = None,
    ) -> list[Hit]:
        """The k items nearest to a point, best first. The point is positional or one keyword.

        ``await client.search("a red circle", k=5, filter={"size": "small"})``,
        ``await client.search(id="item-7")``
        """
        target = point_from_keywords(point, text=text, image=image, vector=vector, id=id)
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors, ef_search, nprobe)
        request = rq.search_request(self._name(collection), target, options)
        return await self._send(calls.SEARCH, request, timeout)

    async def search_batch(
        self,
        points: Iterable[Point],
        *,
        k: int = 10,
        collection: str | None = None,
        filter: rq.FilterSpec = None,
        exclude_ids: Iterable[str] = (),
        score_threshold: float | None = None,
        with_vectors: bool = False,
        ef_search: int = 0,
        nprobe: int = 0,
        timeout: float | None = None,
    ) -> list[list[Hit]]:
        """Many searches with shared options, in one call; one hit list per point, in order."""
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors, ef_search, nprobe)
        request = rq.search_batch_request(self._name(collection), points, options)
        return await self._send(calls.SEARCH_BATCH, request, timeout)

    async def distance(
        self, a: Point, b: Point, *, collection: str | None = None, timeout: float | None = None
    ) -> Distance:
        """How far apart two points are. ``(await client.distance("a red circle", Id("img-3"))).cosine``"""
        return (await self.distances([(a, b)], collection=collection, timeout=timeout))[0]

    async def distances(
        self,
        pairs: Iterable[tuple[Point, Point]],
        *,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> list[Distance]:
        """Distances for many ``(a, b)`` pairs, in order."""
        request = rq.distance_request(self._name(collection), pairs)
        return await self._send(calls.DISTANCE, request, timeout)

    async def distance_matrix(
        self,
        rows: Iterable[Point],
        columns: Iterable[Point] | None = None,
        *,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> DistanceMatrix:
        """Every row point against every column point (columns None: rows against themselves)."""
        request = rq.distance_matrix_request(self._name(collection), rows, columns)
        return await self._send(calls.DISTANCE_MATRIX, request, timeout)

    async def midpoint(
        self,
        a: Point,
        b: Point,
        *,
        k: int = 10,
        method: str = "slerp",
        via: Point = None,
        filter: rq.FilterSpec = None,
        exclude_ids: Iterable[str] = (),
        distinct: bool = False,
        with_vectors: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> PathStep:
        """The point halfway between a and b (t = 0.5) and its k nearest items."""
        path = await self.interpolate(
            a,
            b,
            ts=[0.5],
            method=method,
            via=via,
            k=k,
            distinct=distinct,
            with_vectors=with_vectors,
            filter=filter,
            exclude_ids=exclude_ids,
            collection=collection,
            timeout=timeout,
        )
        return path.steps[0]

    async def interpolate(
        self,
        a: Point,
        b: Point,
        *,
        t: float | None = None,
        steps: int | None = None,
        ts: Sequence[float] | None = None,
        method: str = "slerp",
        via: Point = None,
        k: int = 5,
        distinct: bool = False,
        allow_extrapolation: bool = False,
        with_vectors: bool = False,
        filter: rq.FilterSpec = None,
        exclude_ids: Iterable[str] = (),
        collection: str | None = None,
        timeout: float | None = None,
    ) -> Interpolation:
        """Points on the path a -> b ("slerp" or "lerp") and the k items nearest to each.

        Give one of ``t``, ``steps`` (evenly spaced, ends included) or ``ts``; none gives the midpoint.
        ``distinct`` drops the ends' own ids and items shown at an earlier step.
        ``await client.interpolate("a red circle", "a blue square", steps=5, k=3)``
        """
        request = rq.interpolate_request(
            self._name(collection),
            a,
            b,
            t=t,
            steps=steps,
            ts=ts,
            method=method,
            via=via,
            k=k,
            distinct=distinct,
            allow_extrapolation=allow_extrapolation,
            with_vectors=with_vectors,
            filter=filter,
            exclude_ids=exclude_ids,
        )
        return await self._send(calls.INTERPOLATE, request, timeout)

    async def edit(
        self,
        base: Point,
        direction: Direction,
        *,
        mode: str = "add",
        strength: float | None = None,
        k: int = 10,
        filter: rq.FilterSpec = None,
        exclude_ids: Iterable[str] = (),
        with_vectors: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> EditResult:
        """Move ``base`` along ``direction`` (``TextPair``, ``Examples`` or a vector) and search there.

        ``await client.edit(Id("red-circle-1"), TextPair("a red shape", "a blue shape"), strength=0.8)``
        """
        request = rq.edit_request(
            self._name(collection),
            base,
            direction,
            mode=mode,
            strength=strength,
            k=k,
            filter=filter,
            exclude_ids=exclude_ids,
            with_vectors=with_vectors,
        )
        return await self._send(calls.EDIT, request, timeout)

    async def analogy(
        self,
        a: Point,
        a_star: Point,
        b: Point,
        *,
        method: str = "cos_add",
        k: int = 10,
        include_inputs: bool = False,
        filter: rq.FilterSpec = None,
        exclude_ids: Iterable[str] = (),
        score_threshold: float | None = None,
        with_vectors: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> list[Hit]:
        """a : a_star :: b : ? — a search whose point is the analogy ("cos_add" or "cos_mul").

        ``await client.analogy("a red circle", "a blue circle", "a red square")``
        """
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors)
        request = rq.analogy_request(self._name(collection), a, a_star, b, method, include_inputs, options)
        return await self._send(calls.SEARCH, request, timeout)

    # ------------------------------------------------------------ maps

    async def map(
        self,
        *queries: Point,
        sample_size: int = 0,
        seed: int = 0,
        clusters: int = 0,
        color_by: str | None = None,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> CollectionMap:
        """A 2-D map of the collection: ``sample_size`` items (0: the server's default, 1000) drawn with
        ``seed`` and projected on their two principal axes, ``clusters`` k-means clusters (0: automatic)
        labelled by their nearest text item, each point carrying its ``color_by`` payload value, and
        ``queries`` (any points) placed on it. The same items and seed give the same map.

        ``await client.map("a red circle", sample_size=500, color_by="color")``
        """
        request = rq.map_request(self._name(collection), queries, sample_size, seed, clusters, color_by)
        return await self._send(calls.MAP, request, timeout)
