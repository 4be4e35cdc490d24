"""What ``get_thumbnails`` and ``map`` return, the views of a collection: frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as pb
from latentspace_client.payloads import from_struct, from_value
from latentspace_client.results import modality_name


@dataclass(frozen=True)
class Thumbnail:
    """The small preview stored with an image item: ``data`` encoded as ``media_type`` ("image/webp")."""

    id: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class Thumbnails:
    """The thumbnails found, in request order, and the ids without one (unknown ids, texts, vectors,
    and images written before the server made thumbnails)."""

    thumbnails: tuple[Thumbnail, ...]
    missing: tuple[str, ...]

    @classmethod
    def from_proto(cls, message: pb.GetThumbnailsResponse) -> Thumbnails:
        return cls(
            thumbnails=tuple(Thumbnail(t.id, t.media_type, bytes(t.data)) for t in message.thumbnails),
            missing=tuple(message.missing),
        )

    def by_id(self) -> dict[str, Thumbnail]:
        """The thumbnails keyed by item id."""
        return {t.id: t for t in self.thumbnails}


@dataclass(frozen=True)
class MapPoint:
    """A sampled item on the map: its coordinates, cluster (an index into ``clusters``), and the value
    of the ``color_by`` field (None when absent)."""

    id: str
    x: float
    y: float
    cluster: int
    modality: str
    payload: dict[str, Any]
    content: str
    color: Any


@dataclass(frozen=True)
class MapCluster:
    """A cluster: where it sits on the map (its members' mean position), its size, the text item
    nearest its centre (``label``, ``label_id``; empty when none is near) and the item nearest it of
    any modality."""

    x: float
    y: float
    size: int
    label: str
    label_id: str
    nearest_id: str


@dataclass(frozen=True)
class PlacedPoint:
    """A point of the request on the map, and the cluster whose centre is closest to it."""

    x: float
    y: float
    cluster: int
    modality: str


@dataclass(frozen=True)
class CollectionMap:
    """A 2-D map of a sample of a collection (principal axes), its clusters and the request's points.

    ``count`` is the collection's size as of the sample; ``explained_x`` and ``explained_y`` are the
    shares of the sample's variance along each axis.
    """

    points: tuple[MapPoint, ...]
    clusters: tuple[MapCluster, ...]
    queries: tuple[PlacedPoint, ...]
    count: int
    explained_x: float
    explained_y: float

    @classmethod
    def from_proto(cls, message: pb.MapResponse) -> CollectionMap:
        return cls(
            points=tuple(
                MapPoint(p.id, p.x, p.y, p.cluster, modality_name(p.modality), from_struct(p.payload), p.content,
                         from_value(p.color))
                for p in message.points
            ),
            clusters=tuple(MapCluster(c.x, c.y, c.size, c.label, c.label_id, c.nearest_id) for c in message.clusters),
            queries=tuple(PlacedPoint(q.x, q.y, q.cluster, modality_name(q.modality)) for q in message.queries),
            count=message.count,
            explained_x=message.explained_x,
            explained_y=message.explained_y,
        )
