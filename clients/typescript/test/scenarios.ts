/**
 * The shared scenarios (`tests/clients/congruence_scenarios.json`) run with the TypeScript client.
 *
 * The format is documented in `tests/clients/scenarios.py`, which runs them with the Python SDK.
 * Method, keyword and field names there are Python's: here a method is called by its camelCase
 * name with the positional arguments first and the keywords as the trailing options object
 * (camelCase keys), and results are reported with snake_case keys, so that both sides print the
 * same JSON.
 */

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  Analogy,
  type Client,
  Edit,
  Examples,
  type ExportStream,
  type Hit,
  Id,
  Labels,
  LatentSpaceError,
  Mix,
  type MixPart,
  NamedDirection,
  type Point,
  TextPair,
} from "../src/index.js";
import { REPO } from "./processes.js";

export const SCENARIO_FILE = join(REPO, "tests", "clients", "congruence_scenarios.json");

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface Step {
  call: string;
  args?: Json[];
  kwargs?: JsonObject;
  as?: string;
  pick?: string | string[];
  map?: string;
  sort?: boolean;
  collect?: boolean;
}

export interface Scenario {
  name: string;
  /** The fixture it runs on (default "vectors"). */
  fixture?: string;
  raises?: string;
  steps: Step[];
}

export interface Fixture {
  name: string;
  collection: string;
  model: string | null;
  dimension: number | null;
  batch_size: number;
  matrices: Record<string, Float32Array[]>;
  items: JsonObject[];
}

/** What a scenario came to, as both SDKs report it. */
export type Outcome =
  | { returned: unknown }
  | { raised: string; code?: string; reason?: string | null; request_id?: boolean; chained?: boolean };

const document = JSON.parse(readFileSync(SCENARIO_FILE, "utf8")) as {
  fixtures: Record<string, JsonObject>;
  scenarios: Scenario[];
};

export function loadScenarios(): Scenario[] {
  return document.scenarios;
}

/** The fixtures by name. */
export function loadFixtures(): Record<string, Fixture> {
  return Object.fromEntries(Object.entries(document.fixtures).map(([name, raw]) => [name, fixture(name, raw)]));
}

function fixture(name: string, raw: JsonObject): Fixture {
  const matrix = (spec: JsonObject): Float32Array[] => {
    const [rows, columns] = spec.shape as [number, number];
    const bytes = Buffer.from(spec.float32_le_base64 as string, "base64");
    const copy = new Uint8Array(bytes.byteLength); // Buffer.from may hand out an unaligned pooled view
    copy.set(bytes);
    const flat = new Float32Array(copy.buffer);
    return Array.from({ length: rows }, (_, r) => flat.slice(r * columns, (r + 1) * columns));
  };
  const matrices: Record<string, Float32Array[]> = {};
  for (const key of ["vectors", "queries"]) {
    if (raw[key]) matrices[key] = matrix(raw[key] as JsonObject);
  }
  return {
    name,
    collection: raw.collection as string,
    model: (raw.model as string | undefined) ?? null,
    dimension: (raw.dimension as number | undefined) ?? null,
    batch_size: raw.batch_size as number,
    matrices,
    items: raw.items as JsonObject[],
  };
}

export function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** A JSON value with its `$` forms turned into SDK values. */
export function evaluate(value: Json | undefined, fixture: Fixture, named: Record<string, unknown>): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluate(v, fixture, named));
  if (value === null || typeof value !== "object") return value;
  const forms = Object.keys(value).filter((key) => key.startsWith("$"));
  if (forms.length === 0) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, evaluate(v, fixture, named)]));
  }
  const form = forms[0]!;
  const spec = value[form] as Json;
  const ev = (v: Json | undefined) => evaluate(v, fixture, named);
  const get = (key: string) => (spec as JsonObject)[key];
  switch (form) {
    case "$vector": {
      const [name, row] = spec as [string, number];
      const scale = (value.scale as number | undefined) ?? 1;
      const add = (value.add as number | undefined) ?? 0;
      const source = fixture.matrices[name]![row]!;
      // float32 arithmetic, as numpy does it: round after the product and after the sum
      const vector = source.map((x) => Math.fround(Math.fround(x * scale) + add));
      return vector.slice(0, (value.length as number | undefined) ?? vector.length);
    }
    case "$id":
      return new Id(spec as string);
    case "$image":
      return readFileSync(join(dirname(SCENARIO_FILE), spec as string));
    case "$mix":
      return new Mix(
        (spec as JsonObject[]).map((part): MixPart =>
          "weight" in part ? [ev(part.point) as Point, part.weight as number] : (ev(part.point) as Point),
        ),
      );
    case "$edit":
      return new Edit(ev(get("base")) as Point, ev(get("direction")) as never, {
        mode: (get("mode") ?? "add") as never,
        strength: (get("strength") ?? null) as number | null,
      });
    case "$analogy":
      return new Analogy(ev(get("a")) as Point, ev(get("a_star")) as Point, ev(get("b")) as Point, {
        method: (get("method") ?? "cos_add") as never,
        includeInputs: (get("include_inputs") ?? false) as boolean,
      });
    case "$text_pair":
      return new TextPair(get("neutral") as string, get("target") as string, (get("use_templates") ?? false) as boolean);
    case "$examples":
      return new Examples(ev(get("positive")) as Point[], (ev(get("negative")) ?? []) as Point[]);
    case "$named_direction":
      return new NamedDirection(spec as string);
    case "$labels":
      return new Labels(
        get("field") as string,
        get("positive") as string,
        get("negative") as string,
        (ev(get("filter")) ?? null) as Record<string, unknown> | null,
      );
    case "$hit_ids": {
      const hits = named[spec as string] as Hit[];
      return hits.slice(0, (value.take as number | undefined) ?? hits.length).map((hit) => hit.id);
    }
    case "$concat":
      return (spec as Json[]).flatMap((part) => ev(part) as unknown[]);
    default:
      throw new Error(`unknown form ${form} in the scenario file`);
  }
}

/** Call a client method by its Python name with Python-style arguments. */
export async function call(client: Client, method: string, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
  const name = camel(method);
  const fn = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name];
  if (typeof fn !== "function") throw new Error(`the TypeScript client has no method ${name} (Python ${method})`);
  const options = Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [camel(k), v]));
  if (method === "upsert") args = [(args[0] as Record<string, unknown>[]).map(camelKeys)];
  // Python's encode(*points), decode(*points) and map(*queries) take the points as separate arguments;
  // TypeScript's take one array.
  const positional = method === "encode" || method === "decode" || method === "map" ? [args] : [...args, ...Array(Math.max(0, fn.length - args.length)).fill(undefined)];
  return fn.call(client, ...positional, options);
}

function camelKeys(item: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [camel(k), v]));
}

async function keep(result: unknown, step: Step): Promise<unknown> {
  if (step.collect) {
    const stream = result as ExportStream;
    const items: unknown[] = [];
    for await (const item of stream) items.push(item);
    result = { collection: stream.collection, items };
  }
  const field = (value: unknown, name: string) => (value as Record<string, unknown>)[camel(name)];
  if (typeof step.pick === "string") result = field(result, step.pick);
  else if (step.pick) result = Object.fromEntries(step.pick.map((name) => [name, field(result, name)]));
  if (step.map) result = (result as unknown[]).map((element) => field(element, step.map!));
  if (step.sort) result = [...(result as string[])].sort();
  return result;
}

/** Run the steps in order; the result is the list of their (kept) results. */
export async function run(scenario: Scenario, fixture: Fixture, client: Client): Promise<unknown[]> {
  const named: Record<string, unknown> = {};
  const results: unknown[] = [];
  for (const step of scenario.steps) {
    const args = evaluate(step.args ?? [], fixture, named) as unknown[];
    const kwargs = evaluate(step.kwargs ?? {}, fixture, named) as Record<string, unknown>;
    const result = await call(client, step.call, args, kwargs);
    if (step.as) named[step.as] = result;
    results.push(await keep(result, step));
  }
  return results;
}

/** Run a scenario on a fresh copy of the fixture collection, as a JSON-ready {@link Outcome}. */
export async function outcome(scenario: Scenario, fixture: Fixture, client: Client): Promise<Outcome> {
  await client.createCollection(fixture.collection, { model: fixture.model, dimension: fixture.dimension });
  const items = fixture.items.map((item) => evaluate(item, fixture, {})) as Record<string, unknown>[];
  await client.upsert(items.map(camelKeys) as never, { batchSize: fixture.batch_size });
  try {
    return await attempt(() => run(scenario, fixture, client));
  } finally {
    await client.dropCollection(fixture.collection);
  }
}

/** `{returned}`, or `{raised, ...}` with the Python names for the SDK's own errors. */
export async function attempt(body: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { returned: plain(await body()) };
  } catch (error) {
    if (error instanceof LatentSpaceError) {
      return {
        raised: error.name,
        code: error.codeName,
        reason: error.reason,
        request_id: Boolean(error.requestId),
        chained: typeof (error.cause as { code?: unknown } | undefined)?.code === "number",
      };
    }
    if (error instanceof RangeError) return { raised: "ValueError" };
    if (error instanceof TypeError) return { raised: "TypeError" };
    throw error;
  }
}

/**
 * A result as JSON: Float32Arrays as arrays, bytes (images) as base64, SDK field names in snake_case
 * (payloads kept as they are).
 */
export function plain(value: unknown, key = ""): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Float32Array) return Array.from(value);
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map((v) => plain(v));
  if (typeof value === "object" && key !== "payload") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), plain(v, k)]));
  }
  return value;
}

/** Equal JSON values, numbers to `tolerance`; fails naming the first difference. */
export function difference(mine: unknown, theirs: unknown, tolerance: number, path = "result"): string | null {
  if (typeof mine === "number" && typeof theirs === "number") {
    return Math.abs(mine - theirs) <= tolerance ? null : `${path}: ${mine} != ${theirs}`;
  }
  if (Array.isArray(mine) && Array.isArray(theirs)) {
    if (mine.length !== theirs.length) return `${path}: ${mine.length} items != ${theirs.length}`;
    for (let i = 0; i < mine.length; i++) {
      const found = difference(mine[i], theirs[i], tolerance, `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (isObject(mine) && isObject(theirs)) {
    const keys = Object.keys(mine).sort();
    const other = Object.keys(theirs).sort();
    if (keys.join() !== other.join()) return `${path}: keys ${keys.join(", ")} != ${other.join(", ")}`;
    for (const k of keys) {
      const found = difference(mine[k], theirs[k], tolerance, `${path}.${k}`);
      if (found) return found;
    }
    return null;
  }
  return mine === theirs ? null : `${path}: ${JSON.stringify(mine)} != ${JSON.stringify(theirs)}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
