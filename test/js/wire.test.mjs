// Exact V2 frames, checked with a bare WebSocket: the shapes phoenix.js relies
// on (refs of replies, phx_close and phx_error, unjoined topics).
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {login, RawClient, startServer} from "./helpers.mjs";

const T = {timeout: 20000};
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function raw(t, user) {
  const c = await RawClient.open(server, await login(server, user), "2.0.0");
  t.after(() => c.close());
  return c;
}

const isReply = (ref) => (f) => Array.isArray(f) && f[1] === ref && f[3] === "phx_reply";

/** Sends a join with join_ref = ref (as phoenix.js does) and returns [jr, reply]. */
async function joinRaw(c, topic, payload = {}) {
  const jr = c.nextRef();
  c.send([jr, jr, topic, "phx_join", payload]);
  return [jr, await c.frame(isReply(jr), `join reply for ${topic}`)];
}

test("join reply echoes join_ref and ref; presence_state follows as a push with the join_ref", T, async (t) => {
  const c = await raw(t, "alice");
  const [jr, reply] = await joinRaw(c, "room:wire-join");
  assert.deepEqual(reply, [jr, jr, "room:wire-join", "phx_reply", {status: "ok", response: {}}]);
  const state = await c.frame((f) => f[2] === "room:wire-join" && f[3] === "presence_state", "presence_state");
  assert.equal(state[0], jr);
  assert.equal(state[1], null);
  assert.deepEqual(Object.keys(state[4]), ["alice"]);
  assert.ok(c.frames.indexOf(reply) < c.frames.indexOf(state), "presence_state came before the join reply");
});

test("a reply from the channel carries the channel's join_ref and the request's ref", T, async (t) => {
  const c = await raw(t, "alice");
  const [jr] = await joinRaw(c, "room:wire-reply");
  const r = c.nextRef();
  c.send([jr, r, "room:wire-reply", "ping", {x: 1}]);
  assert.deepEqual(await c.frame(isReply(r), "ping reply"),
    [jr, r, "room:wire-reply", "phx_reply", {status: "ok", response: {x: 1}}]);
  const e = c.nextRef();
  c.send([jr, e, "room:wire-reply", "new_msg", {body: ""}]);
  assert.deepEqual(await c.frame(isReply(e), "blank new_msg reply"),
    [jr, e, "room:wire-reply", "phx_reply", {status: "error", response: {errors: {body: ["can't be blank"]}}}]);
});

test("unmatched topic: join and events on an unjoined topic get join_ref null; leave of an unjoined topic is ok", T, async (t) => {
  const c = await raw(t, "alice");
  const j = c.nextRef();
  c.send([j, j, "nope:1", "phx_join", {}]);
  assert.deepEqual(await c.frame(isReply(j), "unmatched join reply"),
    [null, j, "nope:1", "phx_reply", {status: "error", response: {reason: "unmatched topic"}}]);

  const p = c.nextRef();
  c.send(["99", p, "room:not-joined", "ping", {}]);
  assert.deepEqual(await c.frame(isReply(p), "event on an unjoined topic"),
    [null, p, "room:not-joined", "phx_reply", {status: "error", response: {reason: "unmatched topic"}}]);

  const l = c.nextRef();
  c.send(["98", l, "room:not-joined", "phx_leave", {}]);
  assert.deepEqual(await c.frame(isReply(l), "leave of an unjoined topic"),
    ["98", l, "room:not-joined", "phx_reply", {status: "ok", response: {}}]);
});

test("leave: ok reply, then phx_close with ref = join_ref", T, async (t) => {
  const c = await raw(t, "alice");
  const [jr] = await joinRaw(c, "room:wire-leave");
  const l = c.nextRef();
  c.send([jr, l, "room:wire-leave", "phx_leave", {}]);
  const reply = await c.frame(isReply(l), "leave reply");
  assert.deepEqual(reply, [jr, l, "room:wire-leave", "phx_reply", {status: "ok", response: {}}]);
  const close = await c.frame((f) => f[2] === "room:wire-leave" && f[3] === "phx_close", "phx_close");
  assert.deepEqual(close, [jr, jr, "room:wire-leave", "phx_close", {}]);
  assert.ok(c.frames.indexOf(reply) < c.frames.indexOf(close));
});

test("stop: ok reply, phx_close, and the channel is gone on the server", T, async (t) => {
  const c = await raw(t, "alice");
  const [jr] = await joinRaw(c, "room:wire-stop");
  const s = c.nextRef();
  c.send([jr, s, "room:wire-stop", "stop", {}]);
  const reply = await c.frame(isReply(s), "stop reply");
  assert.equal(reply[0], jr);
  assert.equal(reply[4].status, "ok");
  const close = await c.frame((f) => f[2] === "room:wire-stop" && f[3] === "phx_close", "phx_close");
  assert.deepEqual(close, [jr, jr, "room:wire-stop", "phx_close", {}]);
  assert.ok(c.frames.indexOf(reply) < c.frames.indexOf(close));

  const p = c.nextRef();
  c.send([jr, p, "room:wire-stop", "ping", {}]);
  assert.deepEqual(await c.frame(isReply(p), "ping after stop"),
    [null, p, "room:wire-stop", "phx_reply", {status: "error", response: {reason: "unmatched topic"}}]);
});

test("crash: phx_error with ref = join_ref; the connection and other channels live on", T, async (t) => {
  const c = await raw(t, "alice");
  const [jr] = await joinRaw(c, "room:wire-crash");
  const [jr2] = await joinRaw(c, "room:wire-other");
  c.send([jr, c.nextRef(), "room:wire-crash", "crash", {}]);
  const err = await c.frame((f) => f[2] === "room:wire-crash" && f[3] === "phx_error", "phx_error");
  assert.equal(err[0], jr);
  assert.equal(err[1], jr);
  assert.equal(typeof err[4], "object");
  assert.notEqual(err[4], null);

  const p = c.nextRef();
  c.send([jr, p, "room:wire-crash", "ping", {}]);
  assert.deepEqual(await c.frame(isReply(p), "ping on the crashed topic"),
    [null, p, "room:wire-crash", "phx_reply", {status: "error", response: {reason: "unmatched topic"}}]);

  const q = c.nextRef();
  c.send([jr2, q, "room:wire-other", "ping", {ok: 1}]);
  assert.deepEqual(await c.frame(isReply(q), "ping on the other channel"),
    [jr2, q, "room:wire-other", "phx_reply", {status: "ok", response: {ok: 1}}]);

  // A new join of the crashed topic works (what phoenix.js does next).
  const [, again] = await joinRaw(c, "room:wire-crash");
  assert.equal(again[4].status, "ok");
});

test("broadcasts and presence diffs carry ref null", T, async (t) => {
  const a = await raw(t, "alice");
  const b = await raw(t, "bob");
  const [jrA] = await joinRaw(a, "room:wire-bcast");
  await a.frame((f) => f[3] === "presence_state", "alice's presence_state");
  const from = a.frames.length;
  await joinRaw(b, "room:wire-bcast");
  const diff = await a.frame((f) => f[3] === "presence_diff" && f[4].joins?.bob, "presence_diff for bob", {from});
  assert.equal(diff[1], null);
  assert.equal(diff[2], "room:wire-bcast");

  a.send([jrA, a.nextRef(), "room:wire-bcast", "bench", {n: 1}]);
  const bench = await b.frame((f) => f[3] === "bench", "bench broadcast at bob");
  assert.equal(bench[1], null);
  assert.deepEqual(bench.slice(2), ["room:wire-bcast", "bench", {n: 1}]);
});
