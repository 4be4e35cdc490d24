/**
 * The transport in detail: the API key and metadata sent with each call, TLS, deadlines, and
 * errors with trailing metadata over the wire. A small grpc-js server in this process serves a few
 * RPCs of `latentspace.v1` from the generated descriptors and records what it receives (the real
 * server's keys and TLS are in security.test.ts).
 */

import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, type DescMethod, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import { path } from "../src/calls.js";
import { Collections, StatsResponseSchema } from "../src/generated/latentspace/v1/latentspace_pb.js";
import { Client, DeadlineExceeded, NotFound, REASON_KEY, REQUEST_ID_KEY, Unavailable } from "../src/index.js";
import { runPython } from "./processes.js";

type Handler = (call: ServerUnaryCall<unknown, unknown>, reply: sendUnaryData<unknown>) => void;

/** A grpc-js service definition for some methods of a generated service. */
function definition(methods: DescMethod[]): ServiceDefinition {
  return Object.fromEntries(
    methods.map((method) => [
      method.localName,
      {
        path: path(method),
        requestStream: false,
        responseStream: false,
        requestSerialize: (m: never) => Buffer.from(toBinary(method.input, m)),
        requestDeserialize: (b: Buffer) => fromBinary(method.input, b),
        responseSerialize: (m: never) => Buffer.from(toBinary(method.output, m)),
        responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
      },
    ]),
  ) as ServiceDefinition;
}

/** Records each call's metadata; Stats answers (or never does, when asked to hang); DropCollection fails. */
class TestServer {
  readonly received: Metadata[] = [];
  private readonly server = new Server();
  private readonly hanging: sendUnaryData<unknown>[] = [];

  constructor() {
    const stats: Handler = (call, reply) => {
      this.received.push(call.metadata);
      if (call.metadata.get("x-hang").length) this.hanging.push(reply);
      else reply(null, create(StatsResponseSchema, { version: "test", loadedModels: ["m"] }));
    };
    const dropCollection: Handler = (call, reply) => {
      const trailing = new Metadata();
      trailing.set(REASON_KEY, "COLLECTION_NOT_FOUND");
      trailing.set(REQUEST_ID_KEY, "req-1");
      reply({ code: status.NOT_FOUND, details: `no collection '${(call.request as { name: string }).name}'`, metadata: trailing });
    };
    const { stats: statsMethod, dropCollection: dropMethod } = Collections.method;
    this.server.addService(definition([statsMethod, dropMethod]), { stats, dropCollection });
  }

  start(credentials: ServerCredentials): Promise<string> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync("127.0.0.1:0", credentials, (error, port) => {
        if (error) reject(error);
        else resolve(`127.0.0.1:${port}`);
      });
    });
  }

  stop(): void {
    for (const reply of this.hanging) reply({ code: status.CANCELLED, details: "stopping" });
    this.server.forceShutdown();
  }
}

describe("an insecure channel", () => {
  const server = new TestServer();
  let address: string;
  before(async () => {
    address = await server.start(ServerCredentials.createInsecure());
  });
  after(() => server.stop());

  test("sends the API key as a bearer token, and the caller's metadata, with every call", async () => {
    const client = new Client(address, { apiKey: "k-123", metadata: { "x-team": "search" } });
    try {
      const stats = await client.stats();
      assert.deepEqual(stats, { collections: [], loadedModels: ["m"], uptimeSeconds: 0, version: "test" });
      await client.stats();
    } finally {
      client.close();
    }
    const [first, second] = server.received.slice(-2);
    for (const metadata of [first!, second!]) {
      assert.deepEqual(metadata.get("authorization"), ["Bearer k-123"]);
      assert.deepEqual(metadata.get("x-team"), ["search"]);
    }
  });

  test("sends no authorization without an API key", async () => {
    const client = new Client(address);
    try {
      await client.stats();
    } finally {
      client.close();
    }
    assert.deepEqual(server.received.at(-1)!.get("authorization"), []);
  });

  test("a call past its deadline is DeadlineExceeded (per call, or the client's default)", async () => {
    const client = new Client(address, { metadata: { "x-hang": "1" }, timeoutMs: 300 });
    try {
      await assert.rejects(client.stats({ timeoutMs: 200 }), (error: unknown) => {
        assert.ok(error instanceof DeadlineExceeded);
        assert.equal(error.codeName, "DEADLINE_EXCEEDED");
        assert.equal(error.reason, null);
        return true;
      });
      await assert.rejects(client.stats(), DeadlineExceeded);
    } finally {
      client.close();
    }
  });

  test("a server error carries its class, reason and request id over the wire", async () => {
    const client = new Client(address);
    try {
      await assert.rejects(client.dropCollection("gone"), (error: unknown) => {
        assert.ok(error instanceof NotFound);
        assert.equal(error.reason, "COLLECTION_NOT_FOUND");
        assert.equal(error.requestId, "req-1");
        assert.equal(error.details, "no collection 'gone'");
        return true;
      });
    } finally {
      client.close();
    }
  });
});

describe("a TLS channel", () => {
  const server = new TestServer();
  let address: string;
  let folder: string;
  let ca: Buffer;

  before(async () => {
    // Certificates from trustme (a dev dependency of the repository): a CA and a cert for 127.0.0.1.
    folder = await mkdtemp(join(tmpdir(), "latentspace-tls-"));
    await runPython([
      "-c",
      "import sys, trustme; ca = trustme.CA(); cert = ca.issue_cert('127.0.0.1', 'localhost'); " +
        "ca.cert_pem.write_to_path(sys.argv[1] + '/ca.pem'); cert.private_key_pem.write_to_path(sys.argv[1] + '/key.pem'); " +
        "open(sys.argv[1] + '/chain.pem', 'wb').write(b''.join(b.bytes() for b in cert.cert_chain_pems))",
      folder,
    ]);
    ca = await readFile(join(folder, "ca.pem"));
    const key = await readFile(join(folder, "key.pem"));
    const chain = await readFile(join(folder, "chain.pem"));
    address = await server.start(ServerCredentials.createSsl(null, [{ private_key: key, cert_chain: chain }]));
  });
  after(async () => {
    server.stop();
    await rm(folder, { recursive: true, force: true });
  });

  test("connects when the server's CA is trusted (as a PEM string or bytes)", async () => {
    for (const rootCerts of [ca, ca.toString("utf8")]) {
      const client = new Client(address, { tls: { rootCerts }, apiKey: "k" });
      try {
        assert.equal((await client.stats()).version, "test");
      } finally {
        client.close();
      }
    }
    assert.deepEqual(server.received.at(-1)!.get("authorization"), ["Bearer k"]);
  });

  test("is Unavailable without TLS, or when the CA is not trusted", async () => {
    for (const options of [{}, { tls: true }]) {
      const client = new Client(address, { ...options, timeoutMs: 10_000 });
      try {
        await assert.rejects(client.stats(), Unavailable);
      } finally {
        client.close();
      }
    }
  });
});
