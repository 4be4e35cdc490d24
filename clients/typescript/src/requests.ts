/**
 * Request building, apart from I/O: one function per RPC turning arguments into a message.
 *
 * The {@link Client} calls one of these and sends the message through the RPC table in
 * `calls.ts`, which converts the reply with `results.ts`; every argument check lives here once.
 * The names, defaults and checks are the Python SDK's (`latentspace_client/requests.py`).
 */

import { create, fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  type CreateCollectionRequest,
  CreateCollectionRequestSchema,
  type CreateDirectionRequest,
  CreateDirectionRequestSchema,
  DirectionMethod,
  DirectionSourceSchema,
  type DeleteRequest,
  DeleteRequestSchema,
  type DistanceMatrixRequest,
  DistanceMatrixRequestSchema,
  type DistanceRequest,
  DistanceRequestSchema,
  type EditRequest,
  EditRequestSchema,
  type DecodeRequest,
  DecodeRequestSchema,
  type EncodeRequest,
  EncodeRequestSchema,
  type ExportRequest,
  ExportRequestSchema,
  type GetRequest,
  GetRequestSchema,
  type GetThumbnailsRequest,
  GetThumbnailsRequestSchema,
  type InterpolateRequest,
  InterpolateRequestSchema,
  InterpolationMethod,
  LabelsSchema,
  type MapRequest,
  MapRequestSchema,
  QueryPairSchema,
  type RestoreRequest,
  RestoreRequestSchema,
  type SearchBatchRequest,
  SearchBatchRequestSchema,
  type SearchOptions,
  SearchOptionsSchema,
  type SearchRequest,
  SearchRequestSchema,
  type SnapshotRequest,
  SnapshotRequestSchema,
  type UpsertItem as UpsertItemMessage,
  UpsertItemSchema,
  type UpsertRequest,
  UpsertRequestSchema,
} from "./generated/latentspace/v1/latentspace_pb.js";
import { Modality, ScoreMode, SearchParamsSchema } from "./generated/latentspace/v1/types_pb.js";
import { checkJson, checkStruct, type FilterSpec, toFilter } from "./payloads.js";
import {
  Analogy,
  ANALOGY_METHODS,
  type AnalogyMethodName,
  type Direction,
  Edit,
  type EditModeName,
  enumValue,
  Labels,
  type Point,
  toDirection,
  toEdit,
  toQueries,
  toQuery,
} from "./points.js";
import { packVector, type VectorLike } from "./vectors.js";

/** One item to write: an id, exactly one of text / image / vector, and optional metadata. */
export interface UpsertItem {
  id: string;
  text?: string | null;
  /** Encoded image bytes. */
  image?: Uint8Array | null;
  vector?: VectorLike | null;
  /** A JSON object of metadata, filterable at search time. */
  payload?: { readonly [key: string]: unknown } | null;
  /** Overrides the stored content reference (e.g. the image's URI). */
  contentRef?: string | null;
  /** A hash of the source content, stored with the item: the server skips (counts as unchanged) an
   * item whose id already holds this hash, without encoding it. */
  contentHash?: string | null;
}

/** Ids: an array, or a lone string meaning that one id. */
export type Ids = string | Iterable<string>;

/** The options shared by search-like calls. */
export interface SearchOptionsInit {
  k?: number;
  filter?: FilterSpec | null;
  excludeIds?: Ids;
  scoreThreshold?: number | null;
  withVectors?: boolean;
  efSearch?: number;
  nprobe?: number;
  /** Candidates that compressed-code kinds (IVF-PQ, PQ, SQ) re-rank exactly; 0 = the index default. */
  rerank?: number;
  /** Split each hit's score into the shares of the query's leaves (`Hit.explanation`). */
  explain?: boolean;
}

/** How hits are ranked: score mode, a modality filter and maximal marginal relevance (docs/latent-operations.md). */
export interface RankingInit {
  /** "raw" (cosine, the default) or "calibrated" (comparable across text and image hits). */
  scoreMode?: ScoreModeName;
  /** Only items of this modality (null: any). */
  modality?: RankingModalityName | null;
  /** Maximal marginal relevance in [0, 1]; 0 = plain ranking. */
  diversity?: number;
  /** With diversity: the candidates to pick from; 0 = the server's default (4 x k). */
  pool?: number;
}

export type ScoreModeName = "raw" | "calibrated";
export type RankingModalityName = "text" | "image" | "vector";

export const SCORE_MODES: Readonly<Record<ScoreModeName, ScoreMode>> = {
  raw: ScoreMode.RAW,
  calibrated: ScoreMode.CALIBRATED,
};

export const MODALITIES: Readonly<Record<RankingModalityName, Modality>> = {
  text: Modality.TEXT,
  image: Modality.IMAGE,
  vector: Modality.VECTOR,
};

/** The ranking fields of SearchOptions, InterpolateRequest and EditRequest (the server checks their ranges). */
export function rankingFields(init: RankingInit): { scoreMode: ScoreMode; modality: Modality; diversity: number; pool: number } {
  return {
    scoreMode: enumValue(SCORE_MODES, init.scoreMode ?? "raw", "score mode"),
    modality:
      init.modality === null || init.modality === undefined ? Modality.UNSPECIFIED : enumValue(MODALITIES, init.modality, "modality"),
    diversity: init.diversity ?? 0,
    pool: init.pool ?? 0,
  };
}

export type InterpolationMethodName = "slerp" | "lerp";

export const INTERPOLATION_METHODS: Readonly<Record<InterpolationMethodName, InterpolationMethod>> = {
  slerp: InterpolationMethod.SLERP,
  lerp: InterpolationMethod.LERP,
};

export type DirectionMethodName = "mean_difference" | "least_squares" | "logistic";

export const DIRECTION_METHODS: Readonly<Record<DirectionMethodName, DirectionMethod>> = {
  mean_difference: DirectionMethod.MEAN_DIFFERENCE,
  least_squares: DirectionMethod.LEAST_SQUARES,
  logistic: DirectionMethod.LOGISTIC,
};

const ITEM_KEYS = new Set(["id", "text", "image", "vector", "payload", "contentRef", "contentHash"]);

/** The collection a call addresses: the argument, else the client's default. */
export function resolveCollection(collection: string | null | undefined, fallback: string | null): string {
  const name = collection || fallback;
  if (!name) throw new RangeError("no collection: pass collection or create the client with a collection");
  return name;
}

// ---------------------------------------------------------------- collections

/**
 * CreateCollection: a model-backed collection, or vector-only when `model` is not given; `backend`
 * "embedded" or "milvus" (not given: the server's default).
 */
export function createCollectionRequest(
  name: string,
  options: {
    model?: string | null;
    dimension?: number | null;
    indexKind?: string | null;
    ifNotExists?: boolean;
    backend?: string | null;
  },
): CreateCollectionRequest {
  return create(CreateCollectionRequestSchema, {
    name,
    model: options.model ?? "",
    dimension: options.dimension ?? 0,
    indexKind: options.indexKind ?? "",
    ifNotExists: options.ifNotExists ?? false,
    backend: options.backend ?? "",
  });
}

/** One item as an `UpsertItem` message; `position` names it in errors (items[i]). */
export function upsertItem(item: UpsertItem, position = 0): UpsertItemMessage {
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    throw new TypeError(`items[${position}]: an item is an object with an id and one of text, image, vector`);
  }
  const unknown = Object.keys(item).filter((key) => !ITEM_KEYS.has(key));
  if (unknown.length) {
    throw new RangeError(`items[${position}]: unknown keys ${unknown.sort().join(", ")}; use ${[...ITEM_KEYS].join(", ")}`);
  }
  const content = (["text", "image", "vector"] as const).filter((key) => item[key] !== null && item[key] !== undefined);
  if (item.id === undefined || item.id === null || content.length !== 1) {
    throw new RangeError(`items[${position}]: an item needs an id and exactly one of text, image, vector`);
  }
  const message = create(UpsertItemSchema, {
    id: String(item.id),
    contentRef: item.contentRef ?? "",
    contentHash: item.contentHash ?? "",
  });
  if (item.text !== null && item.text !== undefined) message.content = { case: "text", value: item.text };
  else if (item.image instanceof Uint8Array) message.content = { case: "image", value: item.image };
  else if (item.image !== null && item.image !== undefined) {
    throw new TypeError(`items[${position}].image: encoded image bytes (Uint8Array)`);
  } else message.content = { case: "vector", value: packVector(item.vector as VectorLike) };
  if (item.payload && Object.keys(item.payload).length) {
    message.payload = checkStruct(item.payload, `items[${position}].payload`);
  }
  return message;
}

/** Items in `UpsertRequest` batches of at most `batchSize`, each built as it is consumed. */
export async function* upsertRequests(
  collection: string,
  items: Iterable<UpsertItem> | AsyncIterable<UpsertItem>,
  batchSize: number,
): AsyncGenerator<UpsertRequest> {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError("batchSize must be at least 1");
  let batch: UpsertItemMessage[] = [];
  let position = 0;
  for await (const item of items) {
    batch.push(upsertItem(item, position++));
    if (batch.length === batchSize) {
      yield create(UpsertRequestSchema, { collection, items: batch });
      batch = [];
    }
  }
  if (batch.length) yield create(UpsertRequestSchema, { collection, items: batch });
}

/** Delete by ids (at least one). */
export function deleteRequest(collection: string, ids: Ids): DeleteRequest {
  return create(DeleteRequestSchema, { collection, ids: someIds(ids) });
}

/** Get by ids (at least one). */
export function getRequest(collection: string, ids: Ids, withVectors: boolean): GetRequest {
  return create(GetRequestSchema, { collection, ids: someIds(ids), withVectors });
}

/** The thumbnails of items by id (at least one). */
export function getThumbnailsRequest(collection: string, ids: Ids): GetThumbnailsRequest {
  return create(GetThumbnailsRequestSchema, { collection, ids: someIds(ids) });
}

/** Export a collection in pages of `pageSize` items (0: the server's default). */
export function exportRequest(collection: string, pageSize = 0): ExportRequest {
  if (!Number.isInteger(pageSize) || pageSize < 0) {
    throw new RangeError(`pageSize must be an integer >= 0 (0: the server's default), got ${pageSize}`);
  }
  return create(ExportRequestSchema, { collection, pageSize });
}

// ---------------------------------------------------------------- backups

/** Snapshot a collection under `name` (null: the server picks one). */
export function snapshotRequest(collection: string, name?: string | null): SnapshotRequest {
  return create(SnapshotRequestSchema, { collection, name: name ?? "" });
}

/** Restore `snapshot` as collection `name` (null: the collection it was taken of). */
export function restoreRequest(snapshot: string, name?: string | null): RestoreRequest {
  if (!snapshot) throw new RangeError("restore needs the name of a snapshot (see listSnapshots)");
  return create(RestoreRequestSchema, { snapshot, name: name ?? "" });
}

// ---------------------------------------------------------------- latent space

/** Encode many points. */
export function encodeRequest(collection: string, points: Iterable<Point>): EncodeRequest {
  return create(EncodeRequestSchema, { collection, queries: toQueries(points) });
}

/** Draw many points with the collection's decoder. */
export function decodeRequest(collection: string, points: Iterable<Point>): DecodeRequest {
  return create(DecodeRequestSchema, { collection, queries: toQueries(points) });
}

/** The options shared by Search and SearchBatch (k is checked by the server against its limit). */
export function searchOptions(init: SearchOptionsInit & RankingInit = {}): SearchOptions {
  const options = create(SearchOptionsSchema, {
    k: init.k ?? 10,
    filter: toFilter(init.filter),
    excludeIds: idList(init.excludeIds ?? []),
    withVectors: init.withVectors ?? false,
    params: create(SearchParamsSchema, {
      efSearch: init.efSearch ?? 0,
      nprobe: init.nprobe ?? 0,
      rerank: init.rerank ?? 0,
    }),
    explain: init.explain ?? false,
    ...rankingFields(init),
  });
  if (init.scoreThreshold !== null && init.scoreThreshold !== undefined) options.scoreThreshold = init.scoreThreshold;
  return options;
}

/** Search around one point (already a Query: see `pointFromKeywords`). */
export function searchRequest(collection: string, point: Point, options: SearchOptions): SearchRequest {
  return create(SearchRequestSchema, { collection, query: toQuery(point), options });
}

/** Many searches sharing one set of options. */
export function searchBatchRequest(collection: string, points: Iterable<Point>, options: SearchOptions): SearchBatchRequest {
  return create(SearchBatchRequestSchema, { collection, queries: toQueries(points), options });
}

/** a : aStar :: b : ? as a Search whose query is an Analogy. */
export function analogyRequest(
  collection: string,
  a: Point,
  aStar: Point,
  b: Point,
  method: AnalogyMethodName,
  includeInputs: boolean,
  options: SearchOptions,
): SearchRequest {
  enumValue(ANALOGY_METHODS, method, "analogy method"); // fail before building the inputs
  return searchRequest(collection, new Analogy(a, aStar, b, { method, includeInputs }), options);
}

/** Distances between pairs of points. */
export function distanceRequest(collection: string, pairs: Iterable<readonly [Point, Point]>): DistanceRequest {
  const messages = Array.from(pairs, (pair) => {
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError("a pair is a 2-element array [a, b]");
    return create(QueryPairSchema, { a: toQuery(pair[0] as Point), b: toQuery(pair[1] as Point) });
  });
  return create(DistanceRequestSchema, { collection, pairs: messages });
}

/** Every row against every column (no columns: the rows against themselves). */
export function distanceMatrixRequest(
  collection: string,
  rows: Iterable<Point>,
  columns?: Iterable<Point> | null,
): DistanceMatrixRequest {
  return create(DistanceMatrixRequestSchema, { collection, rows: toQueries(rows), columns: toQueries(columns ?? []) });
}

/** The options of Interpolate: one of `t`, `steps` or `ts` (none: the midpoint). */
export interface InterpolateOptions extends RankingInit {
  t?: number | null;
  steps?: number | null;
  ts?: readonly number[] | null;
  method?: InterpolationMethodName;
  via?: Point | null;
  k?: number;
  distinct?: boolean;
  allowExtrapolation?: boolean;
  withVectors?: boolean;
  filter?: FilterSpec | null;
  excludeIds?: Ids;
  explain?: boolean;
  /** Draw each step with the collection's decoder (PathStep.image). */
  decode?: boolean;
}

/** A path a -> b: one `t`, `steps` evenly spaced t, or explicit `ts` (none: the midpoint). */
export function interpolateRequest(collection: string, a: Point, b: Point, options: InterpolateOptions = {}): InterpolateRequest {
  const { t, steps, ts } = options;
  const given = Object.entries({ t, steps, ts })
    .filter(([, value]) => value !== null && value !== undefined)
    .map(([name]) => name);
  if (given.length > 1) throw new RangeError(`pass one of t, steps, ts; got ${given.join(", ")}`);
  const request = create(InterpolateRequestSchema, {
    collection,
    a: toQuery(a),
    b: toQuery(b),
    steps: steps ?? 0,
    ts: t !== null && t !== undefined ? [t] : [...(ts ?? [])],
    method: enumValue(INTERPOLATION_METHODS, options.method ?? "slerp", "interpolation method"),
    allowExtrapolation: options.allowExtrapolation ?? false,
    k: options.k ?? 5,
    filter: toFilter(options.filter),
    excludeIds: idList(options.excludeIds ?? []),
    distinct: options.distinct ?? false,
    withVectors: options.withVectors ?? false,
    explain: options.explain ?? false,
    ...rankingFields(options),
    decode: options.decode ?? false,
  });
  if (options.via !== null && options.via !== undefined) request.via = toQuery(options.via);
  return request;
}

/** The options of Edit. */
export interface EditOptions extends RankingInit {
  mode?: EditModeName;
  strength?: number | null;
  k?: number;
  filter?: FilterSpec | null;
  excludeIds?: Ids;
  withVectors?: boolean;
  explain?: boolean;
  /** Draw the base and the edited point with the collection's decoder (baseImage, image). */
  decode?: boolean;
}

/** Move `base` along `direction` and search around the result (k = 0: no search). */
export function editRequest(collection: string, base: Point, direction: Direction, options: EditOptions = {}): EditRequest {
  const { mode, strength } = options;
  return create(EditRequestSchema, {
    collection,
    edit: toEdit(new Edit(base, direction, { mode: mode ?? "add", strength: strength ?? null })),
    k: options.k ?? 10,
    filter: toFilter(options.filter),
    excludeIds: idList(options.excludeIds ?? []),
    withVectors: options.withVectors ?? false,
    explain: options.explain ?? false,
    ...rankingFields(options),
    decode: options.decode ?? false,
  });
}

/** The options of CreateDirection. */
export interface CreateDirectionOptions {
  /** "mean_difference" (default), "least_squares" or "logistic": how examples and labels are fitted. */
  method?: DirectionMethodName;
  /** The share of each side held out to measure quality (default 0.25 on the server). */
  holdout?: number | null;
  seed?: number;
}

/** A direction made from a TextPair, Examples, Labels or a raw vector, stored as `name`. */
export function createDirectionRequest(
  collection: string,
  name: string,
  source: Labels | Direction,
  options: CreateDirectionOptions = {},
): CreateDirectionRequest {
  const request = create(CreateDirectionRequestSchema, {
    collection,
    name,
    method: enumValue(DIRECTION_METHODS, options.method ?? "mean_difference", "direction method"),
    seed: BigInt(options.seed ?? 0),
  });
  if (source instanceof Labels) {
    const value = (v: unknown, side: string) => fromJson(ValueSchema, checkJson(v, `labels.${side}`));
    const labels = create(LabelsSchema, {
      field: source.field,
      positive: value(source.positive, "positive"),
      negative: value(source.negative, "negative"),
      filter: toFilter(source.filter as FilterSpec | null),
    });
    request.source = create(DirectionSourceSchema, { kind: { case: "labels", value: labels } });
  } else {
    const kind = toDirection(source).kind;
    if (kind.case === "name" || kind.case === undefined) {
      throw new TypeError("a stored direction cannot be the source of another; pass TextPair, Examples, Labels or a vector");
    }
    request.source = create(DirectionSourceSchema, { kind } as never);
  }
  if (options.holdout !== null && options.holdout !== undefined) request.holdout = options.holdout;
  return request;
}

function someIds(ids: Ids): string[] {
  const listed = idList(ids);
  if (listed.length === 0) throw new RangeError("ids is empty: name at least one id");
  return listed;
}

function idList(ids: Ids): string[] {
  // A lone string is an iterable of characters: almost always a mistake for [id].
  if (typeof ids === "string") return [ids];
  return Array.from(ids, String);
}

/** What a map is made of besides its query points (the Python SDK's `map` keywords). */
export interface MapInit {
  /** Items to sample (0: the server's default, 1000). */
  sampleSize?: number;
  /** Seeds the sample and k-means: the same items and seed give the same map. */
  seed?: number;
  /** k-means clusters (0: automatic). */
  clusters?: number;
  /** A payload field whose value each point carries as its `color`. */
  colorBy?: string | null;
}

/** A map of a sample of the collection with `queries` placed on it. */
export function mapRequest(collection: string, queries: Iterable<Point>, init: MapInit = {}): MapRequest {
  const numbers = { sampleSize: init.sampleSize ?? 0, seed: init.seed ?? 0, clusters: init.clusters ?? 0 };
  for (const [name, value] of Object.entries(numbers)) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be an integer >= 0, got ${value}`);
  }
  return create(MapRequestSchema, {
    collection,
    queries: toQueries(queries),
    sampleSize: numbers.sampleSize,
    seed: BigInt(numbers.seed),
    clusters: numbers.clusters,
    colorBy: init.colorBy ?? "",
  });
}
