// The loupe: one photo full screen (the thumbnail at once, then the 2048 px preview), or two
// or four side by side to compare. The neighbours' previews are fetched and decoded ahead, so
// the next photo is on screen as soon as the arrow key is pressed.
import { blobUrl } from "./api.js";
import { camera } from "./state.js";

const loupe = document.getElementById("loupe");
const panes = document.getElementById("panes");
const info = document.getElementById("loupe-info");
const cache = new Map();  // preview path -> Promise of a decoded <img> (shown as it is: no second decode)
const CACHE_MAX = 24;
let opener = null;
export const view = { open: false, items: [], active: 0, kind: "proxy", onClose: null };

export function previewPath(item) {
  return item.imageId && !item.uuid ? `/v1/images/${item.imageId}/preview` : `/v1/proxies/${item.uuid}/preview`;
}

function ready(item) { return item.status === "ready" || item.status === "kept-image"; }

// fetch and decode a preview once; a second ask gets the same promise
export function prefetch(item) {
  if (!item || !ready(item)) return null;
  const path = previewPath(item);
  if (!cache.has(path)) {
    const loading = blobUrl(path).then(async (url) => {
      const img = new Image();
      img.src = url;
      try { await img.decode(); } catch (_) { /* shown anyway */ }
      return img;
    });
    loading.catch(() => cache.delete(path));
    cache.set(path, loading);
    while (cache.size > CACHE_MAX) {
      const [oldest, promise] = cache.entries().next().value;
      cache.delete(oldest);
      promise.then((img) => URL.revokeObjectURL(img.src)).catch(() => {});
    }
  }
  return cache.get(path);
}

export function show(items, active = 0, options = {}) {
  if (!view.open) opener = document.activeElement;
  view.open = true;
  view.items = items;
  view.active = active;
  view.kind = options.kind || "proxy";
  view.onClose = options.onClose || null;
  loupe.hidden = false;
  loupe.dataset.count = items.length;
  loupe.focus();
  draw();
}

export function close() {
  if (!view.open) return;
  view.open = false;
  loupe.hidden = true;
  panes.replaceChildren();
  if (view.onClose) view.onClose();
  if (opener && opener.focus) opener.focus();
}

export function draw() {
  const wanted = view.items;
  while (panes.children.length > wanted.length) panes.lastChild.remove();
  while (panes.children.length < wanted.length) panes.appendChild(makePane());
  wanted.forEach((item, i) => fillPane(panes.children[i], item, i === view.active && wanted.length > 1));
  info.replaceChildren(...details(wanted[view.active]));
  document.getElementById("download").hidden = view.kind !== "image";
  document.getElementById("delete").hidden = view.kind !== "image";
}

function makePane() {
  const pane = document.createElement("figure");
  pane.className = "pane";
  pane.innerHTML = '<img alt=""><figcaption></figcaption>';
  return pane;
}

function fillPane(pane, item, active) {
  pane.classList.toggle("active", active);
  pane.dataset.name = item.name;
  pane.querySelector("figcaption").textContent = caption(item);
  const token = (pane.token = {});  // a later draw wins over a slower fetch
  const promise = prefetch(item);
  if (!promise) { thumbnail(pane, item); return; }
  let settled = false;
  promise.then((decoded) => {
    settled = true;
    if (pane.token !== token) return;
    decoded.alt = item.name;
    pane.replaceChild(decoded, pane.querySelector("img"));  // already decoded: on screen this frame
    pane.dataset.shown = "preview";
    requestAnimationFrame(() => {
      performance.mark("loupe-shown");
      // from the key that asked for it (main.js marks "loupe-key") to the frame that shows it
      if (performance.getEntriesByName("loupe-key").length) performance.measure("loupe-next", "loupe-key", "loupe-shown");
    });
  }).catch(() => { if (pane.token === token) thumbnail(pane, item); });
  queueMicrotask(() => {  // not in the cache yet: the thumbnail meanwhile
    if (!settled && pane.token === token) thumbnail(pane, item);
  });
}

function thumbnail(pane, item) {
  const img = document.createElement("img");
  img.alt = item.name;
  if (item.thumb) img.src = item.thumb;
  pane.replaceChild(img, pane.querySelector("img"));
  pane.dataset.shown = "thumbnail";
}

function caption(item) {
  const stars = item.rating ? " " + "★".repeat(item.rating) : "";
  const flag = item.flag === "pick" ? " · picked" : item.flag === "reject" ? " · rejected" : "";
  return item.name + stars + flag;
}

// the wall-clock time where it was taken, with its zone when known
function taken(item) {
  const m = item.meta || {};
  const image = item.image || {};
  const local = image.taken_at_local || m.taken_at_local || m.taken_at;
  if (!local) return "unknown";
  const offset = /([+-]\d\d:\d\d|Z)$/.exec(m.taken_at || "");
  const zone = image.taken_at_zone || image.taken_at_offset || (offset ? offset[1].replace("Z", "UTC") : "");
  return String(local).replace("T", " ").slice(0, 19) + (zone ? " " + zone : " (zone unknown)");
}

function details(item) {
  const m = item.meta || {};
  const rows = [
    ["File", item.name],
    ["Taken", taken(item)],
    ["Camera", camera(item) || "unknown"],
    ["Lens", m.lens || "unknown"],
    ["Exposure", [m.exposure_display && m.exposure_display + " s", m.f_number && "f/" + m.f_number,
                  m.iso && "ISO " + m.iso, m.focal_length_mm && m.focal_length_mm + " mm"]
      .filter(Boolean).join(" · ") || "unknown"],
    ["Rating", item.rating ? "★".repeat(item.rating)
      : m.rating > 0 ? "★".repeat(m.rating) + " (in the file)" : "none"],
    ["Flag", item.flag || "none"],
  ];
  const title = (item.image && item.image.title) || m.title;
  const caption = (item.image && item.image.caption) || m.caption;
  if (title) rows.push(["Title", title]);
  if (caption) rows.push(["Caption", caption]);
  const colour = item.colour || (item.image && item.image.colour) || null;
  if (colour && colour.space) rows.push(["Colour", colour.space + (colour.preview_gamut ? ` (preview ${colour.preview_gamut})` : "")]);
  if (colour && colour.hdr) rows.push(["HDR", colour.hdr_format || "yes"]);
  const pair = item.image && item.image.pair_kind;
  if (pair) rows.push(["Pair", pair === "raw+jpeg" ? "RAW + JPEG of one frame" : "Live Photo (with its movie)"]);
  if (item.keptPath) rows.push(["Kept as", item.keptPath]);
  const list = document.createElement("dl");
  for (const [name, value] of rows) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  return [list];
}
