// V2 binary frames through the official phoenix.js client: an ArrayBuffer
// payload goes up as a binary push and comes back as a binary reply
// (ping) and as a binary broadcast (bench, shout), bytes intact.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {join, next, openClient, request, startServer} from "./helpers.mjs";

const T = {timeout: 20000};
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const open = (t, user) => openClient(t, server, user);

function bytes(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

function assertBytes(got, want, label) {
  assert.ok(got instanceof ArrayBuffer, `${label}: got ${Object.prototype.toString.call(got)}, want an ArrayBuffer`);
  assert.deepEqual(new Uint8Array(got), want, label);
}

test("a binary ping is answered with the same bytes in a binary reply", T, async (t) => {
  const c = await open(t, "alice");
  const ch = c.channel("room:bin1");
  assert.equal((await join(ch)).status, "ok");
  for (const n of [0, 1, 255, 4096, 70000]) {
    const payload = bytes(n, n);
    const res = await request(ch, "ping", payload.buffer);
    assert.equal(res.status, "ok", `ping of ${n} bytes`);
    assertBytes(res.response, payload, `reply to ${n} bytes`);
  }
});

test("binary broadcasts reach every subscriber as binary frames", T, async (t) => {
  const a = await open(t, "alice");
  const b = await open(t, "bob");
  const cha = a.channel("room:bin2");
  const chb = b.channel("room:bin2");
  assert.equal((await join(cha)).status, "ok");
  assert.equal((await join(chb)).status, "ok");

  const payload = bytes(1000, 7);
  const atA = next(cha, "bench");
  const atB = next(chb, "bench");
  cha.push("bench", payload.buffer);
  assertBytes((await atB).payload, payload, "bench at bob");
  assertBytes((await atA).payload, payload, "bench at alice");

  const shout = bytes(300, 9);
  const atB2 = next(chb, "shout");
  assert.equal((await request(cha, "shout", shout.buffer)).status, "ok");
  assertBytes((await atB2).payload, shout, "shout at bob");
  // The binary frame on the wire: kind 2 (broadcast), then topic and event.
  const raw = b.frames.find((f) => f.event === "shout");
  assert.equal(raw.topic, "room:bin2");
});
