// The explorer's shell: the collection and its filters, picking items into slots, and start-up.
// Each view (search, morph, edit, map) is its own module; what they share is in page.js; every
// number any of them shows comes from the server's replies.

import { $, Slot, api, attempt, onOpen, openView, slots, state, status } from "./page.js";
import * as search from "./search.js";
import * as morph from "./morph.js";
import * as edit from "./edit.js";
import * as map from "./map.js";

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
  onOpen.map = map.opened;
  openView("search");
  loadCollections();
});
