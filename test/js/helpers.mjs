// Shared harness for the black-box tests: it starts the real `pyre chat`
// binary, logs users in, and wraps phoenix.js (and a raw WebSocket client) so
// that tests wait on signals -- promises resolved by callbacks -- instead of
// sleeping.
import {spawn} from "node:child_process";
import {createHmac, randomBytes} from "node:crypto";
import net from "node:net";
import path from "node:path";
import {fileURLToPath} from "node:url";

import WS from "ws";
import {Presence, Socket} from "phoenix";

// phoenix.js looks for a global WebSocket; Node 20 has none.
globalThis.WebSocket = WS;

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.resolve(ROOT, process.env.PYRE_BIN || "bin/pyre");

/** Default bound for one awaited signal. Tests have their own, larger bound. */
export const WAIT_MS = 5000;

const debug = !!process.env.PYRE_DEBUG;

// ---- timing ----------------------------------------------------------------

/** Rejects with a message naming what was awaited if `promise` takes longer than `ms`. */
export function within(promise, label, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A promise with its resolve function exposed. */
export function signal() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return {promise, resolve};
}

// ---- the server ------------------------------------------------------------

export async function freePort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", resolve);
  });
  const {port} = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const running = new Set();
process.on("exit", () => {
  for (const proc of running) proc.kill("SIGKILL");
});

/**
 * Starts `bin/pyre chat` (or the subcommand named by `command`, which must
 * take -addr, -admin-key and -secret as chat does) on a free loopback port
 * with a random admin key and secret, in the directory `cwd` (the
 * repository by default), and resolves once GET /healthz answers 200.
 * `server.awaitLog(pred)` resolves with the first parsed log line that
 * satisfies pred, waking on every line the server writes.
 */
export async function startServer({command = "chat", extraArgs = [], secret, adminKey, port, cwd = ROOT} = {}) {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(command, extraArgs, {secret, adminKey, port, cwd});
    } catch (err) {
      lastError = err;
      if (!err.exitedEarly) break; // only a lost port race is worth a retry
    }
  }
  throw lastError;
}

async function startOnce(command, extraArgs, fixed) {
  const port = fixed.port ?? await freePort();
  const adminKey = fixed.adminKey ?? randomBytes(18).toString("base64url");
  const secret = fixed.secret ?? randomBytes(32).toString("base64url");
  const args = [command, "-addr", `127.0.0.1:${port}`, "-admin-key", adminKey, "-secret", secret, ...extraArgs];
  const proc = spawn(BIN, args, {cwd: fixed.cwd, stdio: ["ignore", "ignore", "pipe"]});
  running.add(proc);

  const logs = [];
  const entries = []; // every line that parsed as JSON, kept for awaitLog
  const logWaiters = new Set();
  let partial = "";
  proc.stderr.setEncoding("utf8");
  proc.stderr.on("data", (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop();
    for (const line of lines) {
      logs.push(line);
      if (logs.length > 400) logs.shift();
      if (debug) process.stderr.write(`[pyre] ${line}\n`);
      try { entries.push(JSON.parse(line)); } catch { /* not a JSON line */ }
      for (const w of [...logWaiters]) w();
    }
  });

  const exited = new Promise((resolve) => {
    proc.once("exit", (code, sig) => {
      running.delete(proc);
      resolve({code, signal: sig});
    });
  });
  const spawnError = new Promise((_, reject) => proc.once("error", reject));

  const url = `http://127.0.0.1:${port}`;
  const server = {
    port, url, adminKey, secret, proc, logs, exited,
    wsURL: `ws://127.0.0.1:${port}/socket`,
    awaitLog(pred, label, ms = WAIT_MS) {
      const s = signal();
      const check = () => { const hit = entries.find(pred); if (hit) s.resolve(hit); };
      logWaiters.add(check);
      check();
      return within(s.promise, label, ms).finally(() => logWaiters.delete(check));
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return exited;
      proc.kill("SIGTERM");
      let timer;
      const killed = new Promise((resolve) => {
        timer = setTimeout(() => { proc.kill("SIGKILL"); resolve(); }, 5000);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      return exited;
    },
  };

  const ready = (async () => {
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) break;
      try {
        const res = await fetch(`${url}/healthz`, {signal: AbortSignal.timeout(1000)});
        await res.arrayBuffer();
        if (res.status === 200) return server;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50)); // readiness poll, not a synchronisation sleep
    }
    throw new Error("server did not answer /healthz");
  })();

  try {
    return await Promise.race([
      ready,
      spawnError,
      exited.then(({code, signal: sig}) => {
        const err = new Error(`${BIN} exited early (code ${code}, signal ${sig}):\n${logs.join("\n")}`);
        err.exitedEarly = true;
        throw err;
      }),
    ]);
  } catch (err) {
    await server.stop();
    throw err;
  }
}

// ---- HTTP API --------------------------------------------------------------

/** POSTs JSON; resolves to {status, body, text}. */
export async function post(server, path, body, headers = {}) {
  const res = await fetch(server.url + path, {
    method: "POST",
    headers: {"Content-Type": "application/json", ...headers},
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return {status: res.status, body: json, text, headers: res.headers};
}

export function admin(server, path, body, key = server.adminKey) {
  return post(server, path, body, key === null ? {} : {Authorization: `Bearer ${key}`});
}

export async function login(server, user) {
  const res = await post(server, "/api/login", {user});
  if (res.status !== 200 || typeof res.body?.token !== "string") {
    throw new Error(`login ${user}: ${res.status} ${res.text}`);
  }
  return res.body.token;
}

// ---- phoenix.js ------------------------------------------------------------

/** Socket options that make phoenix.js speak V1 JSON objects instead of V2 arrays. */
export const V1 = {
  vsn: "1.0.0",
  encode(msg, callback) {
    const {topic, event, payload, ref, join_ref} = msg;
    return callback(JSON.stringify({topic, event, payload, ref, join_ref}));
  },
  decode(raw, callback) {
    return callback(JSON.parse(raw));
  },
};

/**
 * A phoenix.js Socket that records every frame it receives, so tests can wait
 * for one. Fast reconnect and rejoin keep the tests short.
 */
export class Client {
  constructor(server, token, opts = {}) {
    this.frames = [];
    this.waiters = [];
    this.closes = [];
    this.opens = 0;
    this.socket = new Socket(server.wsURL, {
      transport: WS,
      params: token === undefined ? {} : {token},
      reconnectAfterMs: () => 50,
      rejoinAfterMs: () => 50,
      logger: debug ? (kind, msg, data) => console.error(`[phx ${kind}] ${msg}`, data ?? "") : undefined,
      ...opts,
    });
    this.socket.onMessage((msg) => {
      this.frames.push(msg);
      this.wake();
    });
    this.socket.onOpen(() => { this.opens++; this.wake(); });
    this.socket.onClose((ev) => { this.closes.push({code: ev.code, reason: ev.reason}); this.wake(); });
  }

  static async open(server, user, opts = {}) {
    const token = await login(server, user);
    const client = new Client(server, token, opts);
    client.user = user;
    await client.connect();
    return client;
  }

  connect() {
    const before = this.opens;
    this.socket.connect();
    return this.until(() => this.opens > before, "socket open");
  }

  wake() {
    for (const w of [...this.waiters]) {
      const v = w.check();
      if (v !== undefined && v !== false) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(v);
      }
    }
  }

  /** Resolves with the first truthy value of `check()`, re-evaluated on every socket event. */
  until(check, label, ms = WAIT_MS) {
    const now = check();
    if (now !== undefined && now !== false) return Promise.resolve(now);
    const s = signal();
    const waiter = {check, resolve: s.resolve};
    this.waiters.push(waiter);
    return within(s.promise, label, ms).finally(() => {
      const i = this.waiters.indexOf(waiter);
      if (i >= 0) this.waiters.splice(i, 1);
    });
  }

  /** Resolves with the first frame at index >= from that matches pred. */
  frame(pred, label, {from = 0, ms = WAIT_MS} = {}) {
    return this.until(() => this.frames.slice(from).find(pred), label, ms);
  }

  channel(topic, params = {}) {
    return this.socket.channel(topic, params);
  }

  disconnect() {
    return within(new Promise((resolve) => this.socket.disconnect(resolve)), "socket disconnect").catch(() => {});
  }
}

/** The outcome of a phoenix.js Push: {status: "ok"|"error"|"timeout", response}. */
export function outcome(push) {
  return new Promise((resolve) => {
    push
      .receive("ok", (response) => resolve({status: "ok", response}))
      .receive("error", (response) => resolve({status: "error", response}))
      .receive("timeout", () => resolve({status: "timeout"}));
  });
}

/** Pushes and awaits the outcome, bounded. */
export function request(channel, event, payload, label = `${event} reply on ${channel.topic}`, ms = WAIT_MS) {
  return within(outcome(channel.push(event, payload, ms + 1000)), label, ms);
}

/** Joins and awaits the join reply. */
export function join(channel, label = `join reply on ${channel.topic}`, ms = WAIT_MS) {
  return within(outcome(channel.join(ms + 1000)), label, ms);
}

/**
 * Joins a channel the server should refuse, and stops phoenix.js from
 * retrying the join forever.
 */
export async function refusedJoin(channel) {
  const res = await join(channel);
  channel.leave();
  return res;
}

/** Resolves with the next payload of `event` on `channel` that satisfies pred. */
export function next(channel, event, pred = () => true, label = `${event} on ${channel.topic}`, ms = WAIT_MS) {
  const s = signal();
  const ref = channel.on(event, (payload, msgRef, joinRef) => {
    if (pred(payload)) s.resolve({payload, ref: msgRef, joinRef});
  });
  return within(s.promise, label, ms).finally(() => channel.off(event, ref));
}

/**
 * Collects every payload of `event` on `channel` from now on.
 */
export function collect(channel, event) {
  const seen = [];
  channel.on(event, (payload) => seen.push(payload));
  return seen;
}

/**
 * A phoenix.js Presence with a way to wait for its list to reach a state.
 */
export class PresenceWatch {
  constructor(channel) {
    this.presence = new Presence(channel);
    this.listeners = new Set();
    this.syncs = 0;
    this.presence.onSync(() => {
      this.syncs++;
      for (const l of [...this.listeners]) l();
    });
  }

  /** {key: metas} of the current list. */
  state() {
    const out = {};
    this.presence.list((key, {metas}) => { out[key] = metas; });
    return out;
  }

  /** Resolves with state() once pred(state()) holds, checked after every sync. */
  until(pred, label, ms = WAIT_MS) {
    const s = signal();
    const check = () => {
      const st = this.state();
      if (this.syncs > 0 && pred(st)) s.resolve(st);
    };
    this.listeners.add(check);
    check();
    return within(s.promise, label, ms).finally(() => this.listeners.delete(check));
  }
}

// ---- raw WebSocket ---------------------------------------------------------

/**
 * A bare WebSocket client for checking exact frames, speaking V2 arrays or V1
 * objects as given.
 */
export class RawClient {
  constructor(ws) {
    this.ws = ws;
    this.frames = [];
    this.waiters = [];
    this.ref = 0;
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({code, reason: String(reason)})));
    ws.on("message", (data, isBinary) => {
      this.frames.push(isBinary ? data : JSON.parse(String(data)));
      for (const w of [...this.waiters]) w();
    });
  }

  static async open(server, token, vsn = "2.0.0") {
    const q = new URLSearchParams({vsn});
    if (token !== undefined) q.set("token", token);
    const ws = new WS(`${server.wsURL}/websocket?${q}`);
    await within(new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    }), "raw socket open");
    return new RawClient(ws);
  }

  nextRef() {
    return String(++this.ref);
  }

  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  frame(pred, label, {from = 0, ms = WAIT_MS} = {}) {
    const find = () => this.frames.slice(from).find(pred);
    const hit = find();
    if (hit) return Promise.resolve(hit);
    const s = signal();
    const waiter = () => { const f = find(); if (f) s.resolve(f); };
    this.waiters.push(waiter);
    return within(s.promise, label, ms).finally(() => {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
    });
  }

  close() {
    if (this.ws.readyState === WS.CLOSED) return Promise.resolve();
    this.ws.close();
    return within(this.closed, "raw socket close").catch(() => this.ws.terminate());
  }
}

/**
 * Attempts a WebSocket upgrade and resolves with {opened: true} or
 * {opened: false, status} (the HTTP status of a refused upgrade).
 */
export function tryUpgrade(server, query) {
  return within(new Promise((resolve) => {
    const ws = new WS(`${server.wsURL}/websocket?${new URLSearchParams(query)}`);
    ws.once("open", () => { ws.terminate(); resolve({opened: true}); });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve({opened: false, status: res.statusCode});
      ws.terminate();
    });
    ws.once("error", (err) => resolve({opened: false, error: err.message}));
  }), "upgrade outcome");
}

// ---- tokens ----------------------------------------------------------------

/**
 * Signs `data` the way pyre's token package does, so that a test can make a
 * token signed at any moment (an expired one, say). Layout: version byte 1,
 * signing time and maximum age as big-endian 64-bit milliseconds, then the
 * data; MAC = HMAC-SHA256 keyed with HMAC-SHA256(secret, "pyre token v1|" +
 * salt); both halves unpadded base64url joined by a dot.
 */
export function pyreToken(secret, salt, data, signedAtMs, maxAgeMs) {
  const key = createHmac("sha256", Buffer.from(secret, "utf8")).update(`pyre token v1|${salt}`).digest();
  const head = Buffer.alloc(17);
  head[0] = 1;
  head.writeBigUInt64BE(BigInt(signedAtMs), 1);
  head.writeBigUInt64BE(BigInt(maxAgeMs), 9);
  const payload = Buffer.concat([head, Buffer.from(data, "utf8")]);
  const mac = createHmac("sha256", key).update(payload).digest();
  return `${payload.toString("base64url")}.${mac.toString("base64url")}`;
}

/** Runs fn for each item of a cleanup list, ignoring errors, in reverse order. */
export async function cleanup(items) {
  for (const item of items.reverse()) {
    try { await item(); } catch { /* best effort */ }
  }
}
