// Edit: move a base along a direction (two texts, or a direction stored in the collection) and
// watch the neighbours as the strength slider moves.

import { $, api, attempt, currentFilter, show, slots, state, status } from "./page.js";

const RANGES = { add: [0, 2, 0.8], rotate: [0, 1, 0.5], remove: [0, 1, 1] };
let latest = 0; // replies to older slider positions are dropped
let timer = null;

function direction() {
  if ($("#edit-source").value === "stored") {
    const name = $("#edit-stored").value;
    return name ? { name } : null;
  }
  const neutral = $("#edit-neutral").value.trim();
  const target = $("#edit-target").value.trim();
  return neutral && target ? { neutral, target } : null;
}

async function run() {
  const base = slots.base.point();
  const along = direction();
  if (!base || !along) {
    $("#edit-about").textContent = "Choose a base (type a text or pick an item) and a direction.";
    return;
  }
  const request = ++latest;
  const strength = Number($("#edit-strength").value);
  const reply = await attempt("Editing", () => api("edit", {
    base, direction: along, mode: $("#edit-mode").value, strength, k: 24, filter: currentFilter(),
  }));
  if (!reply || request !== latest) return;
  $("#edit-about").textContent = `Strength ${strength.toFixed(2)}: the result is at cos ${reply.cos_to_base.toFixed(3)} ` +
    `to the base; along the direction the base sits at ${reply.base_projection.toFixed(3)}, the result at ` +
    `${reply.result_projection.toFixed(3)} (direction norm ${reply.direction_norm.toFixed(3)}).`;
  drawDecoded(reply);
  show(reply.hits, $("#edit-results"));
}

/** The base and the edited point as the collection's decoder draws them (when it has one). */
function drawDecoded(reply) {
  const drawn = $("#edit-drawn");
  drawn.hidden = !reply.decoded;
  if (!reply.decoded) return;
  const figure = (src, caption) => {
    const box = document.createElement("figure");
    const image = document.createElement("img");
    image.src = src;
    image.alt = caption;
    const label = document.createElement("figcaption");
    label.textContent = caption;
    box.append(image, label);
    return box;
  };
  drawn.replaceChildren(figure(reply.decoded_base, "base, decoded"), document.createTextNode("→"),
    figure(reply.decoded, "edited, decoded"));
}

function soon() {
  clearTimeout(timer);
  timer = setTimeout(run, 120);
}

function setMode() {
  const [low, high, start] = RANGES[$("#edit-mode").value];
  const slider = $("#edit-strength");
  slider.min = String(low);
  slider.max = String(high);
  slider.value = String(start);
  $("#edit-strength-value").textContent = Number(slider.value).toFixed(2);
}

export function init() {
  const slider = $("#edit-strength");
  slider.addEventListener("input", () => {
    $("#edit-strength-value").textContent = Number(slider.value).toFixed(2);
    soon();
  });
  $("#edit-mode").addEventListener("change", () => {
    setMode();
    soon();
  });
  $("#edit-source").addEventListener("change", () => {
    const stored = $("#edit-source").value === "stored";
    $("#edit-form .pair").hidden = stored;
    $("#edit-stored").hidden = !stored;
    soon();
  });
  for (const input of ["#edit-neutral", "#edit-target", "#edit-stored"]) $(input).addEventListener("change", soon);
  slots.base.onchange = soon;
  $("#edit-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  document.addEventListener("filterchange", () => {
    if (document.body.dataset.view === "edit") soon();
  });
}

export async function reset() {
  $("#edit-results").replaceChildren();
  $("#edit-drawn").hidden = true;
  const stored = $("#edit-stored");
  stored.replaceChildren();
  const source = $("#edit-source");
  source.value = "pair";
  $("#edit-form .pair").hidden = false;
  stored.hidden = true;
  source.querySelector('[value="stored"]').disabled = true;
  if (!state.capabilities.directions) return;
  const reply = await attempt("Listing directions", () => api("directions"));
  for (const d of reply?.directions ?? []) {
    // The name, and how well the direction separates what it was made from (held-out AUC).
    const option = new Option(d.auc === null ? d.name : `${d.name} (AUC ${d.auc.toFixed(2)})`, d.name);
    option.title = d.description || d.source;
    stored.append(option);
  }
  source.querySelector('[value="stored"]').disabled = !stored.options.length;
}
