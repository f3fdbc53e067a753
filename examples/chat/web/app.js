// The pyre chat page: log in, join a room, chat, and see who is online and
// who is typing. It talks to the server only through the official phoenix
// client, which the server serves at /assets/ (a copy of the npm package's,
// built into the binary).
import {Socket, Presence} from "/assets/phoenix.mjs";
import {recoverable} from "/static/recover.mjs";

const TYPING_IDLE_MS = 3000;

// How long phoenix.js waits before reconnect attempt `tries`: its own steps,
// each spread over ±50%, so that the pages of a restarted server do not all
// come back in the same millisecond, nor retry in step when the server
// answers the excess "busy" (503).
const RECONNECT_STEPS_MS = [10, 50, 100, 150, 200, 250, 500, 1000, 2000];
const reconnectAfterMs = (tries) => (RECONNECT_STEPS_MS[tries - 1] ?? 5000) * (0.5 + Math.random());
const SESSION_KEY = "pyre-chat:session";

const $ = (id) => document.getElementById(id);
const ui = {
  me: $("me"),
  status: $("status"),
  logout: $("logout-button"),
  login: $("login"),
  loginForm: $("login-form"),
  username: $("username"),
  loginError: $("login-error"),
  chat: $("chat"),
  roomForm: $("room-form"),
  room: $("room"),
  currentRoom: $("current-room"),
  roomError: $("room-error"),
  recoveryNotice: $("recovery-notice"),
  messages: $("messages"),
  messageForm: $("message-form"),
  messageInput: $("message-input"),
  sendButton: $("send-button"),
  messageError: $("message-error"),
  presenceList: $("presence-list"),
  onlineCount: $("online-count"),
};

// Everything the page knows. Only the functions below change it.
const state = {
  user: null,
  socket: null,
  room: null, // {name, channel, presence}
  typing: false,
  typingTimer: null,
};

// ---- small helpers ---------------------------------------------------------

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

function setStatus(name) {
  ui.status.dataset.state = name;
  ui.status.textContent = name;
}

function setComposeEnabled(enabled) {
  ui.messageInput.disabled = !enabled;
  ui.sendButton.disabled = !enabled;
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

function formatTime(iso) {
  const d = iso ? new Date(iso) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
}

// ---- login -----------------------------------------------------------------

async function login(user) {
  const res = await fetch("/api/login", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({user}),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || !body.token) {
    throw new Error(body.error || `login failed (${res.status})`);
  }
  return body.token;
}

function start(user, token) {
  state.user = user;
  sessionStorage.setItem(SESSION_KEY, JSON.stringify({user, token}));

  ui.me.textContent = user;
  ui.me.hidden = false;
  ui.logout.hidden = false;
  ui.login.hidden = true;
  ui.chat.hidden = false;
  document.body.dataset.user = user;

  // The token travels out of the URL, in the WebSocket subprotocols (or the
  // long-poll header): phoenix.js 1.8's authToken option.
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

  joinRoom(ui.room.value.trim() || "lobby");
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
  leaveRoom();
  if (state.socket) state.socket.disconnect();
  state.socket = null;
  state.user = null;
  sessionStorage.removeItem(SESSION_KEY);
  delete document.body.dataset.user;
  ui.me.hidden = true;
  ui.logout.hidden = true;
  ui.chat.hidden = true;
  ui.login.hidden = false;
  setStatus("offline");
  ui.username.focus();
}

// ---- rooms -----------------------------------------------------------------

function leaveRoom() {
  const room = state.room;
  if (!room) return;
  stopTyping();
  state.room = null;
  room.channel.leave();
  ui.messages.replaceChildren();
  show(ui.recoveryNotice, "");
  ui.presenceList.replaceChildren();
  ui.onlineCount.textContent = "0";
  ui.currentRoom.textContent = "—";
  ui.currentRoom.dataset.state = "none";
  setComposeEnabled(false);
}

function joinRoom(name) {
  if (state.room && state.room.name === name) return;
  leaveRoom();
  show(ui.roomError, "");
  show(ui.messageError, "");

  // The room replays what was said while the connection was down; when it
  // cannot (too long away, or the server lost its history), say so.
  const rec = recoverable(state.socket, `room:${name}`);
  const channel = rec.channel;
  const presence = new Presence(channel);
  const room = {name, channel, presence};
  state.room = room;
  rec.onResync(() => {
    if (state.room === room) show(ui.recoveryNotice, "Some messages sent while you were away could not be shown.");
  });

  ui.currentRoom.textContent = name;
  ui.currentRoom.dataset.state = "joining";

  presence.onSync(() => { if (state.room === room) renderPresence(presence); });
  channel.on("new_msg", (msg) => { if (state.room === room) addMessage(msg); });
  channel.onError(() => {
    if (state.room !== room) return;
    ui.currentRoom.dataset.state = "joining";
    setComposeEnabled(false);
  });

  channel.join()
    .receive("ok", () => {
      if (state.room !== room) return;
      ui.currentRoom.dataset.state = "joined";
      setComposeEnabled(true);
      ui.messageInput.focus();
    })
    .receive("error", (resp) => {
      if (state.room !== room) return;
      // phoenix.js would retry a refused join forever; a refusal here is
      // final (a private room of someone else), so give up on the room.
      show(ui.roomError, `Cannot join ${name}: ${describeError(resp)}`);
      leaveRoom();
    });
}

// ---- messages --------------------------------------------------------------

function addMessage({id, body, user_id, inserted_at, mine}) {
  const li = document.createElement("li");
  li.className = mine ? "message mine" : "message";
  li.dataset.user = user_id;
  li.dataset.mine = String(Boolean(mine));
  if (id !== undefined && id !== null) li.dataset.id = String(id);

  const head = document.createElement("div");
  head.className = "meta";
  const who = document.createElement("span");
  who.className = "user";
  who.textContent = user_id;
  const when = document.createElement("time");
  when.className = "time";
  if (inserted_at) when.dateTime = inserted_at;
  when.textContent = formatTime(inserted_at);
  head.append(who, when);

  const text = document.createElement("p");
  text.className = "body";
  text.textContent = body;

  li.append(head, text);
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.append(li);
  if (atBottom || mine) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function sendMessage() {
  const room = state.room;
  const body = ui.messageInput.value;
  if (!room || !room.channel) return;
  show(ui.messageError, "");
  room.channel.push("new_msg", {body})
    .receive("ok", () => {
      if (ui.messageInput.value === body) ui.messageInput.value = "";
      stopTyping();
    })
    .receive("error", (resp) => show(ui.messageError, describeError(resp)))
    .receive("timeout", () => show(ui.messageError, "The server did not answer; try again."));
}

// ---- typing ----------------------------------------------------------------

function pushTyping(typing) {
  const room = state.room;
  if (state.typing === typing) return;
  state.typing = typing;
  if (room) room.channel.push("typing", {typing});
}

function noteTyping() {
  clearTimeout(state.typingTimer);
  if (ui.messageInput.value.trim() === "") {
    stopTyping();
    return;
  }
  pushTyping(true);
  state.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingTimer);
  state.typingTimer = null;
  pushTyping(false);
}

// ---- presence --------------------------------------------------------------

// A big room lists this many people at most, by name; the
// count in the heading is everyone, and a last line says how many more.
const PRESENCE_LIST_MAX = 100;

function renderPresence(presence) {
  const people = presence.list((user, {metas}) => ({
    user,
    tabs: metas.length,
    typing: metas.some((m) => m.typing === true),
  }));
  people.sort((a, b) => a.user.localeCompare(b.user));
  const shown = people.slice(0, PRESENCE_LIST_MAX);

  const items = shown.map(({user, tabs, typing}) => {
    const li = document.createElement("li");
    li.className = "person";
    li.dataset.user = user;
    li.dataset.typing = String(typing);
    if (user === state.user) li.classList.add("me");

    const name = document.createElement("span");
    name.className = "name";
    name.textContent = user === state.user ? `${user} (you)` : user;
    li.append(name);

    if (tabs > 1) {
      const count = document.createElement("span");
      count.className = "tabs";
      count.title = `${tabs} tabs open`;
      count.textContent = `×${tabs}`;
      li.append(count);
    }
    if (typing) {
      const mark = document.createElement("span");
      mark.className = "typing";
      mark.textContent = "typing…";
      li.append(mark);
    }
    return li;
  });
  if (people.length > shown.length) {
    const more = document.createElement("li");
    more.className = "more";
    more.textContent = `and ${people.length - shown.length} more`;
    items.push(more);
  }
  ui.presenceList.replaceChildren(...items);
  ui.onlineCount.textContent = String(people.length);
}

// ---- wiring ----------------------------------------------------------------

ui.loginForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = ui.username.value.trim();
  show(ui.loginError, "");
  if (!user) {
    show(ui.loginError, "Please enter a name.");
    return;
  }
  ui.loginForm.querySelector("button").disabled = true;
  try {
    start(user, await login(user));
  } catch (err) {
    show(ui.loginError, err.message);
  } finally {
    ui.loginForm.querySelector("button").disabled = false;
  }
});

ui.roomForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = ui.room.value.trim();
  if (name && state.socket) joinRoom(name);
});

ui.messageForm.addEventListener("submit", (e) => {
  e.preventDefault();
  sendMessage();
});

ui.messageInput.addEventListener("input", noteTyping);
ui.messageInput.addEventListener("blur", stopTyping);
ui.logout.addEventListener("click", logout);

// Pick up the session of this tab after a reload.
try {
  const saved = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  if (saved && saved.user && saved.token) start(saved.user, saved.token);
} catch {
  sessionStorage.removeItem(SESSION_KEY);
}
