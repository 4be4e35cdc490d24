/**
 * The SDK's errors: one class per gRPC status code the service uses, from one table.
 *
 * Every failed call rejects with a {@link LatentSpaceError} subclass whose `cause` is the
 * grpc-js error it came from; a raw grpc-js error never reaches the caller. Branch on the class,
 * or on `reason`, the stable machine-readable token the server sends in trailing metadata
 * (`COLLECTION_NOT_FOUND`, `MODALITY_NOT_SUPPORTED`, ...).
 *
 * Mistakes the SDK can see before sending are ordinary `TypeError` (not a point, not a JSON
 * value) and `RangeError` (two of t/steps/ts, an unknown mode, a malformed item): the Python
 * SDK's `TypeError` and `ValueError`.
 *
 * The classes and the table are the Python SDK's (`latentspace_client/errors.py`);
 * `test/errors.test.ts` reads both and fails when they differ.
 */

import { Metadata, status, type ServiceError } from "@grpc/grpc-js";

/** Trailing-metadata keys, the same names the server writes. */
export const REASON_KEY = "latentspace-reason";
export const REQUEST_ID_KEY = "latentspace-request-id";

/** The name of a gRPC status code, e.g. "NOT_FOUND". */
export type StatusName = keyof typeof status;

/** A call failed: `code` (a grpc-js status), `reason`, `requestId` and `details` say why. */
export class LatentSpaceError extends Error {
  readonly details: string;
  readonly code: status;
  /** The server's stable reason token; null when the transport failed before the server answered. */
  readonly reason: string | null;
  /** The request id to quote in a bug report; null when the server did not answer. */
  readonly requestId: string | null;

  constructor(
    details: string,
    init: { code?: status; reason?: string | null; requestId?: string | null; cause?: unknown } = {},
  ) {
    const code = init.code ?? status.UNKNOWN;
    const name = status[code] ?? "UNKNOWN";
    // "NOT_FOUND (COLLECTION_NOT_FOUND): collection 'x' does not exist", as the Python SDK prints it.
    const reason = init.reason && init.reason !== name ? ` (${init.reason})` : "";
    super(`${name}${reason}: ${details}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.details = details;
    this.code = code;
    this.reason = init.reason ?? null;
    this.requestId = init.requestId ?? null;
  }

  /** The status code's name, e.g. "NOT_FOUND". */
  get codeName(): string {
    return status[this.code] ?? "UNKNOWN";
  }
}

/** The request was malformed: wrong dimension, NaN, k out of range, undecodable image, ... */
export class InvalidArgument extends LatentSpaceError {}
/** An unknown collection or item id. */
export class NotFound extends LatentSpaceError {}
/** Creating a collection that exists. */
export class AlreadyExists extends LatentSpaceError {}
/** Well formed but not servable here, e.g. an image query against a text-only model. */
export class FailedPrecondition extends LatentSpaceError {}
/** A message, batch, pixel or text limit was exceeded. */
export class ResourceExhausted extends LatentSpaceError {}
/** No or bad credentials. */
export class Unauthenticated extends LatentSpaceError {}
/** The credentials do not allow this call. */
export class PermissionDenied extends LatentSpaceError {}
/** The server cannot be reached or is shutting down; retrying later may help. */
export class Unavailable extends LatentSpaceError {}
/** The call ran past its deadline. */
export class DeadlineExceeded extends LatentSpaceError {}
/** The call was cancelled (by this client, or the server dropped work its caller gave up on). */
export class Cancelled extends LatentSpaceError {}
/** A bug on the server; quote `requestId` when reporting it. */
export class Internal extends LatentSpaceError {}

/** The one table from status code to error class; codes not listed reject with the base class. */
export const ERROR_CLASSES: Readonly<Partial<Record<StatusName, typeof LatentSpaceError>>> = {
  INVALID_ARGUMENT: InvalidArgument,
  NOT_FOUND: NotFound,
  ALREADY_EXISTS: AlreadyExists,
  FAILED_PRECONDITION: FailedPrecondition,
  RESOURCE_EXHAUSTED: ResourceExhausted,
  UNAUTHENTICATED: Unauthenticated,
  PERMISSION_DENIED: PermissionDenied,
  UNAVAILABLE: Unavailable,
  DEADLINE_EXCEEDED: DeadlineExceeded,
  CANCELLED: Cancelled,
  INTERNAL: Internal,
};

/** The {@link LatentSpaceError} for a failed grpc-js call (its `cause` is the original error). */
export function translate(error: unknown): LatentSpaceError {
  const service = error as Partial<ServiceError>;
  const code = typeof service.code === "number" ? (service.code as status) : status.UNKNOWN;
  const name = (status[code] ?? "UNKNOWN") as StatusName;
  const details = service.details || (error instanceof Error ? error.message : String(error)) || name;
  const metadata = service.metadata instanceof Metadata ? service.metadata : undefined;
  const ErrorClass = ERROR_CLASSES[name] ?? LatentSpaceError;
  return new ErrorClass(details, {
    code,
    reason: text(metadata?.get(REASON_KEY)[0]),
    requestId: text(metadata?.get(REQUEST_ID_KEY)[0]),
    cause: error,
  });
}

function text(value: string | Buffer | undefined): string | null {
  if (value === undefined) return null;
  return typeof value === "string" ? value : value.toString("utf8");
}
