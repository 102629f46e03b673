// sluice's dashboard: plain JavaScript over the controller's API (Rspamd's
// endpoints), no libraries, so it works offline from the binary alone.
"use strict";

const ACTIONS = ["reject", "soft reject", "rewrite subject", "add header", "greylist", "no action"];
const COLORS = {
  "reject": "#d1242f", "soft reject": "#9a6700", "rewrite subject": "#e16f24",
  "add header": "#d4a72c", "greylist": "#1f6feb", "no action": "#2da44e",
};
// The order /saveactions takes its values in (Rspamd's).
const SAVE_ORDER = ["reject", "rewrite subject", "add header", "greylist"];
const REFRESH_MS = 10000;
const SVG = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
let password = sessionStorage.getItem("sluice-password");
let refreshTimer = null;

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (password) headers["Password"] = password;
  const r = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
  const text = await r.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
  if (!r.ok) {
    const msg = body && body.error ? body.error : (r.statusText || "HTTP " + r.status);
    throw new ApiError(r.status, msg);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : String(c));
  return e;
}

function svg(tag, attrs = {}) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function duration(secs) {
  const d = Math.floor(secs / 86400), h = Math.floor(secs % 86400 / 3600), m = Math.floor(secs % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m";
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  clearInterval(refreshTimer);
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message || "";
  $("password").focus();
}

// `quiet`: the first try without a password (clients from secure_ip need
// none); its refusal just shows the form.
async function login(candidate, quiet = false) {
  password = candidate;
  try {
    const a = await api("auth");
    sessionStorage.setItem("sluice-password", password || "");
    $("access").textContent = a.read_only ? "read only" : "";
    $("thresholds").querySelectorAll("input, button").forEach((i) => { i.disabled = !!a.read_only; });
    $("login").hidden = true;
    $("main").hidden = false;
    $("logout").hidden = false;
    await refresh();
    await loadThresholds();
    clearInterval(refreshTimer);
    refreshTimer = setInterval(refresh, REFRESH_MS);
  } catch (e) {
    password = null;
    sessionStorage.removeItem("sluice-password");
    const refused = e.status === 401 || e.status === 403;
    showLogin(refused ? (quiet ? "" : "Wrong password") : "Cannot log in: " + e.message);
  }
}

// ---------------------------------------------------------------- views

async function refresh() {
  await Promise.all([
    loadStat(), loadGraph(), loadPie(), loadHistory(), loadUpstreams(),
  ]);
}

async function loadStat() {
  const s = await api("stat").catch((e) => ({ error: e }));
  if (s.error) {
    if (s.error.status === 401) return showLogin("Session expired: log in again");
    return;
  }
  $("version").textContent = "version " + s.version;
  $("uptime").textContent = "up " + duration(s.uptime);
  $("stat-scanned").textContent = s.scanned;
  $("stat-spam").textContent = s.spam_count;
  $("stat-ham").textContent = s.ham_count;
  $("stat-learned").textContent = s.learned === undefined ? "-" : s.learned;
  $("stat-milter").textContent = s.milter_sessions === undefined ? "-" : s.milter_sessions;
  const counts = s.actions || {};
  fill($("action-counts").tBodies[0], Object.keys(counts).map((a) =>
    el("tr", { "data-action": a }, el("td", {}, a), el("td", { class: "count" }, counts[a]))));
  const bayes = [];
  if (s.bayes_store) {
    bayes.push(el("tr", {}, el("th", {}, "store"),
      el("td", { id: "bayes-state", class: s.bayes_store }, s.bayes_store)));
  }
  for (const f of s.statfiles || []) {
    bayes.push(el("tr", {}, el("th", {}, f.symbol), el("td", {}, f.revision + " learned, " + f.used + " tokens (" + f.type + ")")));
  }
  if (!bayes.length) bayes.push(el("tr", {}, el("td", {}, "Bayes is off")));
  fill($("bayes-table").tBodies[0], bayes);
  const lists = (s.dns_lists || []).map((l) => el("tr", {},
    el("td", {}, l.name), el("td", { class: l.healthy ? "up" : "down" }, l.healthy ? "answering" : "failing"),
    el("td", {}, l.queries), el("td", {}, l.listed), el("td", {}, l.failures)));
  if (!lists.length) lists.push(el("tr", {}, el("td", { colspan: 5 }, "none configured")));
  fill($("lists-table").tBodies[0], lists);
}

// Upstream health comes from /metrics (forward mode registers its hosts there).
async function loadUpstreams() {
  let text;
  try { text = await api("metrics"); } catch (_) { return; }
  const hosts = new Map();
  const re = /^sluice_upstream_(alive|requests_total)\{group="([^"]*)",host="([^"]*)"(?:,result="(\w+)")?\} (\S+)$/;
  for (const line of String(text).split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const key = m[2] + "\u0000" + m[3];
    const h = hosts.get(key) || { group: m[2], host: m[3], alive: null, ok: 0, error: 0 };
    if (m[1] === "alive") h.alive = m[5] === "1";
    else h[m[4]] = Number(m[5]);
    hosts.set(key, h);
  }
  const rows = [...hosts.values()].map((h) => el("tr", {},
    el("td", {}, h.group), el("td", {}, h.host),
    el("td", { class: h.alive ? "up" : "down" }, h.alive ? "alive" : "down"),
    el("td", {}, h.ok), el("td", {}, h.error)));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 5 }, "none: messages are scanned in process")));
  fill($("upstream-table").tBodies[0], rows);
}

function legend(ul, names) {
  ul.replaceChildren(...names.map((n) => el("li", {}, Object.assign(el("i"), { style: "background:" + COLORS[n] }), n)));
}

async function loadGraph() {
  const type = $("graph-type").value;
  const chart = $("throughput-chart");
  let series;
  try {
    series = await api("graph?type=" + encodeURIComponent(type));
    $("throughput-error").textContent = "";
  } catch (e) {
    $("throughput-error").textContent = "No throughput data: " + e.message;
    return;
  }
  const W = 640, H = 220, L = 40, B = 20;
  const points = series.flat().filter((p) => p && p.y !== null && p.y !== undefined);
  const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y1 = Math.max(1e-9, ...ys);
  const sx = (x) => L + (x1 > x0 ? (x - x0) / (x1 - x0) : 0) * (W - L - 5);
  const sy = (y) => H - B - (y / y1) * (H - B - 10);
  const nodes = [
    svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, stroke: "#999" }),
    svg("line", { x1: L, y1: 5, x2: L, y2: H - B, stroke: "#999" }),
  ];
  const top = svg("text", { x: 2, y: 14 });
  top.textContent = y1 > 1e-9 ? y1.toPrecision(3) : "0";
  nodes.push(top);
  if (points.length) {
    for (const [label, t] of [[x0, "start"], [x1, "end"]]) {
      const tx = svg("text", { x: sx(label), y: H - 5, "text-anchor": t });
      tx.textContent = new Date(label * 1000).toLocaleString();
      nodes.push(tx);
    }
  }
  series.forEach((line, i) => {
    const name = ACTIONS[i];
    const d = (line || []).filter((p) => p.y !== null && p.y !== undefined)
      .map((p, j) => (j ? "L" : "M") + sx(p.x).toFixed(1) + "," + sy(p.y).toFixed(1)).join("");
    if (d) nodes.push(svg("path", { d, fill: "none", stroke: COLORS[name] || "#666", "stroke-width": 1.5, "data-action": name }));
  });
  chart.replaceChildren(...nodes);
  legend($("throughput-legend"), ACTIONS.slice(0, series.length));
}

// Rspamd's /pie rows: {label, color, value} (its own labels, "Clean",
// "Rejected", ...); an `action` name is read too.
async function loadPie() {
  let rows;
  try {
    rows = await api("pie");
    $("split-error").textContent = "";
  } catch (e) {
    $("split-error").textContent = "No action split: " + e.message;
    return;
  }
  const parts = rows.map((r) => ({
    name: r.label || r.action,
    color: r.color || COLORS[r.action] || "#888",
    value: Number(r.value) || 0,
  }));
  const total = parts.reduce((n, r) => n + r.value, 0);
  const nodes = [];
  let angle = -Math.PI / 2;
  for (const r of parts.filter((r) => r.value > 0)) {
    const share = r.value / total;
    const a2 = angle + share * 2 * Math.PI;
    const p = (a) => (100 * Math.cos(a)).toFixed(2) + "," + (100 * Math.sin(a)).toFixed(2);
    const d = share >= 0.9999
      ? "M0,-100A100,100 0 1,1 0,100A100,100 0 1,1 0,-100Z"
      : "M0,0L" + p(angle) + "A100,100 0 " + (share > 0.5 ? 1 : 0) + ",1 " + p(a2) + "Z";
    nodes.push(svg("path", { d, fill: r.color, "data-label": r.name }));
    angle = a2;
  }
  if (!nodes.length) {
    const t = svg("text", { x: 0, y: 0, "text-anchor": "middle" });
    t.textContent = "no messages yet";
    nodes.push(t);
  }
  $("split-chart").replaceChildren(...nodes);
  $("split-legend").replaceChildren(...parts.map((r) => el("li", { "data-label": r.name },
    Object.assign(el("i"), { style: "background:" + r.color }),
    r.name + ": " + r.value + (total ? " (" + (100 * r.value / total).toFixed(1) + "%)" : ""))));
}

// History rows key their symbols by name.
function symbolList(symbols) {
  return Object.entries(symbols || {})
    .sort(([an, a], [bn, b]) => Math.abs(b.score) - Math.abs(a.score) || an.localeCompare(bn))
    .map(([name, s]) => name + "(" + Number(s.score).toFixed(2) + ")").join(" ");
}

async function loadHistory() {
  let h;
  try {
    h = await api("history");
    $("history-error").textContent = "";
  } catch (e) {
    $("history-error").textContent = "No history: " + e.message;
    return;
  }
  const rows = (Array.isArray(h) ? h : h.rows || []).slice(0, 50).map((r) => el("tr", { "data-message-id": r["message-id"] || "" },
    el("td", {}, new Date((r.unix_time || 0) * 1000).toLocaleTimeString()),
    el("td", { class: "mid" }, r["message-id"] || ""),
    el("td", {}, r.sender_mime || r.sender_smtp || ""),
    el("td", { class: "action" }, r.action),
    el("td", {}, Number(r.score).toFixed(2) + " / " + r.required_score),
    el("td", { class: "symbols" }, symbolList(r.symbols))));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 6 }, "no messages yet")));
  fill($("history-table").tBodies[0], rows);
}

// ---------------------------------------------------------------- thresholds

async function loadThresholds() {
  let list;
  try { list = await api("actions"); } catch (e) {
    $("actions-status").textContent = "Cannot read thresholds: " + e.message;
    return;
  }
  for (const input of $("actions-form").querySelectorAll("input[data-action]")) {
    const a = list.find((x) => x.action === input.dataset.action);
    input.value = a && a.value !== null && a.value !== undefined ? a.value : "";
  }
}

async function saveThresholds(ev) {
  ev.preventDefault();
  const values = SAVE_ORDER.map((name) => {
    const v = $("actions-form").querySelector('input[data-action="' + name + '"]').value;
    return v === "" ? null : Number(v);
  });
  const set = values.filter((v) => v !== null);
  if (set.some((v, i) => i && v >= set[i - 1])) {
    $("actions-status").textContent = "Thresholds must fall from reject to greylist";
    return;
  }
  try {
    await api("saveactions", { method: "POST", body: JSON.stringify(values), headers: { "Content-Type": "application/json" } });
    $("actions-status").textContent = "Saved";
    await loadThresholds();
  } catch (e) {
    $("actions-status").textContent = "Not saved: " + e.message;
  }
}

// ---------------------------------------------------------------- scan

async function scan(ev) {
  ev.preventDefault();
  $("scan-error").textContent = "";
  $("scan-result").hidden = true;
  // Pasted text has bare newlines; a message has CRLF line ends.
  const message = $("scan-message").value.replace(/\r?\n/g, "\r\n");
  if (!message.trim()) {
    $("scan-error").textContent = "Paste a message first";
    return;
  }
  try {
    const v = await api("checkv2", { method: "POST", body: message });
    $("scan-action").textContent = v.action;
    $("scan-score").textContent = Number(v.score).toFixed(2);
    $("scan-required").textContent = v.required_score;
    fill($("scan-symbols").tBodies[0], Object.entries(v.symbols || {})
      .sort(([, a], [, b]) => b.score - a.score)
      .map(([name, s]) => el("tr", { "data-symbol": name }, el("td", {}, name), el("td", {}, Number(s.score).toFixed(2)),
        el("td", {}, (s.options || []).join(", ")))));
    $("scan-result").hidden = false;
    refresh();
  } catch (e) {
    $("scan-error").textContent = "Scan failed: " + e.message;
  }
}

// ---------------------------------------------------------------- start

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  login($("password").value);
});
$("logout").addEventListener("click", () => {
  password = null;
  sessionStorage.removeItem("sluice-password");
  showLogin();
});
$("graph-type").addEventListener("change", loadGraph);
$("actions-form").addEventListener("submit", saveThresholds);
$("scan-form").addEventListener("submit", scan);

if (password !== null) login(password); else login("", true);
