/** Every RPC in proto/ has a row in the RPC table, and every Python client method has a TypeScript one. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { path } from "../src/calls.js";
import { Collections, LatentSpace } from "../src/generated/latentspace/v1/latentspace_pb.js";
import { Client, RPCS } from "../src/index.js";
import { REPO } from "./processes.js";
import { camel } from "./scenarios.js";

test("the RPC table names every RPC of every service, and nothing else", () => {
  const generated = [...Collections.methods, ...LatentSpace.methods];
  const table = Object.values(RPCS).map((rpc) => rpc.method);
  assert.deepEqual(new Set(table), new Set(generated));
  assert.equal(table.length, generated.length, "an RPC has two rows");
});

test("a method's path is its gRPC path", () => {
  assert.equal(path(RPCS.upsertStream.method), "/latentspace.v1.Collections/UpsertStream");
  assert.equal(RPCS.upsertStream.method.methodKind, "client_streaming");
});

test("every public method of the Python Client has a TypeScript method of the camelCase name", () => {
  const source = readFileSync(join(REPO, "clients", "python", "latentspace_client", "client.py"), "utf8");
  const python = [...source.matchAll(/^ {4}def ([a-z]\w*)\(/gm)].map((m) => m[1]!);
  assert.ok(python.includes("search") && python.includes("upsert"), "the Python methods were not read");
  const missing = python.map(camel).filter((name) => typeof (Client.prototype as unknown as Record<string, unknown>)[name] !== "function");
  assert.deepEqual(missing, []);
});
