/**
 * What `getThumbnails` and `map` return, the views of a collection (the Python SDK's
 * `latentspace_client/view_results.py`): plain, typed objects built from their replies.
 */

import { type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { GetThumbnailsResponse, MapResponse } from "./generated/latentspace/v1/latentspace_pb.js";
import { type ModalityName, modalityName, safeNumber } from "./results.js";

/** The small preview stored with an image item: `data` encoded as `mediaType` ("image/webp"). */
export interface Thumbnail {
  id: string;
  mediaType: string;
  data: Uint8Array;
}

/**
 * The thumbnails found, in request order, and the ids without one (unknown ids, texts, vectors,
 * and images written before the server made thumbnails).
 */
export interface Thumbnails {
  thumbnails: Thumbnail[];
  missing: string[];
}

/** A sampled item on the map: its coordinates, cluster (an index into `clusters`) and `colorBy` value. */
export interface MapPoint {
  id: string;
  x: number;
  y: number;
  cluster: number;
  modality: ModalityName;
  payload: JsonObject;
  content: string;
  color: JsonValue;
}

/**
 * A cluster: where it sits on the map (its members' mean position), its size, the text item nearest
 * its centre (empty when none) and the item nearest it of any modality.
 */
export interface MapCluster {
  x: number;
  y: number;
  size: number;
  label: string;
  labelId: string;
  nearestId: string;
}

/** A point of the request on the map, and the cluster whose centre is closest to it. */
export interface PlacedPoint {
  x: number;
  y: number;
  cluster: number;
  modality: ModalityName;
}

/** A 2-D map of a sample of a collection (principal axes), its clusters and the request's points. */
export interface CollectionMap {
  points: MapPoint[];
  clusters: MapCluster[];
  queries: PlacedPoint[];
  count: number;
  explainedX: number;
  explainedY: number;
}

export function thumbnailsFromProto(message: GetThumbnailsResponse): Thumbnails {
  return {
    // A decoded bytes field may be a view into a pooled buffer: the caller gets its own copy.
    thumbnails: message.thumbnails.map((t) => ({ id: t.id, mediaType: t.mediaType, data: t.data.slice() })),
    missing: [...message.missing],
  };
}

export function mapFromProto(message: MapResponse): CollectionMap {
  return {
    points: message.points.map((p) => ({
      id: p.id,
      x: p.x,
      y: p.y,
      cluster: p.cluster,
      modality: modalityName(p.modality),
      payload: p.payload ?? {},
      content: p.content,
      color: p.color ? toJson(ValueSchema, p.color) : null,
    })),
    clusters: message.clusters.map((c) => ({
      x: c.x,
      y: c.y,
      size: c.size,
      label: c.label,
      labelId: c.labelId,
      nearestId: c.nearestId,
    })),
    queries: message.queries.map((q) => ({ x: q.x, y: q.y, cluster: q.cluster, modality: modalityName(q.modality) })),
    count: safeNumber(message.count, "count"),
    explainedX: message.explainedX,
    explainedY: message.explainedY,
  };
}
