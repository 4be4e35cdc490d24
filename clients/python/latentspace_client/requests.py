"""Request building, apart from I/O: one function per RPC turning Python arguments into a message.

The sync :class:`~latentspace_client.client.Client` and the async
:class:`~latentspace_client.aio.AsyncClient` are thin layers that call one of these and send the
message through the table in :mod:`.calls`, which converts the reply with :mod:`.results`; every
argument check lives here once, so the two clients cannot drift.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client._generated.latentspace.v1 import types_pb2 as tpb
from latentspace_client.payloads import to_filter, to_struct, to_value
from latentspace_client.points import (
    ANALOGY_METHODS,
    Analogy,
    Direction,
    Edit,
    Examples,
    Labels,
    Point,
    TextPair,
    enum_value,
    image_bytes,
    to_direction,
    to_edit,
    to_queries,
    to_query,
)
from latentspace_client.vectors import pack_vector

FilterSpec = Mapping[str, Any] | tpb.Filter | None
INTERPOLATION_METHODS = {"slerp": pb.INTERPOLATION_METHOD_SLERP, "lerp": pb.INTERPOLATION_METHOD_LERP}
SCORE_MODES = {"raw": tpb.SCORE_MODE_RAW, "calibrated": tpb.SCORE_MODE_CALIBRATED}
MODALITIES = {"text": tpb.MODALITY_TEXT, "image": tpb.MODALITY_IMAGE, "vector": tpb.MODALITY_VECTOR}
DIRECTION_METHODS = {
    "mean_difference": pb.DIRECTION_METHOD_MEAN_DIFFERENCE,
    "least_squares": pb.DIRECTION_METHOD_LEAST_SQUARES,
    "logistic": pb.DIRECTION_METHOD_LOGISTIC,
}


@dataclass(frozen=True)
class UpsertItem:
    """One item to write: an id, exactly one of text / image / vector, and optional metadata.

    ``image`` is bytes, a file path or a PIL image; ``content_ref`` overrides the stored content
    reference (e.g. the image's URI). The same keys work as a plain dict.
    """

    id: str
    text: str | None = None
    image: Any = None
    vector: Any = None
    payload: Mapping[str, Any] | None = None
    content_ref: str | None = None
    #: A hash of the source content, stored with the item: the server skips (counts as unchanged)
    #: an item whose id already holds this hash, without encoding it.
    content_hash: str | None = None


_ITEM_KEYS = frozenset({"id", "text", "image", "vector", "payload", "content_ref", "content_hash"})


def resolve_collection(collection: str | None, default: str | None) -> str:
    """The collection a call addresses: the argument, else the client's default."""
    name = collection or default
    if not name:
        raise ValueError("no collection: pass collection=... or create the client with collection=...")
    return name


# ---------------------------------------------------------------- collections


def create_collection_request(
    name: str, model: str | None, dimension: int | None, index_kind: str | None, if_not_exists: bool,
    backend: str | None = None,
) -> pb.CreateCollectionRequest:
    """CreateCollection: a model-backed collection, or vector-only when ``model`` is None; ``backend``
    ``"embedded"`` or ``"milvus"`` (None: the server's default)."""
    return pb.CreateCollectionRequest(
        name=name,
        model=model or "",
        dimension=dimension or 0,
        index_kind=index_kind or "",
        if_not_exists=if_not_exists,
        backend=backend or "",
    )


def reindex_request(collection: str, index_kind: str) -> pb.ReindexRequest:
    """Reindex: rebuild a collection's index as ``index_kind`` (checked by the server)."""
    return pb.ReindexRequest(collection=collection, index_kind=index_kind)


def upsert_item(item: UpsertItem | Mapping[str, Any], position: int = 0) -> pb.UpsertItem:
    """One item (an :class:`UpsertItem` or a dict with its keys) as an ``UpsertItem`` message."""
    fields = vars(item) if isinstance(item, UpsertItem) else item
    if not isinstance(fields, Mapping):
        raise TypeError(f"items[{position}]: an item is a dict or UpsertItem, not {type(item).__name__}")
    unknown = set(fields) - _ITEM_KEYS
    if unknown:
        raise ValueError(f"items[{position}]: unknown keys {sorted(unknown)}; use {sorted(_ITEM_KEYS)}")
    content = {k: fields[k] for k in ("text", "image", "vector") if fields.get(k) is not None}
    if "id" not in fields or len(content) != 1:
        raise ValueError(f"items[{position}]: an item needs an id and exactly one of text, image, vector")
    message = pb.UpsertItem(id=str(fields["id"]), content_ref=fields.get("content_ref") or "",
                            content_hash=fields.get("content_hash") or "")
    ((kind, value),) = content.items()
    if kind == "text":
        message.text = value
    elif kind == "image":
        message.image = image_bytes(value)
    else:
        message.vector.CopyFrom(pack_vector(value))
    if fields.get("payload"):
        message.payload.CopyFrom(to_struct(fields["payload"], f"items[{position}].payload"))
    return message


def upsert_requests(
    collection: str, items: Iterable[UpsertItem | Mapping[str, Any]], batch_size: int
) -> Iterator[pb.UpsertRequest]:
    """Items in ``UpsertRequest`` batches of at most ``batch_size``, built lazily as consumed."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    numbered = enumerate(items)
    while batch := list(itertools.islice(numbered, batch_size)):
        yield pb.UpsertRequest(collection=collection, items=[upsert_item(it, i) for i, it in batch])


def delete_request(collection: str, ids: Iterable[str]) -> pb.DeleteRequest:
    """Delete by ids (at least one)."""
    return pb.DeleteRequest(collection=collection, ids=_some_ids(ids))


def get_request(collection: str, ids: Iterable[str], with_vectors: bool) -> pb.GetRequest:
    """Get by ids (at least one)."""
    return pb.GetRequest(collection=collection, ids=_some_ids(ids), with_vectors=with_vectors)


def get_thumbnails_request(collection: str, ids: Iterable[str]) -> pb.GetThumbnailsRequest:
    """The thumbnails of items by id (at least one)."""
    return pb.GetThumbnailsRequest(collection=collection, ids=_some_ids(ids))


def export_request(collection: str, page_size: int) -> pb.ExportRequest:
    """Export a collection in pages of ``page_size`` items (0: the server's default)."""
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 0:
        raise ValueError(f"page_size must be an integer >= 0 (0: the server's default), got {page_size!r}")
    return pb.ExportRequest(collection=collection, page_size=page_size)


# ---------------------------------------------------------------- backups


def snapshot_request(collection: str, name: str | None) -> pb.SnapshotRequest:
    """Snapshot a collection under ``name`` (None: the server picks one)."""
    return pb.SnapshotRequest(collection=collection, name=name or "")


def restore_request(snapshot: str, name: str | None) -> pb.RestoreRequest:
    """Restore ``snapshot`` as collection ``name`` (None: the collection it was taken of)."""
    if not snapshot:
        raise ValueError("restore needs the name of a snapshot (see list_snapshots)")
    return pb.RestoreRequest(snapshot=snapshot, name=name or "")


# ---------------------------------------------------------------- latent space


def encode_request(collection: str, points: Iterable[Point]) -> pb.EncodeRequest:
    """Encode many points."""
    return pb.EncodeRequest(collection=collection, queries=to_queries(points))


def search_options(
    k: int,
    filter: FilterSpec = None,
    exclude_ids: Iterable[str] = (),
    score_threshold: float | None = None,
    with_vectors: bool = False,
    ef_search: int = 0,
    nprobe: int = 0,
    explain: bool = False,
    *,
    rerank: int = 0,
    score_mode: str = "raw",
    modality: str | None = None,
    diversity: float = 0.0,
    pool: int = 0,
) -> pb.SearchOptions:
    """The options shared by Search and SearchBatch (k is checked by the server against its limit)."""
    options = pb.SearchOptions(
        k=k,
        exclude_ids=_ids(exclude_ids),
        with_vectors=with_vectors,
        params=tpb.SearchParams(ef_search=ef_search, nprobe=nprobe, rerank=rerank),
        explain=explain,
        **ranking_fields(score_mode, modality, diversity, pool),
    )
    message = to_filter(filter)
    if message is not None:
        options.filter.CopyFrom(message)
    if score_threshold is not None:
        options.score_threshold = score_threshold
    return options


def ranking_fields(score_mode: str, modality: str | None, diversity: float, pool: int) -> dict[str, Any]:
    """``score_mode`` ("raw" or "calibrated"), ``modality`` (None: any) and the MMR knobs, as message fields
    (their ranges are checked by the server)."""
    return {
        "score_mode": enum_value(SCORE_MODES, score_mode, "score mode"),
        "modality": tpb.MODALITY_UNSPECIFIED if modality is None else enum_value(MODALITIES, modality, "modality"),
        "diversity": diversity,
        "pool": pool,
    }


def search_request(collection: str, point: Point, options: pb.SearchOptions) -> pb.SearchRequest:
    """Search around one point."""
    return pb.SearchRequest(collection=collection, query=to_query(point), options=options)


def search_batch_request(
    collection: str, points: Iterable[Point], options: pb.SearchOptions
) -> pb.SearchBatchRequest:
    """Many searches sharing one set of options."""
    return pb.SearchBatchRequest(collection=collection, queries=to_queries(points), options=options)


def analogy_request(
    collection: str,
    a: Point,
    a_star: Point,
    b: Point,
    method: str,
    include_inputs: bool,
    options: pb.SearchOptions,
) -> pb.SearchRequest:
    """a : a_star :: b : ? as a Search whose query is an ``Analogy``."""
    enum_value(ANALOGY_METHODS, method, "analogy method")  # fail before building the inputs
    return search_request(collection, Analogy(a, a_star, b, method, include_inputs), options)


def distance_request(collection: str, pairs: Iterable[tuple[Point, Point]]) -> pb.DistanceRequest:
    """Distances between pairs of points."""
    request = pb.DistanceRequest(collection=collection)
    for pair in pairs:
        a, b = pair
        request.pairs.add(a=to_query(a), b=to_query(b))
    return request


def distance_matrix_request(
    collection: str, rows: Iterable[Point], columns: Iterable[Point] | None
) -> pb.DistanceMatrixRequest:
    """Every row against every column (columns None: the rows against themselves)."""
    return pb.DistanceMatrixRequest(
        collection=collection, rows=to_queries(rows), columns=to_queries(columns or ())
    )


def decode_request(collection: str, points: Iterable[Point]) -> pb.DecodeRequest:
    """Draw many points with the collection's decoder."""
    return pb.DecodeRequest(collection=collection, queries=to_queries(points))


def interpolate_request(
    collection: str,
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
    filter: FilterSpec = None,
    exclude_ids: Iterable[str] = (),
    explain: bool = False,
    score_mode: str = "raw",
    modality: str | None = None,
    diversity: float = 0.0,
    pool: int = 0,
    decode: bool = False,
) -> pb.InterpolateRequest:
    """A path a -> b: one ``t``, ``steps`` evenly spaced t, or explicit ``ts`` (none: the midpoint)."""
    given = [name for name, value in (("t", t), ("steps", steps), ("ts", ts)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"pass one of t, steps, ts; got {', '.join(given)}")
    request = pb.InterpolateRequest(
        collection=collection,
        a=to_query(a),
        b=to_query(b),
        steps=steps or 0,
        ts=[t] if t is not None else list(ts or ()),
        method=enum_value(INTERPOLATION_METHODS, method, "interpolation method"),
        allow_extrapolation=allow_extrapolation,
        k=k,
        exclude_ids=_ids(exclude_ids),
        distinct=distinct,
        with_vectors=with_vectors,
        explain=explain,
        **ranking_fields(score_mode, modality, diversity, pool),
        decode=decode,
    )
    if via is not None:
        request.via.CopyFrom(to_query(via))
    _set_filter(request, filter)
    return request


def edit_request(
    collection: str,
    base: Point,
    direction: Direction,
    *,
    mode: str = "add",
    strength: float | None = None,
    k: int = 10,
    filter: FilterSpec = None,
    exclude_ids: Iterable[str] = (),
    with_vectors: bool = False,
    explain: bool = False,
    score_mode: str = "raw",
    modality: str | None = None,
    diversity: float = 0.0,
    pool: int = 0,
    decode: bool = False,
) -> pb.EditRequest:
    """Move ``base`` along ``direction`` and search around the result (k = 0: no search)."""
    request = pb.EditRequest(
        collection=collection,
        edit=to_edit(Edit(base, direction, mode, strength)),
        k=k,
        exclude_ids=_ids(exclude_ids),
        with_vectors=with_vectors,
        explain=explain,
        **ranking_fields(score_mode, modality, diversity, pool),
        decode=decode,
    )
    _set_filter(request, filter)
    return request


def map_request(
    collection: str,
    queries: Iterable[Point],
    sample_size: int,
    seed: int,
    clusters: int,
    color_by: str | None,
) -> pb.MapRequest:
    """A map of ``sample_size`` items (0: the server's default) drawn with ``seed``, in ``clusters``
    clusters (0: automatic), coloured by the payload field ``color_by``, with ``queries`` placed on it."""
    for name, value in (("sample_size", sample_size), ("seed", seed), ("clusters", clusters)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return pb.MapRequest(collection=collection, queries=to_queries(queries), sample_size=sample_size, seed=seed,
                         clusters=clusters, color_by=color_by or "")


def create_direction_request(
    collection: str,
    name: str,
    source: TextPair | Examples | Labels | Any,
    *,
    method: str = "mean_difference",
    holdout: float | None = None,
    seed: int = 0,
) -> pb.CreateDirectionRequest:
    """A direction made from a ``TextPair``, ``Examples``, ``Labels`` or a raw vector, stored as ``name``."""
    request = pb.CreateDirectionRequest(
        collection=collection, name=name, method=enum_value(DIRECTION_METHODS, method, "direction method"), seed=seed
    )
    if isinstance(source, Labels):
        labels = request.source.labels
        labels.field = source.field
        labels.positive.CopyFrom(to_value(source.positive, "labels.positive"))
        labels.negative.CopyFrom(to_value(source.negative, "labels.negative"))
        _set_filter(labels, source.filter)
    else:
        direction = to_direction(source)
        kind = direction.WhichOneof("kind")
        if kind == "name":
            raise TypeError("a stored direction cannot be the source of another; pass TextPair, Examples, Labels "
                            "or a vector")
        getattr(request.source, kind).CopyFrom(getattr(direction, kind))
    if holdout is not None:
        request.holdout = holdout
    return request


def _set_filter(request: Any, spec: FilterSpec) -> None:
    message = to_filter(spec)
    if message is not None:
        request.filter.CopyFrom(message)


def _some_ids(ids: Iterable[str]) -> list[str]:
    listed = _ids(ids)
    if not listed:
        raise ValueError("ids is empty: name at least one id")
    return listed


def _ids(ids: Iterable[str]) -> list[str]:
    # A lone string is an iterable of characters: almost always a mistake for [id].
    if isinstance(ids, str):
        return [ids]
    return [str(i) for i in ids]
