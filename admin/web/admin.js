// The admin page: it asks the admin API every REFRESH_MS and redraws.
// Everything shown comes from clients or the app (topics, socket ids,
// assigns), so it is put in the page as text, never as HTML. The browser
// sends the Basic credentials it asked for when it opened the page.
const REFRESH_MS = 1500;
const SAMPLES = 80; // points kept per sparkline
const prefix = document.body.dataset.prefix;
const $ = (sel) => document.querySelector(sel);

const history = {sockets: [], channels: [], topics: [], crashes: [], deliveries: []};
let lastCrashTotal = null;
let lastDeliveries = null; // {total, at}: the previous sample, for the rate
let filter = "";

/** el("td", {class: "num"}, "3") builds an element with text children. */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path) {
  const res = await fetch(`${prefix}/api/${path}`, {cache: "no-store", credentials: "same-origin"});
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

function duration(s) {
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function push(series, v) {
  series.push(v);
  if (series.length > SAMPLES) series.shift();
}

function spark(id, series, value) {
  const card = $(id);
  card.querySelector(".value").textContent = value;
  const max = Math.max(1, ...series) * 1.15; // headroom above the highest point
  const step = 120 / (SAMPLES - 1);
  const start = 120 - step * (series.length - 1);
  const points = series.map((v, i) => `${(start + i * step).toFixed(1)},${(28 - (v / max) * 26).toFixed(1)}`);
  card.querySelector("polyline").setAttribute("points", points.join(" "));
  const area = series.length > 1 ? [`${start.toFixed(1)},30`, ...points, "120,30"] : [];
  card.querySelector("polygon").setAttribute("points", area.join(" "));
}

function drawNode(node, nodes) {
  $("#node-name").textContent = node.node;
  const list = $("#nodes");
  list.replaceChildren(...nodes.nodes.map((n) =>
    el("li", {class: n.self ? "node self" : "node", dataset: {node: n.name}, title: `last seen ${n.last_seen}`}, n.name)));
  push(history.sockets, node.sockets);
  push(history.channels, node.channels);
  push(history.topics, node.topics);
  const crashesNow = lastCrashTotal === null ? 0 : node.crashes_total - lastCrashTotal;
  lastCrashTotal = node.crashes_total;
  push(history.crashes, crashesNow);
  const at = Date.parse(node.time);
  const seconds = lastDeliveries === null ? 0 : (at - lastDeliveries.at) / 1000;
  const perSecond = seconds > 0 ? Math.round((node.deliveries_total - lastDeliveries.total) / seconds) : 0;
  lastDeliveries = {total: node.deliveries_total, at};
  push(history.deliveries, perSecond);
  spark("#stat-sockets", history.sockets, node.sockets);
  spark("#stat-channels", history.channels, node.channels);
  spark("#stat-topics", history.topics, node.topics);
  spark("#stat-crashes", history.crashes, crashesNow);
  $("#stat-crashes .label small").textContent = `per interval · ${node.crashes_total} in all`;
  spark("#stat-deliveries", history.deliveries, perSecond);
  $("#stat-deliveries .label small").textContent = `per second · ${node.broadcasts_total} broadcasts in all`;
}

function assignsText(assigns) {
  return Object.entries(assigns || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
}

function drawSockets(page) {
  const rows = [];
  for (const s of page.sockets) {
    const channels = s.channels.length ? s.channels : [null];
    channels.forEach((c, i) => {
      const first = i === 0;
      rows.push(el("tr", {class: first ? "row first" : "row", dataset: {socket: s.id || s.pid, topic: c ? c.topic : ""}},
        el("td", {}, first ? el("code", {title: `${s.pid} from ${s.peer}, up ${duration(s.uptime_s)}`}, s.id || "(anonymous)") : ""),
        el("td", {}, first ? el("span", {class: "tag"}, `${s.transport} ${s.vsn}`) : ""),
        el("td", {class: "topic"}, c ? el("code", {}, c.topic) : el("span", {class: "muted"}, s.joining ? `joining ${s.joining}` : "no channel")),
        el("td", {}, c ? c.pattern : ""),
        el("td", {}, c ? duration(c.uptime_s) : ""),
        el("td", {class: c && c.mailbox > 10 ? "num hot" : "num"}, c ? c.mailbox : ""),
        el("td", {class: c && c.crashes > 0 ? "num hot" : "num"}, c ? (c.crashes ? `${c.restarts} (${c.crashes} crashes)` : c.restarts) : ""),
        el("td", {class: "num"}, first ? bytes(s.queued_bytes) : ""),
        el("td", {class: "muted"}, first ? assignsText(s.assigns) : ""),
      ));
    });
  }
  $("#sockets tbody").replaceChildren(...rows);
  const more = page.complete ? "" : " (more not shown)";
  $("#sockets-summary").textContent = `${page.sockets.length} of ${page.total} sockets${filter ? ` matching “${filter}”` : ""}${more}`;
}

function drawTopics(t) {
  $("#topics tbody").replaceChildren(...t.topics.map((x) =>
    el("tr", {dataset: {topic: x.topic}}, el("td", {}, el("code", {}, x.topic)), el("td", {class: "num count"}, x.subscribers))));
  $("#topics-summary").textContent = `${t.total} on this node`;
}

function drawPresence(p) {
  const box = $("#presence");
  if (!p.enabled) return box.replaceChildren(el("p", {class: "empty"}, "presence is not enabled"));
  if (!p.topics.length) return box.replaceChildren(el("p", {class: "empty"}, "nobody is tracked"));
  box.replaceChildren(...p.topics.map((t) => el("div", {class: "presence-topic", dataset: {topic: t.topic}},
    el("h3", {}, el("code", {}, t.topic), " ", el("span", {class: "muted count"}, `${plural(t.keys, "key")}, ${plural(t.metas, "meta")}`)),
    el("ul", {}, ...Object.entries(t.presences).sort(([a], [b]) => a.localeCompare(b)).map(([key, metas]) =>
      el("li", {class: "presence-key", dataset: {key}}, key, " ", el("span", {class: "muted"}, `×${metas.length}`)))))));
}

const openCrashes = new Set(); // crashes the user expanded stay expanded across redraws

function drawCrashes(c) {
  const box = $("#crashes");
  $("#crashes-summary").textContent = c.total ? `${c.total} since start, last ${c.crashes.length} kept` : "";
  if (!c.crashes.length) return box.replaceChildren(el("p", {class: "empty"}, "no crash so far"));
  box.replaceChildren(...c.crashes.map((x) => {
    const id = `${x.time}|${x.socket_id}|${x.topic}`;
    const d = el("details", {class: "crash", dataset: {topic: x.topic}, open: openCrashes.has(id)},
      el("summary", {}, el("strong", {}, x.topic || "?"), ` in ${x.callback}${x.event ? ` (${x.event})` : ""}: `,
        el("code", {class: "panic"}, x.panic), " ", el("span", {class: "muted"}, `${new Date(x.time).toLocaleTimeString()} · ${x.decision} · ${x.socket_id}`)),
      el("pre", {class: "stack"}, x.stack || "(no stack)"));
    d.addEventListener("toggle", () => d.open ? openCrashes.add(id) : openCrashes.delete(id));
    return d;
  }));
}

function supervisorList(s) {
  return el("ul", {class: "tree"}, ...s.children.map((c) => el("li", {class: "child", dataset: {name: c.name}},
    el("code", {}, c.name), " ", el("span", {class: "tag"}, c.restart), " ",
    c.running ? el("span", {class: "muted"}, `running · ${plural(c.starts, "start")}`) : el("span", {class: "down"}, "not running"),
    c.supervisor ? supervisorList(c.supervisor) : "")));
}

function drawTrees(t) {
  const box = $("#trees");
  if (!t.trees.length) return box.replaceChildren(el("p", {class: "empty"}, "no tree registered"));
  box.replaceChildren(...t.trees.map((tr) => el("div", {class: "tree-root", dataset: {tree: tr.name}},
    el("strong", {}, tr.name), " ",
    tr.root ? el("span", {class: "muted"}, `${tr.root.strategy} · ${tr.root.restarts} restarts in ${tr.root.period_ms / 1000} s (limit ${tr.root.intensity})`)
      : el("span", {class: "down"}, tr.error),
    tr.root ? supervisorList(tr.root) : "")));
}

let running = false;

async function refresh() {
  if (running) return;
  running = true;
  try {
    const q = encodeURIComponent(filter);
    const [node, nodes, sockets, topics, presence, crashes, trees] = await Promise.all([
      api("node"), api("nodes"), api(`sockets?limit=200&q=${q}`), api("topics?limit=200"),
      api("presence?limit=50"), api("crashes"), api("trees"),
    ]);
    drawNode(node, nodes);
    drawSockets(sockets);
    drawTopics(topics);
    drawPresence(presence);
    drawCrashes(crashes);
    drawTrees(trees);
    $("#status").dataset.state = "ok";
    $("#status-text").textContent = "live";
    const up = $("#updated");
    up.textContent = new Date().toLocaleTimeString();
    up.dataset.count = String(Number(up.dataset.count || 0) + 1);
  } catch (err) {
    $("#status").dataset.state = "error";
    $("#status-text").textContent = err.message;
  } finally {
    running = false;
  }
}

let typing;
$("#socket-filter").addEventListener("input", (e) => {
  clearTimeout(typing);
  typing = setTimeout(() => { filter = e.target.value.trim(); refresh(); }, 200);
});

refresh();
setInterval(refresh, REFRESH_MS);
