// The photos of this session: each one an item, local (uploading) or from the server (a proxy).
// The grid shows `state.shown`, the items the filters keep; `changed()` redraws.

export const state = {
  items: [],
  byUuid: new Map(),
  shown: [],
  focus: 0,
  marked: new Set(),
  filters: { flag: "", rating: 0, status: "", camera: "", day: "" },
  listeners: new Set(),
};

// the statuses of a file still on its way up (a progress bar, counted in the totals)
export const SENDING = ["queued", "uploading", "waiting for the network", "waiting for the quota"];

let nextKey = 1;

export function newItem(fields) {
  const item = Object.assign({
    key: nextKey++, uuid: null, name: "", size: 0, sent: 0, status: "queued", flag: null,
    rating: null, meta: {}, problem: null, thumb: null, thumbKind: null, keptPath: null,
    imageId: null, version: 0,
  }, fields);
  state.items.push(item);
  if (item.uuid) state.byUuid.set(item.uuid, item);
  return item;
}

export function setUuid(item, uuid) {
  item.uuid = uuid;
  state.byUuid.set(uuid, item);
}

// a proxy row from the API onto its item
export function applyProxy(item, row) {
  item.name = item.name || row.original_name;
  item.size = row.size;
  item.sent = row.size;
  item.flag = row.flag;
  item.rating = row.rating;
  item.meta = row.metadata || {};
  item.colour = row.colour || null;
  item.problem = row.problem;
  item.expires = row.expires_at ? new Date(row.expires_at) : null;  // unconfirmed proxies expire
  const before = item.status;
  item.status = row.ingest_status ? "ingest " + row.ingest_status : row.preview_status;
  if (before !== item.status) item.version++;
}

// an item changed: it may now pass or fail a filter, so the list is made again (once a frame)
let pending = 0;
export function touch(item) {
  item.version++;
  if (!pending) pending = requestAnimationFrame(() => { pending = 0; refilter(); });
}

// the preview state a filter and a bulk action look at
export function stage(item) {
  if (item.status === "ready") return "ready";
  if (item.status === "failed" || item.status.endsWith("failed")) return "failed";
  return "pending";
}

export function camera(item) {
  const m = item.meta || {};
  const make = m.camera_make || "";
  const model = m.camera_model || "";
  return model.startsWith(make) ? model : [make, model].filter(Boolean).join(" ");
}

export function day(item) {
  const when = (item.meta || {}).taken_at;
  return when ? when.slice(0, 10) : "";
}

function keeps(item) {
  const f = state.filters;
  if (f.flag === "none" ? item.flag : f.flag && item.flag !== f.flag) return false;
  if (f.rating && (item.rating || 0) < f.rating) return false;
  if (f.status && stage(item) !== f.status) return false;
  if (f.camera && camera(item) !== f.camera) return false;
  if (f.day && day(item) !== f.day) return false;
  return item.status !== "ingested";
}

export function refilter() {
  const focused = state.shown[state.focus];
  state.shown = state.items.filter(keeps);
  const at = focused ? state.shown.indexOf(focused) : -1;
  state.focus = at >= 0 ? at : Math.min(state.focus, Math.max(0, state.shown.length - 1));
  changed();
}

export function changed() { for (const listener of state.listeners) listener(); }
