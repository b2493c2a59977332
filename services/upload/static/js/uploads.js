// Uploads through tus (resumable: a lost network resumes from the server's offset), a few at
// a time, with each file's progress and the overall rate and time left.
import { api, authHeaders, canRetry, failure, quotaWords, waitsOut } from "./api.js";
import { follow } from "./follow.js";
import { SENDING, newItem, refilter, setUuid, state, touch } from "./state.js";
import { toast } from "./toast.js";

const CHUNK = 5 * 1024 * 1024;
const PARALLEL = 3;
const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000, 30000, 30000, 60000, 60000];
const waiting = [];
let running = 0;
const samples = [];  // [time, bytes sent in total] over the last seconds: the rate

export function addFiles(files) {
  const added = [];
  for (const file of files.filter((f) => !f.name.startsWith("."))) {
    const item = newItem({ file, name: file.webkitRelativePath || file.name, size: file.size,
                           status: "queued" });
    waiting.push(item);
    added.push(item);
  }
  refilter();
  pump();
  return added;
}

function pump() {
  while (running < PARALLEL && waiting.length) {
    running++;
    start(waiting.shift());
  }
}

function done() { running--; pump(); }

function start(item) {
  item.status = "uploading";
  item.problem = null;
  touch(item);
  const upload = new tus.Upload(item.file, {
    endpoint: "/v1/tus/",
    headers: authHeaders(),
    chunkSize: CHUNK,
    retryDelays: RETRY_DELAYS,
    metadata: { filename: item.file.name, filetype: item.file.type || "application/octet-stream" },
    removeFingerprintOnSuccess: true,
    onProgress(sent) {
      item.sent = sent;
      if (item.status !== "uploading") { item.status = "uploading"; item.problem = null; }
      touch(item);
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
      if (status === 429) return overQuota(item, error.originalResponse);
      const transient = canRetry(status);
      if (transient && !navigator.onLine) { item.status = "waiting for the network"; touch(item); }
      return transient;
    },
    onSuccess() { uploaded(item).finally(done); },
    onError(error) { uploadFailed(item, error); done(); },
  });
  item.upload = upload;
  upload.findPreviousUploads().then((previous) => {
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  });
}

// the network came back: go on at once instead of after the next retry delay
window.addEventListener("online", () => {
  for (const item of state.items) {
    if (item.upload && item.status === "waiting for the network") {
      item.status = "uploading";
      item.upload.abort().then(() => item.upload.start());
    }
  }
});

// Past a per-user quota: said on the cell and in the live region at once, never a silent retry.
// A rate refilling within a minute is waited out; past the others it fails (R tries again).
function overQuota(item, response) {
  const body = problemBody(response);
  if (!body || !body.quota) return true;  // a busy server without a quota's name: the retries
  const words = quotaWords(body);
  const technical = [body.title, body.detail].filter(Boolean).join(": ");
  toast(words, technical);
  if (!waitsOut(body)) return false;
  item.status = "waiting for the quota";
  item.problem = { status: 429, message: words, technical, retryable: true };
  touch(item);
  return true;
}

function problemBody(response) {
  try { return response && JSON.parse(response.getBody()); } catch (_) { return null; }
}

function uploadFailed(item, error) {
  const response = error.originalResponse;
  const status = response ? response.getStatus() : 0;
  if (!status && !navigator.onLine) { item.status = "waiting for the network"; touch(item); return; }
  const body = problemBody(response);
  const fake = { status, statusText: "", json: async () => { if (!body) throw new Error(); return body; } };
  failure(fake).then((problem) => {
    if (!status) problem.message = "The connection was lost.";
    item.status = "upload failed";
    item.problem = problem;
    touch(item);
  });
}

export function retryUpload(item) {
  item.sent = 0;
  item.answer = null;
  waiting.push(item);
  pump();
}

async function uploaded(item) {
  item.sent = item.size;
  let answer = item.answer;
  if (!answer && item.upload.url) {
    const response = await api(item.upload.url + "/proxy");
    if (!response.ok) {
      item.status = "upload failed";
      item.problem = await failure(response);
      touch(item);
      return;
    }
    answer = await response.json();
  }
  if (answer.kept_image) {  // the same bytes are already one of the kept Images
    item.status = "kept";
    item.keptPath = answer.kept_image.path;
    item.imageId = answer.kept_image.id;
    item.file = null;
    touch(item);
    return;
  }
  const twin = state.byUuid.get(answer.uuid);
  if (twin && twin !== item) {  // sent twice in this session: one item is enough
    state.items.splice(state.items.indexOf(item), 1);
    refilter();
    return;
  }
  setUuid(item, answer.uuid);
  item.meta = answer.metadata || {};
  if (answer.thumbnail && answer.thumbnail.inline) {
    item.thumb = answer.thumbnail.inline;  // the EXIF thumbnail, at once
    item.thumbKind = "exif";
  }
  item.status = answer.status;
  item.file = null;
  refilter();
  follow(item);
}

// "12 of 60 uploaded · 3.1 MB/s · 20 s left"
export function totals() {
  const items = state.items.filter((i) => i.file || i.upload);
  const total = items.reduce((n, i) => n + i.size, 0);
  const sent = items.reduce((n, i) => n + Math.min(i.sent, i.size), 0);
  const now = performance.now();
  samples.push([now, sent]);
  while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
  const [t0, s0] = samples[0];
  const rate = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
  const uploading = items.filter((i) => SENDING.includes(i.status));
  if (!uploading.length) return { text: items.length ? `${items.length} uploaded` : "", total, sent };
  const left = rate > 0 ? Math.ceil((total - sent) / rate) : null;
  const text = `${items.length - uploading.length} of ${items.length} uploaded · ${mb(rate)}/s`
    + (left !== null ? ` · ${duration(left)} left` : "");
  return { text, total, sent };
}

function mb(bytes) { return (bytes / 1048576).toFixed(1) + " MB"; }

function duration(seconds) {
  return seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
}
