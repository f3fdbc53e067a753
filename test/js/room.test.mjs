// The chat channels through the official phoenix.js client over V2: rooms,
// messages, presence, typing, crash and stop, authorization, notifications.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {
  admin, collect, enter, join, next, openClient, refusedJoin, request, signal, startServer, within,
} from "./helpers.mjs";

const T = {timeout: 20000};
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const open = (t, user, opts) => openClient(t, server, user, opts);


function assertMeta(meta) {
  assert.equal(typeof meta.online_at, "string", `online_at must be a string: ${JSON.stringify(meta)}`);
  assert.match(meta.online_at, /^\d+$/);
  const skew = Math.abs(Number(meta.online_at) - Date.now() / 1000);
  assert.ok(skew < 120, `online_at ${meta.online_at} is not about now`);
  assert.equal(typeof meta.phx_ref, "string");
  assert.ok(meta.phx_ref.length > 0);
}

test("joining a room replies ok, then pushes presence_state with the user's meta", T, async (t) => {
  const a = await open(t, "alice");
  const ch = a.channel("room:state");
  const state = next(ch, "presence_state");
  const res = await join(ch);
  assert.deepEqual(res, {status: "ok", response: {}});

  const {payload} = await state;
  assert.deepEqual(Object.keys(payload), ["alice"]);
  assert.equal(payload.alice.metas.length, 1);
  const meta = payload.alice.metas[0];
  assertMeta(meta);
  assert.equal(meta.typing, false);
  assert.deepEqual(Object.keys(meta).filter((k) => k !== "phx_ref_prev").sort(), ["online_at", "phx_ref", "typing"]);

  // On the wire: the join reply comes first, then the channel's push with its join_ref.
  const jr = ch.joinRef();
  const replyAt = a.frames.findIndex((f) => f.topic === "room:state" && f.event === "phx_reply" && f.ref === jr);
  const stateAt = a.frames.findIndex((f) => f.topic === "room:state" && f.event === "presence_state");
  assert.ok(replyAt >= 0 && stateAt > replyAt, `join reply at ${replyAt}, presence_state at ${stateAt}`);
  assert.equal(a.frames[replyAt].join_ref, jr);
  assert.equal(a.frames[stateAt].join_ref, jr);
  assert.equal(a.frames[stateAt].ref, null);
});

test("others see a presence_diff join when someone enters and a leave when they go", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const {ch: chA, presence: pa} = await enter(a, "room:comings");
  await pa.until((s) => s.alice?.length === 1, "alice to see herself");

  const joined = next(chA, "presence_diff", (d) => d.joins?.bob);
  const {ch: chB, presence: pb} = await enter(b, "room:comings");
  const diff = (await joined).payload;
  assert.equal(diff.joins.bob.metas.length, 1);
  assertMeta(diff.joins.bob.metas[0]);
  assert.equal(diff.joins.bob.metas[0].typing, false);
  assert.deepEqual(Object.keys(diff.leaves), []);

  const both = await pb.until((s) => s.alice && s.bob, "bob to see alice and bob");
  assert.equal(both.alice.length, 1);
  await pa.until((s) => s.alice && s.bob, "alice to see bob");

  const left = next(chA, "presence_diff", (d) => d.leaves?.bob);
  const bye = await within(new Promise((resolve) => chB.leave().receive("ok", resolve)), "bob's leave reply");
  assert.deepEqual(bye, {});
  const leave = (await left).payload;
  assert.equal(leave.leaves.bob.metas.length, 1);
  assert.equal(leave.leaves.bob.metas[0].phx_ref, both.bob[0].phx_ref);
  const after = await pa.until((s) => !s.bob, "bob to be gone from alice's list");
  assert.deepEqual(Object.keys(after), ["alice"]);
});

test("new_msg is broadcast to the room with mine true only on the sender's own sockets", T, async (t) => {
  const a1 = await open(t, "alice");
  const a2 = await open(t, "alice");
  const b = await open(t, "bob");
  const rooms = [];
  for (const c of [a1, a2, b]) rooms.push((await enter(c, "room:mine")).ch);

  const got = rooms.map((ch) => next(ch, "new_msg", (m) => m.body === "hello, room"));
  const res = await request(rooms[0], "new_msg", {body: "hello, room"});
  assert.deepEqual(res, {status: "ok", response: {}});

  const [m1, m2, mb] = (await Promise.all(got)).map((x) => x.payload);
  for (const m of [m1, m2, mb]) {
    assert.deepEqual(Object.keys(m).sort(), ["_pos", "body", "id", "inserted_at", "mine", "user_id"]);
    assert.equal(m.body, "hello, room");
    assert.equal(m.user_id, "alice");
    assert.ok(m.id !== null && m.id !== undefined && m.id !== "", `id: ${m.id}`);
    assert.equal(typeof m.inserted_at, "string");
    assert.ok(m.inserted_at.length > 0);
    assert.deepEqual({...m, mine: undefined}, {...m1, mine: undefined}, "the copies differ beyond mine");
  }
  assert.equal(m1.mine, true, "sender's socket");
  assert.equal(m2.mine, true, "sender's other socket");
  assert.equal(mb.mine, false, "another user's socket");

  // And the other way round.
  const back = rooms.map((ch) => next(ch, "new_msg", (m) => m.body === "hi alice"));
  assert.equal((await request(rooms[2], "new_msg", {body: "hi alice"})).status, "ok");
  const [n1, n2, nb] = (await Promise.all(back)).map((x) => x.payload);
  assert.deepEqual([n1.mine, n2.mine, nb.mine], [false, false, true]);
  assert.equal(nb.user_id, "bob");
  assert.notEqual(String(nb.id), String(m1.id), "message ids repeat");
});

test("a blank new_msg body is refused with a changeset-style error and not broadcast", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const {ch: chA} = await enter(a, "room:blank");
  const {ch: chB} = await enter(b, "room:blank");
  const seen = collect(chB, "new_msg");

  for (const payload of [{body: ""}, {body: "   "}, {}]) {
    const res = await request(chA, "new_msg", payload);
    assert.deepEqual(res, {status: "error", response: {errors: {body: ["can't be blank"]}}}, JSON.stringify(payload));
  }
  // A real message afterwards is the first thing bob gets.
  const real = next(chB, "new_msg", (m) => m.body === "not blank");
  assert.equal((await request(chA, "new_msg", {body: "not blank"})).status, "ok");
  await real;
  assert.deepEqual(seen.map((m) => m.body), ["not blank"]);
});

test("typing updates the presence meta; others get a presence_diff and see the marker", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const {ch: chA} = await enter(a, "room:typing");
  const {ch: chB, presence: pb} = await enter(b, "room:typing");
  const before = await pb.until((s) => s.alice?.length === 1, "bob to see alice");
  assert.equal(before.alice[0].typing, false);

  const diff = next(chB, "presence_diff", (d) => d.joins?.alice);
  assert.deepEqual(await request(chA, "typing", {typing: true}), {status: "ok", response: {}});
  const d = (await diff).payload;
  assert.equal(d.joins.alice.metas.length, 1);
  assert.equal(d.joins.alice.metas[0].typing, true);
  assert.equal(d.joins.alice.metas[0].online_at, before.alice[0].online_at);
  // An update is a join of the new meta and a leave of the old one.
  assert.equal(d.leaves.alice?.metas?.[0]?.phx_ref, before.alice[0].phx_ref);

  const typing = await pb.until((s) => s.alice?.[0]?.typing === true, "alice typing in bob's list");
  assert.equal(typing.alice.length, 1);

  assert.deepEqual(await request(chA, "typing", {typing: false}), {status: "ok", response: {}});
  const done = await pb.until((s) => s.alice?.[0]?.typing === false, "alice no longer typing");
  assert.equal(done.alice.length, 1);
});

test("ping replies ok with the same payload", T, async (t) => {
  const a = await open(t, "alice");
  const {ch} = await enter(a, "room:ping");
  const payload = {n: 42, s: "héllo ✓", list: [1, "two", null, true], nested: {deep: {x: 1.5}}};
  assert.deepEqual(await request(ch, "ping", payload), {status: "ok", response: payload});
  assert.deepEqual(await request(ch, "ping", {}), {status: "ok", response: {}});
});

test("shout reaches everyone in the room except the sending channel", T, async (t) => {
  const a1 = await open(t, "alice");
  const a2 = await open(t, "alice");
  const b = await open(t, "bob");
  const chans = [];
  for (const c of [a1, a2, b]) chans.push((await enter(c, "room:shout")).ch);
  const own = collect(chans[0], "shout");

  const payload = {text: "HEY", n: 1};
  const got = [next(chans[1], "shout"), next(chans[2], "shout")];
  assert.deepEqual(await request(chans[0], "shout", payload), {status: "ok", response: {}});
  for (const g of await Promise.all(got)) assert.deepEqual(g.payload, payload);

  // Broadcasts from one channel reach a subscriber in order, so once the
  // sender sees its own later bench broadcast, a shout copy would have come.
  const mark = next(chans[0], "bench", (p) => p.mark === "after-shout");
  chans[0].push("bench", {mark: "after-shout"}, 2000);
  await mark;
  assert.deepEqual(own, [], "the sender received its own shout");
});

test("bench broadcasts the payload unchanged to everyone, sender included, and sends no reply", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const {ch: chA} = await enter(a, "room:bench");
  const {ch: chB} = await enter(b, "room:bench");

  const payload = {seq: 7, data: "x".repeat(100), arr: [1, 2, 3]};
  const got = [next(chA, "bench"), next(chB, "bench")];
  const replied = signal();
  const push = chA.push("bench", payload, 2000);
  push.receive("ok", () => replied.resolve("ok")).receive("error", () => replied.resolve("error"));
  for (const g of await Promise.all(got)) assert.deepEqual(g.payload, payload);

  // Replies from one channel come in order: once ping's reply is here, a
  // reply to bench would be too.
  const benchRef = push.ref;
  assert.equal(typeof benchRef, "string");
  assert.equal((await request(chA, "ping", {})).status, "ok");
  const reply = a.frames.find((f) => f.event === "phx_reply" && f.ref === benchRef);
  assert.equal(reply, undefined, `bench got a reply: ${JSON.stringify(reply)}`);
});

test("an unknown event is answered with error unmatched event", T, async (t) => {
  const a = await open(t, "alice");
  const {ch} = await enter(a, "room:unmatched");
  assert.deepEqual(await request(ch, "dance", {}), {status: "error", response: {reason: "unmatched event"}});
  // The channel is still fine.
  assert.equal((await request(ch, "ping", {})).status, "ok");
});

test("crash: phx_error, onError fires, phoenix.js rejoins by itself; other channels keep working", T, async (t) => {
  const a = await open(t, "alice");
  const {ch} = await enter(a, "room:crash");
  const {ch: other} = await enter(a, "room:bystander");
  const errors = [];
  const otherErrors = [];
  ch.onError((reason) => { errors.push(reason); a.wake(); });
  other.onError((reason) => otherErrors.push(reason));
  const rejoins = [];
  ch.joinPush.receive("ok", (resp) => { rejoins.push({ref: ch.joinRef(), resp}); a.wake(); });
  const oldRef = ch.joinRef();
  const from = a.frames.length;

  ch.push("crash", {}, 2000);
  await a.until(() => errors.length >= 1, "channel onError after crash");

  const err = await a.frame((f) => f.topic === "room:crash" && f.event === "phx_error", "phx_error frame", {from});
  assert.equal(err.join_ref, oldRef);
  assert.equal(err.ref, oldRef, "phx_error must carry ref = join_ref");
  assert.equal(typeof err.payload, "object");

  const rejoined = await a.until(() => rejoins.find((r) => r.ref !== oldRef), "automatic rejoin with an ok reply");
  assert.deepEqual(rejoined.resp, {});
  assert.ok(ch.isJoined());
  assert.equal(errors.length, 1);
  assert.deepEqual(await request(ch, "ping", {after: "crash"}), {status: "ok", response: {after: "crash"}});

  // The rejoin pushes a fresh presence_state for the new join.
  await a.frame((f) => f.topic === "room:crash" && f.event === "presence_state" && f.join_ref === rejoined.ref,
    "presence_state after the rejoin", {from});

  assert.deepEqual(await request(other, "ping", {still: "alive"}), {status: "ok", response: {still: "alive"}});
  assert.deepEqual(otherErrors, []);
  assert.equal(a.closes.length, 0, "the socket closed");
});

test("stop: reply ok, then phx_close; onClose fires and phoenix.js does not rejoin", T, async (t) => {
  const a = await open(t, "alice");
  const {ch} = await enter(a, "room:stop");
  const closed = signal();
  const errors = [];
  ch.onClose((why) => closed.resolve(why ?? "closed"));
  ch.onError((why) => errors.push(why));
  const jr = ch.joinRef();
  const from = a.frames.length;

  const push = ch.push("stop", {});
  const res = await within(new Promise((resolve) => push.receive("ok", (r) => resolve({status: "ok", r}))
    .receive("error", (r) => resolve({status: "error", r}))), "stop reply");
  assert.equal(res.status, "ok");
  await within(closed.promise, "channel onClose");

  const close = await a.frame((f) => f.topic === "room:stop" && f.event === "phx_close", "phx_close frame", {from});
  assert.equal(close.join_ref, jr);
  assert.equal(close.ref, jr, "phx_close must carry ref = join_ref");
  assert.deepEqual(close.payload, {});
  const replyAt = a.frames.findIndex((f, i) => i >= from && f.event === "phx_reply" && f.ref === push.ref);
  assert.ok(replyAt >= 0 && replyAt < a.frames.indexOf(close), "the reply must come before phx_close");

  assert.ok(ch.isClosed());
  assert.ok(!a.socket.channels.includes(ch), "phoenix.js keeps the closed channel");
  assert.deepEqual(errors, []);
  // No phx_join for the topic was sent afterwards: the socket is still fine
  // and the next request goes through on another topic.
  const {ch: again} = await enter(a, "room:after-stop");
  assert.equal((await request(again, "ping", {})).status, "ok");
});

test("room:private-<u> admits only <u>", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const {ch} = await enter(a, "room:private-alice");
  assert.equal((await request(ch, "ping", {mine: true})).status, "ok");

  const refused = await refusedJoin(b.channel("room:private-alice"));
  assert.deepEqual(refused, {status: "error", response: {reason: "unauthorized"}});

  // bob's own private room works, and a room that merely starts like one is
  // just a room.
  await enter(b, "room:private-bob");
  await enter(b, "room:privateer");
});

test("notifications:<u>: only <u> may join; POST /api/broadcast reaches it", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const ch = a.channel("notifications:alice");
  assert.deepEqual(await join(ch), {status: "ok", response: {}});

  const refused = await refusedJoin(b.channel("notifications:alice"));
  assert.deepEqual(refused, {status: "error", response: {reason: "unauthorized"}});
  const own = b.channel("notifications:bob");
  assert.equal((await join(own)).status, "ok");
  const bobGot = collect(own, "notice");

  const payload = {text: "your build passed", n: 3};
  const got = next(ch, "notice");
  const res = await admin(server, "/api/broadcast", {topic: "notifications:alice", event: "notice", payload});
  assert.ok(res.status >= 200 && res.status < 300, `${res.status} ${res.text}`);
  assert.deepEqual((await got).payload, payload);

  // Bob's own notifications are separate.
  const bobNote = next(own, "notice");
  await admin(server, "/api/broadcast", {topic: "notifications:bob", event: "notice", payload: {to: "bob"}});
  assert.deepEqual((await bobNote).payload, {to: "bob"});
  assert.deepEqual(bobGot, [{to: "bob"}]);
});

test("POST /api/broadcast reaches a room's subscribers too", T, async (t) => {
  const a = await open(t, "alice");
  const {ch} = await enter(a, "room:announce");
  const got = next(ch, "announce");
  const res = await admin(server, "/api/broadcast", {topic: "room:announce", event: "announce", payload: {text: "maintenance"}});
  assert.ok(res.status >= 200 && res.status < 300, `${res.status} ${res.text}`);
  assert.deepEqual((await got).payload, {text: "maintenance"});
});

test("an unknown topic is refused with unmatched topic", T, async (t) => {
  const a = await open(t, "alice");
  for (const topic of ["lobby", "rooms:lobby", "notification:alice", "nope:1"]) {
    assert.deepEqual(await refusedJoin(a.channel(topic)), {status: "error", response: {reason: "unmatched topic"}}, topic);
  }
});

test("two tabs of one user: one presence key with two metas; leaving one removes only its meta", T, async (t) => {
  const b = await open(t, "bob");
  const {ch: chB, presence: pb} = await enter(b, "room:tabs");
  const a1 = await open(t, "alice");
  await enter(a1, "room:tabs");
  const one = await pb.until((s) => s.alice?.length === 1, "alice's first tab");
  const firstRef = one.alice[0].phx_ref;

  const a2 = await open(t, "alice");
  const {ch: tab2, presence: p2} = await enter(a2, "room:tabs");
  const two = await pb.until((s) => s.alice?.length === 2, "alice's two tabs in one key");
  assert.notEqual(two.alice[0].phx_ref, two.alice[1].phx_ref);
  two.alice.forEach(assertMeta);
  assert.deepEqual(Object.keys(two).sort(), ["alice", "bob"]);
  // The second tab's own presence_state already had both.
  const mine = await p2.until((s) => s.alice?.length === 2, "tab two sees both of alice's tabs");
  assert.equal(mine.bob.length, 1);

  const leaves = next(chB, "presence_diff", (d) => d.leaves?.alice);
  await within(new Promise((resolve) => tab2.leave().receive("ok", resolve)), "tab two's leave reply");
  const diff = (await leaves).payload;
  assert.equal(diff.leaves.alice.metas.length, 1);
  assert.notEqual(diff.leaves.alice.metas[0].phx_ref, firstRef, "the wrong tab's meta left");

  const left = await pb.until((s) => s.alice?.length === 1, "one tab of alice left");
  assert.equal(left.alice[0].phx_ref, firstRef);

  // Closing the last tab's socket removes the key.
  await a1.disconnect();
  const gone = await pb.until((s) => !s.alice, "alice gone once her last tab is closed");
  assert.deepEqual(Object.keys(gone), ["bob"]);
});
