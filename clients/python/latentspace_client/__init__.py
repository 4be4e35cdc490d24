"""Python SDK for the latentspace gRPC service.

    from latentspace_client import AsyncClient, Client, Id, TextPair

    with Client("127.0.0.1:50051", collection="shapes") as client:
        hits = client.search("a red circle", k=5)

    async with AsyncClient("127.0.0.1:50051", collection="shapes") as client:   # the same, awaited
        hits = await client.search("a red circle", k=5)

Depends on grpcio and protobuf only; numpy and pillow are used when installed.
"""

from __future__ import annotations

from latentspace_client.aio import AsyncClient
from latentspace_client.calls import ExportStream
from latentspace_client.client import Client
from latentspace_client.errors import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    LatentSpaceError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from latentspace_client.points import Analogy, Edit, Examples, Id, Labels, Mix, NamedDirection, TextPair
from latentspace_client.requests import UpsertItem
from latentspace_client.results import (
    CollectionInfo,
    CosineDistribution,
    DecodedImages,
    DeleteResult,
    DirectionInfo,
    DirectionProjection,
    DirectionQuality,
    Distance,
    DistanceMatrix,
    EditResult,
    EncodedPoint,
    Explanation,
    Hit,
    Interpolation,
    Item,
    ModalityStats,
    PathStep,
    ScoreTerm,
    SnapshotInfo,
    Stats,
    UpsertResult,
)
from latentspace_client.view_results import CollectionMap, MapCluster, MapPoint, PlacedPoint, Thumbnail, Thumbnails

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists",
    "Analogy",
    "AsyncClient",
    "Cancelled",
    "Client",
    "CollectionInfo",
    "CollectionMap",
    "CosineDistribution",
    "DeadlineExceeded",
    "DecodedImages",
    "DeleteResult",
    "DirectionInfo",
    "DirectionProjection",
    "DirectionQuality",
    "Distance",
    "DistanceMatrix",
    "Edit",
    "EditResult",
    "EncodedPoint",
    "Examples",
    "Explanation",
    "ExportStream",
    "FailedPrecondition",
    "Hit",
    "Id",
    "Internal",
    "Interpolation",
    "InvalidArgument",
    "Item",
    "Labels",
    "LatentSpaceError",
    "MapCluster",
    "MapPoint",
    "Mix",
    "ModalityStats",
    "NamedDirection",
    "NotFound",
    "PathStep",
    "PermissionDenied",
    "PlacedPoint",
    "ResourceExhausted",
    "ScoreTerm",
    "SnapshotInfo",
    "Stats",
    "TextPair",
    "Thumbnail",
    "Thumbnails",
    "Unauthenticated",
    "Unavailable",
    "UpsertItem",
    "UpsertResult",
]
