// The debug page's only script: copy buttons and the 10 s health-bar refresh.
// Every value from the API goes in through textContent, never innerHTML.
"use strict";
(function () {
  const REFRESH_MS = 10000;

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

  function queueCard(name, q) {
    const card = document.createElement("div");
    card.className = "queue status-" + (["processing", "idle", "stalled", "pending"].includes(q.worker.status) ? q.worker.status : "unknown");
    card.dataset.queue = name;
    card.title = q.worker.detail || "";
    const title = document.createElement("div"); title.className = "qname"; title.textContent = name;
    const status = document.createElement("div"); status.className = "qstatus"; status.textContent = q.worker.status;
    const detail = document.createElement("div"); detail.className = "qdetail"; detail.textContent = q.worker.detail || "";
    const list = document.createElement("dl");
    [["pending", q.jobs.pending], ["ingest pending", q.jobs.ingest_pending], ["failed (parked)", q.jobs.failed],
     ["consumers", q.broker.consumers]].forEach(function (pair) {
      const dt = document.createElement("dt"); dt.textContent = pair[0];
      const dd = document.createElement("dd"); dd.textContent = shown(pair[1]);
      list.appendChild(dt); list.appendChild(dd);
    });
    card.appendChild(title); card.appendChild(status); card.appendChild(detail); card.appendChild(list);
    return card;
  }

  function refresh() {
    const bar = document.getElementById("health");
    if (!bar) return;
    fetch(bar.dataset.refresh, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status + " " + r.statusText); return r.json(); })
      .then(function (data) {
        const cards = Object.keys(data.queues).map(function (name) { return queueCard(name, data.queues[name]); });
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
    setInterval(refresh, REFRESH_MS);
  });
})();
