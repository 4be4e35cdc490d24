/**
 * The client: one async method per operation, each a request builder and one call.
 *
 * Request building lives in `requests.ts`, reply conversion in `results.ts`, and the table tying
 * each RPC to its descriptor and reply converter in `calls.ts`; this module only picks the
 * collection and the deadline. The methods, their arguments and defaults are the Python SDK's
 * (`latentspace_client.Client`), with keyword arguments as a trailing options object in camelCase.
 */

import { create } from "@bufbuild/protobuf";
import {
  DeleteDirectionRequestSchema,
  DescribeCollectionRequestSchema,
  DropCollectionRequestSchema,
  ListCollectionsRequestSchema,
  ListDirectionsRequestSchema,
  ListSnapshotsRequestSchema,
  ReindexRequestSchema,
  StatsRequestSchema,
  type UpsertRequest,
} from "./generated/latentspace/v1/latentspace_pb.js";
import { Connection, type ConnectionOptions, DEFAULT_ADDRESS, ExportStream, RPCS } from "./calls.js";
import type { FilterSpec } from "./payloads.js";
import { type AnalogyMethodName, type Direction, type Labels, type Point, pointFromKeywords } from "./points.js";
import * as rq from "./requests.js";
import type {
  CollectionInfo,
  DeleteResult,
  DirectionInfo,
  Distance,
  DistanceMatrix,
  DecodedImages,
  EditResult,
  EncodedPoint,
  Hit,
  Interpolation,
  Item,
  PathStep,
  SnapshotInfo,
  Stats,
  UpsertResult,
} from "./results.js";
import type { CollectionMap, Thumbnails } from "./views.js";

/** Per call: a deadline in milliseconds overriding the client's (null: none). */
export interface CallOptions {
  timeoutMs?: number | null;
}

/** Per call on a collection: the collection (default: the client's) and a deadline. */
export interface CollectionCallOptions extends CallOptions {
  collection?: string | null;
}

export interface ClientOptions extends ConnectionOptions {
  /** The default collection for calls that take one. */
  collection?: string | null;
}

export type SearchOptions = CollectionCallOptions &
  rq.SearchOptionsInit &
  rq.RankingInit & {
    text?: string | null;
    image?: Uint8Array | null;
    vector?: Float32Array | readonly number[] | null;
    id?: string | null;
  };

export type SearchBatchOptions = CollectionCallOptions & rq.SearchOptionsInit & rq.RankingInit;

export type MidpointOptions = CollectionCallOptions &
  rq.RankingInit & {
  k?: number;
  method?: rq.InterpolationMethodName;
  via?: Point | null;
  filter?: FilterSpec | null;
  excludeIds?: rq.Ids;
  distinct?: boolean;
  withVectors?: boolean;
  explain?: boolean;
};

export type AnalogyOptions = CollectionCallOptions &
  Omit<rq.SearchOptionsInit, "efSearch" | "nprobe" | "rerank"> & { method?: AnalogyMethodName; includeInputs?: boolean };

/**
 * A connection to a latentspace server.
 *
 * ```ts
 * const client = new Client("127.0.0.1:50051", { collection: "shapes" });
 * const hits = await client.search("a red circle", { k: 5, filter: { kind: "image" } });
 * client.close();
 * ```
 *
 * Failed calls reject with {@link LatentSpaceError} subclasses; mistakes seen before sending
 * throw `TypeError` / `RangeError` (as rejections of the returned promise).
 */
export class Client {
  readonly address: string;
  readonly collection: string | null;
  private readonly connection: Connection;

  constructor(address: string = DEFAULT_ADDRESS, options: ClientOptions = {}) {
    this.address = address;
    this.collection = options.collection ?? null;
    this.connection = new Connection(address, options);
  }

  /** The default deadline per call, in milliseconds (null: none). */
  get timeoutMs(): number | null {
    return this.connection.timeoutMs;
  }

  /** Close the channel; calls made afterwards fail. */
  close(): void {
    this.connection.close();
  }

  private name(collection: string | null | undefined): string {
    return rq.resolveCollection(collection, this.collection);
  }

  // ------------------------------------------------------------ collections

  /**
   * Create a collection bound to `model` (a spec or alias), or vector-only of `dimension`; `backend`
   * "embedded" or "milvus" (not given: the server's default; docs/milvus.md).
   */
  async createCollection(
    name: string,
    options: CallOptions & {
      model?: string | null;
      dimension?: number | null;
      indexKind?: string | null;
      ifNotExists?: boolean;
      backend?: string | null;
    } = {},
  ): Promise<CollectionInfo> {
    return this.connection.unary(RPCS.createCollection, rq.createCollectionRequest(name, options), options.timeoutMs);
  }

  /** All collections on the server. */
  async listCollections(options: CallOptions = {}): Promise<CollectionInfo[]> {
    return this.connection.unary(RPCS.listCollections, create(ListCollectionsRequestSchema), options.timeoutMs);
  }

  /** One collection's model, dimension, index kind and count (default: the client's collection). */
  async describeCollection(name?: string | null, options: CallOptions = {}): Promise<CollectionInfo> {
    const request = create(DescribeCollectionRequestSchema, { name: this.name(name) });
    return this.connection.unary(RPCS.describeCollection, request, options.timeoutMs);
  }

  /** Drop a collection and all its items (NotFound when it does not exist). */
  async dropCollection(name: string, options: CallOptions = {}): Promise<void> {
    await this.connection.unary(RPCS.dropCollection, create(DropCollectionRequestSchema, { name }), options.timeoutMs);
  }

  /**
   * Rebuild a collection's index as `indexKind` (a FAISS kind, or "auto") from its stored vectors,
   * without re-encoding; answers once the new index is in (the old one serves until then). On a large
   * collection this takes minutes: pass a `timeoutMs` to match. A call that times out leaves the
   * rebuild running; `describeCollection` shows the kind once it is in.
   */
  async reindex(indexKind: string, collection?: string | null, options: CallOptions = {}): Promise<CollectionInfo> {
    const request = create(ReindexRequestSchema, { collection: this.name(collection), indexKind });
    return this.connection.unary(RPCS.reindex, request, options.timeoutMs);
  }

  /**
   * Insert or replace items. One batch goes as `Upsert`; more stream as `UpsertStream`, built
   * lazily from an iterable or async iterable (each batch committed as it arrives). The deadline
   * covers the whole stream. No items: nothing is sent.
   */
  async upsert(
    items: Iterable<rq.UpsertItem> | AsyncIterable<rq.UpsertItem>,
    options: CollectionCallOptions & { batchSize?: number } = {},
  ): Promise<UpsertResult> {
    const batches = rq.upsertRequests(this.name(options.collection), items, options.batchSize ?? 256);
    const head: UpsertRequest[] = [];
    while (head.length < 2) {
      const next = await batches.next(); // only the first two batches are built before sending
      if (next.done) break;
      head.push(next.value);
    }
    if (head.length === 0) return { upserted: 0, sequence: 0, unchanged: 0 };
    if (head.length === 1) return this.connection.unary(RPCS.upsert, head[0]!, options.timeoutMs);
    async function* all(): AsyncGenerator<UpsertRequest> {
      yield* head;
      yield* batches;
    }
    return this.connection.clientStream(RPCS.upsertStream, all(), options.timeoutMs);
  }

  /** Delete items by id; unknown ids are ignored and not counted. */
  async delete(ids: rq.Ids, options: CollectionCallOptions = {}): Promise<DeleteResult> {
    return this.connection.unary(RPCS.delete, rq.deleteRequest(this.name(options.collection), ids), options.timeoutMs);
  }

  /** Fetch items by id, in request order; ids that do not exist are left out. */
  async get(ids: rq.Ids, options: CollectionCallOptions & { withVectors?: boolean } = {}): Promise<Item[]> {
    const request = rq.getRequest(this.name(options.collection), ids, options.withVectors ?? false);
    return this.connection.unary(RPCS.get, request, options.timeoutMs);
  }

  /**
   * The small previews stored with image items (`thumbnails`, in request order; `missing`: ids
   * without one: unknown, not an image, or written before the server made thumbnails).
   */
  async getThumbnails(ids: rq.Ids, options: CollectionCallOptions = {}): Promise<Thumbnails> {
    const request = rq.getThumbnailsRequest(this.name(options.collection), ids);
    return this.connection.unary(RPCS.getThumbnails, request, options.timeoutMs);
  }

  /** Server-wide figures: collections, loaded models, uptime, version. */
  async stats(options: CallOptions = {}): Promise<Stats> {
    return this.connection.unary(RPCS.stats, create(StatsRequestSchema), options.timeoutMs);
  }

  /**
   * Every item of a collection with its vector and payload as stored, as of one moment (writes
   * made meanwhile are not in it), read page by page as it is iterated; `stream.collection`
   * describes the collection as of that moment. The deadline covers the whole stream: pass a
   * larger `timeoutMs` (or null) for a big collection. `pageSize`: items per page (0: the server's).
   *
   * `const stream = await client.export(); for await (const item of stream) ...`
   */
  async export(options: CollectionCallOptions & { pageSize?: number } = {}): Promise<ExportStream> {
    const request = rq.exportRequest(this.name(options.collection), options.pageSize ?? 0);
    const { replies, cancel } = this.connection.serverStream(RPCS.export, request, options.timeoutMs);
    const first = await replies.next();
    if (first.done) {
      return new ExportStream({ collection: null, items: [] }, replies, cancel); // throws Internal
    }
    return new ExportStream(first.value, replies, cancel);
  }

  // ------------------------------------------------------------ backups

  /**
   * Write a consistent copy of a collection (default: the client's) into the server's backup
   * folder while it keeps serving, as snapshot `name` (null: the server names it). Needs a server
   * started with a backup folder (else FailedPrecondition).
   */
  async snapshot(options: CollectionCallOptions & { name?: string | null } = {}): Promise<SnapshotInfo> {
    const request = rq.snapshotRequest(this.name(options.collection), options.name);
    return this.connection.unary(RPCS.snapshot, request, options.timeoutMs);
  }

  /** The snapshots in the server's backup folder, newest first. */
  async listSnapshots(options: CallOptions = {}): Promise<SnapshotInfo[]> {
    return this.connection.unary(RPCS.listSnapshots, create(ListSnapshotsRequestSchema), options.timeoutMs);
  }

  /**
   * Bring a snapshot back as the new collection `name` (null: the collection it was taken of);
   * AlreadyExists when that collection exists (nothing is overwritten).
   */
  async restore(snapshot: string, name?: string | null, options: CallOptions = {}): Promise<CollectionInfo> {
    return this.connection.unary(RPCS.restore, rq.restoreRequest(snapshot, name), options.timeoutMs);
  }

  // ------------------------------------------------------------ latent space

  /** Turn points into unit vectors with the collection's model. */
  async encode(points: Iterable<Point>, options: CollectionCallOptions = {}): Promise<EncodedPoint[]> {
    return this.connection.unary(RPCS.encode, rq.encodeRequest(this.name(options.collection), points), options.timeoutMs);
  }

  /**
   * The k items nearest to a point, best first. The point is positional or one of the options
   * `text`, `image`, `vector`, `id`: `client.search(null, { id: "item-7", k: 5 })`.
   */
  async search(point: Point | null | undefined, options: SearchOptions = {}): Promise<Hit[]> {
    const target = pointFromKeywords(point, options);
    const request = rq.searchRequest(this.name(options.collection), target, rq.searchOptions(options));
    return this.connection.unary(RPCS.search, request, options.timeoutMs);
  }

  /** Many searches with shared options, in one call; one hit list per point, in order. */
  async searchBatch(points: Iterable<Point>, options: SearchBatchOptions = {}): Promise<Hit[][]> {
    const request = rq.searchBatchRequest(this.name(options.collection), points, rq.searchOptions(options));
    return this.connection.unary(RPCS.searchBatch, request, options.timeoutMs);
  }

  /** How far apart two points are. */
  async distance(a: Point, b: Point, options: CollectionCallOptions = {}): Promise<Distance> {
    const [distance] = await this.distances([[a, b]], options);
    return distance!;
  }

  /** Distances for many `[a, b]` pairs, in order. */
  async distances(pairs: Iterable<readonly [Point, Point]>, options: CollectionCallOptions = {}): Promise<Distance[]> {
    const request = rq.distanceRequest(this.name(options.collection), pairs);
    return this.connection.unary(RPCS.distance, request, options.timeoutMs);
  }

  /** Every row point against every column point (no columns: the rows against themselves). */
  async distanceMatrix(
    rows: Iterable<Point>,
    columns?: Iterable<Point> | null,
    options: CollectionCallOptions = {},
  ): Promise<DistanceMatrix> {
    const request = rq.distanceMatrixRequest(this.name(options.collection), rows, columns);
    return this.connection.unary(RPCS.distanceMatrix, request, options.timeoutMs);
  }

  /** The point halfway between a and b (t = 0.5) and its k nearest items. */
  async midpoint(a: Point, b: Point, options: MidpointOptions = {}): Promise<PathStep> {
    const path = await this.interpolate(a, b, { ...options, k: options.k ?? 10, t: null, steps: null, ts: [0.5] });
    return path.steps[0]!;
  }

  /**
   * Points on the path a -> b ("slerp" or "lerp") and the k items nearest to each. Give one of
   * `t`, `steps` (evenly spaced, ends included) or `ts`; none gives the midpoint. `distinct`
   * drops the ends' own ids and items shown at an earlier step. `decode` draws each step with the
   * collection's decoder (`PathStep.image`, PNG bytes).
   */
  async interpolate(
    a: Point,
    b: Point,
    options: CollectionCallOptions & rq.InterpolateOptions = {},
  ): Promise<Interpolation> {
    const request = rq.interpolateRequest(this.name(options.collection), a, b, options);
    return this.connection.unary(RPCS.interpolate, request, options.timeoutMs);
  }

  /**
   * Move `base` along `direction` (TextPair, Examples, NamedDirection or a vector) and search there;
   * `decode` draws the base and the result (`baseImage`, `image`: PNG bytes).
   */
  async edit(base: Point, direction: Direction, options: CollectionCallOptions & rq.EditOptions = {}): Promise<EditResult> {
    const request = rq.editRequest(this.name(options.collection), base, direction, options);
    return this.connection.unary(RPCS.edit, request, options.timeoutMs);
  }

  /**
   * Draw points with the decoder of the collection's model: one PNG (bytes) per point.
   * FailedPrecondition (reason NO_DECODER) when the model has none.
   */
  async decode(points: Iterable<Point>, options: CollectionCallOptions = {}): Promise<DecodedImages> {
    return this.connection.unary(RPCS.decode, rq.decodeRequest(this.name(options.collection), points), options.timeoutMs);
  }

  /** a : aStar :: b : ? — a search whose point is the analogy ("cos_add" or "cos_mul"). */
  async analogy(a: Point, aStar: Point, b: Point, options: AnalogyOptions = {}): Promise<Hit[]> {
    const { k, filter, excludeIds, scoreThreshold, withVectors, explain } = options;
    const request = rq.analogyRequest(
      this.name(options.collection),
      a,
      aStar,
      b,
      options.method ?? "cos_add",
      options.includeInputs ?? false,
      rq.searchOptions({ k, filter, excludeIds, scoreThreshold, withVectors, explain }),
    );
    return this.connection.unary(RPCS.search, request, options.timeoutMs);
  }

  // ------------------------------------------------------------ maps

  /**
   * A 2-D map of the collection: `sampleSize` items (0: the server's default, 1000) drawn with
   * `seed` and projected on their two principal axes, `clusters` k-means clusters (0: automatic)
   * labelled by their nearest text item, each point carrying its `colorBy` payload value, and
   * `queries` (any points) placed on it. The same items and seed give the same map.
   *
   * `await client.map(["a red circle"], { sampleSize: 500, colorBy: "color" })`
   */
  async map(queries: Iterable<Point> = [], options: CollectionCallOptions & rq.MapInit = {}): Promise<CollectionMap> {
    const request = rq.mapRequest(this.name(options.collection), queries, options);
    return this.connection.unary(RPCS.map, request, options.timeoutMs);
  }

  // ------------------------------------------------------------ named directions

  /**
   * Make a direction and store it as `name`, usable as `new NamedDirection(name)` in edits and
   * mixes. `source` is a TextPair, Examples, Labels(field, positive, negative, filter) or a raw
   * vector; `method` ("mean_difference", "least_squares", "logistic") fits examples and labels.
   * The result reports `quality.auc` on a held-out share (`holdout`, split with `seed`).
   */
  async createDirection(
    name: string,
    source: Labels | Direction,
    options: CollectionCallOptions & rq.CreateDirectionOptions = {},
  ): Promise<DirectionInfo> {
    const request = rq.createDirectionRequest(this.name(options.collection), name, source, options);
    return this.connection.unary(RPCS.createDirection, request, options.timeoutMs);
  }

  /** The collection's stored directions, by name (their vectors only with `withVectors`). */
  async listDirections(options: CollectionCallOptions & { withVectors?: boolean } = {}): Promise<DirectionInfo[]> {
    const request = create(ListDirectionsRequestSchema, {
      collection: this.name(options.collection),
      withVectors: options.withVectors ?? false,
    });
    return this.connection.unary(RPCS.listDirections, request, options.timeoutMs);
  }

  /** Delete a stored direction (NotFound when there is none by that name). */
  async deleteDirection(name: string, options: CollectionCallOptions = {}): Promise<void> {
    const request = create(DeleteDirectionRequestSchema, { collection: this.name(options.collection), name });
    await this.connection.unary(RPCS.deleteDirection, request, options.timeoutMs);
  }
}
