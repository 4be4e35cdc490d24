/**
 * Payloads and filters: plain objects <-> `google.protobuf.Struct` / `latentspace.v1.Filter`.
 *
 * A payload is a JSON object. On the wire a `Struct` stores every number as a double, so numbers
 * round-trip as JavaScript numbers do; non-finite numbers, bigints and values that are not JSON
 * (undefined, functions, Dates, Maps) are refused here with the offending path.
 */

import { create, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { fromJson } from "@bufbuild/protobuf";
import { ListValueSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import {
  type Condition,
  ConditionSchema,
  type Filter,
  FilterSchema,
  RangeSchema,
} from "./generated/latentspace/v1/types_pb.js";

/** A filter: every condition must hold (see {@link toFilter}). */
export type FilterSpec = { readonly [field: string]: unknown };

const RANGE_KEYS = new Set(["gt", "gte", "lt", "lte"]);

/**
 * How deep a payload may nest (an object or array inside another is one level): the server's bound,
 * the same as the Python SDK's `MAX_PAYLOAD_DEPTH`. Deeper payloads are refused here (RangeError).
 */
export const MAX_PAYLOAD_DEPTH = 32;

/**
 * Check that `value` is a JSON value; `path` names it in errors and `depth` is how deep it sits in
 * its payload (the payload object itself is 0). Returns it unchanged.
 */
export function checkJson(value: unknown, path = "payload", depth = 0): JsonValue {
  if (depth > MAX_PAYLOAD_DEPTH) throw new RangeError(`${path}: the payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  if (value === null || typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`${path}: ${value} is not a JSON number`);
    return value;
  }
  if (typeof value === "bigint") {
    throw new TypeError(`${path}: a bigint cannot travel exactly as a JSON number; send it as a string`);
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`, depth + 1));
    return value as JsonValue;
  }
  if (isPlainObject(value)) return checkStruct(value, path, depth);
  const kind = value === undefined ? "undefined" : ((value as object).constructor?.name ?? typeof value);
  throw new TypeError(`${path}: ${kind} is not a JSON value (string, number, boolean, null, array, object)`);
}

/** Check that `payload` is a JSON object; returns it unchanged. */
export function checkStruct(payload: unknown, path = "payload", depth = 0): JsonObject {
  if (!isPlainObject(payload)) throw new TypeError(`${path}: a payload is a plain object`);
  for (const [key, value] of Object.entries(payload)) checkJson(value, `${path}.${key}`, depth + 1);
  return payload as JsonObject;
}

/**
 * A filter object as a `Filter` message; undefined or `{}` is no filter.
 *
 * `{color: "red"}` equals; `{size: ["small", "large"]}` any of; `{price: {gte: 1, lt: 5}}` a
 * numeric range (keys gt, gte, lt, lte); a nested object without range keys is a dotted path:
 * `{meta: {lang: "en"}}` is `{"meta.lang": "en"}`.
 */
export function toFilter(spec: FilterSpec | null | undefined): Filter | undefined {
  if (spec === null || spec === undefined) return undefined;
  if (!isPlainObject(spec)) throw new TypeError("filter must be a plain object");
  const must: Condition[] = [];
  addConditions(must, spec, "");
  return must.length ? create(FilterSchema, { must }) : undefined;
}

function addConditions(must: Condition[], spec: object, prefix: string): void {
  for (const [key, value] of Object.entries(spec)) {
    if (!key) throw new TypeError("filter keys must be non-empty strings");
    const field = `${prefix}${key}`;
    if (isPlainObject(value)) {
      const keys = Object.keys(value);
      const ranged = keys.filter((k) => RANGE_KEYS.has(k));
      if (keys.length === 0) throw new RangeError(`filter.${field}: empty condition`);
      if (ranged.length === keys.length) {
        must.push(create(ConditionSchema, { field, match: { case: "range", value: range(field, value) } }));
      } else if (ranged.length) {
        const others = keys.filter((k) => !RANGE_KEYS.has(k));
        throw new RangeError(
          `filter.${field}: mixes range keys ${ranged.sort().join(", ")} with ${others.sort().join(", ")}; ` +
            "a range takes only gt, gte, lt, lte",
        );
      } else {
        addConditions(must, value, `${field}.`);
      }
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new RangeError(`filter.${field}: any-of needs at least one value`);
      const values = value.map((v) => scalar(v, field));
      must.push(
        create(ConditionSchema, { field, match: { case: "anyOf", value: fromJson(ListValueSchema, values) } }),
      );
    } else {
      const equals = fromJson(ValueSchema, scalar(value, field));
      must.push(create(ConditionSchema, { field, match: { case: "equals", value: equals } }));
    }
  }
}

function scalar(value: unknown, field: string): JsonValue {
  if (Array.isArray(value) || isPlainObject(value)) {
    throw new TypeError(`filter.${field}: compare with a string, number, boolean or null, not an ${typeof value}`);
  }
  return checkJson(value, `filter.${field}`);
}

function range(field: string, bounds: Record<string, unknown>) {
  for (const [key, bound] of Object.entries(bounds)) {
    if (typeof bound !== "number") {
      throw new TypeError(`filter.${field}.${key}: a range bound must be a number, got ${String(bound)}`);
    }
  }
  return create(RangeSchema, bounds as { gt?: number; gte?: number; lt?: number; lte?: number });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
