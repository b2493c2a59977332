// The photographer's page: sign in (the token kept for this tab), the contact sheet of this
// session's and the server's unconfirmed photos, culling by keyboard, the loupe, confirming
// the picks, and the kept Images.
import { allPages, api, failure, json, session } from "./api.js";
import { follow } from "./follow.js";
import { columns, reveal, schedule, setSize } from "./grid.js";
import { keptMove, loadKept } from "./kept.js";
import { close, draw as drawLoupe, prefetch, show, view } from "./loupe.js";
import { applyProxy, camera, changed, day, newItem, refilter, stage, state, touch } from "./state.js";
import { toast } from "./toast.js";
import { addFiles, retryUpload, totals } from "./uploads.js";

const $ = (id) => document.getElementById(id);

// ---- signing in, and picking up where the tab left off ----

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  session.token = $("token").value.trim();
  $("token").value = "";
  await enter();
});

async function enter() {
  const response = await api("/v1/proxies?limit=1");
  if (!response.ok) {
    const problem = await failure(response);
    session.token = null;
    $("signin-error").textContent = problem.technical || problem.message;
    $("signin-view").hidden = false;
    return;
  }
  $("signin-error").textContent = "";
  $("signin-view").hidden = true;
  $("cull-view").hidden = false;
  $("tabs").hidden = false;
  $("signout").hidden = false;
  await loadUnconfirmed();
  $("grid").focus();
}

// every proxy still on the server (unconfirmed, or on its way to becoming an Image)
async function loadUnconfirmed() {
  let rows;
  try { rows = await allPages("/v1/proxies", { limit: 500 }); } catch (p) { toast(p.message, p.technical); return; }
  for (const row of rows.reverse()) {  // oldest first, as they were dropped
    if (state.byUuid.has(row.uuid)) continue;
    const item = newItem({ uuid: row.uuid, name: row.original_name });
    applyProxy(item, row);
    if (!["ready", "failed"].includes(item.status)) follow(item);
  }
  refreshChoices();
  refilter();
}

$("signout").addEventListener("click", () => {
  for (const item of state.items) if (item.upload) item.upload.abort();
  session.token = null;
  location.reload();
});

// ---- views ----

function showTab(kept) {
  $("cull-view").hidden = kept;
  $("kept-view").hidden = !kept;
  $("tab-cull").setAttribute("aria-pressed", String(!kept));
  $("tab-kept").setAttribute("aria-pressed", String(kept));
  if (kept) loadKept(true); else $("grid").focus();
}
$("tab-cull").addEventListener("click", () => showTab(false));
$("tab-kept").addEventListener("click", () => showTab(true));

// ---- adding photos ----

$("files").addEventListener("change", (e) => { add([...e.target.files]); e.target.value = ""; });
$("folder").addEventListener("change", (e) => { add([...e.target.files]); e.target.value = ""; });

// new photos come into view (the sheet may be long already)
function add(files) {
  const added = addFiles(files);
  const at = added.length ? state.shown.indexOf(added[0]) : -1;
  if (at >= 0) moveFocus(at);
}
const drop = $("drop");
$("pick-files").addEventListener("click", () => $("files").click());
$("pick-folder").addEventListener("click", () => $("folder").click());
for (const target of [drop, $("grid")]) {
  target.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  target.addEventListener("dragleave", () => drop.classList.remove("over"));
  target.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const entries = [...(e.dataTransfer.items || [])].map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    if (entries.length && entries.every(Boolean)) {
      const files = [];
      for (const entry of entries) await walk(entry, files);
      add(files);
    } else {
      add([...e.dataTransfer.files]);
    }
  });
}

async function walk(entry, out) {
  if (entry.isFile) {
    out.push(await new Promise((ok, fail) => entry.file(ok, fail)));
  } else if (entry.isDirectory && !entry.name.startsWith(".")) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const child of batch) await walk(child, out);
    }
  }
}

// ---- filters and size ----

$("size").addEventListener("input", (e) => setSize(Number(e.target.value)));
const FILTERS = { "f-flag": "flag", "f-rating": "rating", "f-status": "status", "f-camera": "camera", "f-day": "day" };
for (const [id, name] of Object.entries(FILTERS)) {
  $(id).addEventListener("change", (e) => {
    state.filters[name] = name === "rating" ? Number(e.target.value) : e.target.value;
    refilter();
  });
}

function refreshChoices() {
  fillSelect($("f-camera"), new Set(state.items.map(camera).filter(Boolean)));
  fillSelect($("f-day"), new Set(state.items.map(day).filter(Boolean)));
}

function fillSelect(select, values) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const value of [...values].sort()) {
    if (have.has(value)) continue;
    const option = document.createElement("option");
    option.value = option.textContent = value;
    select.appendChild(option);
  }
}

// ---- culling: flag and stars on the server, so a reload, the CLI and the client see them ----

async function cull(items, change) {
  const ready = items.filter((i) => i.uuid);
  if (ready.length < items.length) toast("Still uploading: flag it once it has arrived.");
  await Promise.all(ready.map(async (item) => {
    const before = { flag: item.flag, rating: item.rating };
    Object.assign(item, change);
    touch(item);
    if (view.open) drawLoupe();
    const response = await api(`/v1/proxies/${item.uuid}`, {
      method: "PATCH", headers: { "Content-Type": "application/json" }, body: JSON.stringify(change) });
    if (!response.ok) {
      Object.assign(item, before);
      touch(item);
      const problem = await failure(response);
      toast(`${item.name}: ${problem.message}`, problem.technical);
    }
  }));
  if (view.open) drawLoupe();
  refilter();
}

function targets() {
  if (view.open) return view.kind === "proxy" ? [view.items[view.active]] : [];
  const focused = state.shown[state.focus];
  if (state.marked.size && state.marked.has(focused)) return [...state.marked];
  return focused ? [focused] : [];
}

function moveFocus(to) {
  if (!state.shown.length) return;
  state.focus = Math.max(0, Math.min(state.shown.length - 1, to));
  reveal(state.focus);
  changed();
  prefetch(state.shown[state.focus]);
}

function openLoupe(index = state.focus) {
  if (!state.shown[index]) return;
  state.focus = index;
  show([state.shown[index]], 0, { kind: "proxy", onClose: () => reveal(state.focus) });
  const loupe = document.getElementById("loupe");
  loupe.dataset.ahead = "loading";
  const promises = [1, -1, 2].map((step) => prefetch(state.shown[index + step]));
  Promise.allSettled([promises[0]]).then(() => { if (view.items[0] === state.shown[index]) loupe.dataset.ahead = "ready"; });
}

function compare() {
  let chosen = [...state.marked].filter((i) => state.shown.includes(i));
  if (chosen.length < 2) chosen = state.shown.slice(state.focus, state.focus + 2);
  chosen = chosen.slice(0, chosen.length >= 4 ? 4 : 2);
  if (chosen.length < 2) { toast("Mark two or four photos with Space to compare them."); return; }
  show(chosen, 0, { kind: "proxy" });
}

function loupeStep(step) {
  if (view.kind === "image") { keptMove(step); return; }
  if (view.items.length > 1) {  // compare: move between the panes
    view.active = (view.active + step + view.items.length) % view.items.length;
    drawLoupe();
    return;
  }
  const next = state.focus + step;
  if (next < 0 || next >= state.shown.length) return;
  performance.mark("loupe-key");
  state.focus = next;
  view.items = [state.shown[next]];
  drawLoupe();
  const loupe = document.getElementById("loupe");
  loupe.dataset.ahead = "loading";
  const promises = [step, 2 * step, -step].map((ahead) => prefetch(state.shown[next + ahead]));
  // says when the next photo is ready to show at once (the timing test waits for it)
  Promise.allSettled([promises[0]]).then(() => { if (view.items[0] === state.shown[next]) loupe.dataset.ahead = "ready"; });
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const inField = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (inField || (!view.open && document.activeElement !== $("grid"))) return;
  const key = event.key;
  const handled = view.open ? loupeKey(key) : gridKey(key);
  if (handled !== false && handled !== undefined) event.preventDefault();
  else cullKey(key, event);
});

function loupeKey(key) {
  if (key === "Escape") return close(), true;
  if (key === "ArrowRight" || key === "ArrowDown") return loupeStep(1), true;
  if (key === "ArrowLeft" || key === "ArrowUp") return loupeStep(-1), true;
  if (key === "Tab") return false;
  return undefined;
}

function gridKey(key) {
  const cols = columns();
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols };
  if (key in moves) return moveFocus(state.focus + moves[key]), true;
  if (key === "Home") return moveFocus(0), true;
  if (key === "End") return moveFocus(state.shown.length - 1), true;
  if (key === "Enter") return openLoupe(), true;
  if (key === " ") {
    const item = state.shown[state.focus];
    if (item) { if (state.marked.has(item)) state.marked.delete(item); else state.marked.add(item); changed(); }
    return true;
  }
  if (key === "c" || key === "C") return compare(), true;
  if (key === "r" || key === "R") return retry(state.shown[state.focus]), true;
  return undefined;
}

function cullKey(key, event) {
  const lower = key.toLowerCase();
  let change = null;
  if (lower === "p") change = { flag: "pick" };
  else if (lower === "x") change = { flag: "reject" };
  else if (lower === "u") change = { flag: null };
  else if (/^[0-5]$/.test(key)) change = { rating: Number(key) };
  if (!change) return;
  event.preventDefault();
  const items = targets();
  if (items.length) cull(items, change);
}

const grid = $("grid");
grid.addEventListener("cell-click", (e) => { grid.focus(); moveFocus(e.detail); });
grid.addEventListener("cell-open", (e) => openLoupe(e.detail));
$("loupe-close").addEventListener("click", close);

// ---- retry, only where it can help ----

async function retry(item) {
  if (!item || !item.problem || !item.problem.retryable) return;
  if (item.status === "upload failed") { retryUpload(item); return; }
  const response = await api(`/v1/proxies/${item.uuid}/retry`, { method: "POST" });
  if (!response.ok) { const p = await failure(response); toast(p.message, p.technical); return; }
  item.status = "pending";
  item.problem = null;
  touch(item);
  follow(item);
}

// ---- bulk actions: never on a failed (or unfinished) preview ----

$("pick-ready").addEventListener("click", () => {
  cull(state.shown.filter((i) => stage(i) === "ready" && i.flag !== "pick"), { flag: "pick" });
});

function picks() {
  return state.items.filter((i) => i.uuid && i.flag === "pick" && ["ready", "failed", "ingest failed"].includes(i.status));
}

$("confirm").addEventListener("click", async () => {
  const chosen = picks();
  if (!chosen.length) return;
  const tags = $("tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  let answer;
  try {
    answer = await json("/v1/ingest", { method: "POST", headers: { "Content-Type": "application/json" },
                                        body: JSON.stringify({ uuids: chosen.map((i) => i.uuid), tags }) });
  } catch (p) { toast(p.message, p.technical); return; }
  const refused = [];
  for (const result of answer.results) {
    const item = state.byUuid.get(result.uuid);
    if (result.status === "queued") { item.status = "ingest queued"; touch(item); follow(item); }
    else refused.push(`${item.name}: ${result.reason}`);
  }
  toast(`Keeping ${answer.queued} photo${answer.queued === 1 ? "" : "s"}` + (refused.length ? `; not: ${refused.join("; ")}` : ""));
  refilter();
});

// ---- the header's totals and the confirm button, a few times a second ----

setInterval(() => {
  const t = totals();
  const kept = state.items.filter((i) => i.status === "ingested").length;
  $("totals").textContent = [t.text, kept ? `${kept} kept this session` : ""].filter(Boolean).join(" · ");
  const n = picks().length;
  $("confirm").disabled = n === 0;
  $("confirm").textContent = n ? `Confirm ${n} pick${n === 1 ? "" : "s"}` : "Confirm picks";
  refreshChoices();
  schedule();
}, 400);

state.listeners.add(schedule);
setSize(Number($("size").value));
if (session.token) enter(); else $("signin-view").hidden = false;
