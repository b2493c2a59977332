// The photographer's page: sign in, drop photos, tus uploads with progress, live previews,
// confirm, see the Images. Plain JS (no build step); tus-js-client is the only library.
"use strict";

const CHUNK = 5 * 1024 * 1024;
const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000, 60000];
const state = { token: null, items: [], confirmed: new Set() };
const $ = (sel, root = document) => root.querySelector(sel);

// ---- the API, with the token from memory (never a URL, never storage) ----

function authHeaders() { return { Authorization: "Bearer " + state.token }; }

async function api(path, options = {}) {
  const headers = Object.assign(authHeaders(), options.headers || {});
  return fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
}

async function problemText(response) {
  try {
    const body = await response.json();
    return [body.title, body.detail].filter(Boolean).join(": ") || response.statusText;
  } catch (_) {
    return response.status + " " + response.statusText;
  }
}

// ---- sign in / out ----

$("#signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  state.token = $("#token").value.trim();
  $("#token").value = "";
  const response = await api("/v1/proxies?limit=1");
  if (!response.ok) {
    state.token = null;
    $("#signin-error").textContent = await problemText(response);
    return;
  }
  $("#signin-error").textContent = "";
  $("#signin-view").hidden = true;
  $("#main-view").hidden = false;
  $("#signout").hidden = false;
  $("#who").textContent = "signed in";
});

$("#signout").addEventListener("click", () => {
  for (const item of state.items) if (item.upload) item.upload.abort();
  state.token = null;
  location.reload();
});

// ---- picking and dropping files and folders ----

function wanted(file) { return !file.name.startsWith("."); }

$("#files").addEventListener("change", (e) => { addFiles([...e.target.files]); e.target.value = ""; });
$("#folder").addEventListener("change", (e) => { addFiles([...e.target.files]); e.target.value = ""; });

const drop = $("#drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", async (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const entries = [...(e.dataTransfer.items || [])]
    .map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (entries.length && entries.every(Boolean)) {
    const files = [];
    for (const entry of entries) await walk(entry, files);
    addFiles(files);
  } else {
    addFiles([...e.dataTransfer.files]);
  }
});

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

function addFiles(files) {
  for (const file of files.filter(wanted)) {
    const item = { file, sent: 0, upload: null, answer: null, uuid: null, paused: false, el: null };
    item.el = $("#item-template").content.firstElementChild.cloneNode(true);
    item.el.dataset.name = file.name;
    $(".name", item.el).textContent = file.webkitRelativePath || file.name;
    $(".pause", item.el).addEventListener("click", () => togglePause(item));
    $(".retry", item.el).addEventListener("click", () => retry(item));
    $(".pick", item.el).addEventListener("change", renderTotals);
    $("#items").appendChild(item.el);
    state.items.push(item);
    startUpload(item);
  }
  renderTotals();
}

// ---- uploads through tus ----

function setStatus(item, status, reason = "") {
  item.status = status;
  item.el.dataset.status = status;
  $(".status", item.el).textContent = status;
  $(".reason", item.el).textContent = reason;
  $(".retry", item.el).hidden = !status.includes("failed");
  $(".pause", item.el).hidden = !["uploading", "paused", "waiting for the network"].includes(status);
}

function startUpload(item) {
  setStatus(item, "uploading");
  const upload = new tus.Upload(item.file, {
    endpoint: "/v1/tus/",
    headers: authHeaders(),
    chunkSize: CHUNK,
    retryDelays: RETRY_DELAYS,
    metadata: { filename: item.file.name, filetype: item.file.type || "application/octet-stream" },
    removeFingerprintOnSuccess: true,
    onProgress(sent) {
      item.sent = sent;
      if (item.status === "waiting for the network") setStatus(item, "uploading");
      renderItem(item);
    },
    onAfterResponse(request, response) {
      const status = response.getStatus();
      if ((status === 200 || status === 201) && response.getBody()) {
        try {
          const body = JSON.parse(response.getBody());
          if (body && body.uuid) item.answer = body;
        } catch (_) { /* not the final answer */ }
      }
    },
    onShouldRetry(error) {
      const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
      const transient = !status || status >= 500 || status === 409 || status === 423;
      if (transient && !navigator.onLine) setStatus(item, "waiting for the network");
      return transient;
    },
    onSuccess() { uploaded(item); },
    onError(error) { uploadFailed(item, error); },
  });
  item.upload = upload;
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

function togglePause(item) {
  if (!item.upload) return;
  if (item.paused) {
    item.paused = false;
    setStatus(item, "uploading");
    item.upload.start();
  } else {
    item.paused = true;
    item.upload.abort();
    setStatus(item, "paused");
  }
}

// the network came back: resume at once from the server's offset instead of waiting for the
// next retry delay (abort() cancels that pending retry, so only one request runs)
window.addEventListener("online", () => {
  for (const item of state.items) {
    const gaveUp = item.status === "upload failed" && !item.httpStatus;  // cut, not refused
    if (item.upload && !item.paused && (item.status === "waiting for the network" || gaveUp)) {
      setStatus(item, "uploading");
      item.upload.abort().then(() => item.upload.start());
    }
  }
});

async function uploadFailed(item, error) {
  const response = error.originalResponse;
  item.httpStatus = response ? response.getStatus() : 0;
  let reason = "the connection was lost";
  if (response && response.getBody()) {
    try {
      const body = JSON.parse(response.getBody());
      reason = [body.title, body.detail].filter(Boolean).join(": ");
    } catch (_) { reason = response.getStatus() + " " + response.getBody().slice(0, 120); }
  }
  if (!item.httpStatus && !navigator.onLine) { setStatus(item, "waiting for the network"); return; }
  setStatus(item, "upload failed", reason);
}

async function retry(item) {
  if (item.status === "preview failed" && item.uuid) {
    const response = await api(`/v1/proxies/${item.uuid}/retry`, { method: "POST" });
    if (!response.ok) { setStatus(item, "preview failed", await problemText(response)); return; }
    setStatus(item, "preview pending");
    follow(item);
    return;
  }
  item.answer = null;
  item.sent = 0;
  startUpload(item);
}

async function uploaded(item) {
  item.sent = item.file.size;
  let answer = item.answer;
  if (!answer && item.upload.url) {
    const response = await api(item.upload.url + "/proxy");
    if (!response.ok) { setStatus(item, "upload failed", await problemText(response)); return; }
    answer = await response.json();
  }
  item.uuid = answer.uuid;
  item.el.dataset.uuid = answer.uuid;
  if (answer.thumbnail && answer.thumbnail.inline) {
    $(".thumb", item.el).src = answer.thumbnail.inline;  // the EXIF thumbnail, at once
    item.el.dataset.thumb = "exif";
  }
  setStatus(item, answer.duplicate ? "duplicate, preview " + answer.status : "preview " + answer.status);
  renderItem(item);
  follow(item);
}

// ---- live status over SSE (fetch, so the token goes in a header, not the URL) ----

const IN_FLIGHT = ["preview pending", "preview processing", "ingest queued", "ingest processing"];
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const online = () => new Promise((ok) => window.addEventListener("online", ok, { once: true }));

// the server sends at least a keep-alive every 15 s: silence longer than this is a dead stream
const STREAM_SILENCE_MS = 20000;
const streams = new Set();

async function follow(item) {
  if (item.following) return;
  item.following = true;
  try {
    for (;;) {
      if (!navigator.onLine) await online();
      const control = new AbortController();
      streams.add(control);
      try {
        const response = await api(`/v1/proxies/${item.uuid}/events`,
          { headers: { Accept: "text/event-stream" }, signal: control.signal });
        if (response.status === 404) return;  // ingested: the proxy is gone
        await readEvents(item, response.body.getReader(), control);
      } catch (_) { /* the stream broke or went silent: look at the row */ }
      finally { streams.delete(control); }
      // the row itself, so a missed event can never leave the page waiting
      try {
        const response = await api(`/v1/proxies/${item.uuid}`);
        if (response.status === 404) return;
        if (response.ok) applyRow(item, await response.json());
      } catch (_) { /* offline: wait and look again */ }
      if (!IN_FLIGHT.includes(item.status)) return;
      await sleep(1000);
    }
  } finally {
    item.following = false;
  }
}

// a stream opened before the network went away may never hear of it: start them all again
window.addEventListener("online", () => { for (const control of streams) control.abort(); });

async function readEvents(item, reader, control) {
  const decoder = new TextDecoder();
  let buffer = "";
  let watchdog = setTimeout(() => control.abort(), STREAM_SILENCE_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      clearTimeout(watchdog);
      watchdog = setTimeout(() => control.abort(), STREAM_SILENCE_MS);
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (data) onEvent(item, JSON.parse(data));
      }
    }
  } finally {
    clearTimeout(watchdog);
  }
}

function applyRow(item, row) {
  if (row.ingest_status) onEvent(item, { field: "ingest", status: row.ingest_status, error: row.metadata_error });
  else onEvent(item, { field: "preview", status: row.preview_status, error: row.preview_error });
}

function onEvent(item, event) {
  const field = event.field || "preview";
  if (field === "preview") {
    if (event.status === "ready") {
      if (item.el.dataset.thumb !== "preview") showPreview(item);
      setStatus(item, "preview ready");
    }
    else if (event.status === "failed") setStatus(item, "preview failed", event.error || "");
    else setStatus(item, "preview " + event.status);
  } else if (field === "ingest") {
    setStatus(item, event.status === "failed" ? "ingest failed" : "ingest " + event.status, event.error || "");
  }
  renderTotals();
}

async function showPreview(item) {
  if (item.loadingPreview) return;
  item.loadingPreview = true;
  try {
    for (let attempt = 0; attempt < 30 && item.el.dataset.thumb !== "preview"; attempt++) {
      if (!navigator.onLine) await online();
      try {
        const response = await api(`/v1/proxies/${item.uuid}/thumbnail`);
        if (response.status === 404) return;
        if (response.ok) {
          const img = $(".thumb", item.el);
          if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
          img.src = URL.createObjectURL(await response.blob());
          item.el.dataset.thumb = "preview";
          return;
        }
      } catch (_) { /* the network went away: try again */ }
      await sleep(1000);
    }
  } finally {
    item.loadingPreview = false;
  }
}

// ---- progress ----

function renderItem(item) {
  const bar = $(".bar", item.el);
  bar.max = item.file.size || 1;
  bar.value = item.sent;
  renderTotals();
}

function renderTotals() {
  const total = state.items.reduce((n, i) => n + i.file.size, 0);
  const sent = state.items.reduce((n, i) => n + Math.min(i.sent, i.file.size), 0);
  $("#total").max = total || 1;
  $("#total").value = sent;
  const done = state.items.filter((i) => i.uuid).length;
  $("#total-text").textContent = state.items.length
    ? `${done} of ${state.items.length} uploaded, ${mb(sent)} of ${mb(total)}`
    : "nothing uploading";
  for (const item of state.items) {
    $(".pick", item.el).disabled = !(item.uuid && ["preview ready", "preview failed"].includes(item.status));
  }
  $("#confirm").disabled = !state.items.some((i) => $(".pick", i.el).checked && !$(".pick", i.el).disabled);
}

function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

// ---- confirm and see the Images ----

$("#select-ready").addEventListener("click", () => {
  for (const item of state.items) if (!$(".pick", item.el).disabled) $(".pick", item.el).checked = true;
  renderTotals();
});

$("#confirm").addEventListener("click", async () => {
  const chosen = state.items.filter((i) => $(".pick", i.el).checked && !$(".pick", i.el).disabled);
  const response = await api("/v1/ingest", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ uuids: chosen.map((i) => i.uuid) }),
  });
  if (!response.ok) { alert(await problemText(response)); return; }
  const answer = await response.json();
  for (const result of answer.results) {
    const item = chosen.find((i) => i.uuid === result.uuid);
    $(".pick", item.el).checked = false;
    if (result.status === "queued") {
      state.confirmed.add(result.uuid);
      setStatus(item, "ingest queued");
      follow(item);
    } else {
      setStatus(item, item.status, result.reason || "refused");
    }
  }
  renderTotals();
  watchImages();
});

let watching = false;
async function watchImages() {
  if (watching) return;
  watching = true;
  try {
    for (let i = 0; i < 300; i++) {
      const response = await api("/v1/images?limit=200");
      if (response.ok) {
        const page = await response.json();
        const mine = page.items.filter((img) => state.confirmed.has(img.proxy_uuid));
        renderImages(mine);
        for (const img of mine) {
          const item = state.items.find((it) => it.uuid === img.proxy_uuid);
          if (item && item.status !== "ingested") setStatus(item, "ingested", img.path);
        }
        if (mine.length >= state.confirmed.size) return;
      }
      await new Promise((ok) => setTimeout(ok, 1000));
    }
  } finally {
    watching = false;
  }
}

function renderImages(images) {
  $("#images-view").hidden = !images.length;
  const body = $("#images tbody");
  body.replaceChildren(...images.map((img) => {
    const row = document.createElement("tr");
    for (const text of [img.path, img.original_name, img.camera || "", img.taken_at || ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    return row;
  }));
}
