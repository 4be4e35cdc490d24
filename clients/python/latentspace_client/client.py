"""The synchronous client: one method per RPC, each a request builder and one call.

Request building lives in :mod:`.requests`, reply conversion in :mod:`.results`, the table tying
each RPC to its stub method and reply converter in :mod:`.calls`, and the channel with the blocking
I/O in :class:`~latentspace_client.connection.Connection`; this module is only the methods.

The asyncio client in :mod:`.aio` is generated from this module by
``scripts/generate_async_client.py`` (each method a coroutine, each call of a client method awaited):
add or change a method here, then run ``python scripts/generate_protos.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from latentspace_client import calls
from latentspace_client import requests as rq
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client.calls import DEFAULT_ADDRESS, DEFAULT_OPTIONS, ExportStream, RequestStream
from latentspace_client.connection import Connection
from latentspace_client.points import Direction, Point, point_from_keywords
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
    PathStep,
    SnapshotInfo,
    Stats,
    UpsertResult,
)
from latentspace_client.view_results import CollectionMap, Thumbnails

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_OPTIONS", "Client"]


class Client(Connection):
    """A connection to a latentspace server.

    ``timeout`` is the default deadline in seconds for each call (None: no deadline); every
    method takes ``timeout=`` to override it. ``collection`` is the default collection for
    calls that take one. ``api_key`` is sent with every call as ``authorization: Bearer <key>``.
    TLS: ``tls_ca`` is the PEM file of the CA to trust (``tls=True`` trusts the system's roots),
    ``tls_client_cert`` and ``tls_client_key`` the client's certificate and key for mutual TLS;
    or pass ``credentials`` (``grpc.ssl_channel_credentials(...)``) built yourself. ``options``
    are extra channel options; ``metadata`` is sent with every call. ``channel`` uses an existing
    channel instead (the client will close it).
    Failed calls raise :class:`~latentspace_client.errors.LatentSpaceError` subclasses.
    """

    # ------------------------------------------------------------ collections

    def create_collection(
        self,
        name: str,
        model: str | None = None,
        dimension: int | None = None,
        index_kind: str | None = None,
        if_not_exists: bool = False,
        backend: str | None = None,
        *,
        timeout: float | None = None,
    ) -> CollectionInfo:
        """Create a collection bound to ``model`` (a spec or alias), or vector-only of ``dimension``.

        ``backend``: ``"embedded"`` or ``"milvus"`` (None: the server's default; docs/milvus.md).
        ``client.create_collection("shapes", model="shapes-clip")``
        """
        request = rq.create_collection_request(name, model, dimension, index_kind, if_not_exists, backend)
        return self._send(calls.CREATE_COLLECTION, request, timeout)

    def list_collections(self, *, timeout: float | None = None) -> list[CollectionInfo]:
        """All collections on the server."""
        return self._send(calls.LIST_COLLECTIONS, pb.ListCollectionsRequest(), timeout)

    def describe_collection(self, name: str | None = None, *, timeout: float | None = None) -> CollectionInfo:
        """One collection's model, dimension, index kind and count (default: the client's collection)."""
        request = pb.DescribeCollectionRequest(name=self._name(name))
        return self._send(calls.DESCRIBE_COLLECTION, request, timeout)

    def drop_collection(self, name: str, *, timeout: float | None = None) -> None:
        """Drop a collection and all its items (NotFound when it does not exist)."""
        self._send(calls.DROP_COLLECTION, pb.DropCollectionRequest(name=name), timeout)

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
        plan = calls.plan_upsert(rq.upsert_requests(self._name(collection), items, batch_size))
        if plan is None:
            return UpsertResult(upserted=0, sequence=0)
        if not isinstance(plan, RequestStream):
            return self._send(calls.UPSERT, plan, timeout)
        return self._send_stream(calls.UPSERT_STREAM, plan, timeout)

    def delete(
        self, ids: Iterable[str], *, collection: str | None = None, timeout: float | None = None
    ) -> DeleteResult:
        """Delete items by id; unknown ids are ignored and not counted. ``client.delete(["a", "b"])``"""
        request = rq.delete_request(self._name(collection), ids)
        return self._send(calls.DELETE, request, timeout)

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
        return self._send(calls.GET, request, timeout)

    def get_thumbnails(
        self, ids: Iterable[str], *, collection: str | None = None, timeout: float | None = None
    ) -> Thumbnails:
        """The small previews stored with image items (``.thumbnails``, in request order; ``.missing``: ids
        without one: unknown, not an image, or written before the server made thumbnails).

        ``client.get_thumbnails(["img-1", "img-2"]).by_id()["img-1"].data``
        """
        request = rq.get_thumbnails_request(self._name(collection), ids)
        return self._send(calls.GET_THUMBNAILS, request, timeout)

    def stats(self, *, timeout: float | None = None) -> Stats:
        """Server-wide figures: collections, loaded models, uptime, version."""
        return self._send(calls.STATS, pb.StatsRequest(), timeout)

    def export(
        self, collection: str | None = None, *, page_size: int = 0, timeout: float | None = None
    ) -> ExportStream:
        """Every item of a collection with its vector and exact payload, as of one moment (writes made
        meanwhile are not in it), read page by page as it is iterated; ``stream.collection`` describes
        the collection as of that moment. The deadline covers the whole stream: pass a larger
        ``timeout`` (or None) for a big collection. ``page_size``: items per page (0: the server's).

        ``client.export("docs")``, then ``for item in stream: ...``
        """
        request = rq.export_request(self._name(collection), page_size)
        return self._export(request, timeout)

    # ------------------------------------------------------------ backups

    def snapshot(
        self, collection: str | None = None, *, name: str | None = None, timeout: float | None = None
    ) -> SnapshotInfo:
        """Write a consistent copy of a collection (default: the client's) into the server's backup
        folder while it keeps serving, as snapshot ``name`` (None: the server names it). Needs a
        server started with a backup folder (else FailedPrecondition).

        ``client.snapshot("docs", name="docs-before-reindex")``
        """
        request = rq.snapshot_request(self._name(collection), name)
        return self._send(calls.SNAPSHOT, request, timeout)

    def list_snapshots(self, *, timeout: float | None = None) -> list[SnapshotInfo]:
        """The snapshots in the server's backup folder, newest first."""
        return self._send(calls.LIST_SNAPSHOTS, pb.ListSnapshotsRequest(), timeout)

    def restore(self, snapshot: str, name: str | None = None, *, timeout: float | None = None) -> CollectionInfo:
        """Bring a snapshot back as the new collection ``name`` (None: the collection it was taken of);
        AlreadyExists when that collection exists (nothing is overwritten).

        ``client.restore("docs-before-reindex", "docs-restored")``
        """
        return self._send(calls.RESTORE, rq.restore_request(snapshot, name), timeout)

    # ------------------------------------------------------------ latent space

    def encode(
        self, *points: Point, collection: str | None = None, timeout: float | None = None
    ) -> list[EncodedPoint]:
        """Turn points into unit vectors with the collection's model. ``client.encode("a red circle")``"""
        request = rq.encode_request(self._name(collection), points)
        return self._send(calls.ENCODE, request, timeout)

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
        explain: bool = False,
        score_mode: str = "raw",
        modality: str | None = None,
        diversity: float = 0.0,
        pool: int = 0,
        timeout: float | None = None,
    ) -> list[Hit]:
        """The k items nearest to a point, best first. The point is positional or one keyword.

        ``client.search("a red circle", k=5, filter={"size": "small"})``; ``client.search(id="item-7")``
        ``explain=True`` splits each hit's score into the shares of the query's leaves (``Hit.explanation``).
        """
        target = point_from_keywords(point, text=text, image=image, vector=vector, id=id)
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors, ef_search, nprobe,
                                    explain, score_mode=score_mode, modality=modality, diversity=diversity,
                                    pool=pool)
        request = rq.search_request(self._name(collection), target, options)
        return self._send(calls.SEARCH, request, timeout)

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
        explain: bool = False,
        score_mode: str = "raw",
        modality: str | None = None,
        diversity: float = 0.0,
        pool: int = 0,
        timeout: float | None = None,
    ) -> list[list[Hit]]:
        """Many searches with shared options, in one call; one hit list per point, in order."""
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors, ef_search, nprobe,
                                    explain, score_mode=score_mode, modality=modality, diversity=diversity,
                                    pool=pool)
        request = rq.search_batch_request(self._name(collection), points, options)
        return self._send(calls.SEARCH_BATCH, request, timeout)

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
        return self._send(calls.DISTANCE, request, timeout)

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
        return self._send(calls.DISTANCE_MATRIX, request, timeout)

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
        explain: bool = False,
        score_mode: str = "raw",
        modality: str | None = None,
        diversity: float = 0.0,
        pool: int = 0,
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
            explain=explain,
            score_mode=score_mode,
            modality=modality,
            diversity=diversity,
            pool=pool,
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
        explain: bool = False,
        score_mode: str = "raw",
        modality: str | None = None,
        diversity: float = 0.0,
        pool: int = 0,
        decode: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> Interpolation:
        """Points on the path a -> b ("slerp" or "lerp") and the k items nearest to each.

        Give one of ``t``, ``steps`` (evenly spaced, ends included) or ``ts``; none gives the midpoint.
        ``distinct`` drops the ends' own ids and items shown at an earlier step. ``decode`` draws each
        step with the collection's decoder (``PathStep.image``, PNG bytes).
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
            explain=explain,
            score_mode=score_mode,
            modality=modality,
            diversity=diversity,
            pool=pool,
            decode=decode,
        )
        return self._send(calls.INTERPOLATE, request, timeout)

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
        explain: bool = False,
        score_mode: str = "raw",
        modality: str | None = None,
        diversity: float = 0.0,
        pool: int = 0,
        decode: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> EditResult:
        """Move ``base`` along ``direction`` (``TextPair``, ``Examples``, ``NamedDirection`` or a vector)
        and search there; ``decode`` draws the base and the result (``base_image``, ``image``: PNG bytes).

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
            explain=explain,
            score_mode=score_mode,
            modality=modality,
            diversity=diversity,
            pool=pool,
            decode=decode,
        )
        return self._send(calls.EDIT, request, timeout)

    def decode(
        self, *points: Point, collection: str | None = None, timeout: float | None = None
    ) -> DecodedImages:
        """Draw points with the decoder of the collection's model: one PNG (bytes) per point.

        FailedPrecondition (reason NO_DECODER) when the model has none.
        ``client.decode("a red circle", Id("blue-star-3")).images[0]``
        """
        request = rq.decode_request(self._name(collection), points)
        return self._send(calls.DECODE, request, timeout)

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
        explain: bool = False,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> list[Hit]:
        """a : a_star :: b : ? — a search whose point is the analogy ("cos_add" or "cos_mul").

        ``client.analogy("a red circle", "a blue circle", "a red square")``
        """
        options = rq.search_options(k, filter, exclude_ids, score_threshold, with_vectors, explain=explain)
        request = rq.analogy_request(self._name(collection), a, a_star, b, method, include_inputs, options)
        return self._send(calls.SEARCH, request, timeout)

    # ------------------------------------------------------------ maps

    def map(
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

        ``client.map("a red circle", sample_size=500, color_by="color")``
        """
        request = rq.map_request(self._name(collection), queries, sample_size, seed, clusters, color_by)
        return self._send(calls.MAP, request, timeout)

    # ------------------------------------------------------------ named directions

    def create_direction(
        self,
        name: str,
        source: Any,
        *,
        method: str = "mean_difference",
        holdout: float | None = None,
        seed: int = 0,
        collection: str | None = None,
        timeout: float | None = None,
    ) -> DirectionInfo:
        """Make a direction and store it as ``name``, usable as ``NamedDirection(name)`` in edits and mixes.

        ``source`` is a ``TextPair``, ``Examples``, ``Labels(field, positive, negative, filter)`` or a raw
        vector; ``method`` ("mean_difference", "least_squares" or "logistic") fits examples and labels.
        The result reports ``quality.auc`` on a held-out share (``holdout``, split with ``seed``).
        ``client.create_direction("to-blue", Labels("color", "blue", "red", filter={"kind": "image"}))``
        """
        request = rq.create_direction_request(
            self._name(collection), name, source, method=method, holdout=holdout, seed=seed
        )
        return self._send(calls.CREATE_DIRECTION, request, timeout)

    def list_directions(
        self, *, with_vectors: bool = False, collection: str | None = None, timeout: float | None = None
    ) -> list[DirectionInfo]:
        """The collection's stored directions, by name (their vectors only with ``with_vectors``)."""
        request = pb.ListDirectionsRequest(collection=self._name(collection), with_vectors=with_vectors)
        return self._send(calls.LIST_DIRECTIONS, request, timeout)

    def delete_direction(self, name: str, *, collection: str | None = None, timeout: float | None = None) -> None:
        """Delete a stored direction (NotFound when there is none by that name)."""
        request = pb.DeleteDirectionRequest(collection=self._name(collection), name=name)
        self._send(calls.DELETE_DIRECTION, request, timeout)
