// Map: the server's 2-D map of a sample (the Map RPC), drawn as an SVG scatter coloured by a
// payload field, with cluster labels and the placed text; hover for an item, click to search from it.

import { $, api, attempt, openView, state } from "./page.js";
import { payloadChips } from "./hits.js";
import { similarTo } from "./search.js";

const SVG = "http://www.w3.org/2000/svg";
// A colour-blind-safe categorical palette (Okabe-Ito, then Tableau) for values that are not colours.
const PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
  "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#9c755f", "#bab0ac"];
const LABEL_CHARS = 34;
const thumbnails = new Map(); // id -> data URI (or null: none), fetched on first hover
let drawn = null;

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/** Each distinct colour value's fill: the value itself when every value is a CSS colour name. */
function colours(points) {
  const values = [...new Set(points.map((p) => (p.color === null ? "" : String(p.color))))].sort();
  const named = values.every((v) => v !== "" && /^[a-z]+$/.test(v) && CSS.supports("color", v));
  return new Map(values.map((v, i) => [v, v === "" ? "#c8ced6" : named ? v : PALETTE[i % PALETTE.length]]));
}

function draw(reply, placed) {
  const box = $("#map-canvas");
  const width = Math.max(300, box.clientWidth || 800);
  // Wide screens: leave room for the legend under the map; phones: a near-square map.
  const height = Math.round(Math.max(300, Math.min(width * (width < 600 ? 1 : 0.62), window.innerHeight - 250)));
  const pad = 28;
  const xs = [...reply.points, ...reply.queries].map((p) => p.x);
  const ys = [...reply.points, ...reply.queries].map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0 || 1)) * (height - 2 * pad);
  const fills = colours(reply.points);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "map of the collection" });
  const points = svg("g");
  reply.points.forEach((p, i) => {
    const dot = svg("circle", { cx: sx(p.x).toFixed(1), cy: sy(p.y).toFixed(1), r: p.modality === "text" ? 4.5 : 4,
      fill: fills.get(p.color === null ? "" : String(p.color)), class: `point ${p.modality}`, tabindex: 0 });
    dot.dataset.index = String(i);
    dot.dataset.cluster = String(p.cluster);
    dot.dataset.id = p.id;
    points.append(dot);
  });
  const labels = svg("g");
  const sizes = new Map();
  for (const cluster of reply.clusters) {
    if (!cluster.label) continue;
    const text = svg("text", { x: sx(cluster.x).toFixed(1), y: sy(cluster.y).toFixed(1), class: "label",
      "text-anchor": "middle" });
    // Long labels (a docstring, a caption) are cut; the whole one is the tooltip.
    text.textContent = cluster.label.length > LABEL_CHARS ? `${cluster.label.slice(0, LABEL_CHARS - 1)}…` : cluster.label;
    const title = svg("title");
    title.textContent = cluster.label;
    text.append(title);
    labels.append(text);
    sizes.set(text, cluster.size);
  }
  const queries = svg("g", { class: "query" });
  reply.queries.forEach((q, i) => {
    const [x, y] = [sx(q.x), sy(q.y)];
    queries.append(svg("path", { d: `M${x} ${y - 9}L${x + 3} ${y - 3}L${x + 9} ${y - 3}L${x + 4} ${y + 2}L${x + 6} ` +
      `${y + 9}L${x} ${y + 5}L${x - 6} ${y + 9}L${x - 4} ${y + 2}L${x - 9} ${y - 3}L${x - 3} ${y - 3}Z` }));
    const text = svg("text", { x: x + 11, y: y + 4 });
    text.textContent = placed[i];
    queries.append(text);
  });
  root.append(points, labels, queries);
  box.replaceChildren(root);
  placeLabels(labels, width, sizes);
  const legend = $("#map-legend");
  legend.replaceChildren(...[...fills].map(([value, fill]) => {
    const entry = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = fill;
    entry.append(swatch, value === "" ? "(none)" : value);
    return entry;
  }));
  drawn = reply;
}

/** Keep cluster labels inside the map and off each other: each moves by whole lines until it fits,
 * and one that fits nowhere near its cluster is left out (the biggest clusters are placed first). */
function placeLabels(labels, width, sizes) {
  const taken = [];
  const overlaps = (a) => taken.some((b) => a.x < b.x + b.width && b.x < a.x + a.width &&
    a.y < b.y + b.height && b.y < a.y + a.height);
  const order = [...labels.children].sort((a, b) => sizes.get(b) - sizes.get(a));
  for (const text of order) {
    let box = text.getBBox();
    const shift = Math.max(4 - box.x, Math.min(0, width - 4 - (box.x + box.width)));
    text.setAttribute("x", String(Number(text.getAttribute("x")) + shift));
    const y = Number(text.getAttribute("y"));
    let placed = false;
    for (const step of [0, 1, -1, 2, -2, 3, -3]) {
      text.setAttribute("y", String(y + step * 15));
      box = text.getBBox();
      if (!overlaps(box)) {
        placed = true;
        break;
      }
    }
    if (placed) taken.push(box);
    else text.remove();
  }
}

/** Show one cluster's members (a cluster spreads out on two axes that hold part of the variance). */
function highlight(cluster) {
  const root = $("#map-canvas svg");
  if (!root) return;
  root.classList.toggle("focused", cluster !== null);
  for (const dot of root.querySelectorAll("circle.point")) {
    dot.classList.toggle("member", cluster !== null && dot.dataset.cluster === String(cluster));
  }
}

async function thumbnail(point) {
  if (point.modality !== "image") return null;
  if (!thumbnails.has(point.id)) {
    try {
      const reply = await api("thumbnails", { ids: [point.id] });
      thumbnails.set(point.id, reply.thumbnails[point.id] ?? null);
    } catch {
      thumbnails.set(point.id, null);
    }
  }
  return thumbnails.get(point.id);
}

async function tip(event) {
  const index = event.target.dataset?.index;
  const box = $("#map-tip");
  if (index === undefined || !drawn) {
    box.hidden = true;
    highlight(null);
    return;
  }
  const point = drawn.points[Number(index)];
  const cluster = drawn.clusters[point.cluster];
  highlight(point.cluster);
  const content = [];
  if (point.text !== null) content.push(Object.assign(document.createElement("p"), { textContent: point.text }));
  const small = document.createElement("div");
  small.textContent = `${point.id} · cluster ${cluster.label ? `“${cluster.label}”` : point.cluster}`;
  content.push(small, payloadChips(point.payload));
  box.replaceChildren(...content);
  box.hidden = false;
  placeTip(box, event.target.getBoundingClientRect());
  const image = await thumbnail(point);
  if (image && !box.hidden && box.contains(small)) {
    const img = document.createElement("img");
    img.src = image;
    img.alt = point.id;
    box.prepend(img);
    placeTip(box, event.target.getBoundingClientRect());
  }
}

/** Beside the point, on whichever side has room, and inside the window. */
function placeTip(box, rect) {
  const { width, height } = box.getBoundingClientRect();
  const right = rect.right + 10;
  const left = rect.left - 10 - width;
  const fitsRight = right + width <= window.innerWidth - 4;
  const x = fitsRight || left < 4 ? Math.min(right, window.innerWidth - 4 - width) : left;
  box.style.left = `${Math.max(4, x)}px`;
  box.style.top = `${Math.max(4, Math.min(rect.top - 20, window.innerHeight - 4 - height))}px`;
}

async function run() {
  const placeText = $("#map-place").value.trim();
  const placed = placeText ? [placeText] : [];
  const reply = await attempt("Drawing the map", () => api("map", {
    sample_size: Number($("#map-sample").value) || 500, clusters: Number($("#map-clusters").value) || 0,
    color_by: $("#map-color").value || null, queries: placed.map((text) => ({ text })), seed: 0,
  }));
  if (!reply) return;
  const [ex, ey] = reply.explained.map((v) => `${(v * 100).toFixed(1)}%`);
  $("#map-about").textContent = `${reply.points.length} of ${reply.count} items, ${reply.clusters.length} ` +
    `clusters; the axes hold ${ex} and ${ey} of the sample's variance. Hover for an item and its cluster; click to search from it.`;
  draw(reply, placed);
}

export function init() {
  $("#map-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run();
  });
  const canvas = $("#map-canvas");
  canvas.addEventListener("mouseover", tip);
  canvas.addEventListener("focusin", tip);
  canvas.addEventListener("mouseleave", () => {
    $("#map-tip").hidden = true;
    highlight(null);
  });
  canvas.addEventListener("click", (event) => {
    const index = event.target.dataset?.index;
    if (index === undefined || !drawn) return;
    $("#map-tip").hidden = true;
    const point = drawn.points[Number(index)];
    openView("search");
    similarTo({ id: point.id, text: point.text });
  });
}

/** Draw once when the tab is first opened for a collection. */
export function opened() {
  if (!drawn && state.collection) run();
}

export async function reset() {
  drawn = null;
  thumbnails.clear();
  $("#map-canvas").replaceChildren();
  $("#map-legend").replaceChildren();
  const select = $("#map-color");
  select.replaceChildren(new Option("nothing", ""), ...state.fields.map((f) => new Option(f.name, f.name)));
  const preferred = ["color", "colour", "label", "category", "kind"].find((n) => state.fields.some((f) => f.name === n));
  if (preferred) select.value = preferred;
  if (document.body.dataset.view === "map") run();
}
