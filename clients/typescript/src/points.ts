/**
 * Points: what a caller may pass wherever the API takes a point, and how each becomes a `Query`.
 *
 * | you pass                         | it is                                                   |
 * | -------------------------------- | ------------------------------------------------------- |
 * | `"a red circle"` (string)        | text, encoded by the collection's model (never a path)  |
 * | a `Uint8Array` / `Buffer`        | encoded image bytes (PNG, JPEG, WebP, ...)              |
 * | a `Float32Array`, `number[]`     | a raw vector of the collection's dimension              |
 * | `new Id("img-7")`                | the stored vector of an item                            |
 * | `new Mix([[p, 0.7], [q, 0.3]])`  | normalise(sum w * p); a bare point has weight 1         |
 * | `new Edit(base, direction, opts)`| a base point moved along a direction                    |
 * | `new Analogy(a, aStar, b, opts)` | a : a* :: b : ?                                         |
 * | `new NamedDirection("to-blue")`, | a direction's unit vector as a point (searched alone:   |
 * | `TextPair`, `Examples`           | items by their projection on it; in a Mix: a move)      |
 * | a `latentspace.v1.Query` message | passed through as it is                                 |
 *
 * Composites nest: a Mix of an Edit and an Id is a point like any other.
 */

import { create, isMessage } from "@bufbuild/protobuf";
import {
  AnalogyMethod,
  AnalogySchema,
  type Direction as DirectionMessage,
  DirectionSchema,
  EditMode,
  type Edit as EditMessage,
  EditSchema,
  ExamplesSchema,
  MixSchema,
  type Query,
  QuerySchema,
  TextPairSchema,
  WeightedQuerySchema,
} from "./generated/latentspace/v1/types_pb.js";
import { isVector, packVector, type VectorLike } from "./vectors.js";

/** A stored item, by its id: its stored vector is the point. */
export class Id {
  constructor(readonly value: string) {}
}

/** A direction from text: normalise(E(target) - E(neutral)); `useTemplates` averages over prompt templates. */
export class TextPair {
  constructor(
    readonly neutral: string,
    readonly target: string,
    readonly useTemplates = false,
  ) {}
}

/** A direction from examples: normalise(mean(positive) - mean(negative)). */
export class Examples {
  constructor(
    readonly positive: readonly Point[],
    readonly negative: readonly Point[] = [],
  ) {}
}

/** A direction stored in the collection under `name` (`client.createDirection`). */
export class NamedDirection {
  constructor(readonly name: string) {}
}

/**
 * What `createDirection` can make a direction from besides a text pair, examples or a vector: the
 * collection's items whose payload `field` equals `positive` against those where it equals
 * `negative`, among the items that pass `filter` (a filter object, as in `search`).
 */
export class Labels {
  constructor(
    readonly field: string,
    readonly positive: string | number | boolean | null,
    readonly negative: string | number | boolean | null,
    readonly filter: Record<string, unknown> | null = null,
  ) {}
}

/** A direction: a text pair, examples, a stored direction's name, or a raw vector. */
export type Direction = TextPair | Examples | NamedDirection | VectorLike | DirectionMessage;

/** One part of a {@link Mix}: a point (weight 1) or a `[point, weight]` pair; weights may be negative. */
export type MixPart = Point | readonly [Point, number];

/** normalise(sum_i w_i * p_i). */
export class Mix {
  /** The parts as `[point, weight]`; weight null means the default 1.0. */
  readonly parts: ReadonlyArray<readonly [Point, number | null]>;

  constructor(parts: readonly MixPart[]) {
    if (parts.length === 0) throw new RangeError("Mix needs at least one part");
    this.parts = parts.map(weightedPart);
  }
}

export type EditModeName = "add" | "rotate" | "remove";
export type AnalogyMethodName = "cos_add" | "cos_mul";

/**
 * A base point moved along a direction. `mode`: "add" (normalise(base + strength * d), default
 * strength 1.0), "rotate" (slerp towards d by a fraction of the angle, default 0.5) or "remove"
 * (project d out, default 1.0).
 */
export class Edit {
  readonly mode: EditModeName;
  readonly strength: number | null;

  constructor(
    readonly base: Point,
    readonly direction: Direction,
    options: { mode?: EditModeName; strength?: number | null } = {},
  ) {
    this.mode = options.mode ?? "add";
    this.strength = options.strength ?? null;
  }
}

/**
 * a : aStar :: b : ?  `method` "cos_add" (a point) or "cos_mul" (a ranking; search only). The ids
 * of stored items used as inputs are excluded from results unless `includeInputs`.
 */
export class Analogy {
  readonly method: AnalogyMethodName;
  readonly includeInputs: boolean;

  constructor(
    readonly a: Point,
    readonly aStar: Point,
    readonly b: Point,
    options: { method?: AnalogyMethodName; includeInputs?: boolean } = {},
  ) {
    this.method = options.method ?? "cos_add";
    this.includeInputs = options.includeInputs ?? false;
  }
}

/** Anything {@link toQuery} accepts (see the module comment). */
export type Point =
  | string
  | Uint8Array
  | VectorLike
  | Id
  | Mix
  | Edit
  | Analogy
  | NamedDirection
  | TextPair
  | Examples
  | Query;

/** The one place each name becomes a wire enum. */
export const EDIT_MODES: Readonly<Record<EditModeName, EditMode>> = {
  add: EditMode.ADD,
  rotate: EditMode.ROTATE,
  remove: EditMode.REMOVE,
};
export const ANALOGY_METHODS: Readonly<Record<AnalogyMethodName, AnalogyMethod>> = {
  cos_add: AnalogyMethod.COS_ADD,
  cos_mul: AnalogyMethod.COS_MUL,
};

/** Look `name` up in one of the name tables, with an error that lists the choices. */
export function enumValue<K extends string, V>(table: Readonly<Record<K, V>>, name: string, what: string): V {
  const key = typeof name === "string" ? name.toLowerCase() : "";
  if (Object.hasOwn(table, key)) return table[key as K];
  throw new RangeError(`unknown ${what} ${JSON.stringify(name)}; expected one of ${Object.keys(table).join(", ")}`);
}

/**
 * How deep composite points may nest: each mix part, edit base, example and analogy term is one level
 * below its parent. The server's bound, the same as the Python SDK's `MAX_POINT_DEPTH`; deeper trees
 * are refused here (RangeError).
 */
export const MAX_POINT_DEPTH = 16;

/** Turn any accepted point into a `Query` message (RangeError past {@link MAX_POINT_DEPTH}). */
export function toQuery(point: Point): Query {
  return query(point, 0);
}

function query(point: Point, depth: number): Query {
  if (depth > MAX_POINT_DEPTH) throw tooDeep();
  if (typeof point === "string") return create(QuerySchema, { kind: { case: "text", value: point } });
  if (point instanceof Float32Array || isVector(point)) {
    return create(QuerySchema, { kind: { case: "vector", value: packVector(point) } });
  }
  if (point instanceof Uint8Array) return create(QuerySchema, { kind: { case: "image", value: point } });
  if (point instanceof Id) return create(QuerySchema, { kind: { case: "id", value: point.value } });
  if (point instanceof Mix) return create(QuerySchema, { kind: { case: "mix", value: toMix(point, depth) } });
  if (point instanceof Edit) return create(QuerySchema, { kind: { case: "edit", value: edit(point, depth) } });
  if (point instanceof Analogy) {
    return create(QuerySchema, { kind: { case: "analogy", value: toAnalogy(point, depth) } });
  }
  if (point instanceof NamedDirection || point instanceof TextPair || point instanceof Examples) {
    return create(QuerySchema, { kind: { case: "direction", value: directionMessage(point, depth) } });
  }
  if (isMessage(point, QuerySchema)) {
    if (depth + messageDepth(point) > MAX_POINT_DEPTH) throw tooDeep();
    return point;
  }
  throw new TypeError(
    `cannot use ${describe(point)} as a point: pass text (string), image bytes (Uint8Array), ` +
      "a vector (Float32Array or number[]), Id, Mix, Edit, Analogy or a direction (NamedDirection, TextPair, Examples)",
  );
}

/** {@link toQuery} over many points. */
export function toQueries(points: Iterable<Point>): Query[] {
  return Array.from(points, toQuery);
}

/** The one point given either positionally or as exactly one of text, image, vector, id. */
export function pointFromKeywords(
  point: Point | null | undefined,
  keywords: { text?: string | null; image?: Uint8Array | null; vector?: VectorLike | null; id?: string | null },
): Query {
  const given: Array<[string, unknown]> = [];
  if (point !== null && point !== undefined) given.push(["point", point]);
  for (const name of ["text", "image", "vector", "id"] as const) {
    const value = keywords[name];
    if (value !== null && value !== undefined) given.push([name, value]);
  }
  if (given.length !== 1) {
    const names = given.map(([name]) => name).join(", ") || "nothing";
    throw new RangeError(`pass exactly one point (positional, text, image, vector or id); got ${names}`);
  }
  const [[kind, value]] = given as [[string, unknown]];
  if (kind === "text" && typeof value !== "string") throw new TypeError(`text takes a string, got ${describe(value)}`);
  if (kind === "image" && !(value instanceof Uint8Array)) {
    throw new TypeError(`image takes encoded image bytes (Uint8Array), got ${describe(value)}`);
  }
  if (kind === "vector" && !isVector(value)) throw new TypeError(`vector takes a Float32Array or number[]`);
  return toQuery(kind === "id" ? new Id(String(value)) : (value as Point));
}

/** A TextPair, Examples, NamedDirection or raw vector as a `Direction` message. */
export function toDirection(direction: Direction): DirectionMessage {
  return directionMessage(direction, 0);
}

// `depth` is that of the edit the direction belongs to; its examples sit one level below.
function directionMessage(direction: Direction, depth: number): DirectionMessage {
  if (direction instanceof TextPair) {
    const { neutral, target, useTemplates } = direction;
    const value = create(TextPairSchema, { neutral, target, useTemplates });
    return create(DirectionSchema, { kind: { case: "textPair", value } });
  }
  if (direction instanceof Examples) {
    if (!Array.isArray(direction.positive) || !Array.isArray(direction.negative)) {
      throw new TypeError("Examples takes arrays of points: new Examples(['a red circle'], ['a circle'])");
    }
    const value = create(ExamplesSchema, {
      positive: direction.positive.map((p) => query(p, depth + 1)),
      negative: direction.negative.map((p) => query(p, depth + 1)),
    });
    return create(DirectionSchema, { kind: { case: "examples", value } });
  }
  if (direction instanceof NamedDirection) return create(DirectionSchema, { kind: { case: "name", value: direction.name } });
  if (isVector(direction)) return create(DirectionSchema, { kind: { case: "vector", value: packVector(direction) } });
  if (isMessage(direction, DirectionSchema)) return direction;
  throw new TypeError(
    `cannot use ${describe(direction)} as a direction: pass new TextPair(neutral, target), ` +
      "new Examples(positive, negative), new NamedDirection(name) or a vector",
  );
}

/** An {@link Edit} as an `Edit` message. */
export function toEdit(value: Edit): EditMessage {
  return edit(value, 0);
}

function edit(value: Edit, depth: number): EditMessage {
  const message = create(EditSchema, {
    base: query(value.base, depth + 1),
    direction: directionMessage(value.direction, depth),
    mode: enumValue(EDIT_MODES, value.mode, "edit mode"),
  });
  if (value.strength !== null) message.strength = value.strength;
  return message;
}

function toMix(mix: Mix, depth: number) {
  const parts = mix.parts.map(([point, weight]) => {
    const part = query(point, depth + 1);
    return create(WeightedQuerySchema, weight === null ? { query: part } : { query: part, weight });
  });
  return create(MixSchema, { parts });
}

function toAnalogy(analogy: Analogy, depth: number) {
  return create(AnalogySchema, {
    a: query(analogy.a, depth + 1),
    aStar: query(analogy.aStar, depth + 1),
    b: query(analogy.b, depth + 1),
    method: enumValue(ANALOGY_METHODS, analogy.method, "analogy method"),
    includeInputs: analogy.includeInputs,
  });
}

function tooDeep(): RangeError {
  return new RangeError(
    `points nest deeper than ${MAX_POINT_DEPTH} levels (mixes, edits and analogies inside each other); flatten the query`,
  );
}

/** How many composite levels a ready-made `Query` message holds below itself. */
function messageDepth(message: Query): number {
  const kind = message.kind;
  let children: Query[] = [];
  if (kind.case === "mix") children = kind.value.parts.flatMap((p) => (p.query ? [p.query] : []));
  else if (kind.case === "edit") {
    children = kind.value.base ? [kind.value.base] : [];
    children.push(...exampleQueries(kind.value.direction));
  } else if (kind.case === "direction") {
    children = exampleQueries(kind.value);
  } else if (kind.case === "analogy") {
    children = [kind.value.a, kind.value.aStar, kind.value.b].filter((q): q is Query => q !== undefined);
  }
  return children.length === 0 ? 0 : 1 + Math.max(...children.map(messageDepth));
}

function exampleQueries(direction: DirectionMessage | undefined): Query[] {
  const kind = direction?.kind;
  return kind?.case === "examples" ? [...kind.value.positive, ...kind.value.negative] : [];
}

function weightedPart(part: MixPart): readonly [Point, number | null] {
  // A pair is [point, number] whose first element is not a number (so [0.1, 0.2] stays a 2-d vector).
  if (Array.isArray(part) && part.length === 2 && typeof part[1] === "number" && typeof part[0] !== "number") {
    return [part[0] as Point, part[1]];
  }
  return [part as Point, null];
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "object";
}
