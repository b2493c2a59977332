// The debug page's only script: copy buttons and the refresh of the health bar, the stats and
// the trace table together (every REFRESH_MS). Values from the API go in through textContent;
// the stats and the table are the page's own server-rendered (escaped) sections, swapped whole.
"use strict";
(function () {
  const REFRESH_MS = 5000;
  const CARD_STATUSES = ["processing", "idle", "stalled", "pending"];

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const text = button.dataset.copy || "";
    const done = function () { button.textContent = "copied"; setTimeout(function () { button.textContent = "copy"; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else { fallbackCopy(text); done(); }
  });

  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.style.position = "fixed"; area.style.opacity = "0";
    document.body.appendChild(area); area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing else to try */ }
    document.body.removeChild(area);
  }

  function shown(value) { return value === null || value === undefined ? "?" : String(value); }

  function card(name, label, status, detail, pairs, parked) {
    const el = document.createElement("div");
    el.className = "queue status-" + (CARD_STATUSES.includes(status) ? status : "unknown") +
      (parked && status !== "stalled" ? " has-parked" : "");
    el.dataset.queue = name;
    el.title = detail || "";
    const title = document.createElement("div"); title.className = "qname"; title.textContent = label;
    const state = document.createElement("div"); state.className = "qstatus";
    state.textContent = status + (parked ? " · " + parked + " parked" : "");
    const text = document.createElement("div"); text.className = "qdetail"; text.textContent = detail || "";
    const list = document.createElement("dl");
    pairs.forEach(function (pair) {
      const dt = document.createElement("dt"); dt.textContent = pair[0];
      const dd = document.createElement("dd"); dd.textContent = shown(pair[1]);
      list.appendChild(dt); list.appendChild(dd);
    });
    el.appendChild(title); el.appendChild(state); el.appendChild(text); el.appendChild(list);
    return el;
  }

  function queueCard(name, q) {
    return card(name, name, q.worker.status, q.worker.detail,
      [["pending", q.jobs.pending], ["ingest pending", q.jobs.ingest_pending], ["failed (parked)", q.jobs.failed],
       ["consumers", q.broker.consumers]], q.jobs.failed || 0);
  }

  function outboxCard(o) {
    const el = card("outbox", "upload outbox", o.status, o.detail,
      [["waiting", o.pending], ["refused", o.failing], ["oldest, s", o.oldest_age_s]], 0);
    el.id = "outbox";
    return el;
  }

  // the stats tiles and the trace table, as the server renders them for this very URL
  function refreshSections() {
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.text(); })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        [["section.stats"], ["#traces tbody"], ["nav.pages"]].forEach(function (sel) {
          const now = document.querySelector(sel[0]);
          const next = fresh.querySelector(sel[0]);
          if (now && next) now.replaceWith(document.importNode(next, true));
        });
      })
      .catch(function () { /* the health bar's stamp already says when refreshing fails */ });
  }

  function refresh() {
    const bar = document.getElementById("health");
    if (!bar) return;
    fetch(bar.dataset.refresh, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); })
      .then(function (data) {
        const cards = Object.keys(data.queues).map(function (name) { return queueCard(name, data.queues[name]); });
        if (data.outbox) cards.push(outboxCard(data.outbox));
        const footer = bar.querySelector("p.refreshed");
        bar.replaceChildren.apply(bar, cards.concat(footer ? [footer] : []));
        const stamp = document.getElementById("refreshed");
        if (stamp) stamp.textContent = "refreshed " + new Date(data.checked_at * 1000).toLocaleTimeString();
        const broker = document.getElementById("broker");
        if (broker && data.broker) {
          broker.textContent = [data.broker.product, data.broker.version, data.broker.cluster_name && "· " + data.broker.cluster_name]
            .filter(Boolean).join(" ");
        }
      })
      .catch(function (err) {
        const stamp = document.getElementById("refreshed");
        if (stamp) stamp.textContent = "refresh failed: " + err.message;
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    refresh();
    setInterval(function () { refresh(); if (document.getElementById("traces")) refreshSections(); }, REFRESH_MS);
  });
})();
