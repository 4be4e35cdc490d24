// What every view of the explorer shares: the page's state, the JSON API, the status line, showing
// hits, the tabs and the slots that hold picked items. It imports no view, so views import it freely.

import { renderHits } from "./hits.js";

export const $ = (selector) => document.querySelector(selector);

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

/** What a view does when its tab opens (the map draws itself only once it can measure its box). */
export const onOpen = {};

export function openView(name) {
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.setAttribute("aria-selected", String(tab.dataset.view === name));
  }
  for (const view of document.querySelectorAll("main .view")) view.hidden = view.dataset.view !== name;
  document.body.dataset.view = name;
  onOpen[name]?.();
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
