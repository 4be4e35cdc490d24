"""What the sync and async clients share besides request building: everything about a call but its I/O.

- :class:`Rpc` and the table of them: for each RPC, its stub method and how its reply becomes the
  value a client method returns. Both clients send through one ``_send(rpc, request, timeout)``.
- :class:`ClientSettings`: the address, default deadline and collection, and per-call metadata.
- :func:`channel_options`: the channel options both clients open their channel with;
  :func:`channel_credentials` and :func:`call_metadata`: TLS from CA and client-certificate files,
  and the API key as ``authorization: Bearer <key>`` metadata.
- :func:`plan_upsert` and :class:`RequestStream`: one batch goes as ``Upsert``, more stream lazily
  as ``UpsertStream``; the stream keeps the exception a batch raised while being built, which gRPC
  (sync and aio alike) would swallow and report as a CANCELLED call.
- :class:`ExportStream`: the items of an ``Export`` (a server stream) as its pages arrive.

So a client method is: build the request (:mod:`.requests`), send it through the table.
"""

from __future__ import annotations

import enum
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import grpc

from latentspace_client import requests as rq
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client._generated.latentspace.v1 import latentspace_pb2_grpc as rpc_stubs
from latentspace_client.errors import Internal, translate
from latentspace_client.results import (
    CollectionInfo,
    DecodedImages,
    DeleteResult,
    DirectionInfo,
    Distance,
    DistanceMatrix,
    EditResult,
    EncodedPoint,
    Hit,
    Interpolation,
    Item,
    SnapshotInfo,
    Stats,
    UpsertResult,
    hits_from_proto,
)
from latentspace_client.view_results import CollectionMap, Thumbnails

DEFAULT_ADDRESS = "127.0.0.1:50051"
# The server accepts messages up to 64 MiB by default; gRPC's client default of 4 MiB would
# refuse large replies (a 1000x1000 distance matrix, k=1000 hits with vectors).
DEFAULT_OPTIONS: tuple[tuple[str, Any], ...] = (("grpc.max_receive_message_length", 64 * 1024 * 1024),)

_R = TypeVar("_R")
_T = TypeVar("_T")


class Service(enum.Enum):
    """The two services of ``latentspace.v1``, by the stub class that calls each."""

    COLLECTIONS = rpc_stubs.CollectionsStub
    LATENT_SPACE = rpc_stubs.LatentSpaceStub


@dataclass(frozen=True, eq=False)
class Rpc(Generic[_R]):
    """One RPC: its service, its method name on the stub, and the converter of its reply.

    Compared by identity: each RPC has exactly one entry, below.
    """

    service: Service
    name: str
    reply: Callable[[Any], _R]


def stub_methods(channel: Any) -> dict[Rpc[Any], Callable[..., Any]]:
    """Every RPC's callable on ``channel`` (a ``grpc.Channel`` or a ``grpc.aio.Channel``)."""
    stubs = {service: service.value(channel) for service in Service}
    return {rpc: getattr(stubs[rpc.service], rpc.name) for rpc in ALL_RPCS}


# ---------------------------------------------------------------- the table


def _nothing(reply: Any) -> None:
    return None


def _collections(reply: pb.ListCollectionsResponse) -> list[CollectionInfo]:
    return [CollectionInfo.from_proto(c) for c in reply.collections]


def _items(reply: pb.GetResponse) -> list[Item]:
    return [Item.from_proto(i) for i in reply.items]


def _encoded(reply: pb.EncodeResponse) -> list[EncodedPoint]:
    return [EncodedPoint.from_proto(p) for p in reply.points]


def _hits(reply: pb.SearchResponse) -> list[Hit]:
    return hits_from_proto(reply.hits)


def _hit_lists(reply: pb.SearchBatchResponse) -> list[list[Hit]]:
    return [hits_from_proto(r.hits) for r in reply.results]


def _distances(reply: pb.DistanceResponse) -> list[Distance]:
    return [Distance.from_proto(d) for d in reply.distances]


def _directions(reply: pb.ListDirectionsResponse) -> list[DirectionInfo]:
    return [DirectionInfo.from_proto(d) for d in reply.directions]


def _snapshots(reply: pb.ListSnapshotsResponse) -> list[SnapshotInfo]:
    return [SnapshotInfo.from_proto(s) for s in reply.snapshots]


def _exported(page: pb.ExportPage) -> list[Item]:
    return [Item.from_export(i) for i in page.items]


CREATE_COLLECTION = Rpc(Service.COLLECTIONS, "CreateCollection", CollectionInfo.from_proto)
LIST_COLLECTIONS = Rpc(Service.COLLECTIONS, "ListCollections", _collections)
DESCRIBE_COLLECTION = Rpc(Service.COLLECTIONS, "DescribeCollection", CollectionInfo.from_proto)
DROP_COLLECTION = Rpc(Service.COLLECTIONS, "DropCollection", _nothing)
UPSERT = Rpc(Service.COLLECTIONS, "Upsert", UpsertResult.from_proto)
UPSERT_STREAM = Rpc(Service.COLLECTIONS, "UpsertStream", UpsertResult.from_proto)
DELETE = Rpc(Service.COLLECTIONS, "Delete", DeleteResult.from_proto)
GET = Rpc(Service.COLLECTIONS, "Get", _items)
GET_THUMBNAILS = Rpc(Service.COLLECTIONS, "GetThumbnails", Thumbnails.from_proto)
STATS = Rpc(Service.COLLECTIONS, "Stats", Stats.from_proto)
SNAPSHOT = Rpc(Service.COLLECTIONS, "Snapshot", SnapshotInfo.from_proto)
LIST_SNAPSHOTS = Rpc(Service.COLLECTIONS, "ListSnapshots", _snapshots)
RESTORE = Rpc(Service.COLLECTIONS, "Restore", CollectionInfo.from_proto)
#: A server stream: the converter turns each page into its items.
EXPORT = Rpc(Service.COLLECTIONS, "Export", _exported)
ENCODE = Rpc(Service.LATENT_SPACE, "Encode", _encoded)
SEARCH = Rpc(Service.LATENT_SPACE, "Search", _hits)
SEARCH_BATCH = Rpc(Service.LATENT_SPACE, "SearchBatch", _hit_lists)
DISTANCE = Rpc(Service.LATENT_SPACE, "Distance", _distances)
DISTANCE_MATRIX = Rpc(Service.LATENT_SPACE, "DistanceMatrix", DistanceMatrix.from_proto)
INTERPOLATE = Rpc(Service.LATENT_SPACE, "Interpolate", Interpolation.from_proto)
EDIT = Rpc(Service.LATENT_SPACE, "Edit", EditResult.from_proto)
MAP = Rpc(Service.LATENT_SPACE, "Map", CollectionMap.from_proto)
CREATE_DIRECTION = Rpc(Service.LATENT_SPACE, "CreateDirection", DirectionInfo.from_proto)
LIST_DIRECTIONS = Rpc(Service.LATENT_SPACE, "ListDirections", _directions)
DELETE_DIRECTION = Rpc(Service.LATENT_SPACE, "DeleteDirection", _nothing)
DECODE = Rpc(Service.LATENT_SPACE, "Decode", DecodedImages.from_proto)

ALL_RPCS: tuple[Rpc[Any], ...] = (
    CREATE_COLLECTION,
    LIST_COLLECTIONS,
    DESCRIBE_COLLECTION,
    DROP_COLLECTION,
    UPSERT,
    UPSERT_STREAM,
    DELETE,
    GET,
    GET_THUMBNAILS,
    STATS,
    SNAPSHOT,
    LIST_SNAPSHOTS,
    RESTORE,
    EXPORT,
    ENCODE,
    SEARCH,
    SEARCH_BATCH,
    DISTANCE,
    DISTANCE_MATRIX,
    INTERPOLATE,
    EDIT,
    MAP,
    CREATE_DIRECTION,
    LIST_DIRECTIONS,
    DELETE_DIRECTION,
    DECODE,
)


# ---------------------------------------------------------------- settings and channels


class ClientSettings:
    """What both clients hold besides their channel: address, defaults and call metadata."""

    def __init__(
        self, address: str, timeout: float | None, collection: str | None, metadata: Sequence[tuple[str, str]]
    ):
        self.address = address
        self.timeout = timeout
        self.collection = collection
        self._metadata = tuple(metadata)

    def _deadline(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    def _name(self, collection: str | None) -> str:
        return rq.resolve_collection(collection, self.collection)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.address!r}, collection={self.collection!r}, timeout={self.timeout!r})"
        )


def channel_options(options: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The SDK's default channel options, overridden by the caller's."""
    return list((dict(DEFAULT_OPTIONS) | dict(options)).items())


PemFile = str | os.PathLike[str]


def channel_credentials(
    credentials: grpc.ChannelCredentials | None,
    tls: bool,
    tls_ca: PemFile | None,
    tls_client_cert: PemFile | None,
    tls_client_key: PemFile | None,
) -> grpc.ChannelCredentials | None:
    """The channel's TLS credentials, or None for plain text.

    TLS is on with ``tls=True`` (the system's roots), a CA file to trust (``tls_ca``), or a client
    certificate and key for mutual TLS (PEM files, both or neither). ``credentials`` already built
    by the caller is used as it is and excludes the others.
    """
    files = (tls_ca, tls_client_cert, tls_client_key)
    if credentials is not None:
        if tls or any(f is not None for f in files):
            raise ValueError("pass either credentials or tls/tls_ca/tls_client_cert/tls_client_key, not both")
        return credentials
    if (tls_client_cert is None) != (tls_client_key is None):
        raise ValueError("mutual TLS needs both tls_client_cert and tls_client_key")
    if not tls and all(f is None for f in files):
        return None
    ca, cert, key = (None if f is None else _read_pem(f) for f in files)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def _read_pem(path: PemFile) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def call_metadata(metadata: Sequence[tuple[str, str]], api_key: str | None) -> tuple[tuple[str, str], ...]:
    """The metadata sent with every call: the caller's, plus the API key as a bearer token."""
    if api_key is None:
        return tuple(metadata)
    if not api_key or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise ValueError("api_key must be a non-empty key without spaces or control characters")
    return (*metadata, ("authorization", f"Bearer {api_key}"))


# ---------------------------------------------------------------- upsert


def plan_upsert(batches: Iterator[pb.UpsertRequest]) -> pb.UpsertRequest | RequestStream[pb.UpsertRequest] | None:
    """None for no items, the request itself for one batch, a :class:`RequestStream` for more.

    Only the first two batches are built here; the rest are built as the stream is consumed.
    """
    head = list(itertools.islice(batches, 2))
    if not head:
        return None
    if len(head) == 1:
        return head[0]
    return RequestStream(itertools.chain(head, batches))


class RequestStream(Iterator[_T], AsyncIterator[_T]):
    """A lazily built request stream (sync or async iteration) that keeps the exception it raised.

    After a failed streaming call, :meth:`reraise` raises that exception, if there was one, in
    place of the CANCELLED error gRPC reports for it.
    """

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

    def __aiter__(self) -> RequestStream[_T]:
        return self

    async def __anext__(self) -> _T:
        try:
            return self.__next__()
        except StopIteration:
            raise StopAsyncIteration from None

    def reraise(self) -> None:
        """Raise the request iterator's own exception, if it raised one (call from an ``except``)."""
        if self.error is not None:
            raise self.error from None


class ExportStream:
    """The items of one export, with their vectors, as its pages arrive.

    ``collection`` describes the collection as of the export's moment (its ``count`` items are the
    ones that follow). A :class:`~latentspace_client.Client`'s stream is iterated with ``for``, an
    :class:`~latentspace_client.AsyncClient`'s with ``async for``; once. Failures raise the SDK's
    errors. :meth:`close` (or leaving a ``with`` / ``async with`` block) ends the call early.
    """

    def __init__(self, first: pb.ExportPage, pages: Any, call: Any):
        """``first``: the page already read; ``pages``: the call's iterator of the rest (sync or async)."""
        self.collection = CollectionInfo.from_proto(first.collection)
        self._first = EXPORT.reply(first)
        self._pages = pages
        self._call = call
        self._started = False

    @staticmethod
    def first_page(page: pb.ExportPage | None) -> pb.ExportPage:
        """The first page of an export, which the server always sends."""
        if page is None or not page.HasField("collection"):
            raise Internal("the server ended the export without describing the collection",
                           code=grpc.StatusCode.INTERNAL)
        return page

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("an export stream can be iterated once")
        self._started = True

    def __iter__(self) -> Iterator[Item]:
        self._start()
        yield from self._first
        try:
            for page in self._pages:
                yield from EXPORT.reply(page)
        except grpc.RpcError as error:
            raise translate(error) from error

    def __aiter__(self) -> AsyncIterator[Item]:
        self._start()
        return self._async_items()

    async def _async_items(self) -> AsyncIterator[Item]:
        for item in self._first:
            yield item
        try:
            async for page in self._pages:
                for item in EXPORT.reply(page):
                    yield item
        except grpc.RpcError as error:
            raise translate(error) from error

    def close(self) -> None:
        """End the call (the rest of the items are not sent)."""
        self._call.cancel()

    def __enter__(self) -> ExportStream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> ExportStream:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.close()


__all__ = [
    "ALL_RPCS",
    "DEFAULT_ADDRESS",
    "DEFAULT_OPTIONS",
    "ClientSettings",
    "ExportStream",
    "RequestStream",
    "Rpc",
    "Service",
    "call_metadata",
    "channel_credentials",
    "channel_options",
    "plan_upsert",
    "stub_methods",
]
