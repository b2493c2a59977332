// The contact sheet: a virtualized grid. Only the rows on screen (and two more each way) have
// elements; cells are reused as the sheet scrolls and redrawn only when their item changed,
// so thousands of photos scroll as smoothly as ten.
import { prioritize, wantThumb } from "./follow.js";
import { SENDING, camera, stage, state } from "./state.js";

const grid = document.getElementById("grid");
const space = document.getElementById("grid-space");
const GAP = 8;
const LABEL = 46;  // the name and the stars under each picture
const BUFFER_ROWS = 2;
let cell = 180;
let cols = 1;
const live = new Map();  // index in state.shown -> element
const spare = [];
let frame = 0;

export function setSize(px) {
  cell = px;
  grid.style.setProperty("--cell", px + "px");
  schedule();
}

export function columns() { return cols; }

export function schedule() {
  if (!frame) frame = requestAnimationFrame(() => { frame = 0; draw(); });
}

// while the sheet flies by, cells show what they have; thumbnails are fetched once it rests
const REST_MS = 120;
let lastScroll = 0;
let restTimer = 0;
grid.addEventListener("scroll", () => {
  lastScroll = performance.now();
  clearTimeout(restTimer);
  restTimer = setTimeout(schedule, REST_MS);
  schedule();
}, { passive: true });
new ResizeObserver(schedule).observe(grid);

function draw() {
  const width = grid.clientWidth - GAP;
  cols = Math.max(1, Math.floor(width / (cell + GAP)));
  const rowHeight = cell + LABEL + GAP;
  const rows = Math.ceil(state.shown.length / cols);
  space.style.height = rows * rowHeight + "px";
  const first = Math.max(0, Math.floor(grid.scrollTop / rowHeight) - BUFFER_ROWS);
  const last = Math.min(rows, Math.ceil((grid.scrollTop + grid.clientHeight) / rowHeight) + BUFFER_ROWS);
  const from = first * cols;
  const to = Math.min(state.shown.length, last * cols);
  for (const [index, el] of live) {
    if (index < from || index >= to || el.item !== state.shown[index]) {
      live.delete(index);
      el.hidden = true;
      spare.push(el);
    }
  }
  const onScreen = [];
  for (let index = from; index < to; index++) {
    const item = state.shown[index];
    let el = live.get(index);
    if (!el) {
      el = spare.pop() || make();
      el.hidden = false;
      live.set(index, el);
      el.version = -1;
    }
    if (el.item !== item || el.version !== item.version || el.focused !== (index === state.focus)
        || el.marked !== state.marked.has(item)) {
      fill(el, item, index);
    }
    el.style.transform = `translate(${GAP + (index % cols) * (cell + GAP)}px, ${GAP + Math.floor(index / cols) * rowHeight}px)`;
    onScreen.push(item);
  }
  if (performance.now() - lastScroll >= REST_MS) {
    for (const item of onScreen) wantThumb(item);
    prioritize(onScreen);
  }
  document.getElementById("empty").hidden = state.shown.length > 0;
  const focused = live.get(state.focus);
  if (focused) grid.setAttribute("aria-activedescendant", focused.id);
  else grid.removeAttribute("aria-activedescendant");
}

function make() {
  const el = document.createElement("div");
  el.className = "cell";
  el.setAttribute("role", "option");
  el.innerHTML = '<div class="frame"><img alt="" decoding="async"><progress max="1" value="0"></progress>'
    + '<span class="flag" aria-hidden="true"></span></div>'
    + '<div class="name"></div><div class="line"><span class="stars" aria-hidden="true"></span>'
    + '<span class="status"></span></div>';
  el.addEventListener("click", () => grid.dispatchEvent(new CustomEvent("cell-click", { detail: el.index })));
  el.addEventListener("dblclick", () => grid.dispatchEvent(new CustomEvent("cell-open", { detail: el.index })));
  space.appendChild(el);
  return el;
}

function fill(el, item, index) {
  el.item = item;
  el.index = index;
  el.version = item.version;
  el.focused = index === state.focus;
  el.marked = state.marked.has(item);
  el.id = "cell-" + item.key;
  el.dataset.name = item.name;
  el.dataset.status = item.status;
  el.dataset.flag = item.flag || "";
  el.dataset.rating = item.rating || 0;
  el.dataset.thumb = item.thumbKind || "";
  el.classList.toggle("focused", el.focused);
  el.classList.toggle("marked", el.marked);
  el.setAttribute("aria-selected", el.focused ? "true" : "false");
  el.setAttribute("aria-posinset", index + 1);
  el.setAttribute("aria-setsize", state.shown.length);
  el.setAttribute("aria-label", describe(item));
  const img = el.querySelector("img");
  if (item.thumb) { if (img.getAttribute("src") !== item.thumb) img.src = item.thumb; }
  else img.removeAttribute("src");
  const bar = el.querySelector("progress");
  bar.hidden = !SENDING.includes(item.status);
  bar.max = item.size || 1;
  bar.value = item.sent;
  el.querySelector(".flag").textContent = item.flag === "pick" ? "✓" : item.flag === "reject" ? "✕" : "";
  el.querySelector(".name").textContent = item.name;
  el.querySelector(".stars").textContent = "★".repeat(item.rating || 0);
  const status = el.querySelector(".status");
  status.textContent = statusText(item);
  status.title = item.problem ? item.problem.technical : item.status === "kept" ? status.textContent : "";
}

export function statusText(item) {
  if (item.status === "kept") return `already kept as ${item.keptPath}`;
  if (item.status === "waiting for the quota" && item.problem) return item.problem.message;
  if (item.problem && /failed/.test(item.status)) {
    return item.problem.message + (item.problem.retryable ? " (R tries again)" : "");
  }
  if (item.status === "ready" && expiresSoon(item)) return `expires ${item.expires.toLocaleDateString()}`;
  return item.status === "ready" ? "" : item.status;
}

// the server removes a photo nobody confirmed (PROPHOTO_PROXY_EXPIRY_DAYS): say so a week ahead
const WARN_MS = 7 * 24 * 3600 * 1000;
function expiresSoon(item) {
  return item.expires instanceof Date && item.expires.getTime() - Date.now() < WARN_MS;
}

function describe(item) {
  const parts = [item.name];
  if (item.flag) parts.push(item.flag === "pick" ? "picked" : "rejected");
  if (item.rating) parts.push(`${item.rating} star${item.rating > 1 ? "s" : ""}`);
  parts.push(stage(item) === "ready" ? "preview ready" : statusText(item) || item.status);
  const cam = camera(item);
  if (cam) parts.push(cam);
  return parts.join(", ");
}

// keep the focused cell in view
export function reveal(index) {
  const rowHeight = cell + LABEL + GAP;
  const top = Math.floor(index / cols) * rowHeight;
  if (top < grid.scrollTop) grid.scrollTop = top;
  else if (top + rowHeight > grid.scrollTop + grid.clientHeight) grid.scrollTop = top + rowHeight - grid.clientHeight;
  schedule();
}
