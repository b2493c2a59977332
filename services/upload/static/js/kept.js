// Kept Images: the user's Images, newest first, a page at a time, by tag and day; open one in
// the loupe, download its original, delete it.
import { api, blobUrl, failure, json } from "./api.js";
import { close, show, view } from "./loupe.js";
import { toast } from "./toast.js";

const list = document.getElementById("kept");
const more = document.getElementById("k-more");
const PAGE = 60;
let cursor = null;
let shown = [];
// bumped by every listing from the start (Apply, the tab, a delete): an older one's answer
// arriving late is dropped, so two quick clicks never show a page twice
let generation = 0;

// The list is replaced when the answer arrives (not emptied while it is on its way), and
// says aria-busy="true" until then.
export async function loadKept(reset = true) {
  if (reset) generation++;
  const mine = generation;
  const params = new URLSearchParams({ limit: PAGE });
  const tag = document.getElementById("k-tag").value.trim();
  const day = document.getElementById("k-day").value;
  if (tag) params.set("tag", tag);
  if (day) params.set("day", day);
  if (!reset && cursor) params.set("cursor", cursor);
  list.setAttribute("aria-busy", "true");
  more.disabled = true;
  let page;
  try { page = await json(`/v1/images?${params}`); } catch (problem) {
    if (mine === generation) settle();
    toast(problem.message, problem.technical);
    return;
  }
  if (mine !== generation) return;  // a newer listing answers instead
  if (reset) { shown = []; list.replaceChildren(); }
  cursor = page.next_cursor;
  more.hidden = cursor === null;
  for (const image of page.items) {
    const item = asItem(image);
    shown.push(item);
    list.appendChild(card(item, shown.length - 1));
  }
  if (!shown.length) {
    const empty = document.createElement("li");
    empty.className = "hint";
    empty.textContent = "No kept Images match.";
    list.appendChild(empty);
  }
  settle();
}

function settle() {
  list.setAttribute("aria-busy", "false");
  more.disabled = false;
}

function asItem(image) {
  const m = image.metadata || {};
  return {
    key: "image-" + image.id, imageId: image.id, uuid: null, name: image.original_name,
    status: image.preview_url ? "kept-image" : "kept-no-preview", flag: null, rating: image.rating,
    keptPath: image.path, thumb: null, image,
    meta: Object.assign({}, m, { taken_at: m.taken_at || image.taken_at }),
  };
}

function card(item, index) {
  const li = document.createElement("li");
  li.className = "kept-card";
  li.dataset.id = item.imageId;
  const button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", `Open ${item.name}, kept as ${item.keptPath}`);
  const img = document.createElement("img");
  img.alt = "";
  button.appendChild(img);
  const path = document.createElement("span");
  path.className = "path";
  path.textContent = item.keptPath;
  li.append(button, path);
  if (item.image.pair_kind) {
    const badge = document.createElement("span");
    badge.className = "pair-badge";
    badge.textContent = item.image.pair_kind === "raw+jpeg" ? "RAW+JPEG" : "LIVE";
    badge.title = item.image.pair_kind === "raw+jpeg" ? "A RAW and a JPEG of the same frame"
      : "A Live Photo, kept with its movie";
    li.append(badge);
  }
  button.addEventListener("click", () => open(index));
  if (item.image.thumbnail_url) {
    blobUrl(item.image.thumbnail_url).then((url) => { item.thumb = url; img.src = url; }).catch(() => {});
  }
  return li;
}

function open(index) {
  show([shown[index]], 0, { kind: "image" });
  view.keptIndex = index;
}

export function keptMove(step) {
  const next = view.keptIndex + step;
  if (next >= 0 && next < shown.length) open(next);
}

document.getElementById("k-apply").addEventListener("click", () => loadKept(true));
more.addEventListener("click", () => loadKept(false));

document.getElementById("download").addEventListener("click", async (event) => {
  event.preventDefault();
  const item = view.items[view.active];
  const response = await api(`/v1/images/${item.imageId}/original`);
  if (!response.ok) { const p = await failure(response); toast(p.message, p.technical); return; }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = item.name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
});

document.getElementById("delete").addEventListener("click", async () => {
  const item = view.items[view.active];
  if (!confirm(`Delete ${item.keptPath}? The original, its preview and thumbnail are removed.`)) return;
  const response = await api(`/v1/images/${item.imageId}`, { method: "DELETE" });
  if (!response.ok) { const p = await failure(response); toast(p.message, p.technical); return; }
  toast(`Deleted ${item.keptPath}`);
  close();
  loadKept(true);
});
