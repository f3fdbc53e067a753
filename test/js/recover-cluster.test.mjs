// Two `pyre chat` nodes keeping room history in JetStream (an embedded
// NATS server with a store directory in the first), driven by phoenix.js
// and the page's helper: a client cut off on one node comes back on the
// other and gets the 500 messages sent from both nodes meanwhile, once and
// in order, then live ones; a position from another stream is refused;
// a dropped TCP connection (through a proxy that stops forwarding) and a
// node killed (SIGKILL) during a burst lose nothing either.
import assert from "node:assert/strict";
import {randomBytes} from "node:crypto";
import {mkdtempSync, rmSync} from "node:fs";
import net from "node:net";
import {tmpdir} from "node:os";
import path from "node:path";
import {after, before, test} from "node:test";

import {recoverable} from "../../examples/chat/web/recover.mjs";
import {admin, Client, freePort, join, request, startServer} from "./helpers.mjs";

const T = {timeout: 90000};
const secret = randomBytes(32).toString("base64url");
const adminKey = randomBytes(18).toString("base64url");
const store = mkdtempSync(path.join(tmpdir(), "pyre-js-"));
const nodes = {};
// The senders below go faster than the chat's per-socket rate limit.

before(async () => {
  const natsPort = await freePort();
  nodes.a = await startServer({secret, adminKey, extraArgs: [
    "-node", "a", "-nats", "embedded", "-nats-listen", `127.0.0.1:${natsPort}`, "-jetstream", store, "-rate-limit", "100000"]});
  nodes.b = await startServer({secret, adminKey, extraArgs: [
    "-node", "b", "-nats", `nats://127.0.0.1:${natsPort}`, "-jetstream", "on", "-rate-limit", "100000"]});
});
after(async () => {
  await nodes.b?.stop();
  await nodes.a?.stop();
  rmSync(store, {recursive: true, force: true});
});

function room(c, topic, opts) {
  const rec = recoverable(c.socket, topic, {}, opts);
  const bodies = [];
  const positions = [];
  const replies = [];
  const resyncs = [];
  rec.channel.on("new_msg", (m) => { bodies.push(m.body); positions.push(Number(m._pos.split(".")[1])); c.wake(); });
  rec.channel.joinPush.receive("ok", (r) => { replies.push(r); c.wake(); });
  rec.onResync((info) => { resyncs.push(info); c.wake(); });
  return {rec, bodies, positions, replies, resyncs};
}

test("both nodes report their history in /healthz", T, async () => {
  for (const node of Object.values(nodes)) {
    const body = await (await fetch(`${node.url}/healthz`)).json();
    assert.ok(body.cluster.history, JSON.stringify(body.cluster));
  }
});

test("cut off on node A, back on node B: the 500 messages sent from both nodes, once and in order", T, async (t) => {
  const alice = await Client.open(nodes.a, "alice", {reconnectAfterMs: () => 60000});
  const bob = await Client.open(nodes.a, "bob");
  const carol = await Client.open(nodes.b, "carol");
  t.after(() => Promise.all([alice.disconnect(), bob.disconnect(), carol.disconnect()]));

  const a = room(alice, "room:js-resume");
  assert.equal((await join(a.rec.channel)).status, "ok");
  const onA = bob.channel("room:js-resume");
  const onB = carol.channel("room:js-resume");
  assert.equal((await join(onA)).status, "ok");
  assert.equal((await join(onB)).status, "ok");
  assert.equal((await request(onA, "new_msg", {body: "before"})).status, "ok");
  await alice.until(() => a.bodies.includes("before"), "the first message");

  // The server closes alice's socket; her page would come back elsewhere.
  const closes = alice.closes.length;
  assert.equal((await admin(nodes.a, "/api/disconnect", {user: "alice"})).status, 200);
  await alice.until(() => alice.closes.length > closes, "alice's socket closed");
  await alice.disconnect();
  const since = a.rec.position();

  const sent = [];
  for (let i = 1; i <= 250; i++) {
    for (const [name, ch] of [["a", onA], ["b", onB]]) {
      const body = `${name} ${i}`;
      sent.push(body);
      assert.equal((await request(ch, "new_msg", {body})).status, "ok");
    }
  }

  const alice2 = await Client.open(nodes.b, "alice");
  t.after(() => alice2.disconnect());
  const b = room(alice2, "room:js-resume", {since});
  const res = await join(b.rec.channel);
  assert.equal(res.status, "ok");
  assert.equal(res.response._recovered, true, JSON.stringify(res.response));
  await alice2.until(() => b.bodies.length >= 500, "the 500 missed messages", 20000);
  // Each sender's messages come in the order it sent them, and all of
  // them in the stream's order: consecutive positions from alice's last.
  const got = b.bodies.slice(0, 500);
  assert.deepEqual([...got].sort(), [...sent].sort(), "each message exactly once");
  for (const name of ["a", "b"]) {
    assert.deepEqual(got.filter((x) => x.startsWith(name + " ")), sent.filter((x) => x.startsWith(name + " ")));
  }
  const first = Number(since.split(".")[1]) + 1;
  assert.deepEqual(b.positions.slice(0, 500), Array.from({length: 500}, (_, i) => first + i));
  assert.equal((await request(onB, "new_msg", {body: "live"})).status, "ok");
  await alice2.until(() => b.bodies.includes("live"), "the live message");
  assert.deepEqual(b.bodies, [...got, "live"]);
  assert.deepEqual(b.resyncs, []);
});

test("a position from another stream is not recovered and nothing is replayed", T, async (t) => {
  const dave = await Client.open(nodes.b, "dave");
  t.after(() => dave.disconnect());
  const d = room(dave, "room:js-resume", {since: "zzz.3"});
  const res = await join(d.rec.channel);
  assert.equal(res.status, "ok");
  assert.equal(res.response._recovered, false);
  await dave.until(() => d.resyncs.length === 1, "the resync");
  assert.equal(d.rec.needsResync(), true);
  assert.deepEqual(d.bodies, []);
});

test("a position older than the retention is not recovered and nothing is replayed", T, async (t) => {
  const erin = await Client.open(nodes.a, "erin");
  const frank = await Client.open(nodes.a, "frank");
  t.after(() => Promise.all([erin.disconnect(), frank.disconnect()]));
  const e = room(erin, "room:js-old");
  assert.equal((await join(e.rec.channel)).status, "ok");
  const sender = frank.channel("room:js-old");
  assert.equal((await join(sender)).status, "ok");
  assert.equal((await request(sender, "new_msg", {body: "first"})).status, "ok");
  await erin.until(() => e.bodies.includes("first"), "the first message");
  const since = e.rec.position();
  await erin.disconnect();

  // Chat rooms keep their last 1 000 messages: 1 001 more push the one
  // erin saw out of the stream.
  for (let i = 0; i < 1001; i++) {
    assert.equal((await request(sender, "new_msg", {body: `m${i}`})).status, "ok");
  }

  const erin2 = await Client.open(nodes.b, "erin");
  t.after(() => erin2.disconnect());
  const back = room(erin2, "room:js-old", {since});
  const res = await join(back.rec.channel);
  assert.equal(res.status, "ok");
  assert.equal(res.response._recovered, false, JSON.stringify(res.response));
  await erin2.until(() => back.resyncs.length === 1, "the resync");
  assert.equal(back.rec.needsResync(), true);
  assert.deepEqual(back.bodies, [], "a partial history was replayed");
});

/**
 * A TCP proxy in front of the nodes. blackhole() stops forwarding on the
 * connections it has, in both directions, without closing them, as a
 * dropped network does; new connections go to target.
 */
async function proxy(target) {
  const conns = new Set();
  const srv = net.createServer((client) => {
    const up = net.connect(target.port, "127.0.0.1");
    const pair = {client, up, dead: false};
    conns.add(pair);
    client.on("data", (d) => { if (!pair.dead) up.write(d); });
    up.on("data", (d) => { if (!pair.dead) client.write(d); });
    const end = () => { client.destroy(); up.destroy(); conns.delete(pair); };
    client.on("close", end); up.on("close", end);
    client.on("error", end); up.on("error", end);
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = srv.address().port;
  return {
    wsURL: `ws://127.0.0.1:${port}/socket`,
    url: `http://127.0.0.1:${port}`,
    retarget(node) { target = node; },
    blackhole() { for (const p of conns) p.dead = true; },
    close() { for (const p of conns) { p.client.destroy(); p.up.destroy(); } srv.close(); },
  };
}

test("a dropped TCP connection on node A, back on node B through the same address: nothing missed", T, async (t) => {
  const px = await proxy(nodes.a);
  t.after(() => px.close());
  // Fast heartbeats, so that phoenix.js notices the dead connection soon.
  const gina = await Client.open({...nodes.a, wsURL: px.wsURL}, "gina", {heartbeatIntervalMs: 300});
  const hal = await Client.open(nodes.a, "hal");
  const ivy = await Client.open(nodes.b, "ivy");
  t.after(() => Promise.all([gina.disconnect(), hal.disconnect(), ivy.disconnect()]));
  const g = room(gina, "room:js-drop");
  assert.equal((await join(g.rec.channel)).status, "ok");
  const onA = hal.channel("room:js-drop");
  const onB = ivy.channel("room:js-drop");
  assert.equal((await join(onA)).status, "ok");
  assert.equal((await join(onB)).status, "ok");

  const sent = [];
  const send = async (n) => {
    for (let i = 0; i < n; i++) {
      for (const [name, ch] of [["a", onA], ["b", onB]]) {
        const body = `${name} ${sent.length + 1}`;
        sent.push(body);
        assert.equal((await request(ch, "new_msg", {body})).status, "ok");
      }
    }
  };
  await send(10);
  await gina.until(() => g.bodies.length === 20, "the first messages");
  const opens = gina.opens;
  px.retarget(nodes.b);
  px.blackhole();
  await send(100); // sent into the dead connection, and after it
  await gina.until(() => gina.opens > opens, "gina's socket back, on node B", 20000);
  await gina.until(() => g.bodies.length >= sent.length, "every message", 20000);
  assert.deepEqual([...g.bodies].sort(), [...sent].sort(), "each message exactly once");
  for (const name of ["a", "b"]) {
    assert.deepEqual(g.bodies.filter((x) => x.startsWith(name + " ")), sent.filter((x) => x.startsWith(name + " ")));
  }
  assert.equal(g.replies.at(-1)._recovered, true, JSON.stringify(g.replies.at(-1)));
  const seqs = g.positions;
  assert.deepEqual(seqs, Array.from({length: seqs.length}, (_, i) => seqs[0] + i), "consecutive positions");
});

// Last: it kills node B.
test("the node a client was on is killed during a burst: back on node A, it has missed nothing", T, async (t) => {
  const erin = await Client.open(nodes.b, "erin", {reconnectAfterMs: () => 60000});
  const frank = await Client.open(nodes.a, "frank");
  t.after(() => Promise.all([erin.disconnect(), frank.disconnect()]));
  const e = room(erin, "room:js-kill");
  assert.equal((await join(e.rec.channel)).status, "ok");
  const ch = frank.channel("room:js-kill");
  assert.equal((await join(ch)).status, "ok");

  const sent = [];
  const send = async (n) => {
    for (let i = 0; i < n; i++) {
      const body = `burst ${sent.length + 1}`;
      sent.push(body);
      assert.equal((await request(ch, "new_msg", {body})).status, "ok");
    }
  };
  await send(100);
  nodes.b.proc.kill("SIGKILL");
  await nodes.b.exited;
  await send(100);
  await erin.disconnect();

  const erin2 = await Client.open(nodes.a, "erin");
  t.after(() => erin2.disconnect());
  const e2 = room(erin2, "room:js-kill", {since: e.rec.position()});
  const res = await join(e2.rec.channel);
  assert.equal(res.response._recovered, true, JSON.stringify(res.response));
  await erin2.until(() => e.bodies.length + e2.bodies.length >= 200, "every message of the burst", 20000);
  assert.deepEqual([...e.bodies, ...e2.bodies], sent);
});
