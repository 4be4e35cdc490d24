/**
 * Vectors on the wire: little-endian float32 bytes plus a dimension (`latentspace.v1.Vector`).
 *
 * Packing and unpacking are one buffer copy each, never a loop over the elements in JavaScript
 * (on a little-endian host, which is every host Node ships for but s390x; there a DataView
 * fallback swaps the bytes). Unpacked vectors are `Float32Array`s the caller owns.
 */

import { create } from "@bufbuild/protobuf";
import { type Vector, VectorSchema } from "./generated/latentspace/v1/types_pb.js";

/** A vector as the SDK takes it: float32 values, or plain numbers (converted to float32). */
export type VectorLike = Float32Array | readonly number[];

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** True for the two vector forms (a Float32Array, or an array whose first element is a number). */
export function isVector(value: unknown): value is VectorLike {
  if (value instanceof Float32Array) return true;
  return Array.isArray(value) && value.length > 0 && typeof value[0] === "number";
}

/**
 * Pack a non-empty vector of finite numbers as a `Vector` message (RangeError otherwise, also for a
 * value too large for float32). The bytes are a copy: changing the array after the call does not
 * change what is sent. The dimension is checked by the server, which knows the collection.
 */
export function packVector(values: VectorLike): Vector {
  const floats = values instanceof Float32Array ? values : Float32Array.from(values);
  if (floats.length === 0) throw new RangeError("a vector must be non-empty");
  if (!floats.every(Number.isFinite)) {
    throw new RangeError("a vector must hold finite numbers: it has NaN or infinity (or a value too large for float32)");
  }
  const data = new Uint8Array(floats.byteLength);
  if (LITTLE_ENDIAN_HOST) {
    data.set(new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength));
  } else {
    const view = new DataView(data.buffer);
    floats.forEach((value, i) => view.setFloat32(4 * i, value, true));
  }
  return create(VectorSchema, { dimension: floats.length, data });
}

/**
 * Unpack a `Vector` message into a new Float32Array.
 *
 * A decoded `bytes` field may be a view into a larger, pooled buffer at an offset that is not a
 * multiple of 4, which a Float32Array cannot view; the bytes are copied into a fresh buffer first.
 */
export function unpackVector(message: Vector): Float32Array {
  const { data, dimension } = message;
  if (data.byteLength !== 4 * dimension) {
    throw new RangeError(`vector has ${data.byteLength} bytes for dimension ${dimension}`);
  }
  const copy = new Uint8Array(data.byteLength);
  copy.set(data);
  if (LITTLE_ENDIAN_HOST) return new Float32Array(copy.buffer, 0, dimension);
  const view = new DataView(copy.buffer);
  return Float32Array.from({ length: dimension }, (_, i) => view.getFloat32(4 * i, true));
}

/** The vector in an optional message field when the server set it (`withVectors`), else null. */
export function unpackOptional(message: Vector | undefined): Float32Array | null {
  return message === undefined ? null : unpackVector(message);
}

/** Row-major float values as `rows` Float32Array views over one buffer. */
export function floatRows(values: readonly number[], rows: number, columns: number): Float32Array[] {
  checkSize(values.length, rows, columns);
  const flat = Float32Array.from(values);
  return Array.from({ length: rows }, (_, r) => flat.subarray(r * columns, (r + 1) * columns));
}

/** Row-major booleans as `rows` arrays. */
export function booleanRows(values: readonly boolean[], rows: number, columns: number): boolean[][] {
  checkSize(values.length, rows, columns);
  return Array.from({ length: rows }, (_, r) => values.slice(r * columns, (r + 1) * columns));
}

function checkSize(length: number, rows: number, columns: number): void {
  if (length !== rows * columns) throw new RangeError(`matrix has ${length} values for ${rows} x ${columns}`);
}
