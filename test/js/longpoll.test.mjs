// The long-poll transport through the official phoenix.js client: its
// LongPoll class (fetch-based in Node), the automatic fallback from a
// WebSocket that cannot connect, binary pushes, a session that the server
// ends, and two nodes behind a round-robin load balancer.
import assert from "node:assert/strict";
import {randomBytes} from "node:crypto";
import http from "node:http";
import net from "node:net";
import {after, before, test} from "node:test";

import WS from "ws";
import {LongPoll} from "phoenix";

import {
  admin, Client, enter, freePort, join, login, next, openClient, request, signal, startServer, within,
} from "./helpers.mjs";

const T = {timeout: 30000};
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** A phoenix.js client that speaks long-poll only. */
async function openLP(t, user, target = server, opts = {}) {
  const c = await Client.open(target, user, {transport: LongPoll, ...opts});
  t.after(() => c.disconnect());
  assert.ok(c.socket.conn instanceof LongPoll, "the socket runs on LongPoll");
  return c;
}

const openWS = (t, user) => openClient(t, server, user);


/** An in-memory sessionStorage, where phoenix.js remembers a fallback. */
function memoryStore() {
  const m = new Map();
  return {getItem: (k) => m.get(k) ?? null, setItem: (k, v) => m.set(k, String(v)), removeItem: (k) => m.delete(k), map: m};
}

test("join, push with reply and broadcasts over long-poll", T, async (t) => {
  const alice = await openLP(t, "alice");
  const bob = await openWS(t, "bob");
  const {ch: chA} = await enter(alice, "room:lp1");
  const {ch: chB} = await enter(bob, "room:lp1");

  // Request and reply.
  assert.deepEqual(await request(chA, "ping", {n: 1, s: "line\nbreak \"q\""}), {status: "ok", response: {n: 1, s: "line\nbreak \"q\""}});
  assert.deepEqual(await request(chA, "new_msg", {body: ""}),
    {status: "error", response: {errors: {body: ["can't be blank"]}}});

  // A message from the long-poll client reaches both, marked per receiver.
  const atBob = next(chB, "new_msg", (p) => p.body === "from lp");
  const atAlice = next(chA, "new_msg", (p) => p.body === "from lp");
  assert.equal((await request(chA, "new_msg", {body: "from lp"})).status, "ok");
  assert.equal((await atBob).payload.mine, false);
  assert.equal((await atAlice).payload.mine, true);

  // And one from the WebSocket client reaches the long-poll client.
  const fromBob = next(chA, "new_msg", (p) => p.body === "from ws");
  assert.equal((await request(chB, "new_msg", {body: "from ws"})).status, "ok");
  const got = await fromBob;
  assert.equal(got.payload.user_id, "bob");
  assert.equal(got.payload.mine, false);

  // An endpoint broadcast through the HTTP API (fast lane, join_ref null).
  const news = next(chA, "announcement");
  const res = await admin(server, "/api/broadcast", {topic: "room:lp1", event: "announcement", payload: {text: "hi"}});
  assert.equal(res.status, 200);
  const ann = await news;
  assert.deepEqual(ann.payload, {text: "hi"});
  assert.equal(ann.joinRef, chA.joinRef(), "phoenix.js hands broadcasts the channel's join_ref");
});

test("pushes of one tick go up as one ndjson POST and are answered in order", T, async (t) => {
  const alice = await openLP(t, "alice");
  const {ch} = await enter(alice, "room:lp2");
  const posts = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = (url, opts = {}) => {
    if (opts.method === "POST") posts.push({type: opts.headers?.["Content-Type"], body: opts.body});
    return realFetch(url, opts);
  };
  t.after(() => { globalThis.fetch = realFetch; });

  const order = [];
  const replies = [];
  for (let i = 0; i < 5; i++) {
    const s = signal();
    ch.push("ping", {i}).receive("ok", (r) => { order.push(r.i); s.resolve(); });
    replies.push(s.promise);
  }
  await within(Promise.all(replies), "five replies");
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.equal(posts.length, 1, `one POST for five pushes, got ${posts.length}`);
  assert.equal(posts[0].type, "application/x-ndjson");
  assert.equal(posts[0].body.split("\n").length, 5);
});

test("presence_state and presence_diff over long-poll", T, async (t) => {
  const alice = await openLP(t, "alice");
  const bob = await openWS(t, "bob");
  const a = await enter(alice, "room:lp3");
  await a.presence.until((s) => s.alice?.length === 1 && !s.bob, "alice sees herself");

  const joinDiff = next(a.ch, "presence_diff", (d) => d.joins?.bob);
  const b = await enter(bob, "room:lp3");
  assert.equal((await joinDiff).payload.joins.bob.metas.length, 1);
  await a.presence.until((s) => s.alice && s.bob, "alice sees bob");
  await b.presence.until((s) => s.alice && s.bob, "bob sees alice on long-poll");

  // An update from the long-poll client.
  assert.equal((await request(a.ch, "typing", {typing: true})).status, "ok");
  await b.presence.until((s) => s.alice?.[0]?.typing === true, "bob sees alice typing");

  // A leave from the long-poll side shows up as a leave diff.
  const leaveDiff = next(b.ch, "presence_diff", (d) => d.leaves?.alice);
  await within(new Promise((resolve) => a.ch.leave().receive("ok", resolve)), "alice leaves");
  assert.equal((await leaveDiff).payload.leaves.alice.metas.length, 1);
  await b.presence.until((s) => !s.alice && s.bob, "alice gone for bob");
});

test("binary pushes travel over long-poll as base64 lines; binary replies cannot come back", T, async (t) => {
  const alice = await openLP(t, "alice");
  const bob = await openWS(t, "bob");
  const {ch: chA} = await enter(alice, "room:lp4");
  const {ch: chB} = await enter(bob, "room:lp4");

  const bytes = new Uint8Array(300).map((_, i) => (i * 7 + 3) & 0xff);
  const atBob = next(chB, "shout");
  assert.equal((await request(chA, "shout", bytes.buffer)).status, "ok");
  const got = (await atBob).payload;
  assert.ok(got instanceof ArrayBuffer, "bob gets the shout as binary");
  assert.deepEqual(new Uint8Array(got), bytes);

  // The server cannot put a binary frame in a poll answer (phoenix.js reads
  // its messages as text), so a binary reply is dropped and the push times
  // out; the session goes on working.
  const res = await within(new Promise((resolve) => {
    chA.push("ping", bytes.buffer, 500)
      .receive("ok", () => resolve("ok"))
      .receive("timeout", () => resolve("timeout"));
  }), "binary ping outcome");
  assert.equal(res, "timeout");
  assert.deepEqual(await request(chA, "ping", {after: true}), {status: "ok", response: {after: true}});
});

test("a session the server ends makes phoenix.js reconnect and rejoin", T, async (t) => {
  const carol = await openLP(t, "carol");
  const {ch} = await enter(carol, "room:lp5");
  const opens = carol.opens;
  // "disconnect" on carol's socket id closes the session; the waiting poll
  // gets 410, which phoenix.js reports as close 3410 "session_gone".
  assert.equal((await admin(server, "/api/disconnect", {user: "carol"})).status, 200);
  await carol.until(() => carol.closes.some((c) => c.code === 3410), "close 3410");
  await carol.until(() => carol.opens > opens, "a new long-poll session");
  await carol.until(() => ch.isJoined(), "room rejoined");
  assert.deepEqual(await request(ch, "ping", {again: 1}), {status: "ok", response: {again: 1}});
});

test("falls back to long-poll when the WebSocket upgrade is refused", T, async (t) => {
  // A proxy that does not pass WebSocket upgrades: here, the upgrade goes
  // to a path that answers 404.
  let wsTries = 0;
  class RefusedWS extends WS {
    constructor(url, protocols) {
      wsTries++;
      super(url.replace("/socket/websocket", "/no-websocket/websocket"), protocols);
    }
  }
  const store = memoryStore();
  const token = await login(server, "dave");
  const c = new Client(server, token, {transport: RefusedWS, longPollFallbackMs: 2000, sessionStorage: store});
  t.after(() => c.disconnect());
  await c.connect();
  assert.equal(c.socket.transport, LongPoll);
  assert.ok(c.socket.conn instanceof LongPoll);
  assert.equal(wsTries, 1);
  await c.until(() => store.getItem("phx:fallback:LongPoll") === "true", "fallback remembered");
  const {ch} = await enter(c, "room:lp6");
  assert.deepEqual(await request(ch, "ping", {fallback: true}), {status: "ok", response: {fallback: true}});

  // A socket sharing the store goes straight to long-poll.
  const c2 = new Client(server, token, {transport: RefusedWS, longPollFallbackMs: 2000, sessionStorage: store});
  t.after(() => c2.disconnect());
  await c2.connect();
  assert.ok(c2.socket.conn instanceof LongPoll);
  assert.equal(wsTries, 1, "the remembered fallback skips the WebSocket");
});

test("falls back to long-poll when the WebSocket never opens", T, async (t) => {
  // Something that accepts the TCP connection and never answers the
  // handshake, as a stalled proxy would.
  const held = new Set();
  const silent = net.createServer((sock) => { held.add(sock); sock.on("error", () => {}); });
  await new Promise((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const s of held) s.destroy();
    return new Promise((resolve) => silent.close(resolve));
  });
  const silentPort = silent.address().port;
  class StalledWS extends WS {
    constructor(url, protocols) {
      super(url.replace(`127.0.0.1:${server.port}`, `127.0.0.1:${silentPort}`), protocols);
    }
  }
  const token = await login(server, "erin");
  const c = new Client(server, token, {transport: StalledWS, longPollFallbackMs: 300, sessionStorage: memoryStore()});
  t.after(() => c.disconnect());
  const started = Date.now();
  await c.connect();
  assert.ok(c.socket.conn instanceof LongPoll);
  assert.ok(held.size >= 1, "the WebSocket was tried first");
  assert.ok(Date.now() - started >= 250, "the fallback waited for its threshold");
  const {ch} = await enter(c, "room:lp7");
  assert.deepEqual(await request(ch, "ping", {}), {status: "ok", response: {}});
});

/**
 * A plain round-robin HTTP load balancer in front of backends, with a turn
 * per method so that polls and posts both visit every backend.
 */
async function roundRobin(backends) {
  const turn = {};
  const served = backends.map(() => ({GET: 0, POST: 0}));
  const srv = http.createServer((req, res) => {
    turn[req.method] = (turn[req.method] ?? -1) + 1;
    const i = turn[req.method] % backends.length;
    served[i][req.method] = (served[i][req.method] ?? 0) + 1;
    const up = http.request({
      host: "127.0.0.1", port: backends[i].port, method: req.method, path: req.url, headers: req.headers,
    }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on("error", () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = srv.address().port;
  return {
    served,
    url: `http://127.0.0.1:${port}`,
    wsURL: `ws://127.0.0.1:${port}/socket`,
    close() {
      srv.closeAllConnections();
      return new Promise((resolve) => srv.close(resolve));
    },
  };
}

test("two nodes behind a round-robin balancer serve one long-poll session", {timeout: 60000}, async (t) => {
  const secret = randomBytes(32).toString("base64url");
  const adminKey = randomBytes(18).toString("base64url");
  const natsPort = await freePort();
  const a = await startServer({secret, adminKey, extraArgs: ["-node", "a", "-nats", "embedded", "-nats-listen", `127.0.0.1:${natsPort}`]});
  t.after(() => a.stop());
  const b = await startServer({secret, adminKey, extraArgs: ["-node", "b", "-nats", `nats://127.0.0.1:${natsPort}`]});
  t.after(() => b.stop());
  const lb = await roundRobin([a, b]);
  t.after(() => lb.close());

  const alice = await openLP(t, "alice", lb);
  const bob = await Client.open(b, "bob");
  t.after(() => bob.disconnect());
  const ra = await enter(alice, "room:lb");
  const rb = await enter(bob, "room:lb");
  await ra.presence.until((s) => s.alice && s.bob, "alice sees bob across nodes");

  for (let i = 0; i < 6; i++) {
    assert.deepEqual(await request(ra.ch, "ping", {i}), {status: "ok", response: {i}});
  }
  const atBob = next(rb.ch, "new_msg", (p) => p.body === "via lb");
  assert.equal((await request(ra.ch, "new_msg", {body: "via lb"})).status, "ok");
  assert.equal((await atBob).payload.user_id, "alice");
  const atAlice = next(ra.ch, "new_msg", (p) => p.body === "to lb");
  assert.equal((await request(rb.ch, "new_msg", {body: "to lb"})).status, "ok");
  assert.equal((await atAlice).payload.mine, false);

  // Both nodes took polls and posts: half of them were relayed.
  for (const [i, s] of lb.served.entries()) {
    assert.ok(s.GET >= 2 && s.POST >= 2, `node ${"ab"[i]} served ${JSON.stringify(s)}`);
  }
  assert.equal(alice.closes.length, 0, `no reconnect: ${JSON.stringify(alice.closes)}`);
});
