// The V1 JSON serializer (vsn=1.0.0): phoenix.js speaking V1 objects through
// its encode/decode options, next to V2 clients in the same room, and the
// exact V1 frames seen by a bare WebSocket.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {
  join, login, next, openClient, PresenceWatch, RawClient, refusedJoin, request, startServer, V1,
} from "./helpers.mjs";

const T = {timeout: 20000};
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const open = (t, user, opts) => openClient(t, server, user, opts);

test("phoenix.js over V1: the socket speaks V1 objects", T, async (t) => {
  const a = await open(t, "alice", V1);
  assert.match(a.socket.endPointURL(), /vsn=1\.0\.0/);
  const ping = await new Promise((resolve) => a.socket.ping(resolve));
  assert.equal(typeof ping, "number");
  const hb = a.frames.find((f) => f.topic === "phoenix");
  assert.deepEqual(Object.keys(hb).sort(), ["event", "payload", "ref", "topic"]);
});

test("V1: join, presence_state, new_msg with mine, ping, reply errors", T, async (t) => {
  const a = await open(t, "alice", V1);
  const b = await open(t, "bob"); // V2 in the same room

  const chA = a.channel("room:v1");
  const pa = new PresenceWatch(chA);
  const state = next(chA, "presence_state");
  assert.deepEqual(await join(chA), {status: "ok", response: {}});
  const {payload} = await state;
  assert.deepEqual(Object.keys(payload), ["alice"]);
  const meta = payload.alice.metas[0];
  assert.match(meta.online_at, /^\d+$/);
  assert.equal(meta.typing, false);
  assert.equal(typeof meta.phx_ref, "string");
  for (const f of a.frames) {
    assert.ok(!("join_ref" in f), `V1 frame with join_ref: ${JSON.stringify(f)}`);
  }

  const chB = b.channel("room:v1");
  assert.equal((await join(chB)).status, "ok");
  await pa.until((s) => s.alice && s.bob, "the V1 client to see bob join");

  const gotA = next(chA, "new_msg", (m) => m.body === "from v1");
  const gotB = next(chB, "new_msg", (m) => m.body === "from v1");
  assert.deepEqual(await request(chA, "new_msg", {body: "from v1"}), {status: "ok", response: {}});
  const [ma, mb] = [(await gotA).payload, (await gotB).payload];
  assert.equal(ma.mine, true);
  assert.equal(mb.mine, false);
  assert.equal(ma.user_id, "alice");
  assert.deepEqual(Object.keys(ma).sort(), ["_pos", "body", "id", "inserted_at", "mine", "user_id"]);
  assert.deepEqual({...ma, mine: null}, {...mb, mine: null});

  const back = next(chA, "new_msg", (m) => m.body === "from v2");
  assert.equal((await request(chB, "new_msg", {body: "from v2"})).status, "ok");
  const mv2 = (await back).payload;
  assert.equal(mv2.mine, false);
  assert.equal(mv2.user_id, "bob");

  assert.deepEqual(await request(chA, "ping", {v: 1, list: [1, 2]}), {status: "ok", response: {v: 1, list: [1, 2]}});
  assert.deepEqual(await request(chA, "new_msg", {body: ""}),
    {status: "error", response: {errors: {body: ["can't be blank"]}}});
  assert.deepEqual(await request(chA, "nope", {}), {status: "error", response: {reason: "unmatched event"}});

  for (const f of a.frames) {
    assert.ok(!("join_ref" in f), `V1 frame with join_ref: ${JSON.stringify(f)}`);
  }
});

test("V1: an unknown topic is refused with unmatched topic", T, async (t) => {
  const a = await open(t, "alice", V1);
  assert.deepEqual(await refusedJoin(a.channel("nope:v1")), {status: "error", response: {reason: "unmatched topic"}});
  assert.deepEqual(await refusedJoin(a.channel("room:private-bob")), {status: "error", response: {reason: "unauthorized"}});
});

test("V1 frames exactly: topic, event, payload, ref and never join_ref", T, async (t) => {
  const token = await login(server, "alice");
  const c = await RawClient.open(server, token, "1.0.0");
  t.after(() => c.close());
  const keys = (f) => Object.keys(f).sort();
  const KEYS = ["event", "payload", "ref", "topic"];

  // An old-style V1 join without join_ref.
  c.send({topic: "room:v1-raw", event: "phx_join", payload: {}, ref: "1"});
  const reply = await c.frame((f) => f.ref === "1", "V1 join reply");
  assert.deepEqual(reply, {topic: "room:v1-raw", event: "phx_reply", payload: {status: "ok", response: {}}, ref: "1"});

  const state = await c.frame((f) => f.event === "presence_state", "V1 presence_state");
  assert.deepEqual(keys(state), KEYS);
  assert.equal(state.ref, null);
  assert.deepEqual(Object.keys(state.payload), ["alice"]);

  c.send({topic: "room:v1-raw", event: "ping", payload: {x: 1}, ref: "2"});
  assert.deepEqual(await c.frame((f) => f.ref === "2", "V1 ping reply"),
    {topic: "room:v1-raw", event: "phx_reply", payload: {status: "ok", response: {x: 1}}, ref: "2"});

  c.send({topic: "room:v1-raw", event: "new_msg", payload: {body: "raw v1"}, ref: "3"});
  const msg = await c.frame((f) => f.event === "new_msg", "V1 new_msg broadcast");
  assert.deepEqual(keys(msg), KEYS);
  assert.equal(msg.ref, null);
  assert.equal(msg.payload.mine, true);
  assert.equal(msg.payload.body, "raw v1");
  assert.deepEqual(await c.frame((f) => f.ref === "3", "V1 new_msg reply"),
    {topic: "room:v1-raw", event: "phx_reply", payload: {status: "ok", response: {}}, ref: "3"});

  c.send({topic: "nope:1", event: "phx_join", payload: {}, ref: "4"});
  assert.deepEqual(await c.frame((f) => f.ref === "4", "V1 unmatched topic reply"),
    {topic: "nope:1", event: "phx_reply", payload: {status: "error", response: {reason: "unmatched topic"}}, ref: "4"});

  for (const f of c.frames) assert.deepEqual(keys(f), KEYS, JSON.stringify(f));
});
