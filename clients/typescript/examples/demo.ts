/**
 * The README's tour on the demo data: `bash scripts/demo.sh` serves it on 127.0.0.1:50051, then
 * `npm run build && node dist/examples/demo.js` (an address as the first argument overrides).
 */

import { Client, Id, LatentSpaceError, Mix, TextPair } from "@latentspace/client";

const client = new Client(process.argv[2] ?? "127.0.0.1:50051", { collection: "shapes" });
try {
  for (const hit of await client.search("a red circle", { k: 5, filter: { kind: "image" } })) {
    console.log(hit.score.toFixed(3), hit.id, JSON.stringify(hit.payload));
  }
  const d = await client.distance("a red circle", new Id("large-blue-circle-00"));
  console.log("distance", d.cosine.toFixed(3), d.angular.toFixed(3), "cross-modal:", d.crossModal);

  const path = await client.interpolate("a red circle", "a blue square", { steps: 5, k: 3 });
  for (const step of path.steps) console.log(`t=${step.t.toFixed(2)}`, step.hits.map((h) => h.id).join(" "));

  const edit = await client.edit(new Id("large-red-circle-00"), new TextPair("a red circle", "a blue circle"), { k: 3 });
  console.log("edit", edit.cosToBase.toFixed(3), edit.hits.map((h) => h.id).join(" "));

  const mixed = await client.search(new Mix([[new Id("large-red-circle-00"), 0.5], ["a blue square", 0.5]]), { k: 3 });
  console.log("mix", mixed.map((h) => h.id).join(" "));

  const [encoded] = await client.encode(["a red circle"]);
  console.log("vector", encoded!.vector.length, "float32 values, modality", encoded!.modality);

  const stdlib = await client.search("split a path into directory and file name", { collection: "stdlib", k: 3 });
  console.log("stdlib", stdlib.map((h) => h.id).join(" "));
} catch (error) {
  if (!(error instanceof LatentSpaceError)) throw error;
  console.error(`${error.message} (request ${error.requestId})`); // e.g. NOT_FOUND (COLLECTION_NOT_FOUND): ...
  process.exitCode = 1;
} finally {
  client.close();
}
