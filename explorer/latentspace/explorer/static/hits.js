// Hits as tiles: an image item shows its thumbnail (from the server), a text item its text; each
// shows its score (from the server), its id and payload, and buttons to pick it into a slot.

const PICKS = [["a", "A"], ["b", "B"], ["base", "Base"]];

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The thumbnail or text of an item, as a button that searches from it. */
export function face(hit) {
  const look = element("button", "look");
  look.type = "button";
  look.dataset.look = "1";
  look.title = `Search near ${hit.id}`;
  if (hit.thumbnail) {
    const img = element("img");
    img.src = hit.thumbnail;
    img.alt = hit.id;
    img.loading = "lazy";
    look.append(img);
  } else if (hit.text !== null && hit.text !== undefined) {
    look.append(element("p", "text", hit.text));
  } else {
    look.append(element("span", "placeholder", `${hit.modality} ${hit.id}`));
  }
  return look;
}

export function payloadChips(payload) {
  const chips = element("div", "payload");
  // Sorted by field, so that every tile lists its fields in the same order.
  for (const [key, value] of Object.entries(payload ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const shown = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
    chips.append(element("span", "", `${key}: ${shown}`));
  }
  return chips;
}

function tile(hit, { picks = true } = {}) {
  const card = element("article", `hit ${hit.modality}-hit`);
  card.dataset.id = hit.id;
  card.append(face(hit));
  const meta = element("div", "meta");
  meta.append(element("span", "score", hit.score.toFixed(3)), element("span", "id", hit.id));
  meta.lastChild.title = hit.id;
  card.append(meta, payloadChips(hit.payload));
  if (picks) {
    const actions = element("div", "actions");
    for (const [slot, label] of PICKS) {
      const button = element("button", "", label);
      button.type = "button";
      button.dataset.pick = slot;
      button.title = slot === "base" ? "use as the edit's base" : `use as the path's end ${label}`;
      actions.append(button);
    }
    card.append(actions);
  }
  return card;
}

/** Replace ``container``'s children with one tile per hit (``empty`` when there are none). */
export function renderHits(container, hits, { picks = true, empty = "Nothing found." } = {}) {
  container.replaceChildren(...hits.map((hit) => tile(hit, { picks })));
  if (!hits.length) container.append(element("p", "about", empty));
}
