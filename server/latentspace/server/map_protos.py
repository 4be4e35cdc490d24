"""The messages of the ``Map`` and ``GetThumbnails`` RPCs, from the library's values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2

from latentspace.indexer.items import Thumbnail
from latentspace.indexer.maps import CollectionMap
from latentspace.server import convert
from latentspace_client._generated.latentspace.v1 import latentspace_pb2 as api


def map_to_proto(result: CollectionMap) -> api.MapResponse:
    response = api.MapResponse(count=result.count, explained_x=result.explained_variance[0],
                               explained_y=result.explained_variance[1])
    for point in result.points:
        message = response.points.add(id=point.id, x=point.x, y=point.y, cluster=point.cluster,
                                      modality=convert.MODALITY_TO_PROTO[point.modality],
                                      payload=convert.payload_to_proto(point.payload), content=point.content)
        message.color.CopyFrom(_value(point.color))
    response.clusters.extend(
        api.MapCluster(x=c.x, y=c.y, size=c.size, label=c.label, label_id=c.label_id, nearest_id=c.nearest_id)
        for c in result.clusters)
    response.queries.extend(
        api.MapPlacedPoint(x=q.x, y=q.y, cluster=q.cluster, modality=convert.MODALITY_TO_PROTO[q.modality])
        for q in result.queries)
    return response


def _value(value: Any) -> struct_pb2.Value:
    # A Struct holds any JSON value; one wrapped in a one-entry Struct comes out as a Value.
    holder = struct_pb2.Struct()
    holder.update({"v": value})
    return holder.fields["v"]


def thumbnails_to_proto(ids: Sequence[str], found: dict[str, Thumbnail]) -> api.GetThumbnailsResponse:
    """Found thumbnails in request order (each id once), and the ids without one."""
    unique = list(dict.fromkeys(ids))
    return api.GetThumbnailsResponse(
        thumbnails=[api.Thumbnail(id=i, media_type=found[i].media_type, data=found[i].data)
                    for i in unique if i in found],
        missing=[i for i in unique if i not in found],
    )
