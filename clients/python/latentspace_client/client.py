"""The synchronous client: one method per RPC, each a request builder, one call and a converter.

Request building lives in :mod:`.requests`, reply conversion in :mod:`.results`; this module
only owns the channel, the default deadline and collection, and error translation.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import grpc

from latentspace_client import requests as rq
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc
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
    Stats,
    UpsertResult,
    hits_from_proto,
)

DEFAULT_ADDRESS = "127.0.0.1:50051"
# The server accepts messages up to 64 MiB by default; gRPC's client default of 4 MiB would
# refuse large replies (a 1000x1000 distance matrix, k=1000 hits with vectors).
DEFAULT_OPTIONS: tuple[tuple[str, Any], ...] = (("grpc.max_receive_message_length", 64 * 1024 * 1024),)

_T = TypeVar("_T")


class Client:
    """A connection to a latentspace server.

    ``timeout`` is the default deadline in seconds for each call (None: no deadline); every
    method takes ``timeout=`` to override it. ``collection`` is the default collection for
    calls that take one. ``credentials`` (``grpc.ssl_channel_credentials(...)``) makes a TLS
    channel; ``options`` are extra channel options; ``metadata`` is sent with every call
    (e.g. an API key). ``channel`` uses an existing channel instead (the client will close it).
    Failed calls raise :class:`~latentspace_client.errors.LatentSpaceError` subclasses.
    """

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        timeout: float | None = 30.0,
        collection: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
        metadata: Sequence[tuple[str, str]] = (),
        channel: grpc.Channel | None = None,
    ):
        self.address = address
        self.timeout = timeout
        self.collection = collection
        self._metadata = tuple(metadata)
        if channel is None:
            merged = dict(DEFAULT_OPTIONS) | dict(options)
            channel = (
                grpc.secure_channel(address, credentials, options=list(merged.items()))
                if credentials is not None
                else grpc.insecure_channel(address, options=list(merged.items()))
            )
        self._channel = channel
        self._collections = rpc.CollectionsStub(channel)
        self._space = rpc.LatentSpaceStub(channel)

    # ------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the channel; calls made afterwards fail."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.address!r}, collection={self.collection!r}, timeout={self.timeout!r})"

    # ------------------------------------------------------------ plumbing

    def _call(self, method: Callable[..., Any], request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=self._deadline(timeout), metadata=self._metadata)
        except grpc.RpcError as error:
            raise translate(error) from error

    def _deadline(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def _name(self, collection: str | None) -> str:
        return rq.resolve_collection(collection, self.collection)

    # ------------------------------------------------------------ collections

    def create_collection(
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

        ``client.create_collection("shapes", model="shapes-clip")``
        """
        request = rq.create_collection_request(name, model, dimension, index_kind, if_not_exists)
        return CollectionInfo.from_proto(self._call(self._collections.CreateCollection, request, timeout))

    def list_collections(self, *, timeout: float | None = None) -> list[CollectionInfo]:
        """All collections on the server."""
        reply = self._call(self._collections.ListCollections, pb.ListCollectionsRequest(), timeout)
        return [CollectionInfo.from_proto(c) for c in reply.collections]

    def describe_collection(self, name: str | None = None, *, timeout: float | None = None) -> CollectionInfo:
        """One collection's model, dimension, index kind and count (default: the client's collection)."""
        request = pb.DescribeCollectionRequest(name=self._name(name))
        return CollectionInfo.from_proto(self._call(self._collections.DescribeCollection, request, timeout))

    def drop_collection(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a collection and all its items (NotFound when it does not exist)."""
        self._call(self._collections.DropCollection, pb.DropCollectionRequest(name=name), timeout)

    def upsert(
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

        ``client.upsert([{"id": "a", "vector": [0.1, 0.2], "payload": {"color": "red"}}])``
        """
        batches = rq.upsert_requests(self._name(collection), items, batch_size)
        head = list(itertools.islice(batches, 2))
        if not head:
            return UpsertResult(upserted=0, sequence=0)
        if len(head) == 1:
            return UpsertResult.from_proto(self._call(self._collections.Upsert, head[0], timeout))
        stream = _CapturingIterator(itertools.chain(head, batches))
        try:
            reply = self._call(self._collections.UpsertStream, stream, timeout)
        except Exception:
            # grpc reports a failing request iterator as CANCELLED; give the caller the real error.
            if stream.error is not None:
                raise stream.error from None
            raise
        return UpsertResult.from_proto(reply)

    def delete(
        self, ids: Iterable[str], *, collection: str | None = None, timeout: float | None = None
    ) -> DeleteResult:
        """Delete items by id; unknown ids are ignored and not counted. ``client.delete(["a", "b"])``"""
        request = rq.delete_request(self._name(collection), ids)
        return DeleteResult.from_proto(self._call(self._collections.Delete, request, timeout))

    def get(
        self,
        ids: Iterable[str],
        *,
        with_vectors: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> list[Item]:
        """Fetch items by id, in request order; ids that do not exist are left out."""
        request = rq.get_request(self._name(collection), ids, with_vectors)
        return [Item.from_proto(i) for i in self._call(self._collections.Get, request, timeout).items]

    def stats(self, *, timeout: float | None = None) -> Stats:
        """Server-wide figures: collections, loaded models, uptime, version."""
        return Stats.from_proto(self._call(self._collections.Stats, pb.StatsRequest(), timeout))

    # ------------------------------------------------------------ latent space

    def encode(
        self, *points: Point, collection: str | None = None, timeout: float | None = None
    ) -> list[EncodedPoint]:
        """Turn points into unit vectors with the collection's model. ``client.encode("a red circle")``"""
        request = rq.encode_request(self._name(collection), points)
        reply = self._call(self._space.Encode, request, timeout)
        return [EncodedPoint.from_proto(p) for p in reply.points]

    def search(
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

        ``client.search("a red circle", k=5, filter={"size": "small"})``; ``client.search(id="item-7")``
        """
        target = point_from_keywords(point, text=text, image=image, vector=vector, id=id)
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors, ef_search, nprobe)
        request = rq.search_request(self._name(collection), target, options)
        return hits_from_proto(self._call(self._space.Search, request, timeout).hits)

    def search_batch(
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
        reply = self._call(self._space.SearchBatch, request, timeout)
        return [hits_from_proto(r.hits) for r in reply.results]

    def distance(
        self, a: Point, b: Point, *, collection: str | None = None, timeout: float | None = None
    ) -> Distance:
        """How far apart two points are. ``client.distance("a red circle", Id("img-3")).cosine``"""
        return self.distances([(a, b)], collection=collection, timeout=timeout)[0]

    def distances(
        self,
        pairs: Iterable[tuple[Point, Point]],
        *,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> list[Distance]:
        """Distances for many ``(a, b)`` pairs, in order."""
        request = rq.distance_request(self._name(collection), pairs)
        return [Distance.from_proto(d) for d in self._call(self._space.Distance, request, timeout).distances]

    def distance_matrix(
        self,
        rows: Iterable[Point],
        columns: Iterable[Point] | None = None,
        *,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> DistanceMatrix:
        """Every row point against every column point (columns None: rows against themselves)."""
        request = rq.distance_matrix_request(self._name(collection), rows, columns)
        return DistanceMatrix.from_proto(self._call(self._space.DistanceMatrix, request, timeout))

    def midpoint(
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
        path = self.interpolate(
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

    def interpolate(
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
        ``client.interpolate("a red circle", "a blue square", steps=5, k=3)``
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
        return Interpolation.from_proto(self._call(self._space.Interpolate, request, timeout))

    def edit(
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

        ``client.edit(Id("red-circle-1"), TextPair("a red shape", "a blue shape"), strength=0.8)``
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
        return EditResult.from_proto(self._call(self._space.Edit, request, timeout))

    def analogy(
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

        ``client.analogy("a red circle", "a blue circle", "a red square")``
        """
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors)
        request = rq.analogy_request(self._name(collection), a, a_star, b, method, include_inputs, options)
        return hits_from_proto(self._call(self._space.Search, request, timeout).hits)


class _CapturingIterator(Iterator[_T]):
    """Wraps a request iterator and keeps the exception it raised, which grpc would swallow."""

    def __init__(self, inner: Iterator[_T]):
        self._inner = inner
        self.error: BaseException | None = None

    def __next__(self) -> _T:
        try:
            return next(self._inner)
        except StopIteration:
            raise
        except BaseException as error:
            self.error = error
            raise
