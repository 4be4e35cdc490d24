// Morph: the path from A to B, each step with its neighbours (and its decoded image, where the
// server can decode the collection's model).

import { $, api, attempt, currentFilter, show, slots, status } from "./page.js";


function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function run() {
  const a = slots.a.point();
  const b = slots.b.point();
  if (!a || !b) {
    status("A path needs two ends: type a text or pick an item for both A and B.", true);
    return;
  }
  const steps = Number($("#morph-steps").value) || 7;
  const k = Number($("#morph-k").value) || 3;
  const distinct = $("#morph-distinct").checked;
  const reply = await attempt("Walking the path", () => api("interpolate", {
    a, b, steps, k, distinct, filter: currentFilter(),
  }));
  if (!reply) return;
  const degrees = (reply.angle * 180) / Math.PI;
  $("#morph-about").textContent = `${reply.steps.length} steps along the great circle; A and B are ` +
    `${degrees.toFixed(1)}° apart. Each step shows the items nearest to it` +
    (distinct ? ", none repeated." : ".");
  const strip = $("#morph-strip");
  strip.replaceChildren();
  for (const step of reply.steps) {
    const column = element("section", "step");
    const header = element("header");
    header.append(element("b", "", `t = ${step.t.toFixed(2)}`), element("br"),
      `cos A ${step.cos_to_a.toFixed(3)} · B ${step.cos_to_b.toFixed(3)}`);
    column.append(header);
    if (step.decoded) {
      const image = element("img", "decoded");
      image.src = step.decoded;
      image.alt = `decoded at t = ${step.t.toFixed(2)}`;
      column.append(image);
    }
    const hits = element("div", "neighbours");
    column.append(hits);
    show(step.hits, hits, { picks: false, empty: "—" });
    strip.append(column);
  }
}

export function init() {
  $("#morph-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  document.addEventListener("filterchange", () => {
    if (document.body.dataset.view === "morph" && $("#morph-strip").childElementCount) run();
  });
}

export async function reset() {
  $("#morph-strip").replaceChildren();
}
