// The explorer's shell: the JSON API, the collection and its filters, tabs, and the slots that hold
// picked items. Each view (search, morph, edit, map) is its own module; every number any of them
// shows comes from the server's replies.

import { renderHits } from "./hits.js";
import * as search from "./search.js";
import * as morph from "./morph.js";
import * as edit from "./edit.js";
import * as map from "./map.js";

const $ = (selector) => document.querySelector(selector);

export const state = {
  collection: null,
  capabilities: { directions: false, decode: false },
  fields: [],
  filter: {},
  /** The hits on the page by id, so that a pick knows what it picked. */
  hits: new Map(),
};

/** Call an endpoint: GET with the collection only, POST with a JSON body otherwise. */
export async function api(name, body = null) {
  const collection = encodeURIComponent(state.collection ?? "");
  const response = body === null
    ? await fetch(`/api/${name}?collection=${collection}`)
    : await fetch(`/api/${name}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ collection: state.collection, ...body }),
      });
  const reply = await response.json();
  if (!response.ok) throw new Error(reply.error ?? `${response.status} ${response.statusText}`);
  return reply;
}

export function status(message, bad = false) {
  const line = $("#status");
  line.textContent = message;
  line.classList.toggle("bad", bad);
}

/** Run a view's request, reporting failures in the status line; resolves to null on failure. */
export async function attempt(what, body) {
  status(`${what}…`);
  try {
    const result = await body();
    status("");
    return result;
  } catch (error) {
    status(`${what} failed: ${error.message}`, true);
    return null;
  }
}

/** The current filter as the API takes it ({field: value}), or null. */
export function currentFilter() {
  return Object.keys(state.filter).length ? { ...state.filter } : null;
}

export function show(hits, container, options = {}) {
  for (const hit of hits) state.hits.set(hit.id, hit);
  renderHits(container, hits, options);
}

// ------------------------------------------------------------ tabs

export function openView(name) {
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  }
  for (const view of document.querySelectorAll("main .view")) view.hidden = view.dataset.view !== name;
  document.body.dataset.view = name;
  if (name === "map") map.opened();
}

// ------------------------------------------------------------ slots: a typed text or a picked item

export class Slot {
  constructor(element) {
    this.element = element;
    this.input = element.querySelector("input");
    this.item = null;
    this.chip = document.createElement("span");
    this.chip.className = "chip";
    this.chip.hidden = true;
    element.append(this.chip);
    this.onchange = () => {};
    this.input.addEventListener("change", () => this.onchange());
  }

  /** The point this slot names: {id} for a picked item, {text} for typed text, else null. */
  point() {
    if (this.item) return { id: this.item.id };
    const text = this.input.value.trim();
    return text ? { text } : null;
  }

  set(hit) {
    this.item = hit;
    this.chip.replaceChildren();
    if (hit.thumbnail) {
      const img = document.createElement("img");
      img.src = hit.thumbnail;
      img.alt = "";
      this.chip.append(img);
    }
    const label = document.createElement("span");
    label.textContent = hit.text ?? hit.id;
    label.title = hit.id;
    const clear = document.createElement("button");
    clear.type = "button";
    clear.textContent = "×";
    clear.title = "clear";
    clear.addEventListener("click", () => this.clear());
    this.chip.append(label, clear);
    this.chip.hidden = false;
    this.input.hidden = true;
    this.onchange();
  }

  clear() {
    this.item = null;
    this.chip.hidden = true;
    this.input.hidden = false;
    this.input.focus();
    this.onchange();
  }
}

export const slots = {};

function pick(slotName, id) {
  const hit = state.hits.get(id);
  const slot = slots[slotName];
  if (!hit || !slot) return;
  slot.set(hit);
  status(`${slotName === "base" ? "Base" : slotName.toUpperCase()} is ${hit.text ?? hit.id}`);
}

// ------------------------------------------------------------ collections and filters

async function loadCollections() {
  const reply = await attempt("Loading collections", () => api("collections"));
  if (!reply) return;
  state.capabilities = reply.capabilities;
  const select = $("#collection");
  select.replaceChildren(...reply.collections.map((c) => {
    const option = document.createElement("option");
    option.value = c.name;
    option.textContent = `${c.name} (${c.count} items${c.model ? `, ${c.model}` : ""})`;
    return option;
  }));
  const wanted = new URLSearchParams(location.search).get("collection");
  if (wanted && reply.collections.some((c) => c.name === wanted)) select.value = wanted;
  if (!reply.collections.length) status("This server has no collections yet.", true);
  else await useCollection(select.value);
}

async function useCollection(name) {
  state.collection = name;
  state.filter = {};
  state.hits.clear();
  for (const slot of Object.values(slots)) if (slot.item) slot.clear();
  const reply = await attempt("Reading fields", () => api("fields"));
  state.fields = reply ? reply.fields : [];
  renderFilters();
  await Promise.all([search.reset(), morph.reset(), edit.reset(), map.reset()]);
}

function renderFilters() {
  const bar = $("#filters");
  bar.replaceChildren();
  const filterable = state.fields.filter((f) => f.values.length > 1);
  if (!filterable.length) return;
  const title = document.createElement("span");
  title.textContent = "Filter";
  bar.append(title);
  for (const field of filterable) {
    const label = document.createElement("label");
    const select = document.createElement("select");
    select.dataset.field = field.name;
    select.append(new Option(`${field.name}: any`, ""));
    field.values.forEach((value, i) => select.append(new Option(`${field.name}: ${value}`, String(i))));
    select.addEventListener("change", () => {
      if (select.value === "") delete state.filter[field.name];
      else state.filter[field.name] = field.values[Number(select.value)];
      document.dispatchEvent(new CustomEvent("filterchange"));
    });
    label.append(select);
    bar.append(label);
  }
}

// ------------------------------------------------------------ start

document.addEventListener("DOMContentLoaded", () => {
  for (const element of document.querySelectorAll(".slot")) slots[element.dataset.slot] = new Slot(element);
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => openView(tab.dataset.view));
  }
  $("#collection").addEventListener("change", (event) => useCollection(event.target.value));
  // One listener for every hit on the page: look closer (search from it) or pick it into a slot.
  document.addEventListener("click", (event) => {
    const target = event.target.closest("[data-pick], [data-look]");
    if (!target) return;
    const id = target.closest("[data-id]")?.dataset.id;
    if (id === undefined) return;
    if (target.dataset.pick) pick(target.dataset.pick, id);
    else {
      openView("search");
      search.similarTo(state.hits.get(id) ?? { id });
    }
  });
  search.init();
  morph.init();
  edit.init();
  map.init();
  openView("search");
  loadCollections();
});
