/**
 * What calls return: plain, typed objects built from response messages.
 *
 * Field names are the Python SDK's in camelCase. Modalities are "text", "image", "vector";
 * payloads are plain JSON objects; vectors are Float32Arrays the caller owns, and null unless
 * asked for (`withVectors`). uint64 counters (counts, sequence numbers) are numbers: they stay far
 * below 2^53, and a larger one raises rather than lose precision.
 */

import type { JsonObject } from "@bufbuild/protobuf";
import type {
  CollectionInfo as CollectionInfoMessage,
  DeleteResponse,
  DirectionInfo as DirectionInfoMessage,
  Distance as DistanceMessage,
  DistanceMatrixResponse,
  DecodeResponse,
  EditResponse,
  EncodedPoint as EncodedPointMessage,
  ExportedItem as ExportedItemMessage,
  ExportPage as ExportPageMessage,
  InterpolateResponse,
  PathStep as PathStepMessage,
  SnapshotInfo as SnapshotInfoMessage,
  StatsResponse,
  UpsertResponse,
} from "./generated/latentspace/v1/latentspace_pb.js";
import { DirectionMethod } from "./generated/latentspace/v1/latentspace_pb.js";
import {
  type Explanation as ExplanationMessage,
  type Hit as HitMessage,
  type Item as ItemMessage,
  Modality,
  ScoreForm,
} from "./generated/latentspace/v1/types_pb.js";
import { booleanRows, floatRows, unpackOptional, unpackVector } from "./vectors.js";

export type ModalityName = "text" | "image" | "vector" | "unspecified";

/**
 * One leaf of the query in a hit's score, named by its request `path`. Form "sum": `share =
 * coefficient * cosine`, and the shares add up to the score. Form "product" (3CosMul): the score is
 * the product of `factor ** exponent`.
 */
export interface ScoreTerm {
  path: string;
  cosine: number;
  coefficient: number;
  share: number;
  factor: number;
  exponent: number;
}

/** A hit's projection on a direction its query used (`name` is "" for an inline direction). */
export interface DirectionProjection {
  path: string;
  name: string;
  projection: number;
}

/** Why a hit scored as it did (`explain: true`). */
export interface Explanation {
  form: "sum" | "product" | "unspecified";
  terms: ScoreTerm[];
  projections: DirectionProjection[];
  /** The raw cosine; score = (cosine - calibrationOffset) / calibrationScale (0 and 1 unless calibrated). */
  cosine: number;
  calibrationOffset: number;
  calibrationScale: number;
  /** With diversity: the hit's largest similarity to a hit ranked before it (null for the first). */
  redundancy: number | null;
}

/**
 * One search result; `score` is the cosine similarity (the 3CosMul score for cos_mul analogies, the
 * calibrated score with `scoreMode: "calibrated"`).
 * `explanation` is set when the call asked for it (`explain: true`).
 */
export interface Hit {
  id: string;
  score: number;
  modality: ModalityName;
  payload: JsonObject;
  content: string;
  vector: Float32Array | null;
  explanation: Explanation | null;
}

/** A stored item; `sequence` is the write sequence number of its last upsert. */
export interface Item {
  id: string;
  modality: ModalityName;
  payload: JsonObject;
  content: string;
  sequence: number;
  vector: Float32Array | null;
}

/** A collection: its model (empty for vector-only), dimension, index and item count. */
export interface CollectionInfo {
  name: string;
  model: string;
  dimension: number;
  metric: string;
  indexKind: string;
  count: number;
  modalities: ModalityName[];
  fingerprint: string;
  sequence: number;
  /** Per item modality: count, centroid norm and sample size (what calibrated scores are measured against). */
  modalityStats: ModalityStats[];
  /** The same- and cross-modal cosine distributions of the samples. */
  cosineDistributions: CosineDistribution[];
  /** "embedded" or "milvus". */
  backend: string;
}

/** One item modality of a collection. */
export interface ModalityStats {
  modality: ModalityName;
  count: number;
  centroidNorm: number;
  sampled: number;
}

/** Cosines between sampled items of modalities `a` and `b` (distinct pairs when equal). */
export interface CosineDistribution {
  a: ModalityName;
  b: ModalityName;
  pairs: number;
  mean: number;
  std: number;
  p05: number;
  p50: number;
  p95: number;
}

/**
 * A snapshot in the server's backup folder: the collection it was taken of, as of `sequence`.
 * `hasIndex`: it holds an index snapshot (a restore catches it up rather than rebuilding it).
 */
export interface SnapshotInfo {
  name: string;
  collection: string;
  createdAt: string;
  sequence: number;
  count: number;
  model: string;
  dimension: number;
  indexKind: string;
  fingerprint: string;
  hasIndex: boolean;
  sizeBytes: number;
}

/** One page of an export: its items, and on the first page the collection as of the export. */
export interface ExportPage {
  collection: CollectionInfo | null;
  items: Item[];
}

/** How many items an upsert wrote and the sequence number of its last write. */
export interface UpsertResult {
  upserted: number;
  /** Items skipped because their id already held their `contentHash`. */
  unchanged: number;
  sequence: number;
}

/** How many items a delete removed (unknown ids are not counted) and its sequence number. */
export interface DeleteResult {
  deleted: number;
  sequence: number;
}

/** Server-wide figures. */
export interface Stats {
  collections: CollectionInfo[];
  loadedModels: string[];
  uptimeSeconds: number;
  version: string;
}

/** A point turned into a unit vector, and the modality it came from. */
export interface EncodedPoint {
  vector: Float32Array;
  modality: ModalityName;
}

/**
 * How far apart two points are: `cosine` in [-1, 1]; `angular` = arccos(cosine)/pi in [0, 1];
 * `euclidean` = sqrt(2 - 2 cosine). `crossModal` is true for a text-image pair, whose CLIP
 * cosines live on a lower scale.
 */
export interface Distance {
  cosine: number;
  angular: number;
  euclidean: number;
  crossModal: boolean;
  aModality: ModalityName;
  bModality: ModalityName;
}

/** rows x columns of each measure: `cosine[r][c]`; each float row is a Float32Array. */
export interface DistanceMatrix {
  rows: number;
  columns: number;
  cosine: Float32Array[];
  angular: Float32Array[];
  euclidean: Float32Array[];
  crossModal: boolean[][];
}

/**
 * One point on a path from a to b: its t, cosines to both ends, vector (on request), hits, and
 * its image (PNG bytes) when the path was decoded.
 */
export interface PathStep {
  t: number;
  cosToA: number;
  cosToB: number;
  vector: Float32Array | null;
  hits: Hit[];
  image: Uint8Array | null;
}

/** The steps of a path and the angle between its ends, in radians. */
export interface Interpolation {
  steps: PathStep[];
  angle: number;
}

/**
 * An edited point, how far it moved (`cosToBase`), its projections on the direction, and hits.
 * A small `directionNorm` means the direction came from a weak, noisy difference. With `decode`,
 * `baseImage` and `image` are the base and the edited point drawn (PNG bytes).
 */
export interface EditResult {
  vector: Float32Array | null;
  cosToBase: number;
  baseProjection: number;
  resultProjection: number;
  directionNorm: number;
  hits: Hit[];
  baseImage: Uint8Array | null;
  image: Uint8Array | null;
}

/** Points drawn by the collection's decoder: one PNG per point, the decoder's name, the images' size. */
export interface DecodedImages {
  images: Uint8Array[];
  decoder: string;
  width: number;
  height: number;
}

const MODALITY_NAMES: Readonly<Record<Modality, ModalityName>> = {
  [Modality.UNSPECIFIED]: "unspecified",
  [Modality.TEXT]: "text",
  [Modality.IMAGE]: "image",
  [Modality.VECTOR]: "vector",
};

/** A wire `Modality` as "text", "image", "vector" (or "unspecified"). */
export function modalityName(value: Modality): ModalityName {
  return MODALITY_NAMES[value] ?? "unspecified";
}

/** A uint64 as a number, refusing one that a number cannot hold exactly. */
export function safeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${field} ${value} exceeds 2^53`);
  return Number(value);
}

export function hitFromProto(message: HitMessage): Hit {
  return {
    id: message.id,
    score: message.score,
    modality: modalityName(message.modality),
    payload: message.payload ?? {},
    content: message.content,
    vector: unpackOptional(message.vector),
    explanation: message.explanation ? explanationFromProto(message.explanation) : null,
  };
}

const SCORE_FORMS: Readonly<Record<number, Explanation["form"]>> = {
  [ScoreForm.SUM]: "sum",
  [ScoreForm.PRODUCT]: "product",
};

export function explanationFromProto(message: ExplanationMessage): Explanation {
  return {
    form: SCORE_FORMS[message.form] ?? "unspecified",
    terms: message.terms.map(({ path, cosine, coefficient, share, factor, exponent }) => ({
      path,
      cosine,
      coefficient,
      share,
      factor,
      exponent,
    })),
    projections: message.projections.map(({ path, name, projection }) => ({ path, name, projection })),
    cosine: message.cosine,
    calibrationOffset: message.calibrationOffset,
    calibrationScale: message.calibrationScale,
    redundancy: message.redundancy ?? null,
  };
}

export function hitsFromProto(messages: readonly HitMessage[]): Hit[] {
  return messages.map(hitFromProto);
}

export function itemFromProto(message: ItemMessage): Item {
  return {
    id: message.id,
    modality: modalityName(message.modality),
    payload: message.payload ?? {},
    content: message.content,
    sequence: safeNumber(message.sequence, "sequence"),
    vector: unpackOptional(message.vector),
  };
}

/**
 * An exported item: its vector always, its payload as stored (parsed from JSON: integers beyond
 * 2^53 lose precision in JavaScript numbers, as anywhere in JSON.parse).
 */
export function itemFromExport(message: ExportedItemMessage): Item {
  return {
    id: message.id,
    modality: modalityName(message.modality),
    payload: JSON.parse(message.payloadJson) as JsonObject,
    content: message.content,
    sequence: safeNumber(message.sequence, "sequence"),
    vector: unpackOptional(message.vector),
  };
}

export function exportPageFromProto(message: ExportPageMessage): ExportPage {
  return {
    collection: message.collection ? collectionInfoFromProto(message.collection) : null,
    items: message.items.map(itemFromExport),
  };
}

export function snapshotInfoFromProto(message: SnapshotInfoMessage): SnapshotInfo {
  return {
    name: message.name,
    collection: message.collection,
    createdAt: message.createdAt,
    sequence: safeNumber(message.sequence, "sequence"),
    count: safeNumber(message.count, "count"),
    model: message.model,
    dimension: message.dimension,
    indexKind: message.indexKind,
    fingerprint: message.fingerprint,
    hasIndex: message.hasIndex,
    sizeBytes: safeNumber(message.sizeBytes, "size_bytes"),
  };
}

export function collectionInfoFromProto(message: CollectionInfoMessage): CollectionInfo {
  return {
    name: message.name,
    model: message.model,
    dimension: message.dimension,
    metric: message.metric,
    indexKind: message.indexKind,
    count: safeNumber(message.count, "count"),
    modalities: message.modalities.map(modalityName),
    fingerprint: message.fingerprint,
    sequence: safeNumber(message.sequence, "sequence"),
    modalityStats: message.modalityStats.map((s) => ({
      modality: modalityName(s.modality),
      count: safeNumber(s.count, "count"),
      centroidNorm: s.centroidNorm,
      sampled: s.sampled,
    })),
    cosineDistributions: message.cosineDistributions.map((d) => ({
      a: modalityName(d.a),
      b: modalityName(d.b),
      pairs: safeNumber(d.pairs, "pairs"),
      mean: d.mean,
      std: d.std,
      p05: d.p05,
      p50: d.p50,
      p95: d.p95,
    })),
    backend: message.backend || "embedded",
  };
}

export function upsertResultFromProto(message: UpsertResponse): UpsertResult {
  return {
    upserted: message.upserted,
    sequence: safeNumber(message.sequence, "sequence"),
    unchanged: message.unchanged,
  };
}

export function deleteResultFromProto(message: DeleteResponse): DeleteResult {
  return { deleted: message.deleted, sequence: safeNumber(message.sequence, "sequence") };
}

export function statsFromProto(message: StatsResponse): Stats {
  return {
    collections: message.collections.map(collectionInfoFromProto),
    loadedModels: [...message.loadedModels],
    uptimeSeconds: message.uptimeSeconds,
    version: message.version,
  };
}

export function encodedPointFromProto(message: EncodedPointMessage): EncodedPoint {
  if (message.vector === undefined) throw new RangeError("encoded point without a vector");
  return { vector: unpackVector(message.vector), modality: modalityName(message.modality) };
}

export function distanceFromProto(message: DistanceMessage): Distance {
  return {
    cosine: message.cosine,
    angular: message.angular,
    euclidean: message.euclidean,
    crossModal: message.crossModal,
    aModality: modalityName(message.aModality),
    bModality: modalityName(message.bModality),
  };
}

export function distanceMatrixFromProto(message: DistanceMatrixResponse): DistanceMatrix {
  const { rows, columns } = message;
  return {
    rows,
    columns,
    cosine: floatRows(message.cosine, rows, columns),
    angular: floatRows(message.angular, rows, columns),
    euclidean: floatRows(message.euclidean, rows, columns),
    crossModal: booleanRows(message.crossModal, rows, columns),
  };
}

export function pathStepFromProto(message: PathStepMessage): PathStep {
  return {
    t: message.t,
    cosToA: message.cosToA,
    cosToB: message.cosToB,
    vector: unpackOptional(message.vector),
    hits: hitsFromProto(message.hits),
    image: optionalBytes(message.image),
  };
}

export function interpolationFromProto(message: InterpolateResponse): Interpolation {
  return { steps: message.steps.map(pathStepFromProto), angle: message.angle };
}

export function editResultFromProto(message: EditResponse): EditResult {
  return {
    vector: unpackOptional(message.vector),
    cosToBase: message.cosToBase,
    baseProjection: message.baseProjection,
    resultProjection: message.resultProjection,
    directionNorm: message.directionNorm,
    hits: hitsFromProto(message.hits),
    baseImage: optionalBytes(message.baseImage),
    image: optionalBytes(message.image),
  };
}

/**
 * How well a direction separates what it was made from: `auc` (null when nothing was held out),
 * what it was measured on (`evaluatedOn`: "held_out", "templates" or "none") and the counts.
 */
export interface DirectionQuality {
  auc: number | null;
  evaluatedOn: string;
  positives: number;
  negatives: number;
  heldOutPositives: number;
  heldOutNegatives: number;
  holdout: number;
  seed: number;
}

/** A stored direction; `vector` is the unit direction (from listDirections only with `withVectors`). */
export interface DirectionInfo {
  name: string;
  source: string;
  method: "mean_difference" | "least_squares" | "logistic";
  description: string;
  norm: number;
  quality: DirectionQuality;
  fingerprint: string;
  createdAt: string;
  vector: Float32Array | null;
}

const DIRECTION_METHOD_NAMES: Readonly<Record<number, DirectionInfo["method"]>> = {
  [DirectionMethod.LEAST_SQUARES]: "least_squares",
  [DirectionMethod.LOGISTIC]: "logistic",
};

export function directionInfoFromProto(message: DirectionInfoMessage): DirectionInfo {
  const q = message.quality;
  return {
    name: message.name,
    source: message.source,
    method: DIRECTION_METHOD_NAMES[message.method] ?? "mean_difference",
    description: message.description,
    norm: message.norm,
    quality: {
      auc: q?.auc ?? null,
      evaluatedOn: q?.evaluatedOn ?? "",
      positives: q?.positives ?? 0,
      negatives: q?.negatives ?? 0,
      heldOutPositives: q?.heldOutPositives ?? 0,
      heldOutNegatives: q?.heldOutNegatives ?? 0,
      holdout: q?.holdout ?? 0,
      seed: safeNumber(q?.seed ?? 0n, "seed"),
    },
    fingerprint: message.fingerprint,
    createdAt: message.createdAt,
    vector: unpackOptional(message.vector),
  };
}

export function decodedImagesFromProto(message: DecodeResponse): DecodedImages {
  return {
    images: message.images.map((image) => new Uint8Array(image)),
    decoder: message.decoder,
    width: message.width,
    height: message.height,
  };
}

/** An image field: null when unset (empty); a copy, since a decoded field may view a pooled buffer. */
function optionalBytes(value: Uint8Array): Uint8Array | null {
  return value.length > 0 ? new Uint8Array(value) : null;
}
