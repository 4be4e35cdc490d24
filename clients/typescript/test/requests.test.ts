/** Request building and reply conversion without I/O: points, filters, payloads, items, vectors. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, type JsonObject, toBinary, toJson } from "@bufbuild/protobuf";
import {
  DirectionMethod,
  SearchRequestSchema,
  SearchResponseSchema,
} from "../src/generated/latentspace/v1/latentspace_pb.js";
import { FilterSchema, HitSchema, Modality, ScoreForm, ScoreMode } from "../src/generated/latentspace/v1/types_pb.js";
import { Analogy, Edit, Examples, Id, Labels, Mix, NamedDirection, TextPair } from "../src/index.js";
import { MAX_PAYLOAD_DEPTH, toFilter } from "../src/payloads.js";
import { MAX_POINT_DEPTH, type Point, pointFromKeywords, toDirection, toQuery } from "../src/points.js";
import * as rq from "../src/requests.js";
import { hitFromProto } from "../src/results.js";
import { floatRows, packVector, unpackVector } from "../src/vectors.js";

test("vectors pack little-endian and unpack into a Float32Array the caller owns", () => {
  const source = new Float32Array([0.5, -1.25, 3]);
  const message = packVector(source);
  assert.equal(message.dimension, 3);
  assert.deepEqual([...message.data.subarray(0, 4)], [0, 0, 0, 0x3f]); // 0.5f little-endian
  source[0] = 9; // the message holds a copy
  const unpacked = unpackVector(message);
  assert.deepEqual([...unpacked], [0.5, -1.25, 3]);
  assert.deepEqual([...packVector([0.5, -1.25, 3]).data], [...message.data]);
  assert.throws(() => packVector([]), RangeError);
});

test("a vector decoded from a reply at an unaligned offset of a pooled buffer unpacks correctly", () => {
  const vector = packVector(new Float32Array([1, 2, 3, 4]));
  const reply = toBinary(SearchResponseSchema, create(SearchResponseSchema, { hits: [{ id: "a", vector }] }));
  // Received bytes often sit inside a larger buffer, at an offset that is not a multiple of 4.
  const pool = Buffer.alloc(reply.byteLength + 3);
  pool.set(reply, 3);
  const decoded = fromBinary(SearchResponseSchema, pool.subarray(3));
  const data = decoded.hits[0]!.vector!.data;
  assert.notEqual(data.byteOffset % 4, 0, "the test needs an unaligned view");
  assert.deepEqual([...unpackVector(decoded.hits[0]!.vector!)], [1, 2, 3, 4]);
  assert.throws(() => unpackVector({ ...vector, dimension: 5 }), RangeError);
});

test("matrix rows are Float32Array views of one row-major buffer", () => {
  const rows = floatRows([1, 2, 3, 4, 5, 6], 2, 3);
  assert.deepEqual(rows.map((r) => [...r]), [[1, 2, 3], [4, 5, 6]]);
  assert.throws(() => floatRows([1, 2, 3], 2, 2), RangeError);
});

test("hits convert to plain objects with modality names and payloads", () => {
  const hit = hitFromProto(
    create(HitSchema, { id: "x", score: 0.5, modality: Modality.IMAGE, payload: { a: 1, b: { c: [true, null] } } }),
  );
  assert.deepEqual(hit, {
    id: "x",
    score: 0.5,
    modality: "image",
    payload: { a: 1, b: { c: [true, null] } },
    content: "",
    vector: null,
    explanation: null,
  });
});

test("directions: a named direction is a direction and a point; labels and probes build CreateDirection", () => {
  assert.deepEqual(toQuery(new NamedDirection("to-blue")).kind.case, "direction");
  const mixed = toQuery(new Mix([new Id("a"), [new NamedDirection("to-blue"), 0.5]]));
  assert.equal(mixed.kind.case, "mix");
  const edit = toQuery(new Edit(new Id("a"), new NamedDirection("to-blue")));
  assert.deepEqual(edit.kind.case === "edit" && edit.kind.value.direction?.kind, { case: "name", value: "to-blue" });
  const request = rq.createDirectionRequest("c", "blue", new Labels("color", "blue", "red", { kind: "image" }), {
    method: "logistic",
    holdout: 0.3,
    seed: 7,
  });
  assert.equal(request.source?.kind.case, "labels");
  assert.equal(request.method, DirectionMethod.LOGISTIC);
  assert.equal(request.holdout, 0.3);
  assert.equal(request.seed, 7n);
  assert.equal(rq.createDirectionRequest("c", "t", new TextPair("a", "b")).source?.kind.case, "textPair");
  assert.throws(() => rq.createDirectionRequest("c", "copy", new NamedDirection("blue")), TypeError);
  assert.throws(() => rq.createDirectionRequest("c", "x", [1, 0], { method: "nope" as never }), RangeError);
});

test("explanations convert with their form, terms and projections", () => {
  const hit = hitFromProto(
    create(HitSchema, {
      id: "x",
      score: 0.5,
      explanation: {
        form: ScoreForm.SUM,
        terms: [{ path: "query", cosine: 0.5, coefficient: 1, share: 0.5 }],
        projections: [{ path: "query.edit.direction", name: "blue", projection: 0.25 }],
        cosine: 0.75,
        calibrationOffset: 0.25,
        calibrationScale: 1,
        redundancy: 0.5,
      },
    }),
  );
  assert.deepEqual(hit.explanation, {
    form: "sum",
    terms: [{ path: "query", cosine: 0.5, coefficient: 1, share: 0.5, factor: 0, exponent: 0 }],
    projections: [{ path: "query.edit.direction", name: "blue", projection: 0.25 }],
    cosine: 0.75,
    calibrationOffset: 0.25,
    calibrationScale: 1,
    redundancy: 0.5,
  });
  const plain = hitFromProto(create(HitSchema, { id: "y", explanation: { form: ScoreForm.SUM } }));
  assert.equal(plain.explanation?.redundancy, null);
});

test("ranking options: score mode, modality, diversity and pool on search, interpolate and edit", () => {
  const options = rq.searchOptions({ k: 5, scoreMode: "calibrated", modality: "image", diversity: 0.25, pool: 40 });
  assert.equal(options.scoreMode, ScoreMode.CALIBRATED);
  assert.equal(options.modality, Modality.IMAGE);
  assert.equal(options.diversity, 0.25);
  assert.equal(options.pool, 40);
  const bare = rq.searchOptions({ k: 5 });
  assert.deepEqual([bare.scoreMode, bare.modality, bare.diversity, bare.pool], [ScoreMode.RAW, Modality.UNSPECIFIED, 0, 0]);
  assert.equal(rq.interpolateRequest("c", "a", "b", { steps: 3, diversity: 0.5 }).diversity, 0.5);
  assert.equal(rq.editRequest("c", new Id("b"), new TextPair("x", "y"), { modality: "text" }).modality, Modality.TEXT);
  assert.throws(() => rq.searchOptions({ scoreMode: "zscore" as never }), RangeError);
  assert.throws(() => rq.searchOptions({ modality: "audio" as never }), RangeError);
});

test("points: text, bytes, vectors, ids and composites become Query messages", () => {
  assert.equal(toQuery("a red circle").kind.case, "text");
  assert.equal(toQuery(new Uint8Array([0x89, 0x50])).kind.case, "image");
  assert.equal(toQuery(Buffer.from([1, 2])).kind.case, "image");
  assert.equal(toQuery([0.1, 0.2]).kind.case, "vector");
  assert.equal(toQuery(new Float32Array([0.1, 0.2])).kind.case, "vector");
  assert.deepEqual(toQuery(new Id("v1")).kind, { case: "id", value: "v1" });
  const query = toQuery(new Mix([[new Id("a"), 0.7], "a cat", [0.1, 0.2]]));
  assert.equal(query.kind.case, "mix");
  const parts = query.kind.case === "mix" ? query.kind.value.parts : [];
  assert.deepEqual(parts.map((p) => [p.query?.kind.case, p.weight]), [["id", 0.7], ["text", undefined], ["vector", undefined]]);
  const edit = toQuery(new Edit(new Id("a"), new TextPair("a red shape", "a blue shape", true), { mode: "rotate", strength: 0.3 }));
  assert.equal(edit.kind.case, "edit");
  if (edit.kind.case === "edit") {
    assert.equal(edit.kind.value.mode, 2);
    assert.ok(Math.abs(edit.kind.value.strength! - 0.3) < 1e-7);
    assert.equal(edit.kind.value.direction?.kind.case, "textPair");
  }
  const analogy = toQuery(new Analogy("a", "b", "c", { method: "cos_mul" }));
  assert.equal(analogy.kind.case === "analogy" && analogy.kind.value.method, 2);
  assert.equal(toDirection(new Examples(["a"], ["b"])).kind.case, "examples");
  assert.throws(() => toQuery(42 as never), TypeError);
  assert.throws(() => toQuery({ id: "x" } as never), TypeError);
  assert.throws(() => toQuery(new Edit("a", [1], { mode: "twist" as never })), RangeError);
  assert.throws(() => new Mix([]), RangeError);
});

test("a search point is positional or exactly one keyword", () => {
  assert.deepEqual(pointFromKeywords(null, { id: "v7" }).kind, { case: "id", value: "v7" });
  assert.equal(pointFromKeywords(undefined, { vector: [1, 2] }).kind.case, "vector");
  assert.throws(() => pointFromKeywords("a", { id: "v7" }), RangeError);
  assert.throws(() => pointFromKeywords(null, {}), RangeError);
  assert.throws(() => pointFromKeywords(null, { text: 3 as never }), TypeError);
});

test("filters: equals, any of, ranges and dotted paths; malformed ones are refused", () => {
  const filter = toFilter({ color: "red", size: ["s", "m"], price: { gte: 1, lt: 5 }, meta: { lang: "en" } });
  assert.deepEqual(toJson(FilterSchema, filter!), {
    must: [
      { field: "color", equals: "red" },
      { field: "size", anyOf: ["s", "m"] },
      { field: "price", range: { gte: 1, lt: 5 } },
      { field: "meta.lang", equals: "en" },
    ],
  });
  assert.equal(toFilter({}), undefined);
  assert.equal(toFilter(undefined), undefined);
  assert.throws(() => toFilter({ price: { gte: 1, color: "x" } }), RangeError);
  assert.throws(() => toFilter({ size: [] }), RangeError);
  assert.throws(() => toFilter({ size: [["nested"]] }), TypeError);
  assert.throws(() => toFilter({ price: { gte: "1" } }), TypeError);
});

test("items: one content field, JSON payloads; mistakes name the item", () => {
  const item = rq.upsertItem({ id: "a", vector: [1, 2], payload: { n: 2 ** 40 }, contentRef: "vec://a" }, 0);
  assert.equal(item.content.case, "vector");
  assert.deepEqual(item.payload, { n: 2 ** 40 });
  assert.equal(item.contentRef, "vec://a");
  assert.throws(() => rq.upsertItem({ id: "a", text: "x", vector: [1] }, 3), /items\[3\]: an item needs an id/);
  assert.throws(() => rq.upsertItem({ id: "a", text: "x", color: "red" } as never, 1), RangeError);
  assert.throws(() => rq.upsertItem({ id: "a", text: "x", payload: { x: Number.NaN } }, 2), /items\[2\]\.payload\.x/);
  assert.throws(() => rq.upsertItem({ id: "a", text: "x", payload: { x: 1n } as never }, 0), TypeError);
  assert.throws(() => rq.upsertItem({ id: "a", text: "x", payload: { x: new Date() } as never }, 0), TypeError);
});

test("upsert batches are built lazily: a bad item fails when its batch is built", async () => {
  const built: string[] = [];
  function* items() {
    for (const id of ["a", "b", "c"]) {
      built.push(id);
      yield { id, vector: [1, 2] };
    }
    yield { id: "bad" } as rq.UpsertItem;
  }
  const batches = rq.upsertRequests("c", items(), 2);
  const first = await batches.next();
  assert.ok(first.value && !first.done);
  assert.deepEqual(first.value.items.map((i) => i.id), ["a", "b"]);
  assert.deepEqual(built, ["a", "b"]);
  await assert.rejects(batches.next(), /items\[3\]/);
  await assert.rejects(rq.upsertRequests("c", [], 0).next(), RangeError);
});

test("interpolate takes one of t, steps, ts; search options default like Python's", () => {
  assert.deepEqual(rq.interpolateRequest("c", "a", "b", { t: 0.5 }).ts, [0.5]);
  assert.equal(rq.interpolateRequest("c", "a", "b", { steps: 5 }).steps, 5);
  assert.throws(() => rq.interpolateRequest("c", "a", "b", { t: 0.5, steps: 3 }), /pass one of t, steps, ts; got t, steps/);
  assert.throws(() => rq.interpolateRequest("c", "a", "b", { method: "cubic" as never }), RangeError);
  const options = rq.searchOptions({ excludeIds: "v7", scoreThreshold: 0 });
  assert.equal(options.k, 10);
  assert.deepEqual(options.excludeIds, ["v7"]); // a lone string is one id
  assert.equal(options.scoreThreshold, 0); // an explicit 0 is sent
  assert.equal(rq.searchOptions({}).scoreThreshold, undefined);
  assert.equal(rq.editRequest("c", "a", [1, 2]).k, 10);
  assert.throws(() => rq.resolveCollection(undefined, null), RangeError);
});

test("decode: points as everywhere else, and the decode flag on interpolate and edit", () => {
  const request = rq.decodeRequest("c", ["a red circle", new Id("x"), [1, 0]]);
  assert.equal(request.collection, "c");
  assert.deepEqual(request.queries.map((q) => q.kind.case), ["text", "id", "vector"]);
  assert.equal(rq.interpolateRequest("c", "a", "b", { steps: 3, decode: true }).decode, true);
  assert.equal(rq.interpolateRequest("c", "a", "b", { steps: 3 }).decode, false);
  assert.equal(rq.editRequest("c", "a", [1, 0], { decode: true }).decode, true);
});

test("what the SDK can see is refused before sending: NaN, nesting past the server's bounds, no ids", () => {
  assert.throws(() => packVector([1, Number.NaN]), /finite/);
  assert.throws(() => packVector(new Float32Array([Number.POSITIVE_INFINITY])), RangeError);
  assert.throws(() => packVector([1e39]), RangeError); // too large for float32

  const mixes = (levels: number): Point => {
    let point: Point = new Id("a");
    for (let i = 0; i < levels; i++) point = new Mix([point]);
    return point;
  };
  const edits = (levels: number): Point => {
    let point: Point = new Id("a");
    for (let i = 0; i < levels; i++) point = new Edit(new Id("b"), new Examples([point]));
    return point;
  };
  for (const build of [mixes, edits]) {
    const deepest = toQuery(build(MAX_POINT_DEPTH));
    const request = create(SearchRequestSchema, { collection: "c", query: deepest });
    assert.ok(fromBinary(SearchRequestSchema, toBinary(SearchRequestSchema, request)).query);
    assert.throws(() => toQuery(build(MAX_POINT_DEPTH + 1)), /deeper than 16 levels/);
  }
  const inner = toQuery(mixes(MAX_POINT_DEPTH - 1));
  toQuery(new Mix([inner]));
  assert.throws(() => toQuery(new Mix([new Mix([inner])])), RangeError);

  let payload: unknown = 1;
  for (let i = 0; i < MAX_PAYLOAD_DEPTH; i++) payload = { a: payload };
  rq.upsertItem({ id: "x", vector: [1], payload: payload as JsonObject }, 0);
  assert.throws(() => rq.upsertItem({ id: "x", vector: [1], payload: { a: payload } as JsonObject }, 3),
    /items\[3\]\.payload\.a.*deeper than 32 levels/);

  assert.throws(() => rq.getRequest("c", [], false), /at least one id/);
  assert.throws(() => rq.deleteRequest("c", []), RangeError);
});
