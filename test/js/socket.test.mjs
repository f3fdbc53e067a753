// The socket itself: who may connect, heartbeats, and the admin disconnect
// that phoenix.js recovers from by reconnecting.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {
  admin, Client, join, login, openClient, outcome, pyreToken, RawClient, request, startServer, tryUpgrade, within,
} from "./helpers.mjs";

const T = {timeout: 20000};
const DAY_MS = 24 * 60 * 60 * 1000;
const TWO_WEEKS_MS = 14 * DAY_MS;
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const open = (t, user, opts) => openClient(t, server, user, opts);

test("a valid token opens the socket (V2 and V1)", T, async () => {
  const token = await login(server, "alice");
  assert.deepEqual(await tryUpgrade(server, {token, vsn: "2.0.0"}), {opened: true});
  assert.deepEqual(await tryUpgrade(server, {token, vsn: "1.0.0"}), {opened: true});
});

test("a missing, malformed or tampered token is refused with HTTP 403 at the upgrade", T, async () => {
  const token = await login(server, "alice");
  // Change the first character of the last part (the MAC, in Phoenix.Token's
  // format): all six of its bits are data, unlike the last character's.
  const cut = token.lastIndexOf(".") + 1;
  const tampered = token.slice(0, cut) + (token[cut] === "A" ? "B" : "A") + token.slice(cut + 1);
  const cases = {
    missing: {vsn: "2.0.0"},
    empty: {vsn: "2.0.0", token: ""},
    garbage: {vsn: "2.0.0", token: "not-a-token"},
    tampered: {vsn: "2.0.0", token: tampered},
    "other secret": {vsn: "2.0.0", token: pyreToken("x".repeat(64), "user socket", "alice", Date.now(), TWO_WEEKS_MS)},
  };
  for (const [name, query] of Object.entries(cases)) {
    assert.deepEqual(await tryUpgrade(server, query), {opened: false, status: 403}, name);
  }
});

test("phoenix.js with a bad token never opens and reports errors", T, async (t) => {
  const c = new Client(server, "not-a-token", {reconnectAfterMs: () => 1000});
  t.after(() => c.disconnect());
  const errored = new Promise((resolve) => c.socket.onError(resolve));
  c.socket.connect();
  await within(errored, "socket onError for a refused token");
  assert.equal(c.opens, 0);
});

test("an expired token is refused with 403; tokens live two weeks", T, async () => {
  const now = Date.now();
  const fresh = pyreToken(server.secret, "user socket", "alice", now, TWO_WEEKS_MS);
  assert.deepEqual(await tryUpgrade(server, {vsn: "2.0.0", token: fresh}), {opened: true}, "fresh");
  const almost = pyreToken(server.secret, "user socket", "alice", now - 13 * DAY_MS, TWO_WEEKS_MS);
  assert.deepEqual(await tryUpgrade(server, {vsn: "2.0.0", token: almost}), {opened: true}, "13 days old");
  const expired = pyreToken(server.secret, "user socket", "alice", now - 15 * DAY_MS, TWO_WEEKS_MS);
  assert.deepEqual(await tryUpgrade(server, {vsn: "2.0.0", token: expired}), {opened: false, status: 403}, "15 days old");
  const otherSalt = pyreToken(server.secret, "other purpose", "alice", now, TWO_WEEKS_MS);
  assert.deepEqual(await tryUpgrade(server, {vsn: "2.0.0", token: otherSalt}), {opened: false, status: 403}, "other salt");
});

test("heartbeats on topic phoenix are answered ok {} (phoenix.js)", T, async (t) => {
  const c = await open(t, "alice", {heartbeatIntervalMs: 100});
  // socket.ping sends a heartbeat and calls back on the reply with its ref.
  const rtt = await within(new Promise((resolve) => c.socket.ping(resolve)), "ping reply");
  assert.equal(typeof rtt, "number");
  // The automatic heartbeat: phoenix.js sends the next one only after a reply.
  const replies = () => c.frames.filter((f) => f.topic === "phoenix" && f.event === "phx_reply");
  await c.until(() => replies().length >= 3, "three heartbeat replies");
  for (const f of replies()) {
    assert.deepEqual(f.payload, {status: "ok", response: {}});
    assert.equal(f.join_ref, null);
    assert.equal(typeof f.ref, "string");
  }
  assert.equal(c.closes.length, 0);
});

test("heartbeat frames: V2 array and V1 object, exactly", T, async (t) => {
  const token = await login(server, "alice");
  const v2 = await RawClient.open(server, token, "2.0.0");
  t.after(() => v2.close());
  v2.send([null, "7", "phoenix", "heartbeat", {}]);
  const r2 = await v2.frame((f) => f[1] === "7", "V2 heartbeat reply");
  assert.deepEqual(r2, [null, "7", "phoenix", "phx_reply", {status: "ok", response: {}}]);

  const v1 = await RawClient.open(server, token, "1.0.0");
  t.after(() => v1.close());
  v1.send({topic: "phoenix", event: "heartbeat", payload: {}, ref: "3"});
  const r1 = await v1.frame((f) => f.ref === "3", "V1 heartbeat reply");
  assert.deepEqual(r1, {topic: "phoenix", event: "phx_reply", payload: {status: "ok", response: {}}, ref: "3"});
});

test("POST /api/disconnect closes every socket of the user with 1001, then phoenix.js reconnects and rejoins", T, async (t) => {
  const a1 = await open(t, "alice");
  const a2 = await open(t, "alice");
  const b = await open(t, "bob");

  const joins = [];
  for (const c of [a1, a2, b]) {
    const ch = c.channel("room:disconnect");
    const oks = [];
    ch.joinPush.receive("ok", () => { oks.push(ch.joinRef()); c.wake(); });
    const first = await join(ch);
    assert.equal(first.status, "ok", `${c.user} join`);
    joins.push({c, ch, oks});
  }

  const res = await admin(server, "/api/disconnect", {user: "alice"});
  assert.ok(res.status >= 200 && res.status < 300, `${res.status} ${res.text}`);

  for (const {c, ch, oks} of joins.slice(0, 2)) {
    const close = await c.until(() => c.closes[0], "alice's socket to close");
    assert.equal(close.code, 1001, `close code of alice's socket: ${JSON.stringify(close)}`);
    await c.until(() => c.opens >= 2, "alice's socket to reconnect");
    await c.until(() => oks.length >= 2, "alice's channel to rejoin");
    const pong = await request(ch, "ping", {after: "reconnect"});
    assert.deepEqual(pong, {status: "ok", response: {after: "reconnect"}});
  }

  // bob was not touched.
  const {c: bob, ch: bobCh} = joins[2];
  const pong = await request(bobCh, "ping", {still: "here"});
  assert.deepEqual(pong, {status: "ok", response: {still: "here"}});
  assert.equal(bob.closes.length, 0, "bob's socket closed");
  assert.equal(bob.opens, 1);
});

test("a disconnected user can come back with the same token (disconnect is not a ban)", T, async (t) => {
  const a = await open(t, "carol");
  const res = await admin(server, "/api/disconnect", {user: "carol"});
  assert.ok(res.status >= 200 && res.status < 300);
  await a.until(() => a.closes.length >= 1 && a.opens >= 2, "carol to reconnect");
  const ch = a.channel("room:back");
  assert.equal((await join(ch)).status, "ok");
  assert.equal((await within(outcome(ch.push("ping", {n: 1})), "ping")).status, "ok");
});
