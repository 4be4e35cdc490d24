// Search: by text, by an uploaded image, or from an item on the page (its stored vector).

import { $, api, attempt, currentFilter, show, state } from "./page.js";

let last = null; // the last query, repeated when the filter changes

async function run(query, about) {
  last = { query, about };
  const k = Number($("#search-k").value) || 24;
  const scoreMode = $("#search-scores").value;
  const reply = await attempt("Searching", () => api("search", {
    query, k, filter: currentFilter(), score_mode: scoreMode,
  }));
  if (!reply) return;
  $("#search-about").textContent = about;
  show(reply.hits, $("#search-results"));
}

export function similarTo(hit) {
  run({ id: hit.id }, `Nearest to ${hit.text ?? hit.id}`);
  window.scrollTo({ top: 0 });
}

function readImage(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export function init() {
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#search-text").value.trim();
    if (text) run({ text }, `Nearest to “${text}”`);
  });
  $("#search-image").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    run({ image: await readImage(file) }, `Nearest to the image ${file.name}`);
    event.target.value = "";
  });
  $("#search-scores").addEventListener("change", () => {
    if (last) run(last.query, last.about);
  });
  document.addEventListener("filterchange", () => {
    if (last && document.body.dataset.view === "search") run(last.query, last.about);
  });
}

export async function reset() {
  last = null;
  $("#search-results").replaceChildren();
  $("#search-about").textContent = state.collection
    ? "Search by text or by an image, or click an item to find what lies near it."
    : "";
}
