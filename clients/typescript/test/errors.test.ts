/**
 * The error table is the Python SDK's: this test reads `latentspace_client/errors.py` and fails
 * when a class, a status code's class or a metadata key differs.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import * as sdk from "../src/index.js";
import { ERROR_CLASSES, LatentSpaceError, NotFound, REASON_KEY, REQUEST_ID_KEY } from "../src/index.js";
import { translate } from "../src/errors.js";
import { REPO } from "./processes.js";

const PYTHON_ERRORS = readFileSync(join(REPO, "clients", "python", "latentspace_client", "errors.py"), "utf8");

function pythonTable(): Record<string, string> {
  const body = /ERROR_CLASSES[^=]*=\s*\{([^}]*)\}/.exec(PYTHON_ERRORS);
  assert.ok(body, "ERROR_CLASSES not found in errors.py");
  return Object.fromEntries([...body[1]!.matchAll(/grpc\.StatusCode\.(\w+):\s*(\w+)/g)].map((m) => [m[1]!, m[2]!]));
}

test("the status code -> class table is the Python SDK's", () => {
  const python = pythonTable();
  assert.ok(Object.keys(python).length >= 10, "the Python table was not read");
  const mine = Object.fromEntries(Object.entries(ERROR_CLASSES).map(([code, cls]) => [code, cls!.name]));
  assert.deepEqual(mine, python);
});

test("the error classes are the Python SDK's, each a LatentSpaceError exported by the package", () => {
  const python = [...PYTHON_ERRORS.matchAll(/^class (\w+)\((\w+)\):/gm)].map((m) => [m[1]!, m[2]!] as const);
  assert.ok(python.length > 0);
  for (const [name, base] of python) {
    const cls = (sdk as Record<string, unknown>)[name];
    assert.equal(typeof cls, "function", `${name} is not exported`);
    const expected = base === "Exception" ? Error : (sdk as unknown as Record<string, new () => unknown>)[base];
    assert.ok((cls as { prototype: object }).prototype instanceof (expected as new () => unknown), `${name} extends ${base}`);
  }
});

test("the metadata keys are the Python SDK's", () => {
  const key = (name: string) => new RegExp(`^${name} = "([^"]+)"`, "m").exec(PYTHON_ERRORS)?.[1];
  assert.equal(REASON_KEY, key("REASON_KEY"));
  assert.equal(REQUEST_ID_KEY, key("REQUEST_ID_KEY"));
});

test("translate reads the code, details and trailing metadata", () => {
  const metadata = new Metadata();
  metadata.set(REASON_KEY, "COLLECTION_NOT_FOUND");
  metadata.set(REQUEST_ID_KEY, "3f2c");
  const cause = Object.assign(new Error("5 NOT_FOUND: no collection 'x'"), {
    code: status.NOT_FOUND,
    details: "no collection 'x'",
    metadata,
  });
  const error = translate(cause);
  assert.ok(error instanceof NotFound && error instanceof LatentSpaceError && error instanceof Error);
  assert.equal(error.name, "NotFound");
  assert.equal(error.codeName, "NOT_FOUND");
  assert.equal(error.reason, "COLLECTION_NOT_FOUND");
  assert.equal(error.requestId, "3f2c");
  assert.equal(error.details, "no collection 'x'");
  assert.equal(error.message, "NOT_FOUND (COLLECTION_NOT_FOUND): no collection 'x'"); // as Python's str(error)
  assert.equal(error.cause, cause);
});

test("a status outside the table becomes the base class; no metadata means no reason", () => {
  const error = translate(Object.assign(new Error("x"), { code: status.ABORTED, details: "aborted" }));
  assert.equal(error.constructor, LatentSpaceError);
  assert.equal(error.codeName, "ABORTED");
  assert.equal(error.reason, null);
  assert.equal(error.requestId, null);
  assert.equal(error.message, "ABORTED: aborted");
});
