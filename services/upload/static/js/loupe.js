// The loupe: one photo full screen (the thumbnail at once, then the 2048 px preview), or two
// or four side by side to compare. The neighbours' previews are fetched and decoded ahead, so
// the next photo is on screen as soon as the arrow key is pressed.
import { blobUrl } from "./api.js";
import { camera } from "./state.js";

const loupe = document.getElementById("loupe");
const panes = document.getElementById("panes");
const info = document.getElementById("loupe-info");
const cache = new Map();  // preview path -> Promise of a decoded object URL
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
      return url;
    });
    loading.catch(() => cache.delete(path));
    cache.set(path, loading);
    while (cache.size > CACHE_MAX) {
      const [oldest, promise] = cache.entries().next().value;
      cache.delete(oldest);
      promise.then((url) => URL.revokeObjectURL(url)).catch(() => {});
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
  const img = pane.querySelector("img");
  img.alt = item.name;
  pane.querySelector("figcaption").textContent = caption(item);
  const token = (pane.token = {});  // a later draw wins over a slower fetch
  const promise = prefetch(item);
  if (!promise) {
    pane.dataset.shown = "thumbnail";
    if (item.thumb) img.src = item.thumb; else img.removeAttribute("src");
    return;
  }
  let settled = false;
  promise.then((url) => {
    settled = true;
    if (pane.token !== token) return;
    img.src = url;
    pane.dataset.shown = "preview";
    pane.dataset.item = item.key;
    img.decode().catch(() => {}).then(() => requestAnimationFrame(() => {
      performance.mark("loupe-shown");
      // from the key that asked for it (main.js marks "loupe-key") to the frame that shows it
      if (performance.getEntriesByName("loupe-key").length) performance.measure("loupe-next", "loupe-key", "loupe-shown");
    }));
  }).catch(() => { pane.dataset.shown = "thumbnail"; });
  queueMicrotask(() => {
    if (!settled && pane.token === token) {  // not in the cache yet: the thumbnail meanwhile
      pane.dataset.shown = "thumbnail";
      if (item.thumb) img.src = item.thumb;
    }
  });
}

function caption(item) {
  const stars = item.rating ? " " + "★".repeat(item.rating) : "";
  const flag = item.flag === "pick" ? " · picked" : item.flag === "reject" ? " · rejected" : "";
  return item.name + stars + flag;
}

function details(item) {
  const m = item.meta || {};
  const rows = [
    ["File", item.name],
    ["Taken", m.taken_at ? m.taken_at.replace("T", " ") + (m.taken_at_tz ? " " + m.taken_at_tz : "") : "unknown"],
    ["Camera", camera(item) || "unknown"],
    ["Lens", m.lens || "unknown"],
    ["Exposure", [m.exposure_display && m.exposure_display + " s", m.f_number && "f/" + m.f_number,
                  m.iso && "ISO " + m.iso, m.focal_length_mm && m.focal_length_mm + " mm"]
      .filter(Boolean).join(" · ") || "unknown"],
    ["Rating", item.rating ? "★".repeat(item.rating) : "none"],
    ["Flag", item.flag || "none"],
  ];
  if (m.caption) rows.push(["Caption", m.caption]);
  if (m.color_space || m.colour_space) rows.push(["Colour", m.color_space || m.colour_space]);
  if (m.hdr) rows.push(["HDR", "yes"]);
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
