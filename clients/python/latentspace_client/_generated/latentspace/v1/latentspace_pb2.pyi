from google.protobuf import struct_pb2 as _struct_pb2
from latentspace_client._generated.latentspace.v1 import options_pb2 as _options_pb2
from latentspace_client._generated.latentspace.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InterpolationMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERPOLATION_METHOD_UNSPECIFIED: _ClassVar[InterpolationMethod]
    INTERPOLATION_METHOD_SLERP: _ClassVar[InterpolationMethod]
    INTERPOLATION_METHOD_LERP: _ClassVar[InterpolationMethod]

class DirectionMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_METHOD_UNSPECIFIED: _ClassVar[DirectionMethod]
    DIRECTION_METHOD_MEAN_DIFFERENCE: _ClassVar[DirectionMethod]
    DIRECTION_METHOD_LEAST_SQUARES: _ClassVar[DirectionMethod]
    DIRECTION_METHOD_LOGISTIC: _ClassVar[DirectionMethod]
INTERPOLATION_METHOD_UNSPECIFIED: InterpolationMethod
INTERPOLATION_METHOD_SLERP: InterpolationMethod
INTERPOLATION_METHOD_LERP: InterpolationMethod
DIRECTION_METHOD_UNSPECIFIED: DirectionMethod
DIRECTION_METHOD_MEAN_DIFFERENCE: DirectionMethod
DIRECTION_METHOD_LEAST_SQUARES: DirectionMethod
DIRECTION_METHOD_LOGISTIC: DirectionMethod

class CollectionInfo(_message.Message):
    __slots__ = ("name", "model", "dimension", "metric", "index_kind", "count", "modalities", "fingerprint", "sequence", "modality_stats", "cosine_distributions", "backend")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_STATS_FIELD_NUMBER: _ClassVar[int]
    COSINE_DISTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    dimension: int
    metric: str
    index_kind: str
    count: int
    modalities: _containers.RepeatedScalarFieldContainer[_types_pb2.Modality]
    fingerprint: str
    sequence: int
    modality_stats: _containers.RepeatedCompositeFieldContainer[ModalityStats]
    cosine_distributions: _containers.RepeatedCompositeFieldContainer[CosineDistribution]
    backend: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., dimension: _Optional[int] = ..., metric: _Optional[str] = ..., index_kind: _Optional[str] = ..., count: _Optional[int] = ..., modalities: _Optional[_Iterable[_Union[_types_pb2.Modality, str]]] = ..., fingerprint: _Optional[str] = ..., sequence: _Optional[int] = ..., modality_stats: _Optional[_Iterable[_Union[ModalityStats, _Mapping]]] = ..., cosine_distributions: _Optional[_Iterable[_Union[CosineDistribution, _Mapping]]] = ..., backend: _Optional[str] = ...) -> None: ...

class ModalityStats(_message.Message):
    __slots__ = ("modality", "count", "centroid_norm", "sampled")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CENTROID_NORM_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    modality: _types_pb2.Modality
    count: int
    centroid_norm: float
    sampled: int
    def __init__(self, modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., count: _Optional[int] = ..., centroid_norm: _Optional[float] = ..., sampled: _Optional[int] = ...) -> None: ...

class CosineDistribution(_message.Message):
    __slots__ = ("a", "b", "pairs", "mean", "std", "p05", "p50", "p95")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    P05_FIELD_NUMBER: _ClassVar[int]
    P50_FIELD_NUMBER: _ClassVar[int]
    P95_FIELD_NUMBER: _ClassVar[int]
    a: _types_pb2.Modality
    b: _types_pb2.Modality
    pairs: int
    mean: float
    std: float
    p05: float
    p50: float
    p95: float
    def __init__(self, a: _Optional[_Union[_types_pb2.Modality, str]] = ..., b: _Optional[_Union[_types_pb2.Modality, str]] = ..., pairs: _Optional[int] = ..., mean: _Optional[float] = ..., std: _Optional[float] = ..., p05: _Optional[float] = ..., p50: _Optional[float] = ..., p95: _Optional[float] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("name", "model", "dimension", "index_kind", "if_not_exists", "backend")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    IF_NOT_EXISTS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    dimension: int
    index_kind: str
    if_not_exists: bool
    backend: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., dimension: _Optional[int] = ..., index_kind: _Optional[str] = ..., if_not_exists: _Optional[bool] = ..., backend: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionInfo]
    def __init__(self, collections: _Optional[_Iterable[_Union[CollectionInfo, _Mapping]]] = ...) -> None: ...

class DescribeCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReindexRequest(_message.Message):
    __slots__ = ("collection", "index_kind")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    collection: str
    index_kind: str
    def __init__(self, collection: _Optional[str] = ..., index_kind: _Optional[str] = ...) -> None: ...

class UpsertItem(_message.Message):
    __slots__ = ("id", "text", "image", "vector", "payload", "content_ref", "content_hash")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_REF_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    image: bytes
    vector: _types_pb2.Vector
    payload: _struct_pb2.Struct
    content_ref: str
    content_hash: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ..., image: _Optional[bytes] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., content_ref: _Optional[str] = ..., content_hash: _Optional[str] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("collection", "items")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    items: _containers.RepeatedCompositeFieldContainer[UpsertItem]
    def __init__(self, collection: _Optional[str] = ..., items: _Optional[_Iterable[_Union[UpsertItem, _Mapping]]] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("upserted", "sequence", "unchanged")
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    upserted: int
    sequence: int
    unchanged: int
    def __init__(self, upserted: _Optional[int] = ..., sequence: _Optional[int] = ..., unchanged: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted", "sequence")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    sequence: int
    def __init__(self, deleted: _Optional[int] = ..., sequence: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("collection", "ids", "with_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    with_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("items", "missing")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[_types_pb2.Item]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[_types_pb2.Item, _Mapping]]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class GetThumbnailsRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Thumbnail(_message.Message):
    __slots__ = ("id", "media_type", "data")
    ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    media_type: str
    data: bytes
    def __init__(self, id: _Optional[str] = ..., media_type: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class GetThumbnailsResponse(_message.Message):
    __slots__ = ("thumbnails", "missing")
    THUMBNAILS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    thumbnails: _containers.RepeatedCompositeFieldContainer[Thumbnail]
    missing: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, thumbnails: _Optional[_Iterable[_Union[Thumbnail, _Mapping]]] = ..., missing: _Optional[_Iterable[str]] = ...) -> None: ...

class StatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatsResponse(_message.Message):
    __slots__ = ("collections", "loaded_models", "uptime_seconds", "version")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    LOADED_MODELS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionInfo]
    loaded_models: _containers.RepeatedScalarFieldContainer[str]
    uptime_seconds: float
    version: str
    def __init__(self, collections: _Optional[_Iterable[_Union[CollectionInfo, _Mapping]]] = ..., loaded_models: _Optional[_Iterable[str]] = ..., uptime_seconds: _Optional[float] = ..., version: _Optional[str] = ...) -> None: ...

class SnapshotRequest(_message.Message):
    __slots__ = ("collection", "name")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    collection: str
    name: str
    def __init__(self, collection: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class SnapshotInfo(_message.Message):
    __slots__ = ("name", "collection", "created_at", "sequence", "count", "model", "dimension", "index_kind", "fingerprint", "has_index", "size_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_KIND_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    HAS_INDEX_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    collection: str
    created_at: str
    sequence: int
    count: int
    model: str
    dimension: int
    index_kind: str
    fingerprint: str
    has_index: bool
    size_bytes: int
    def __init__(self, name: _Optional[str] = ..., collection: _Optional[str] = ..., created_at: _Optional[str] = ..., sequence: _Optional[int] = ..., count: _Optional[int] = ..., model: _Optional[str] = ..., dimension: _Optional[int] = ..., index_kind: _Optional[str] = ..., fingerprint: _Optional[str] = ..., has_index: _Optional[bool] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[SnapshotInfo]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[SnapshotInfo, _Mapping]]] = ...) -> None: ...

class RestoreRequest(_message.Message):
    __slots__ = ("snapshot", "name")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    snapshot: str
    name: str
    def __init__(self, snapshot: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("collection", "page_size")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    page_size: int
    def __init__(self, collection: _Optional[str] = ..., page_size: _Optional[int] = ...) -> None: ...

class ExportedItem(_message.Message):
    __slots__ = ("id", "modality", "vector", "payload_json", "content", "sequence")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    modality: _types_pb2.Modality
    vector: _types_pb2.Vector
    payload_json: str
    content: str
    sequence: int
    def __init__(self, id: _Optional[str] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., payload_json: _Optional[str] = ..., content: _Optional[str] = ..., sequence: _Optional[int] = ...) -> None: ...

class ExportPage(_message.Message):
    __slots__ = ("collection", "items")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionInfo
    items: _containers.RepeatedCompositeFieldContainer[ExportedItem]
    def __init__(self, collection: _Optional[_Union[CollectionInfo, _Mapping]] = ..., items: _Optional[_Iterable[_Union[ExportedItem, _Mapping]]] = ...) -> None: ...

class EncodeRequest(_message.Message):
    __slots__ = ("collection", "queries")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    collection: str
    queries: _containers.RepeatedCompositeFieldContainer[_types_pb2.Query]
    def __init__(self, collection: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_types_pb2.Query, _Mapping]]] = ...) -> None: ...

class EncodedPoint(_message.Message):
    __slots__ = ("vector", "modality")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    vector: _types_pb2.Vector
    modality: _types_pb2.Modality
    def __init__(self, vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ...) -> None: ...

class EncodeResponse(_message.Message):
    __slots__ = ("points",)
    POINTS_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[EncodedPoint]
    def __init__(self, points: _Optional[_Iterable[_Union[EncodedPoint, _Mapping]]] = ...) -> None: ...

class SearchOptions(_message.Message):
    __slots__ = ("k", "filter", "exclude_ids", "score_threshold", "with_vectors", "params", "explain", "score_mode", "modality", "diversity", "pool")
    K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    SCORE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    SCORE_MODE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    k: int
    filter: _types_pb2.Filter
    exclude_ids: _containers.RepeatedScalarFieldContainer[str]
    score_threshold: float
    with_vectors: bool
    params: _types_pb2.SearchParams
    explain: bool
    score_mode: _types_pb2.ScoreMode
    modality: _types_pb2.Modality
    diversity: float
    pool: int
    def __init__(self, k: _Optional[int] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., exclude_ids: _Optional[_Iterable[str]] = ..., score_threshold: _Optional[float] = ..., with_vectors: _Optional[bool] = ..., params: _Optional[_Union[_types_pb2.SearchParams, _Mapping]] = ..., explain: _Optional[bool] = ..., score_mode: _Optional[_Union[_types_pb2.ScoreMode, str]] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., diversity: _Optional[float] = ..., pool: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "query", "options")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    query: _types_pb2.Query
    options: SearchOptions
    def __init__(self, collection: _Optional[str] = ..., query: _Optional[_Union[_types_pb2.Query, _Mapping]] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits",)
    HITS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hit]
    def __init__(self, hits: _Optional[_Iterable[_Union[_types_pb2.Hit, _Mapping]]] = ...) -> None: ...

class SearchBatchRequest(_message.Message):
    __slots__ = ("collection", "queries", "options")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    queries: _containers.RepeatedCompositeFieldContainer[_types_pb2.Query]
    options: SearchOptions
    def __init__(self, collection: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_types_pb2.Query, _Mapping]]] = ..., options: _Optional[_Union[SearchOptions, _Mapping]] = ...) -> None: ...

class SearchBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SearchResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[SearchResponse, _Mapping]]] = ...) -> None: ...

class QueryPair(_message.Message):
    __slots__ = ("a", "b")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    a: _types_pb2.Query
    b: _types_pb2.Query
    def __init__(self, a: _Optional[_Union[_types_pb2.Query, _Mapping]] = ..., b: _Optional[_Union[_types_pb2.Query, _Mapping]] = ...) -> None: ...

class DistanceRequest(_message.Message):
    __slots__ = ("collection", "pairs")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    pairs: _containers.RepeatedCompositeFieldContainer[QueryPair]
    def __init__(self, collection: _Optional[str] = ..., pairs: _Optional[_Iterable[_Union[QueryPair, _Mapping]]] = ...) -> None: ...

class Distance(_message.Message):
    __slots__ = ("cosine", "angular", "euclidean", "cross_modal", "a_modality", "b_modality")
    COSINE_FIELD_NUMBER: _ClassVar[int]
    ANGULAR_FIELD_NUMBER: _ClassVar[int]
    EUCLIDEAN_FIELD_NUMBER: _ClassVar[int]
    CROSS_MODAL_FIELD_NUMBER: _ClassVar[int]
    A_MODALITY_FIELD_NUMBER: _ClassVar[int]
    B_MODALITY_FIELD_NUMBER: _ClassVar[int]
    cosine: float
    angular: float
    euclidean: float
    cross_modal: bool
    a_modality: _types_pb2.Modality
    b_modality: _types_pb2.Modality
    def __init__(self, cosine: _Optional[float] = ..., angular: _Optional[float] = ..., euclidean: _Optional[float] = ..., cross_modal: _Optional[bool] = ..., a_modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., b_modality: _Optional[_Union[_types_pb2.Modality, str]] = ...) -> None: ...

class DistanceResponse(_message.Message):
    __slots__ = ("distances",)
    DISTANCES_FIELD_NUMBER: _ClassVar[int]
    distances: _containers.RepeatedCompositeFieldContainer[Distance]
    def __init__(self, distances: _Optional[_Iterable[_Union[Distance, _Mapping]]] = ...) -> None: ...

class DistanceMatrixRequest(_message.Message):
    __slots__ = ("collection", "rows", "columns")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    rows: _containers.RepeatedCompositeFieldContainer[_types_pb2.Query]
    columns: _containers.RepeatedCompositeFieldContainer[_types_pb2.Query]
    def __init__(self, collection: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[_types_pb2.Query, _Mapping]]] = ..., columns: _Optional[_Iterable[_Union[_types_pb2.Query, _Mapping]]] = ...) -> None: ...

class DistanceMatrixResponse(_message.Message):
    __slots__ = ("rows", "columns", "cosine", "angular", "euclidean", "cross_modal")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    ANGULAR_FIELD_NUMBER: _ClassVar[int]
    EUCLIDEAN_FIELD_NUMBER: _ClassVar[int]
    CROSS_MODAL_FIELD_NUMBER: _ClassVar[int]
    rows: int
    columns: int
    cosine: _containers.RepeatedScalarFieldContainer[float]
    angular: _containers.RepeatedScalarFieldContainer[float]
    euclidean: _containers.RepeatedScalarFieldContainer[float]
    cross_modal: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, rows: _Optional[int] = ..., columns: _Optional[int] = ..., cosine: _Optional[_Iterable[float]] = ..., angular: _Optional[_Iterable[float]] = ..., euclidean: _Optional[_Iterable[float]] = ..., cross_modal: _Optional[_Iterable[bool]] = ...) -> None: ...

class InterpolateRequest(_message.Message):
    __slots__ = ("collection", "a", "b", "steps", "ts", "method", "via", "allow_extrapolation", "k", "filter", "exclude_ids", "distinct", "with_vectors", "explain", "score_mode", "modality", "diversity", "pool", "decode")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    ALLOW_EXTRAPOLATION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    SCORE_MODE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    DECODE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    a: _types_pb2.Query
    b: _types_pb2.Query
    steps: int
    ts: _containers.RepeatedScalarFieldContainer[float]
    method: InterpolationMethod
    via: _types_pb2.Query
    allow_extrapolation: bool
    k: int
    filter: _types_pb2.Filter
    exclude_ids: _containers.RepeatedScalarFieldContainer[str]
    distinct: bool
    with_vectors: bool
    explain: bool
    score_mode: _types_pb2.ScoreMode
    modality: _types_pb2.Modality
    diversity: float
    pool: int
    decode: bool
    def __init__(self, collection: _Optional[str] = ..., a: _Optional[_Union[_types_pb2.Query, _Mapping]] = ..., b: _Optional[_Union[_types_pb2.Query, _Mapping]] = ..., steps: _Optional[int] = ..., ts: _Optional[_Iterable[float]] = ..., method: _Optional[_Union[InterpolationMethod, str]] = ..., via: _Optional[_Union[_types_pb2.Query, _Mapping]] = ..., allow_extrapolation: _Optional[bool] = ..., k: _Optional[int] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., exclude_ids: _Optional[_Iterable[str]] = ..., distinct: _Optional[bool] = ..., with_vectors: _Optional[bool] = ..., explain: _Optional[bool] = ..., score_mode: _Optional[_Union[_types_pb2.ScoreMode, str]] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., diversity: _Optional[float] = ..., pool: _Optional[int] = ..., decode: _Optional[bool] = ...) -> None: ...

class PathStep(_message.Message):
    __slots__ = ("t", "cos_to_a", "cos_to_b", "vector", "hits", "image")
    T_FIELD_NUMBER: _ClassVar[int]
    COS_TO_A_FIELD_NUMBER: _ClassVar[int]
    COS_TO_B_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    t: float
    cos_to_a: float
    cos_to_b: float
    vector: _types_pb2.Vector
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hit]
    image: bytes
    def __init__(self, t: _Optional[float] = ..., cos_to_a: _Optional[float] = ..., cos_to_b: _Optional[float] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., hits: _Optional[_Iterable[_Union[_types_pb2.Hit, _Mapping]]] = ..., image: _Optional[bytes] = ...) -> None: ...

class InterpolateResponse(_message.Message):
    __slots__ = ("steps", "angle")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[PathStep]
    angle: float
    def __init__(self, steps: _Optional[_Iterable[_Union[PathStep, _Mapping]]] = ..., angle: _Optional[float] = ...) -> None: ...

class EditRequest(_message.Message):
    __slots__ = ("collection", "edit", "k", "filter", "exclude_ids", "with_vectors", "explain", "score_mode", "modality", "diversity", "pool", "decode")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    EDIT_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    EXPLAIN_FIELD_NUMBER: _ClassVar[int]
    SCORE_MODE_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    DECODE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    edit: _types_pb2.Edit
    k: int
    filter: _types_pb2.Filter
    exclude_ids: _containers.RepeatedScalarFieldContainer[str]
    with_vectors: bool
    explain: bool
    score_mode: _types_pb2.ScoreMode
    modality: _types_pb2.Modality
    diversity: float
    pool: int
    decode: bool
    def __init__(self, collection: _Optional[str] = ..., edit: _Optional[_Union[_types_pb2.Edit, _Mapping]] = ..., k: _Optional[int] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ..., exclude_ids: _Optional[_Iterable[str]] = ..., with_vectors: _Optional[bool] = ..., explain: _Optional[bool] = ..., score_mode: _Optional[_Union[_types_pb2.ScoreMode, str]] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., diversity: _Optional[float] = ..., pool: _Optional[int] = ..., decode: _Optional[bool] = ...) -> None: ...

class EditResponse(_message.Message):
    __slots__ = ("vector", "cos_to_base", "base_projection", "result_projection", "direction_norm", "hits", "base_image", "image")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    COS_TO_BASE_FIELD_NUMBER: _ClassVar[int]
    BASE_PROJECTION_FIELD_NUMBER: _ClassVar[int]
    RESULT_PROJECTION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_NORM_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    BASE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    vector: _types_pb2.Vector
    cos_to_base: float
    base_projection: float
    result_projection: float
    direction_norm: float
    hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.Hit]
    base_image: bytes
    image: bytes
    def __init__(self, vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., cos_to_base: _Optional[float] = ..., base_projection: _Optional[float] = ..., result_projection: _Optional[float] = ..., direction_norm: _Optional[float] = ..., hits: _Optional[_Iterable[_Union[_types_pb2.Hit, _Mapping]]] = ..., base_image: _Optional[bytes] = ..., image: _Optional[bytes] = ...) -> None: ...

class DecodeRequest(_message.Message):
    __slots__ = ("collection", "queries")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    collection: str
    queries: _containers.RepeatedCompositeFieldContainer[_types_pb2.Query]
    def __init__(self, collection: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_types_pb2.Query, _Mapping]]] = ...) -> None: ...

class DecodeResponse(_message.Message):
    __slots__ = ("images", "decoder", "width", "height")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    DECODER_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedScalarFieldContainer[bytes]
    decoder: str
    width: int
    height: int
    def __init__(self, images: _Optional[_Iterable[bytes]] = ..., decoder: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class MapRequest(_message.Message):
    __slots__ = ("collection", "sample_size", "seed", "clusters", "color_by", "queries")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    COLOR_BY_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    collection: str
    sample_size: int
    seed: int
    clusters: int
    color_by: str
    queries: _containers.RepeatedCompositeFieldContainer[_types_pb2.Query]
    def __init__(self, collection: _Optional[str] = ..., sample_size: _Optional[int] = ..., seed: _Optional[int] = ..., clusters: _Optional[int] = ..., color_by: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_types_pb2.Query, _Mapping]]] = ...) -> None: ...

class MapPoint(_message.Message):
    __slots__ = ("id", "x", "y", "cluster", "modality", "payload", "content", "color")
    ID_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    id: str
    x: float
    y: float
    cluster: int
    modality: _types_pb2.Modality
    payload: _struct_pb2.Struct
    content: str
    color: _struct_pb2.Value
    def __init__(self, id: _Optional[str] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., cluster: _Optional[int] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., content: _Optional[str] = ..., color: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class MapCluster(_message.Message):
    __slots__ = ("x", "y", "size", "label", "label_id", "nearest_id")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LABEL_ID_FIELD_NUMBER: _ClassVar[int]
    NEAREST_ID_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    size: int
    label: str
    label_id: str
    nearest_id: str
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., size: _Optional[int] = ..., label: _Optional[str] = ..., label_id: _Optional[str] = ..., nearest_id: _Optional[str] = ...) -> None: ...

class MapPlacedPoint(_message.Message):
    __slots__ = ("x", "y", "cluster", "modality")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    cluster: int
    modality: _types_pb2.Modality
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., cluster: _Optional[int] = ..., modality: _Optional[_Union[_types_pb2.Modality, str]] = ...) -> None: ...

class MapResponse(_message.Message):
    __slots__ = ("points", "clusters", "queries", "count", "explained_x", "explained_y")
    POINTS_FIELD_NUMBER: _ClassVar[int]
    CLUSTERS_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_X_FIELD_NUMBER: _ClassVar[int]
    EXPLAINED_Y_FIELD_NUMBER: _ClassVar[int]
    points: _containers.RepeatedCompositeFieldContainer[MapPoint]
    clusters: _containers.RepeatedCompositeFieldContainer[MapCluster]
    queries: _containers.RepeatedCompositeFieldContainer[MapPlacedPoint]
    count: int
    explained_x: float
    explained_y: float
    def __init__(self, points: _Optional[_Iterable[_Union[MapPoint, _Mapping]]] = ..., clusters: _Optional[_Iterable[_Union[MapCluster, _Mapping]]] = ..., queries: _Optional[_Iterable[_Union[MapPlacedPoint, _Mapping]]] = ..., count: _Optional[int] = ..., explained_x: _Optional[float] = ..., explained_y: _Optional[float] = ...) -> None: ...

class DirectionSource(_message.Message):
    __slots__ = ("text_pair", "examples", "labels", "vector")
    TEXT_PAIR_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    text_pair: _types_pb2.TextPair
    examples: _types_pb2.Examples
    labels: Labels
    vector: _types_pb2.Vector
    def __init__(self, text_pair: _Optional[_Union[_types_pb2.TextPair, _Mapping]] = ..., examples: _Optional[_Union[_types_pb2.Examples, _Mapping]] = ..., labels: _Optional[_Union[Labels, _Mapping]] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ...) -> None: ...

class Labels(_message.Message):
    __slots__ = ("field", "positive", "negative", "filter")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    POSITIVE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    field: str
    positive: _struct_pb2.Value
    negative: _struct_pb2.Value
    filter: _types_pb2.Filter
    def __init__(self, field: _Optional[str] = ..., positive: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., negative: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., filter: _Optional[_Union[_types_pb2.Filter, _Mapping]] = ...) -> None: ...

class CreateDirectionRequest(_message.Message):
    __slots__ = ("collection", "name", "source", "method", "holdout", "seed")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    collection: str
    name: str
    source: DirectionSource
    method: DirectionMethod
    holdout: float
    seed: int
    def __init__(self, collection: _Optional[str] = ..., name: _Optional[str] = ..., source: _Optional[_Union[DirectionSource, _Mapping]] = ..., method: _Optional[_Union[DirectionMethod, str]] = ..., holdout: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class DirectionQuality(_message.Message):
    __slots__ = ("auc", "evaluated_on", "positives", "negatives", "held_out_positives", "held_out_negatives", "holdout", "seed")
    AUC_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_ON_FIELD_NUMBER: _ClassVar[int]
    POSITIVES_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_POSITIVES_FIELD_NUMBER: _ClassVar[int]
    HELD_OUT_NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    HOLDOUT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    auc: float
    evaluated_on: str
    positives: int
    negatives: int
    held_out_positives: int
    held_out_negatives: int
    holdout: float
    seed: int
    def __init__(self, auc: _Optional[float] = ..., evaluated_on: _Optional[str] = ..., positives: _Optional[int] = ..., negatives: _Optional[int] = ..., held_out_positives: _Optional[int] = ..., held_out_negatives: _Optional[int] = ..., holdout: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class DirectionInfo(_message.Message):
    __slots__ = ("name", "source", "method", "description", "vector", "norm", "quality", "fingerprint", "created_at")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    NORM_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    method: DirectionMethod
    description: str
    vector: _types_pb2.Vector
    norm: float
    quality: DirectionQuality
    fingerprint: str
    created_at: str
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., method: _Optional[_Union[DirectionMethod, str]] = ..., description: _Optional[str] = ..., vector: _Optional[_Union[_types_pb2.Vector, _Mapping]] = ..., norm: _Optional[float] = ..., quality: _Optional[_Union[DirectionQuality, _Mapping]] = ..., fingerprint: _Optional[str] = ..., created_at: _Optional[str] = ...) -> None: ...

class ListDirectionsRequest(_message.Message):
    __slots__ = ("collection", "with_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    with_vectors: bool
    def __init__(self, collection: _Optional[str] = ..., with_vectors: _Optional[bool] = ...) -> None: ...

class ListDirectionsResponse(_message.Message):
    __slots__ = ("directions",)
    DIRECTIONS_FIELD_NUMBER: _ClassVar[int]
    directions: _containers.RepeatedCompositeFieldContainer[DirectionInfo]
    def __init__(self, directions: _Optional[_Iterable[_Union[DirectionInfo, _Mapping]]] = ...) -> None: ...

class DeleteDirectionRequest(_message.Message):
    __slots__ = ("collection", "name")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    collection: str
    name: str
    def __init__(self, collection: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteDirectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
