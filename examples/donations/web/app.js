// The pyre donations page: every campaign's total, live; who is giving
// right now; the supervision tree's restarts; and, once logged in, a way to
// give. It talks to the server through the official phoenix client, which
// the server serves at /assets/ (a copy of the npm package's, built into
// the binary), and reads GET /api/campaigns once, for the campaigns and the
// latest donations, before logging in.
import {Socket, Presence} from "/assets/phoenix.mjs";

const SESSION_KEY = "pyre-donations:session";
// Reconnect waits: phoenix.js's own steps, each spread over ±50%, so that
// the pages of a restarted server neither come back in the same
// millisecond nor retry in step when it answers the excess 503.
const RECONNECT_STEPS_MS = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
const reconnectAfterMs = (tries) => (RECONNECT_STEPS_MS[tries - 1] ?? 5000) * (0.5 + Math.random());
const FEED_LENGTH = 20;

const $ = (id) => document.getElementById(id);
const ui = {
  me: $("me"),
  status: $("status"),
  logout: $("logout-button"),
  login: $("login"),
  loginForm: $("login-form"),
  username: $("username"),
  loginError: $("login-error"),
  campaigns: $("campaigns"),
  campaignsError: $("campaigns-error"),
  grandTotal: $("grand-total"),
  template: $("campaign-template"),
  donors: $("donors"),
  donorsCount: $("donors-count"),
  donorsEmpty: $("donors-empty"),
  restarts: $("restarts"),
  refreshedAt: $("refreshed-at"),
  feed: $("feed"),
  feedEmpty: $("feed-empty"),
};

// Everything the page knows. Only the functions below change it.
const state = {
  user: null,
  socket: null,
  donors: null, // {channel, presence} of donors:live
  campaigns: new Map(), // id -> {id, name, goal, total, count, el, channel}
  restarts: 0,
};

// ---- small helpers ---------------------------------------------------------

const money = new Intl.NumberFormat("en-US", {style: "currency", currency: "USD", maximumFractionDigits: 0});

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function setStatus(name) {
  ui.status.dataset.state = name;
  ui.status.textContent = name;
}

function describeError(resp) {
  if (!resp) return "something went wrong";
  if (resp.reason) return resp.reason;
  if (resp.errors) {
    return Object.entries(resp.errors)
      .map(([field, msgs]) => `${field} ${[].concat(msgs).join(", ")}`)
      .join("; ");
  }
  return JSON.stringify(resp);
}

function clock(date) {
  return date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
}

/** Replays a CSS animation on el (class name cls). */
function flash(el, cls) {
  el.classList.remove(cls);
  void el.offsetWidth; // restart the animation
  el.classList.add(cls);
}

// ---- campaigns ---------------------------------------------------------------

/** The campaign with this id, its card made on first sight. */
function campaign(c) {
  let cp = state.campaigns.get(c.id);
  if (cp) return cp;
  const el = ui.template.content.firstElementChild.cloneNode(true);
  el.dataset.id = c.id;
  el.querySelector(".name").textContent = c.name;
  cp = {id: c.id, name: c.name, goal: c.goal, total: -1, count: -1, el, channel: null};
  state.campaigns.set(c.id, cp);

  const form = el.querySelector(".give-form");
  const amount = el.querySelector(".amount");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    give(cp, amount.value.trim() === "" ? null : Number(amount.value));
  });
  for (const b of el.querySelectorAll(".quick-amount")) {
    b.addEventListener("click", () => give(cp, Number(b.dataset.amount)));
  }
  form.hidden = !state.user;
  ui.campaigns.append(el);
  if (state.socket) joinCampaign(cp);
  return cp;
}

/**
 * Shows a campaign's figures. Totals and counts only grow, and broadcasts
 * from different senders (a donation, a tick of the refresher) may cross
 * on the way: an older figure never replaces a newer one.
 */
function update(cp, {total, count, goal}) {
  const grew = total > cp.total && cp.total >= 0;
  if (goal > 0) cp.goal = goal;
  if (total > cp.total) cp.total = total;
  if (count > cp.count) cp.count = count;
  const exact = cp.goal > 0 ? (100 * Math.max(cp.total, 0)) / cp.goal : 0;
  const pct = exact > 0 && exact < 10 ? Math.round(exact * 10) / 10 : Math.round(exact);
  const el = cp.el;
  el.dataset.total = String(cp.total);
  el.dataset.count = String(cp.count);
  el.querySelector(".total").textContent = money.format(cp.total);
  el.querySelector(".goal").textContent = money.format(cp.goal);
  el.querySelector(".donations").textContent = cp.count === 1 ? "1 donation" : `${cp.count} donations`;
  el.querySelector(".percent").textContent = `${pct}%`;
  el.querySelector(".fill").style.width = `${Math.min(pct, 100)}%`;
  el.classList.toggle("funded", cp.total >= cp.goal);
  const bar = el.querySelector(".bar");
  bar.setAttribute("aria-valuemax", String(cp.goal));
  bar.setAttribute("aria-valuenow", String(cp.total));
  if (grew) flash(el, "grew");
  renderGrandTotal();
}

function renderGrandTotal() {
  let sum = 0;
  for (const cp of state.campaigns.values()) sum += Math.max(cp.total, 0);
  ui.grandTotal.dataset.total = String(sum);
  ui.grandTotal.textContent = money.format(sum);
}

/** Takes in a snapshot: GET /api/campaigns, or campaign_refreshed on donors:live. */
function applySnapshot(snap) {
  for (const c of snap.campaigns || []) update(campaign(c), c);
  if (typeof snap.worker_restarts === "number" && snap.worker_restarts >= state.restarts) {
    const more = snap.worker_restarts > state.restarts;
    state.restarts = snap.worker_restarts;
    ui.restarts.dataset.restarts = String(state.restarts);
    ui.restarts.textContent = state.restarts === 1 ? "1 restart" : `${state.restarts} restarts`;
    if (more) {
      flash(ui.restarts, "bumped");
      flash(ui.restarts.closest("li"), "restarted");
    }
  }
  if (snap.at) {
    const at = new Date(snap.at);
    if (!Number.isNaN(at.getTime())) {
      ui.refreshedAt.dateTime = snap.at;
      ui.refreshedAt.textContent = clock(at);
    }
  }
}

async function loadCampaigns() {
  try {
    const res = await fetch("/api/campaigns", {cache: "no-store"});
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || `status ${res.status}`);
    show(ui.campaignsError, "");
    applySnapshot(body);
    // The feed starts with the ledger's latest donations; from the
    // campaign joins on, the broadcasts add to it.
    for (const d of [...(body.recent || [])].reverse()) {
      const cp = state.campaigns.get(d.campaign);
      if (cp) addToFeed(cp, d);
    }
  } catch (err) {
    show(ui.campaignsError, `Could not load the campaigns: ${err.message}`);
  }
}

function joinCampaign(cp) {
  const channel = state.socket.channel(`campaign:${cp.id}`);
  cp.channel = channel;
  channel.on("campaign_state", (st) => update(cp, st));
  channel.on("campaign_refreshed", (st) => update(cp, st));
  channel.on("donation_received", (d) => {
    update(cp, {total: d.total, count: cp.count + 1});
    addToFeed(cp, d);
  });
  channel.join()
    .receive("ok", () => { cp.el.dataset.state = "joined"; })
    .receive("error", (resp) => show(cp.el.querySelector(".error"), describeError(resp)));
  channel.onError(() => { cp.el.dataset.state = "joining"; });
}

function give(cp, amount) {
  const error = cp.el.querySelector(".error");
  if (!cp.channel) return;
  show(error, "");
  const button = cp.el.querySelector(".give");
  button.disabled = true;
  cp.channel.push("new_donation", {amount, donor: state.user})
    .receive("ok", () => {
      cp.el.querySelector(".amount").value = "";
      button.disabled = false;
    })
    .receive("error", (resp) => { button.disabled = false; show(error, describeError(resp)); })
    .receive("timeout", () => { button.disabled = false; show(error, "no answer from the server; try again"); });
}

// ---- the feed ----------------------------------------------------------------

function addToFeed(cp, {donor, amount, at}) {
  const li = document.createElement("li");
  li.className = "donation";
  li.dataset.donor = donor;
  li.dataset.campaign = cp.id;
  li.dataset.amount = String(amount);
  if (donor === state.user) li.dataset.mine = "true";
  const who = document.createElement("strong");
  who.textContent = donor;
  const what = document.createElement("span");
  what.className = "amount";
  what.textContent = money.format(amount);
  const line = document.createElement("span");
  line.className = "line";
  line.append(who, " gave ", what);
  const when = document.createElement("time");
  const date = at ? new Date(at) : new Date();
  when.textContent = clock(Number.isNaN(date.getTime()) ? new Date() : date);
  const where = document.createElement("span");
  where.className = "where";
  where.textContent = `to ${cp.name}`;
  li.append(line, when, where);
  ui.feed.prepend(li);
  while (ui.feed.children.length > FEED_LENGTH) ui.feed.lastElementChild.remove();
  ui.feedEmpty.hidden = true;
}

// ---- donors online -------------------------------------------------------------

// A big drive lists this many donors at most, by name; the
// count in the heading is everyone online, and a last line says how many more.
const DONORS_LIST_MAX = 100;

function renderDonors(presence) {
  const people = presence.list((user, {metas}) => ({user, tabs: metas.length}))
    .sort((a, b) => a.user.localeCompare(b.user));
  const shown = people.slice(0, DONORS_LIST_MAX);
  const items = shown.map(({user, tabs}) => {
    const li = document.createElement("li");
    li.className = "donor";
    li.dataset.user = user;
    const avatar = document.createElement("span");
    avatar.className = "avatar";
    avatar.textContent = [...user][0].toUpperCase();
    const name = document.createElement("span");
    name.textContent = user;
    li.append(avatar, name);
    if (user === state.user) {
      li.dataset.me = "true";
      const you = document.createElement("small");
      you.textContent = " (you)";
      li.append(you);
    }
    if (tabs > 1) {
      const n = document.createElement("small");
      n.textContent = ` ×${tabs}`;
      li.append(n);
    }
    return li;
  });
  if (people.length > shown.length) {
    const more = document.createElement("li");
    more.className = "more";
    more.textContent = `and ${people.length - shown.length} more`;
    items.push(more);
  }
  ui.donors.replaceChildren(...items);
  ui.donorsCount.textContent = String(people.length);
  ui.donorsEmpty.hidden = true;
}

// ---- login ---------------------------------------------------------------------

async function login(user) {
  const res = await fetch("/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({user}),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.token) throw new Error(body.error || `login failed (${res.status})`);
  return body.token;
}

function start(user, token) {
  state.user = user;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({user, token}));
  ui.me.textContent = user;
  ui.me.hidden = false;
  ui.logout.hidden = false;
  ui.login.hidden = true;
  document.body.dataset.user = user;

  // The token travels out of the URL: phoenix.js 1.8's authToken option.
  const socket = new Socket("/socket", {authToken: token, reconnectAfterMs});
  let failures = 0; // connection errors since the last open
  socket.onOpen(() => { failures = 0; setStatus("online"); });
  socket.onError(() => {
    setStatus("reconnecting");
    if (++failures === 2) checkToken(socket);
  });
  socket.onClose(() => { if (state.socket === socket) setStatus("reconnecting"); });
  setStatus("connecting");
  socket.connect();
  state.socket = socket;

  const channel = socket.channel("donors:live");
  const presence = new Presence(channel);
  state.donors = {channel, presence};
  presence.onSync(() => { if (state.donors?.presence === presence) renderDonors(presence); });
  channel.on("campaign_refreshed", (snap) => applySnapshot(snap));
  channel.join();

  for (const cp of state.campaigns.values()) {
    cp.el.querySelector(".give-form").hidden = false;
    joinCampaign(cp);
  }
}

// A browser cannot see why a WebSocket upgrade failed. If the server is up
// but the socket keeps failing, the token is no longer valid (it expired, or
// the server restarted with a new secret): ask the person to log in again.
async function checkToken(socket) {
  try {
    const res = await fetch("/healthz", {cache: "no-store"});
    if (res.ok && state.socket === socket && !socket.isConnected()) {
      logout();
      show(ui.loginError, "Your session has ended; please log in again.");
    }
  } catch {
    // The server is down; phoenix.js keeps trying to reconnect.
  }
}

function logout() {
  if (state.socket) state.socket.disconnect();
  state.socket = null;
  state.donors = null;
  state.user = null;
  sessionStorage.removeItem(SESSION_KEY);
  delete document.body.dataset.user;
  for (const cp of state.campaigns.values()) {
    cp.channel = null;
    delete cp.el.dataset.state;
    cp.el.querySelector(".give-form").hidden = true;
    show(cp.el.querySelector(".error"), "");
  }
  ui.donors.replaceChildren();
  ui.donorsCount.textContent = "0";
  ui.donorsEmpty.hidden = false;
  ui.me.hidden = true;
  ui.logout.hidden = true;
  ui.login.hidden = false;
  setStatus("offline");
  ui.username.focus();
}

ui.loginForm.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const user = ui.username.value.trim();
  if (!user) return;
  show(ui.loginError, "");
  try {
    start(user, await login(user));
  } catch (err) {
    show(ui.loginError, err.message);
  }
});
ui.logout.addEventListener("click", logout);

// ---- start ---------------------------------------------------------------------

await loadCampaigns();
try {
  const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  if (saved?.user && saved?.token) start(saved.user, saved.token);
} catch {
  sessionStorage.removeItem(SESSION_KEY);
}
