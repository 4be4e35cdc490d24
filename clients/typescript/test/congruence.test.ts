/**
 * The TypeScript client against the Python client: the shared scenarios, run on one real server
 * (`latent serve` over a fresh data dir). The Python SDK runs them first
 * (`python -m tests.clients.scenarios`), then this client; each scenario must come to the same
 * outcome: the same values (numbers to 1e-6), the same fields, the same error classes, codes and
 * reasons.
 */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Client, Unavailable } from "../src/index.js";
import { ServerProcess, runPython } from "./processes.js";
import { attempt, difference, loadFixtures, loadScenarios, type Outcome, outcome } from "./scenarios.js";

const TOLERANCE = 1e-6;
const fixtures = loadFixtures();

describe("the shared scenarios", () => {
  let server: ServerProcess;
  const clients: Record<string, Client> = {}; // one per fixture, its collection the default
  let python: Record<string, Outcome>;

  before(async () => {
    server = await ServerProcess.start();
    for (const [name, { collection }] of Object.entries(fixtures)) {
      clients[name] = new Client(server.address, { collection, timeoutMs: 60_000 });
    }
    python = JSON.parse(await runPython(["-m", "tests.clients.scenarios", "--server", server.address])) as Record<
      string,
      Outcome
    >;
  });

  after(async () => {
    for (const client of Object.values(clients)) client.close();
    await server?.stop();
  });

  for (const scenario of loadScenarios()) {
    test(scenario.name, async () => {
      const theirs = python[scenario.name];
      assert.ok(theirs, `the Python run has no result for ${scenario.name}`);
      const fixture = scenario.fixture ?? "vectors";
      const mine = await outcome(scenario, fixtures[fixture]!, clients[fixture]!);
      if (scenario.raises) assert.equal((mine as { raised?: string }).raised, scenario.raises, JSON.stringify(mine));
      else assert.ok("returned" in mine, `raised ${JSON.stringify(mine)}`);
      if ("raised" in mine && mine.code !== undefined) {
        assert.deepEqual([mine.request_id, mine.chained], [true, true], "a server error carries a request id and its cause");
      }
      const found = difference(mine, theirs, TOLERANCE);
      assert.equal(found, null, found ?? "");
    });
  }

  test("an unreachable server is Unavailable, without reason or request id", async () => {
    const unreachable = new Client("127.0.0.1:1", { timeoutMs: 10_000 });
    try {
      const result = await attempt(() => unreachable.listCollections());
      assert.deepEqual(result, {
        raised: Unavailable.name,
        code: "UNAVAILABLE",
        reason: null,
        request_id: false,
        chained: true,
      });
    } finally {
      unreachable.close();
    }
  });
});
