// Gantry console: follows the event stream with EventSource (no build step,
// no library). Each event goes to the live table at once; an event of a
// request refreshes the summary once the console's view has applied it.
"use strict";
(() => {
  const body = document.body;
  const status = document.getElementById("connection");
  const events = document.querySelector("#events tbody");
  const summary = document.getElementById("summary");
  const MAX_ROWS = 200;
  // The last request event seen: the summary waits for the view to apply it.
  let latest = 0;
  let refreshing = false;
  let again = false;

  function span(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = kind;
  }

  function cell(row, text, code) {
    const td = row.insertCell();
    if (code) {
      const c = document.createElement("code");
      c.textContent = text;
      td.appendChild(c);
    } else {
      td.textContent = text;
    }
  }

  function addRow(event) {
    const envelope = event.envelope || {};
    const row = document.createElement("tr");
    row.dataset.sequence = event.sequence;
    row.dataset.aggregateId = envelope.aggregate_id || "";
    row.dataset.eventType = envelope.event_type || "";
    cell(row, String(event.sequence));
    cell(row, envelope.occurred_at ? new Date(envelope.occurred_at).toLocaleTimeString() : "");
    cell(row, envelope.event_type || "");
    cell(row, `${envelope.aggregate_type}/${envelope.aggregate_id}`, true);
    cell(row, event.environment || event.tenant || "");
    cell(row, (envelope.actor && envelope.actor.subject) || "");
    events.prepend(row);
    while (events.rows.length > MAX_ROWS) events.deleteRow(-1);
  }

  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    try {
      do {
        again = false;
        const answer = await fetch(`/summary?min_sequence=${latest}`, { credentials: "same-origin" });
        if (answer.ok) summary.innerHTML = await answer.text();
      } while (again);
    } catch (_) {
      // The next event or the periodic refresh tries again.
    } finally {
      refreshing = false;
    }
  }

  function updateAges() {
    const now = Date.now();
    for (const age of document.querySelectorAll("td.age[data-since]")) {
      age.textContent = span(now - Number(age.dataset.since));
    }
  }

  // From where the server-rendered tables stand, so nothing in between is
  // lost; from now when the server could not tell.
  const from = body.dataset.from ? `?from=${encodeURIComponent(body.dataset.from)}` : "";
  const source = new EventSource(`/v1/events${from}`);
  source.onopen = () => setStatus("live", "live");
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) setStatus("disconnected; reload (or log in again)", "offline");
    else setStatus("reconnecting…", "offline");
  };
  source.addEventListener("cutoff", () => setStatus("cut off for reading too slowly; resuming", "offline"));
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    addRow(event);
    // The view follows request subjects only: wait for it on those.
    if (event.envelope && event.envelope.aggregate_type === "request") {
      latest = Math.max(latest, event.sequence);
      refresh();
    }
  };
  setInterval(updateAges, 1000);
  // Lag and deadlines move without events of their own.
  setInterval(refresh, 15000);
})();
