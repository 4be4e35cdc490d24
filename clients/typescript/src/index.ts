/**
 * TypeScript SDK for the latentspace gRPC service.
 *
 * ```ts
 * import { Client, Id, TextPair } from "@latentspace/client";
 *
 * const client = new Client("127.0.0.1:50051", { collection: "shapes" });
 * const hits = await client.search("a red circle", { k: 5 });
 * const edit = await client.edit(new Id("large-red-circle-00"), new TextPair("a red circle", "a blue circle"));
 * client.close();
 * ```
 */

export {
  type CallOptions,
  Client,
  type ClientOptions,
  type AnalogyOptions,
  type CollectionCallOptions,
  type MidpointOptions,
  type SearchBatchOptions,
  type SearchOptions,
} from "./client.js";
export {
  type ConnectionOptions,
  DEFAULT_ADDRESS,
  DEFAULT_CHANNEL_OPTIONS,
  DEFAULT_TIMEOUT_MS,
  ExportStream,
  RPCS,
  type TlsOptions,
} from "./calls.js";
export {
  AlreadyExists,
  Cancelled,
  DeadlineExceeded,
  ERROR_CLASSES,
  FailedPrecondition,
  Internal,
  InvalidArgument,
  LatentSpaceError,
  NotFound,
  PermissionDenied,
  REASON_KEY,
  REQUEST_ID_KEY,
  ResourceExhausted,
  Unauthenticated,
  Unavailable,
} from "./errors.js";
export type { FilterSpec } from "./payloads.js";
export {
  Analogy,
  type AnalogyMethodName,
  type Direction,
  Edit,
  type EditModeName,
  Examples,
  Id,
  Labels,
  Mix,
  type MixPart,
  NamedDirection,
  type Point,
  TextPair,
} from "./points.js";
export type {
  CreateDirectionOptions,
  DirectionMethodName,
  EditOptions,
  Ids,
  InterpolateOptions,
  InterpolationMethodName,
  MapInit,
  RankingInit,
  RankingModalityName,
  ScoreModeName,
  UpsertItem,
} from "./requests.js";
export type {
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
  ExportPage,
  Hit,
  Interpolation,
  Item,
  ModalityName,
  ModalityStats,
  PathStep,
  ScoreTerm,
  SnapshotInfo,
  Stats,
  UpsertResult,
} from "./results.js";
export { packVector, unpackVector, type VectorLike } from "./vectors.js";
export type { CollectionMap, MapCluster, MapPoint, PlacedPoint, Thumbnail, Thumbnails } from "./views.js";
