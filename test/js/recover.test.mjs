// Resumable rooms through the stock phoenix.js client and the chat page's
// helper (examples/chat/web/recover.mjs): a client cut off gets what it
// missed exactly once and in order, then live messages; a client whose
// position the server cannot serve is told to resync and gets no replay.
import assert from "node:assert/strict";
import {test} from "node:test";

import {recoverable} from "../../examples/chat/web/recover.mjs";
import {admin, Client, join, request, startServer} from "./helpers.mjs";

const T = {timeout: 30000};

/** A recoverable room on client c: the helper, the bodies seen, the join replies. */
function room(c, topic) {
  const rec = recoverable(c.socket, topic);
  const bodies = [];
  const replies = [];
  rec.channel.on("new_msg", (m) => { bodies.push(m.body); c.wake(); });
  rec.channel.joinPush.receive("ok", (r) => { replies.push(r); c.wake(); });
  const resyncs = [];
  rec.onResync((info) => { resyncs.push(info); c.wake(); });
  return {rec, bodies, replies, resyncs};
}

async function cut(server, c) {
  const closes = c.closes.length;
  assert.equal((await admin(server, "/api/disconnect", {user: c.user})).status, 200);
  await c.until(() => c.closes.length > closes, `${c.user}'s socket closed by the server`);
}

test("a client cut off by the server gets the messages it missed once, in order, then live ones", T, async (t) => {
  // The senders go faster than the chat's per-socket rate limit allows.
  const server = await startServer({extraArgs: ["-rate-limit", "100000"]});
  t.after(() => server.stop());
  // A slow reconnect, so that the messages below are sent while it is away.
  const alice = await Client.open(server, "alice", {reconnectAfterMs: () => 400});
  const bob = await Client.open(server, "bob");
  t.after(() => Promise.all([alice.disconnect(), bob.disconnect()]));

  const a = room(alice, "room:resume");
  const first = await join(a.rec.channel);
  assert.equal(first.status, "ok");
  assert.equal(first.response._recovered, false);
  assert.match(first.response._pos, /^[0-9a-z]+\.0$/);
  const bch = bob.channel("room:resume");
  assert.equal((await join(bch)).status, "ok");
  assert.deepEqual(bob.frames.filter((f) => f.topic === "room:resume" && f.event === "phx_reply")[0].payload.response, {},
    "a client that does not ask for recovery gets the reply as the channel made it");

  assert.equal((await request(bch, "new_msg", {body: "before"})).status, "ok");
  await alice.until(() => a.bodies.includes("before"), "the first message");

  await cut(server, alice);
  const missed = Array.from({length: 50}, (_, i) => `away ${i + 1}`);
  for (const body of missed) assert.equal((await request(bch, "new_msg", {body})).status, "ok");

  await alice.until(() => a.replies.length === 2, "the rejoin reply", 10000);
  assert.equal(a.replies[1]._recovered, true, JSON.stringify(a.replies[1]));
  await alice.until(() => a.bodies.length === 51, "the missed messages");
  assert.equal((await request(bch, "new_msg", {body: "live"})).status, "ok");
  await alice.until(() => a.bodies.includes("live"), "the live message");
  assert.deepEqual(a.bodies, ["before", ...missed, "live"]);
  assert.equal(a.rec.needsResync(), false);
  assert.deepEqual(a.resyncs, []);
});

test("a position from a stream the server lost (restart) answers not recovered, replays nothing", T, async (t) => {
  const first = await startServer();
  const alice = await Client.open(first, "alice");
  t.after(() => alice.disconnect());
  const a = room(alice, "room:lost");
  assert.equal((await join(a.rec.channel)).status, "ok");
  const payload = {body: "one", user_id: "admin", id: 1, inserted_at: new Date().toISOString()};
  assert.equal((await admin(first, "/api/broadcast", {topic: "room:lost", event: "new_msg", payload})).status, 200);
  await alice.until(() => a.bodies.includes("one"), "the first message");
  const before = a.rec.position();
  assert.match(before, /^[0-9a-z]+\.1$/);

  await first.stop();
  const second = await startServer({port: first.port, secret: first.secret, adminKey: first.adminKey});
  t.after(() => second.stop());
  await alice.until(() => a.resyncs.length === 1, "the resync notice", 15000);
  assert.equal(a.resyncs[0].since, before);
  assert.notEqual(a.resyncs[0].position.split(".")[0], before.split(".")[0], "a new epoch");
  assert.equal(a.rec.needsResync(), true);

  const two = {...payload, body: "two", id: 2};
  assert.equal((await admin(second, "/api/broadcast", {topic: "room:lost", event: "new_msg", payload: two})).status, 200);
  await alice.until(() => a.bodies.includes("two"), "the live message");
  assert.deepEqual(a.bodies, ["one", "two"]);
});


/** Polls the server's /metrics until the named series reaches at least want. */
async function metricAtLeast(server, series, want, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(series + " "));
    const got = line ? Number(line.split(" ")[1]) : 0;
    if (got >= want) return got;
    if (Date.now() > deadline) throw new Error(`${series} is ${got}, want at least ${want}`);
    await new Promise((r) => setTimeout(r, 50)); // polling a counter the server exposes, not a timing assumption
  }
}

test("a position whose room was dropped after the idle time answers not recovered, replays nothing", T, async (t) => {
  const server = await startServer({extraArgs: ["-history-idle", "1s"]});
  t.after(() => server.stop());
  const alice = await Client.open(server, "alice");
  t.after(() => alice.disconnect());
  const a = room(alice, "room:idle");
  assert.equal((await join(a.rec.channel)).status, "ok");
  const payload = {body: "one", user_id: "admin", id: 1, inserted_at: new Date().toISOString()};
  assert.equal((await admin(server, "/api/broadcast", {topic: "room:idle", event: "new_msg", payload})).status, 200);
  await alice.until(() => a.bodies.includes("one"), "the first message");
  const before = a.rec.position();

  // Away with no one else in the room: the room's history is dropped whole.
  await alice.disconnect();
  await metricAtLeast(server, 'pyre_history_topics_dropped_total{cause="idle"}', 1);
  await alice.connect();
  await alice.until(() => a.resyncs.length === 1, "the resync notice", 10000);
  assert.equal(a.resyncs[0].since, before);
  assert.notEqual(a.resyncs[0].position.split(".")[0], before.split(".")[0], "a new epoch");
  assert.equal(a.replies.at(-1)._recovered, false, JSON.stringify(a.replies.at(-1)));
  assert.deepEqual(a.bodies, ["one"], "nothing replayed");
});
