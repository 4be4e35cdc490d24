/**
 * The client's `apiKey` and `tls` options against the real server (`latent serve` with API keys and
 * mutual TLS): the right CA, client certificate and key work; each thing missing fails with the
 * Python SDK's error class, code and reason; the server answers a correct call after each refusal.
 * Certificates (trustme) and keys (`latent keys new`'s format) are made at run time by
 * `tests/tls_files.py`.
 */

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client, type ClientOptions, PermissionDenied, Unauthenticated, Unavailable } from "../src/index.js";
import { ServerProcess, runPython } from "./processes.js";

const MAKE_FILES = `
import json, sys
from pathlib import Path
from tests.tls_files import make_keys, make_pki
folder = Path(sys.argv[1])
pki = make_pki(folder / "pki")
keys = make_keys(folder / "keys.txt")
print(json.dumps({"ca": str(pki.ca), "cert": str(pki.cert), "key": str(pki.key), "clientCa": str(pki.client_ca),
                  "clientCert": str(pki.client_cert), "clientKey": str(pki.client_key), "otherCa": str(pki.other_ca),
                  "keysFile": str(keys.file), "read": keys.read, "admin": keys.admin}))
`;

interface Files {
  ca: string;
  cert: string;
  key: string;
  clientCa: string;
  clientCert: string;
  clientKey: string;
  otherCa: string;
  keysFile: string;
  read: string;
  admin: string;
}

describe("a server with API keys and mutual TLS", () => {
  let folder: string;
  let files: Files;
  let server: ServerProcess;
  let tls: { rootCerts: Buffer; certChain: Buffer; privateKey: Buffer };

  const open = (options: ClientOptions) => new Client(server.address, { timeoutMs: 10_000, collection: "vec", ...options });

  async function expectServing(): Promise<void> {
    const reader = open({ tls, apiKey: files.read });
    try {
      assert.deepEqual((await reader.search([1, 0], { k: 1 })).map((hit) => hit.id), ["x"]);
    } finally {
      reader.close();
    }
  }

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), "latentspace-security-"));
    files = JSON.parse(await runPython(["-c", MAKE_FILES, folder])) as Files;
    tls = {
      rootCerts: await readFile(files.ca),
      certChain: await readFile(files.clientCert),
      privateKey: await readFile(files.clientKey),
    };
    server = await ServerProcess.start([
      ...["--api-keys", files.keysFile, "--tls-cert", files.cert, "--tls-key", files.key],
      ...["--tls-client-ca", files.clientCa],
    ]);
    const admin = open({ tls, apiKey: files.admin });
    try {
      await admin.createCollection("vec", { dimension: 2 });
      await admin.upsert([{ id: "x", vector: [1, 0] }, { id: "y", vector: [0, 1] }]);
    } finally {
      admin.close();
    }
  });

  after(async () => {
    await server?.stop();
    await rm(folder, { recursive: true, force: true });
  });

  test("the right CA, client certificate and key read; an admin key does everything", async () => {
    await expectServing();
    const admin = open({ tls, apiKey: files.admin });
    try {
      await admin.createCollection("scratch", { dimension: 2 });
      assert.equal((await admin.upsert([{ id: "a", vector: [0, 1] }], { collection: "scratch" })).upserted, 1);
      assert.equal((await admin.delete(["a"], { collection: "scratch" })).deleted, 1);
      await admin.dropCollection("scratch");
      assert.deepEqual((await admin.listCollections()).map((c) => c.name), ["vec"]);
    } finally {
      admin.close();
    }
  });

  interface Refusal {
    name: string;
    options: () => ClientOptions;
    call: (client: Client) => Promise<unknown>;
    error: typeof Unavailable;
    reason: string | null; // null: the transport failed, the server never answered
  }
  const refusals: Refusal[] = [
    { name: "no key", options: () => ({ tls }), call: (c) => c.stats(), error: Unauthenticated, reason: "API_KEY_MISSING" },
    {
      name: "an unknown key",
      options: () => ({ tls, apiKey: "ls_nobody-issued-this" }),
      call: (c) => c.stats(),
      error: Unauthenticated,
      reason: "API_KEY_UNKNOWN",
    },
    {
      name: "a read key upserting",
      options: () => ({ tls, apiKey: files.read }),
      call: (c) => c.upsert([{ id: "z", vector: [1, 1] }]),
      error: PermissionDenied,
      reason: "SCOPE_INSUFFICIENT",
    },
    {
      name: "a read key creating",
      options: () => ({ tls, apiKey: files.read }),
      call: (c) => c.createCollection("other", { dimension: 2 }),
      error: PermissionDenied,
      reason: "SCOPE_INSUFFICIENT",
    },
    { name: "plain text", options: () => ({ apiKey: files.read }), call: (c) => c.stats(), error: Unavailable, reason: null },
    {
      name: "no client certificate",
      options: () => ({ tls: { rootCerts: tls.rootCerts }, apiKey: files.read }),
      call: (c) => c.stats(),
      error: Unavailable,
      reason: null,
    },
  ];

  for (const { name, options, call, error: ErrorClass, reason } of refusals) {
    test(`${name} is refused with ${ErrorClass.name}${reason ? ` (${reason})` : ""}, and the server keeps serving`, async () => {
      const client = open(options());
      try {
        await assert.rejects(call(client), (error: unknown) => {
          assert.ok(error instanceof ErrorClass, String(error));
          assert.equal(error.reason, reason);
          return true;
        });
      } finally {
        client.close();
      }
      await expectServing();
    });
  }

  test("a CA that did not sign the server's certificate is refused", async () => {
    const client = open({ tls: { ...tls, rootCerts: await readFile(files.otherCa) }, apiKey: files.read });
    try {
      await assert.rejects(client.stats(), (error: unknown) => error instanceof Unavailable && error.reason === null);
    } finally {
      client.close();
    }
    await expectServing();
  });
});
