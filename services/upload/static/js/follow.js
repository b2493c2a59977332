// Following photos on their way: one poll loop over the items still moving (a few requests at
// a time, whatever the number of photos), the thumbnails of what is on screen, and asking the
// server to render the photos on screen first.
import { api, blobUrl } from "./api.js";
import { applyProxy, refilter, state, touch } from "./state.js";

const MOVING = ["pending", "processing", "ingest queued", "ingest processing"];
const following = new Set();
const PARALLEL = 6;
let polling = false;

export function follow(item) {
  following.add(item);
  if (!polling) poll();
}

async function poll() {
  polling = true;
  try {
    while (following.size) {
      const batch = [...following];
      for (let i = 0; i < batch.length; i += PARALLEL) {
        await Promise.all(batch.slice(i, i + PARALLEL).map(check));
      }
      await new Promise((ok) => setTimeout(ok, 700));
    }
  } finally {
    polling = false;
  }
}

async function check(item) {
  let response;
  try { response = await api(`/v1/proxies/${item.uuid}`); } catch (_) { return; }  // offline: next round
  if (response.status === 404) {  // ingested (the proxy became an Image) or deleted elsewhere
    following.delete(item);
    item.status = item.status.startsWith("ingest") ? "ingested" : "gone";
    refilter();
    return;
  }
  if (!response.ok) return;
  const before = item.status;
  applyProxy(item, await response.json());
  if (before !== item.status) touch(item);
  if (!MOVING.includes(item.status)) following.delete(item);
}

// ---- thumbnails for the cells on screen (object URLs, the oldest revoked past a bound) ----

const MAX_URLS = 900;
const urls = new Map();  // item key -> object URL, in the order they were made
const loading = new Set();

export function wantThumb(item) {
  if (item.status === "kept" && item.imageId && !item.thumbKind && !loading.has(item.key)) {
    loading.add(item.key);  // a photo already kept: the kept Image's own thumbnail
    blobUrl(`/v1/images/${item.imageId}/thumbnail`).then((url) => { remember(item, url); item.thumbKind = "kept"; touch(item); })
      .catch(() => { item.thumbKind = "none"; }).finally(() => loading.delete(item.key));
    return;
  }
  if (!item.uuid || loading.has(item.key)) return;
  const real = item.status === "ready" || item.status.startsWith("ingest");
  if (item.thumbKind === "thumb" || (!real && item.thumbKind === "exif")) return;
  if (!real && item.thumbKind === "none") return;
  loading.add(item.key);
  blobUrl(`/v1/proxies/${item.uuid}/thumbnail`).then((url) => {
    remember(item, url);
    item.thumbKind = real ? "thumb" : "exif";
    touch(item);
  }).catch(() => {
    if (!real) { item.thumbKind = "none"; }
  }).finally(() => loading.delete(item.key));
}

function remember(item, url) {
  const old = urls.get(item.key);
  if (old) URL.revokeObjectURL(old);
  urls.delete(item.key);
  urls.set(item.key, url);
  item.thumb = url;
  while (urls.size > MAX_URLS) {
    const [key, oldest] = urls.entries().next().value;
    urls.delete(key);
    URL.revokeObjectURL(oldest);
    const gone = state.items.find((i) => i.key === key);
    if (gone) { gone.thumb = null; gone.thumbKind = null; }
  }
}

// ---- previews for what is on screen first (the interactive lane), when the server has it ----

let prioritizing = true;
const asked = new Set();

export function prioritize(items) {
  if (!prioritizing) return;
  for (const item of items) {
    if (!item.uuid || asked.has(item.uuid) || item.status !== "pending") continue;
    asked.add(item.uuid);
    api(`/v1/proxies/${item.uuid}/prioritize`, { method: "POST" }).then(async (response) => {
      // a server without the call answers 404/405 without a problem naming the proxy
      if (response.status === 405 || (response.status === 404 && !(await isProblem(response)))) {
        prioritizing = false;
      }
    }).catch(() => asked.delete(item.uuid));
  }
}

async function isProblem(response) {
  return (response.headers.get("content-type") || "").includes("problem+json");
}
