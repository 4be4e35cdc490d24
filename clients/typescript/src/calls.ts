/**
 * Everything about a call but building its request: the RPC table and the grpc-js transport.
 *
 * - {@link RPCS}: for each RPC of `proto/`, its generated method descriptor and how its reply
 *   becomes the value a client method returns. The descriptor carries the path, the request and
 *   reply types and the kind (unary, client streaming), so the transport needs nothing per RPC:
 *   a new RPC is one row here, one request builder and one client method.
 * - {@link Connection}: one grpc-js channel, the default deadline and the call metadata (API key,
 *   caller's entries); sends a unary request, a lazily built request stream, or a request whose
 *   replies stream back, and turns failures into {@link LatentSpaceError}s.
 */

import { type DescMessage, type DescMethod, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import {
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  Client as GrpcClient,
  credentials as grpcCredentials,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { Internal, translate } from "./errors.js";
import { Collections, LatentSpace } from "./generated/latentspace/v1/latentspace_pb.js";
import {
  collectionInfoFromProto,
  deleteResultFromProto,
  directionInfoFromProto,
  distanceFromProto,
  distanceMatrixFromProto,
  editResultFromProto,
  decodedImagesFromProto,
  encodedPointFromProto,
  exportPageFromProto,
  hitsFromProto,
  interpolationFromProto,
  itemFromProto,
  snapshotInfoFromProto,
  statsFromProto,
  type CollectionInfo,
  type ExportPage,
  type Item,
  upsertResultFromProto,
} from "./results.js";
import { mapFromProto, thumbnailsFromProto } from "./views.js";

export const DEFAULT_ADDRESS = "127.0.0.1:50051";
export const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * The server accepts messages up to 64 MiB by default; grpc-js's default of 4 MiB would refuse
 * large replies (a 1000 x 1000 distance matrix, k = 1000 hits with vectors).
 */
export const DEFAULT_CHANNEL_OPTIONS: Readonly<ChannelOptions> = { "grpc.max_receive_message_length": 64 * 1024 * 1024 };

type Method = DescMethod & { input: DescMessage; output: DescMessage };

/** One RPC: its generated descriptor and the converter of its reply. */
export interface Rpc<M extends Method, R> {
  readonly method: M;
  readonly reply: (message: MessageShape<M["output"]>) => R;
}

function rpc<M extends Method, R>(method: M, reply: (message: MessageShape<M["output"]>) => R): Rpc<M, R> {
  return { method, reply };
}

const { method: collections } = Collections;
const { method: latentSpace } = LatentSpace;

/** Every RPC the SDK calls; `test/rpcs.test.ts` checks it names every RPC in proto/. */
export const RPCS = {
  createCollection: rpc(collections.createCollection, collectionInfoFromProto),
  listCollections: rpc(collections.listCollections, (reply) => reply.collections.map(collectionInfoFromProto)),
  describeCollection: rpc(collections.describeCollection, collectionInfoFromProto),
  dropCollection: rpc(collections.dropCollection, (): void => undefined),
  upsert: rpc(collections.upsert, upsertResultFromProto),
  upsertStream: rpc(collections.upsertStream, upsertResultFromProto),
  delete: rpc(collections.delete, deleteResultFromProto),
  get: rpc(collections.get, (reply) => reply.items.map(itemFromProto)),
  getThumbnails: rpc(collections.getThumbnails, thumbnailsFromProto),
  stats: rpc(collections.stats, statsFromProto),
  snapshot: rpc(collections.snapshot, snapshotInfoFromProto),
  listSnapshots: rpc(collections.listSnapshots, (reply) => reply.snapshots.map(snapshotInfoFromProto)),
  restore: rpc(collections.restore, collectionInfoFromProto),
  /** A server stream: the converter turns each page. */
  export: rpc(collections.export, exportPageFromProto),
  encode: rpc(latentSpace.encode, (reply) => reply.points.map(encodedPointFromProto)),
  search: rpc(latentSpace.search, (reply) => hitsFromProto(reply.hits)),
  searchBatch: rpc(latentSpace.searchBatch, (reply) => reply.results.map((r) => hitsFromProto(r.hits))),
  distance: rpc(latentSpace.distance, (reply) => reply.distances.map(distanceFromProto)),
  distanceMatrix: rpc(latentSpace.distanceMatrix, distanceMatrixFromProto),
  interpolate: rpc(latentSpace.interpolate, interpolationFromProto),
  edit: rpc(latentSpace.edit, editResultFromProto),
  map: rpc(latentSpace.map, mapFromProto),
  decode: rpc(latentSpace.decode, decodedImagesFromProto),
  createDirection: rpc(latentSpace.createDirection, directionInfoFromProto),
  listDirections: rpc(latentSpace.listDirections, (reply) => reply.directions.map(directionInfoFromProto)),
  deleteDirection: rpc(latentSpace.deleteDirection, (): void => undefined),
} as const;

/** TLS settings: PEM root certificates to trust (default: the system's), and a client key pair for mTLS. */
export interface TlsOptions {
  rootCerts?: string | Uint8Array | null;
  privateKey?: string | Uint8Array | null;
  certChain?: string | Uint8Array | null;
}

/** How to reach the server; every field is optional. */
export interface ConnectionOptions {
  /** The default deadline per call in milliseconds (null: none); each method takes `timeoutMs` too. */
  timeoutMs?: number | null;
  /** Sent as `authorization: Bearer <apiKey>` with every call. */
  apiKey?: string | null;
  /** TLS: true for the system's roots, or explicit certificates. Ignored when `credentials` is given. */
  tls?: boolean | TlsOptions;
  /** Channel credentials built by the caller (takes precedence over `tls`). */
  credentials?: ChannelCredentials;
  /** Extra metadata sent with every call. */
  metadata?: Readonly<Record<string, string>>;
  /** grpc-js channel options, over {@link DEFAULT_CHANNEL_OPTIONS}. */
  channelOptions?: ChannelOptions;
}

/** One grpc-js channel plus the per-call settings: deadline and metadata. */
export class Connection {
  readonly timeoutMs: number | null;
  private readonly client: GrpcClient;
  private readonly metadata: ReadonlyArray<readonly [string, string]>;

  constructor(address: string, options: ConnectionOptions = {}) {
    this.timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutMs;
    const entries = Object.entries(options.metadata ?? {});
    if (options.apiKey) entries.push(["authorization", `Bearer ${options.apiKey}`]);
    this.metadata = entries;
    this.client = new GrpcClient(address, channelCredentials(options), {
      ...DEFAULT_CHANNEL_OPTIONS,
      ...options.channelOptions,
    });
  }

  /** Close the channel; calls made afterwards fail. */
  close(): void {
    this.client.close();
  }

  /** Send one request and convert the reply. */
  unary<M extends Method, R>(rpc: Rpc<M, R>, request: MessageShape<M["input"]>, timeoutMs?: number | null): Promise<R> {
    const { method, reply } = rpc;
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        path(method),
        (message: MessageShape<M["input"]>) => Buffer.from(toBinary(method.input, message)),
        (bytes: Buffer) => fromBinary(method.output, bytes) as MessageShape<M["output"]>,
        request,
        this.callMetadata(),
        this.callOptions(timeoutMs),
        (error: ServiceError | null, message?: MessageShape<M["output"]>) => {
          if (error || message === undefined) reject(translate(error));
          else settle(() => reply(message), resolve, reject);
        },
      );
    });
  }

  /**
   * Stream requests as they are built and convert the one reply. When building a request throws,
   * the call is cancelled and that error is what the promise rejects with (not CANCELLED).
   */
  clientStream<M extends Method, R>(
    rpc: Rpc<M, R>,
    requests: AsyncIterable<MessageShape<M["input"]>>,
    timeoutMs?: number | null,
  ): Promise<R> {
    const { method, reply } = rpc;
    return new Promise((resolve, reject) => {
      let buildError: { error: unknown } | null = null;
      let finished = false;
      let wake: () => void = () => undefined;
      const call = this.client.makeClientStreamRequest(
        path(method),
        (message: MessageShape<M["input"]>) => Buffer.from(toBinary(method.input, message)),
        (bytes: Buffer) => fromBinary(method.output, bytes) as MessageShape<M["output"]>,
        this.callMetadata(),
        this.callOptions(timeoutMs),
        (error: ServiceError | null, message?: MessageShape<M["output"]>) => {
          finished = true;
          wake();
          if (buildError) reject(buildError.error);
          else if (error || message === undefined) reject(translate(error));
          else settle(() => reply(message), resolve, reject);
        },
      );
      void (async () => {
        try {
          for await (const request of requests) {
            if (finished) return; // the server already answered (a refused batch): stop building
            if (!call.write(request)) {
              await new Promise<void>((resume) => {
                wake = resume;
                call.once("drain", resume);
              });
            }
          }
          if (!finished) call.end();
        } catch (error) {
          buildError = { error };
          if (!finished) call.cancel();
          else reject(error);
        }
      })();
    });
  }

  /**
   * Send one request and read its replies as they stream back, converted; a failure rejects the
   * iteration with a {@link LatentSpaceError}. `cancel` ends the call early.
   */
  serverStream<M extends Method, R>(
    rpc: Rpc<M, R>,
    request: MessageShape<M["input"]>,
    timeoutMs?: number | null,
  ): { replies: AsyncGenerator<R>; cancel: () => void } {
    const { method, reply } = rpc;
    const call = this.client.makeServerStreamRequest(
      path(method),
      (message: MessageShape<M["input"]>) => Buffer.from(toBinary(method.input, message)),
      (bytes: Buffer) => fromBinary(method.output, bytes) as MessageShape<M["output"]>,
      request,
      this.callMetadata(),
      this.callOptions(timeoutMs),
    );
    call.on("error", () => undefined); // reported through the iteration; never an unhandled event
    const messages = (call as AsyncIterable<MessageShape<M["output"]>>)[Symbol.asyncIterator]();
    async function* replies(): AsyncGenerator<R> {
      try {
        for (;;) {
          let next: IteratorResult<MessageShape<M["output"]>>;
          try {
            next = await messages.next();
          } catch (error) {
            throw translate(error);
          }
          if (next.done) return;
          yield reply(next.value);
        }
      } finally {
        await messages.return?.();
      }
    }
    return { replies: replies(), cancel: () => call.cancel() };
  }

  private callMetadata(): Metadata {
    const metadata = new Metadata();
    for (const [key, value] of this.metadata) metadata.add(key, value);
    return metadata;
  }

  private callOptions(timeoutMs: number | null | undefined): CallOptions {
    const limit = timeoutMs === undefined ? this.timeoutMs : timeoutMs;
    return limit === null ? {} : { deadline: Date.now() + limit };
  }
}

/**
 * The items of one export, with their vectors, as its pages arrive (`for await (const item of
 * stream)`, once). `collection` describes the collection as of the export's moment: its `count`
 * items are the ones that follow. `close()` ends the call early.
 */
export class ExportStream implements AsyncIterable<Item> {
  readonly collection: CollectionInfo;
  private readonly first: Item[];
  private readonly pages: AsyncGenerator<ExportPage>;
  private readonly cancel: () => void;
  private started = false;

  constructor(first: ExportPage, pages: AsyncGenerator<ExportPage>, cancel: () => void) {
    if (!first.collection) {
      throw new Internal("the server ended the export without describing the collection", { code: status.INTERNAL });
    }
    this.collection = first.collection;
    this.first = first.items;
    this.pages = pages;
    this.cancel = cancel;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Item> {
    if (this.started) throw new Error("an export stream can be iterated once");
    this.started = true;
    yield* this.first;
    for await (const page of this.pages) yield* page.items;
  }

  /** End the call (the rest of the items are not sent). */
  close(): void {
    this.cancel();
    void this.pages.return(undefined).catch(() => undefined);
  }
}

/** The gRPC path of a method: /latentspace.v1.Collections/Upsert. */
export function path(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function channelCredentials(options: ConnectionOptions): ChannelCredentials {
  if (options.credentials) return options.credentials;
  const { tls } = options;
  if (!tls) return grpcCredentials.createInsecure();
  if (tls === true) return grpcCredentials.createSsl();
  return grpcCredentials.createSsl(pem(tls.rootCerts), pem(tls.privateKey), pem(tls.certChain));
}

function pem(value: string | Uint8Array | null | undefined): Buffer | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
}

function settle<R>(convert: () => R, resolve: (value: R) => void, reject: (error: unknown) => void): void {
  try {
    resolve(convert());
  } catch (error) {
    reject(error);
  }
}
