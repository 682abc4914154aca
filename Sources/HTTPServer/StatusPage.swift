/// The status page at `/`: one self-contained HTML document (no external URL: no CDN, no font)
/// whose script polls the JSON API every 2 seconds and redraws in place. Views: the overview
/// (sources, alerts firing, consumers by group, channels — sortable and filterable — and the
/// last 24 hours of alerts), one channel (`#channel=NAME`: its last hour) and one consumer
/// (`#consumer=NAME`: its state changes). Text is only ever set as text, never as markup.
enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Lookout</title>
<style>
:root { --bg: #ffffff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --head: #f6f8fa;
        --up: #1a7f37; --warn: #9a6700; --bad: #cf222e; --off: #57606a; --accent: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #9da7b3; --line: #30363d; --head: #161b22;
          --up: #3fb950; --warn: #d29922; --bad: #f85149; --off: #9da7b3; --accent: #58a6ff; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline; padding: .75rem 1rem; border-bottom: 1px solid var(--line); background: var(--head); }
header h1 { font-size: 1.25rem; margin: 0; }
header h1 a { color: inherit; text-decoration: none; }
main { padding: 0 1rem 2rem; max-width: 110rem; margin: 0 auto; }
section { margin-top: 1.25rem; }
h2 { font-size: 1.05rem; margin: 0 0 .5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding: .25rem 0; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--head); font-weight: 600; }
td.num, th.num { text-align: right; }
td.why { white-space: normal; min-width: 16rem; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button:focus-visible, a:focus-visible, input:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
th[aria-sort] button::after { content: " \2195"; color: var(--muted); }
th[aria-sort="ascending"] button::after { content: " \2191"; color: var(--fg); }
th[aria-sort="descending"] button::after { content: " \2193"; color: var(--fg); }
a { color: var(--accent); }
.state { display: inline-block; padding: 0 .45rem; border-radius: 1rem; font-weight: 600; border: 1px solid currentColor; }
.state-up, .state-healthy, .state-true, .state-resolved { color: var(--up); }
.state-late, .state-lagging, .state-degraded, .state-warning { color: var(--warn); }
.state-down, .state-stalled, .state-false, .state-firing, .state-critical { color: var(--bad); }
.state-stopped { color: var(--off); }
.muted { color: var(--muted); }
.group td { background: var(--head); font-weight: 600; }
label { margin-right: .5rem; }
input[type=search] { font: inherit; padding: .2rem .4rem; color: var(--fg); background: var(--bg); border: 1px solid var(--line); border-radius: .25rem; }
svg.spark { vertical-align: middle; }
svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
.empty { color: var(--muted); padding: .4rem 0; }
#error { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1><a href="#">Lookout</a></h1>
  <span id="sources" aria-live="polite"></span>
  <span id="notifications" class="muted"></span>
  <span class="muted">updated <time id="updated">never</time></span>
  <span id="error" role="alert"></span>
</header>
<main id="main">
  <section id="overview">
    <section aria-labelledby="firing-title"><h2 id="firing-title">Alerts firing</h2><div class="scroll" id="firing"></div></section>
    <section aria-labelledby="consumers-title"><h2 id="consumers-title">Consumers</h2><div class="scroll" id="consumers"></div></section>
    <section aria-labelledby="streams-title" id="streams-section" hidden><h2 id="streams-title">Redis Streams</h2><div class="scroll" id="streams"></div></section>
    <section aria-labelledby="channels-title">
      <h2 id="channels-title">Channels</h2>
      <label for="filter">Filter channels</label><input type="search" id="filter" placeholder="name contains…" autocomplete="off">
      <div class="scroll" id="channels"></div>
    </section>
    <section aria-labelledby="alerts-title"><h2 id="alerts-title">Alerts, last 24 hours</h2><div class="scroll" id="alerts"></div></section>
  </section>
  <section id="detail" hidden></section>
</main>
<script>
"use strict";
const api = "/api/v1";
const state = { sort: { key: "messages_per_second", descending: true }, filter: "", sparks: {}, sparksAt: 0, previous: {}, rates: {} };

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function badge(text) { return el("span", { class: "state state-" + String(text) }, String(text)); }
function rate(value) { return value === null || value === undefined ? "-" : (value >= 100 ? Math.round(value).toLocaleString() : Number(value).toFixed(value >= 10 ? 1 : 2)); }
function count(value) { return value === null || value === undefined ? "-" : Number(value).toLocaleString(); }
function bytes(value) {
  if (value === null || value === undefined) return "-";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]; let v = value, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? Math.round(v) : v.toFixed(1)) + " " + units[i];
}
function seconds(value) {
  if (value === null || value === undefined) return "-";
  if (value < 0.001) return (value * 1e6).toFixed(0) + " µs";
  if (value < 1) return (value * 1e3).toFixed(value < 0.01 ? 2 : 1) + " ms";
  return value.toFixed(2) + " s";
}
function span(s) {
  if (s === null || s === undefined) return "-";
  s = Math.max(0, s);
  if (s < 60) return Math.round(s) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(Math.round(s % 60)).padStart(2, "0") + "s";
  if (s < 86400) return Math.floor(s / 3600) + "h" + String(Math.floor(s % 3600 / 60)).padStart(2, "0") + "m";
  return Math.floor(s / 86400) + "d";
}
function age(iso) { return iso ? span((Date.now() - Date.parse(iso)) / 1000) + " ago" : "-"; }
function time(iso) { return iso ? el("time", { datetime: iso, title: iso }, age(iso)) : "-"; }
function link(kind, name) { return el("a", { href: "#" + kind + "=" + encodeURIComponent(name) }, name); }
function table(caption, columns, rows, empty) {
  if (rows.length === 0) return el("p", { class: "empty" }, empty);
  const head = el("tr", {}, ...columns.map(c => el("th", { scope: "col", class: c.num ? "num" : null }, c.label)));
  return el("table", {}, el("caption", {}, caption), el("thead", {}, head), el("tbody", {}, ...rows));
}
function cell(value, num, cls) { return el("td", { class: [num ? "num" : "", cls || ""].join(" ").trim() || null }, value); }
function spark(points, width, height) {
  if (!points || points.length < 2) return el("span", { class: "muted" }, "-");
  const max = Math.max(1, ...points);
  const step = width / (points.length - 1);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `messages per minute over the last hour, up to ${max}`);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.map((p, i) => `${(i * step).toFixed(1)},${(height - 1 - (p / max) * (height - 2)).toFixed(1)}`).join(" "));
  svg.append(line);
  return svg;
}
async function get(path) {
  const response = await fetch(api + path, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function replace(id, node) { const target = document.getElementById(id); target.replaceChildren(node); }

function drawSources(sources) {
  const box = document.getElementById("sources");
  box.replaceChildren(...sources.map(s => el("span", { title: s.reason || "ready" }, s.source, " ", badge(s.up ? "up" : "down"),
    s.reconnects ? ` ${s.reconnects} reconnects` : "", s.probe_roundtrip_seconds !== null && s.probe_roundtrip_seconds !== undefined
      ? ` probe ${seconds(s.probe_roundtrip_seconds)}` : "", s.reason ? ` (${s.reason})` : "", " ")));
}
function drawNotifications(status) {
  // Shown for an HA group only: which instance sends the notifications.
  document.getElementById("notifications").textContent = status && status.group ? `notifications ${status.summary}` : "";
}
function drawFiring(alerts) {
  const firing = alerts.filter(a => a.status === "firing");
  replace("firing", table("Alerts firing now", [{ label: "Alert" }, { label: "Severity" }, { label: "About" }, { label: "Since" },
    { label: "Summary" }],
    firing.map(a => el("tr", { "data-alert": a.alert }, cell(a.alert), cell(badge((a.labels || {}).severity || "-")), cell(a.subject || "-"),
      cell(time(a.started_at)), cell(a.summary, false, "why"))),
    "No alert is firing."));
}
function drawConsumers(consumers) {
  const now = Date.now() / 1000;
  const rows = [];
  const groups = {};
  for (const c of consumers) (groups[c.group || ""] = groups[c.group || ""] || []).push(c);
  for (const name of Object.keys(groups).sort()) {
    const members = groups[name];
    const downCount = members.filter(c => c.state === "down").length;
    rows.push(el("tr", { class: "group" }, el("td", { colspan: "11" }, name ? `group ${name} — ${members.length} consumers, ${downCount} down` : "no group")));
    for (const c of members) {
      const before = state.previous[c.consumer];
      if (before && c.processed !== null && before.processed !== null && now > before.at) {
        state.rates[c.consumer] = { processed: Math.max(0, c.processed - before.processed) / (now - before.at),
                                    failed: Math.max(0, (c.failed || 0) - (before.failed || 0)) / (now - before.at) };
      }
      state.previous[c.consumer] = { processed: c.processed, failed: c.failed, at: now };
      const r = state.rates[c.consumer] || {};
      rows.push(el("tr", { "data-consumer": c.consumer, "data-state": c.state },
        cell(link("consumer", c.consumer)), cell(badge(c.state)), cell(time(c.state_since)), cell(c.reason || "-", false, "why"),
        cell(c.heartbeats ? time(c.last_heartbeat) : c.kind === "stream" ? "stream consumer" : "no beats"), cell(rate(r.processed), true), cell(rate(r.failed), true),
        cell(count(c.lag), true), cell(count(c.missed), true), cell(count(c.restarts), true), cell(count(c.reconnects), true)));
    }
  }
  replace("consumers", table("Consumers by group: state, why, and how they keep up",
    [{ label: "Consumer" }, { label: "State" }, { label: "Since" }, { label: "Why" }, { label: "Heartbeat" },
     { label: "Processed/s", num: true }, { label: "Failed/s", num: true }, { label: "Lag", num: true },
     { label: "Missed", num: true }, { label: "Restarts", num: true }, { label: "Reconnects", num: true }],
    rows, "No consumer yet: send heartbeats on lookout:heartbeat, or name a subscribed connection (CLIENT SETNAME)."));
}
function drawStreams(groups) {
  // Shown when the streams watch runs (sidecar mode with streams.match).
  document.getElementById("streams-section").hidden = groups.length === 0;
  replace("streams", table("Consumer groups: how far behind, what is stuck, what was lost",
    [{ label: "Stream" }, { label: "Group" }, { label: "Lag", num: true }, { label: "Pending", num: true },
     { label: "Oldest unread", num: true }, { label: "Oldest pending", num: true }, { label: "Poison", num: true },
     { label: "Lost unread", num: true }, { label: "Dead consumers" }],
    groups.map(g => el("tr", { "data-stream-group": g.stream + "/" + g.group, "data-healthy": String(g.dead_consumers.length === 0 && g.lost_unread === 0 && g.poison === 0) },
      cell(g.stream), cell(g.group), cell(g.lag === null || g.lag === undefined ? "unknown" : count(g.lag), true), cell(count(g.pending), true),
      cell(span(g.oldest_unread_age_seconds), true), cell(span(g.oldest_pending_age_seconds), true), cell(count(g.poison), true),
      cell(count(g.lost_unread), true), cell(g.dead_consumers.length
        ? el("span", {}, ...g.dead_consumers.flatMap((c, i) => [i ? ", " : null, link("consumer", g.stream + "/" + g.group + "/" + c)])) : "-"))),
    "No consumer group on the watched streams."));
}
const channelColumns = [
  { key: "channel", label: "Channel" }, { key: "messages_per_second", label: "Msg/s", num: true },
  { key: "bytes_per_second", label: "Bytes/s", num: true }, { key: "subscribers", label: "Subscribers", num: true },
  { key: "unrouted", label: "Lost (to nobody)", num: true }, { key: "latency_p99_seconds", label: "p99", num: true },
  { key: "spark", label: "Last hour" },
];
function drawChannels(channels) {
  const filter = state.filter.toLowerCase();
  const { key, descending } = state.sort;
  const shown = channels.filter(c => c.channel.toLowerCase().includes(filter)).sort((a, b) => {
    const x = a[key], y = b[key];
    const order = typeof x === "string" ? x.localeCompare(y) : (x ?? -1) - (y ?? -1);
    return descending ? -order : order;
  });
  const head = el("tr", {}, ...channelColumns.map(c => {
    const th = el("th", { scope: "col", class: c.num ? "num" : null });
    if (c.key === "spark") { th.append(c.label); return th; }
    th.setAttribute("aria-sort", key === c.key ? (descending ? "descending" : "ascending") : "none");
    const button = el("button", { type: "button" }, c.label);
    button.addEventListener("click", () => {
      state.sort = { key: c.key, descending: state.sort.key === c.key ? !state.sort.descending : c.key !== "channel" };
      drawChannels(channels);
    });
    th.append(button);
    return th;
  }));
  const rows = shown.map(c => el("tr", { "data-channel": c.channel },
    cell(link("channel", c.channel)), cell(rate(c.messages_per_second), true), cell(bytes(c.bytes_per_second), true),
    cell(count(c.subscribers), true), cell(count(c.unrouted), true), cell(seconds(c.latency_p99_seconds), true),
    cell(spark(state.sparks[c.channel], 120, 24))));
  const box = document.getElementById("channels");
  if (channels.length === 0) { box.replaceChildren(el("p", { class: "empty" }, "No channel has carried a message yet.")); return; }
  box.replaceChildren(el("table", {}, el("caption", {}, `${shown.length} of ${channels.length} channels; select a heading to sort`),
    el("thead", {}, head), el("tbody", {}, ...rows)));
}
async function refreshSparks(channels) {
  if (Date.now() - state.sparksAt < 30000) return;
  state.sparksAt = Date.now();
  const busiest = [...channels].sort((a, b) => b.messages_per_second - a.messages_per_second).slice(0, 25);
  await Promise.all(busiest.map(async c => {
    try {
      const points = await get(`/channels/${encodeURIComponent(c.channel)}?since=1h&step=60s`);
      state.sparks[c.channel] = points.map(p => p.messages);
    } catch (e) { /* no history yet (or no database): no sparkline */ }
  }));
}
function drawAlerts(alerts) {
  replace("alerts", table("Alerts active at some point in the last 24 hours", [{ label: "Alert" }, { label: "Status" }, { label: "About" },
    { label: "Started" }, { label: "Ended" }, { label: "Summary" }],
    [...alerts].reverse().map(a => el("tr", {}, cell(a.alert), cell(badge(a.status)), cell(a.subject || "-"), cell(time(a.started_at)),
      cell(a.ended_at ? time(a.ended_at) : "-"), cell(a.summary, false, "why"))), "No alert in the last 24 hours."));
}

async function overview() {
  const [channels, consumers, sources] = await Promise.all([get("/channels"), get("/consumers"), get("/sources")]);
  let alerts = [];
  try { alerts = await get("/alerts?since=24h"); } catch (e) { /* no database: no alert history */ }
  let notifications = null;
  try { notifications = await get("/notifications"); } catch (e) { /* an older server */ }
  let streams = [];
  try { streams = await get("/streams"); } catch (e) { /* an older server */ }
  drawSources(sources); drawNotifications(notifications); drawFiring(alerts); drawConsumers(consumers); drawStreams(streams); drawAlerts(alerts);
  await refreshSparks(channels);
  drawChannels(channels);
  state.channels = channels;
}
async function channelView(name) {
  const [points, channels] = await Promise.all([get(`/channels/${encodeURIComponent(name)}?since=1h&step=60s`), get("/channels")]);
  const now = channels.find(c => c.channel === name) || {};
  const detail = document.getElementById("detail");
  detail.replaceChildren(el("h2", {}, "Channel ", name), el("p", {}, el("a", { href: "#" }, "← all channels")),
    el("p", {}, `now: ${rate(now.messages_per_second)} msg/s, ${bytes(now.bytes_per_second)}/s, ${count(now.subscribers)} subscribers, p99 ${seconds(now.latency_p99_seconds)}`),
    spark(points.map(p => p.messages), 600, 80),
    el("div", { class: "scroll" }, table("The last hour, minute by minute", [{ label: "Minute" }, { label: "Messages", num: true },
      { label: "Lost", num: true }, { label: "Subscribers", num: true }, { label: "p99", num: true }],
      [...points].reverse().map(p => el("tr", {}, cell(time(p.start)), cell(count(p.messages), true), cell(count(p.unrouted), true),
        cell(count(p.subscribers), true), cell(seconds(p.latency_p99_seconds), true))), "Nothing recorded in the last hour.")));
}
async function consumerView(name) {
  const c = await get(`/consumers/${encodeURIComponent(name)}?since=24h`);
  const facts = [["State", badge(c.state)], ["Since", time(c.state_since)], ["Why", c.reason || "-"], ["Group", c.group || "-"],
    ["Last heartbeat", c.heartbeats ? time(c.last_heartbeat)
      : c.kind === "stream" ? "none (a Redis Streams consumer, watched by XINFO CONSUMERS)" : "none (watched by its named connection)"],
    ["Processed", count(c.processed)], ["Failed", count(c.failed)], ["Lag", count(c.lag)], ["Missed", count(c.missed)],
    ["Restarts", count(c.restarts)], ["Reconnects", count(c.reconnects)], ["Channels", (c.channels || []).join(", ") || "-"]];
  const detail = document.getElementById("detail");
  detail.replaceChildren(el("h2", {}, "Consumer ", name), el("p", {}, el("a", { href: "#" }, "← all consumers")),
    el("table", {}, el("caption", {}, "As the monitor sees it now"),
      el("tbody", {}, ...facts.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), cell(v))))),
    el("div", { class: "scroll" }, table("State changes, last 24 hours", [{ label: "When" }, { label: "From" }, { label: "To" },
      { label: "Missed", num: true }, { label: "Why" }],
      [...(c.transitions || [])].reverse().map(t => el("tr", {}, cell(time(t.at)), cell(badge(t.from)),
        cell(badge(t.kind && t.kind !== "change" ? t.kind : t.to)), cell(count(t.missed), true), cell(t.reason, false, "why"))),
      "No state change recorded in the last 24 hours.")));
}

async function tick() {
  const hash = decodeURIComponent(location.hash.slice(1));
  const [kind, ...rest] = hash.split("=");
  const name = rest.join("=");
  const detailed = (kind === "channel" || kind === "consumer") && name;
  document.getElementById("overview").hidden = !!detailed;
  document.getElementById("detail").hidden = !detailed;
  try {
    if (kind === "channel" && name) await channelView(name);
    else if (kind === "consumer" && name) await consumerView(name);
    else await overview();
    document.getElementById("error").textContent = "";
    const now = new Date();
    const stamp = document.getElementById("updated");
    stamp.textContent = now.toLocaleTimeString(); stamp.setAttribute("datetime", now.toISOString());
  } catch (e) {
    document.getElementById("error").textContent = "cannot reach Lookout: " + e.message;
  }
}
document.getElementById("filter").addEventListener("input", e => { state.filter = e.target.value; if (state.channels) drawChannels(state.channels); });
window.addEventListener("hashchange", tick);
tick();
setInterval(tick, 2000);
</script>
</body>
</html>
"""#
}
