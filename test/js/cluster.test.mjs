// Three `pyre chat` processes linked by NATS (an embedded server in the
// first), driven by the real phoenix.js client: messages, API broadcasts and
// presence cross nodes; a killed node's presences leave everywhere.
import assert from "node:assert/strict";
import {randomBytes} from "node:crypto";
import {after, before, test} from "node:test";

import {admin, Client, enter, freePort, next, openClient, request, startServer} from "./helpers.mjs";

const T = {timeout: 60000};
const secret = randomBytes(32).toString("base64url");
const adminKey = randomBytes(18).toString("base64url");
let natsPort;
const nodes = {};

function nodeArgs(name) {
  const nats = name === "a"
    ? ["-nats", "embedded", "-nats-listen", `127.0.0.1:${natsPort}`]
    : ["-nats", `nats://127.0.0.1:${natsPort}`];
  return ["-node", name, ...nats];
}

async function startNode(name, port) {
  nodes[name] = await startServer({extraArgs: nodeArgs(name), secret, adminKey, port});
  return nodes[name];
}

before(async () => {
  natsPort = await freePort();
  await startNode("a");
  await Promise.all([startNode("b"), startNode("c")]);
});
after(async () => {
  for (const name of ["c", "b", "a"]) await nodes[name]?.stop();
});

const open = (t, node, user) => openClient(t, node, user);


const hasKeys = (...keys) => (st) => keys.every((k) => st[k]?.length === 1) && Object.keys(st).length === keys.length;

test("every node reports the cluster healthy in /healthz", T, async () => {
  for (const [name, node] of Object.entries(nodes)) {
    const res = await fetch(`${node.url}/healthz`);
    const body = await res.json();
    assert.equal(res.status, 200);
    assert.equal(body.status, "ok", name);
    assert.equal(body.cluster.node, name);
    assert.equal(body.cluster.mode, name === "a" ? "embedded" : "nats");
    assert.equal(body.cluster.nats.status, "CONNECTED");
  }
});

test("a message sent on node A reaches a client on node B with mine false", T, async (t) => {
  const alice = await open(t, nodes.a, "alice");
  const bob = await open(t, nodes.b, "bob");
  const ra = await enter(alice, "room:x1");
  const rb = await enter(bob, "room:x1");
  // Presence crossing nodes proves each node's interest reached NATS.
  await ra.presence.until(hasKeys("alice", "bob"), "bob visible on node a");
  await rb.presence.until(hasKeys("alice", "bob"), "alice visible on node b");

  const atBob = next(rb.ch, "new_msg", (p) => p.body === "hello from a");
  const atAlice = next(ra.ch, "new_msg", (p) => p.body === "hello from a");
  assert.equal((await request(ra.ch, "new_msg", {body: "hello from a"})).status, "ok");
  const [b, a] = await Promise.all([atBob, atAlice]);
  assert.equal(b.payload.mine, false);
  assert.equal(b.payload.user_id, "alice");
  assert.equal(a.payload.mine, true);
});

test("POST /api/broadcast on one node reaches clients on every node", T, async (t) => {
  const clients = await Promise.all(["a", "b", "c"].map((n) => open(t, nodes[n], `u-${n}`)));
  const rooms = [];
  for (const c of clients) rooms.push(await enter(c, "room:x2"));
  for (const r of rooms) await r.presence.until(hasKeys("u-a", "u-b", "u-c"), "all three users visible");
  const got = rooms.map((r) => next(r.ch, "announce", (p) => p.text === "from b"));
  const res = await admin(nodes.b, "/api/broadcast", {topic: "room:x2", event: "announce", payload: {text: "from b"}});
  assert.equal(res.status, 200, res.text);
  await Promise.all(got);
});

test("phoenix.js Presence converges to the same list on three nodes; typing and leave propagate", T, async (t) => {
  const users = {a: "ann", b: "ben", c: "cat"};
  const rooms = {};
  for (const [n, user] of Object.entries(users)) {
    rooms[n] = await enter(await open(t, nodes[n], user), "room:x3");
  }
  const states = {};
  for (const n of Object.keys(users)) {
    states[n] = await rooms[n].presence.until(hasKeys("ann", "ben", "cat"), `three users on node ${n}`);
  }
  const refs = (st) => Object.fromEntries(Object.entries(st).map(([k, metas]) => [k, metas.map((m) => m.phx_ref).sort()]));
  assert.deepEqual(refs(states.b), refs(states.a));
  assert.deepEqual(refs(states.c), refs(states.a));

  assert.equal((await request(rooms.b.ch, "typing", {typing: true})).status, "ok");
  for (const n of ["a", "c"]) {
    await rooms[n].presence.until((st) => st.ben?.length === 1 && st.ben[0].typing === true, `ben typing on node ${n}`);
  }

  rooms.c.ch.leave();
  for (const n of ["a", "b"]) {
    await rooms[n].presence.until(hasKeys("ann", "ben"), `cat gone on node ${n}`);
  }
});

test("a killed node's presences leave everywhere; restarted, its users come back once", T, async (t) => {
  const watchers = {};
  for (const n of ["a", "b"]) watchers[n] = await enter(await open(t, nodes[n], `w-${n}`), "room:x4");
  const dave = await Client.open(nodes.c, "dave");
  t.after(() => dave.disconnect());
  await enter(dave, "room:x4");
  for (const n of ["a", "b"]) await watchers[n].presence.until(hasKeys("w-a", "w-b", "dave"), `dave on node ${n}`);

  const port = nodes.c.port;
  nodes.c.proc.kill("SIGKILL");
  await nodes.c.exited;
  // Default down period 5 s plus a heartbeat; allow slack for a busy machine.
  for (const n of ["a", "b"]) {
    await watchers[n].presence.until(hasKeys("w-a", "w-b"), `dave gone from node ${n}`, 15000);
  }

  await startNode("c", port);
  // phoenix.js reconnects to the same address by itself and rejoins.
  for (const n of ["a", "b"]) {
    const st = await watchers[n].presence.until(hasKeys("w-a", "w-b", "dave"), `dave back on node ${n}`, 15000);
    assert.equal(st.dave.length, 1, "one meta for dave, not a leftover from the dead node");
  }
});
