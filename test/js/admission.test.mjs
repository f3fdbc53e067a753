// Admission control through the official phoenix.js client: a socket that
// `pyre chat -admit-rate` refuses with 503 counts the refusal as a failed
// attempt, retries after its backoff and ends up connected, over WebSocket
// and long-poll alike.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {LongPoll} from "phoenix";

import {Client, enter, login, next, request, startServer} from "./helpers.mjs";

const T = {timeout: 60000};
let server;

// One connection every five seconds, one at a time: the second of two
// clients that connect together is refused at first.
before(async () => { server = await startServer({extraArgs: ["-admit-rate", "0.2", "-admit-burst", "1"]}); });
after(async () => { await server?.stop(); });

/** The README's reconnectAfterMs: phoenix.js's steps, each spread over ±50%. */
const withJitter = (tries) => ([10, 50, 100, 150, 200, 250, 500, 1000, 2000][tries - 1] ?? 5000) * (0.5 + Math.random());

/** Opens user's socket with the given options and waits until it is open, counting its failed attempts. */
async function connectRefusedFirst(t, user, opts) {
  const token = await login(server, user);
  const c = new Client(server, token, {reconnectAfterMs: withJitter, ...opts});
  t.after(() => c.disconnect());
  const errors = [];
  c.socket.onError((err) => errors.push(err));
  c.socket.connect();
  await c.until(() => c.opens > 0, "socket open", 20000); // a refill and a backoff step or two
  return {c, errors};
}

for (const [name, opts] of [["WebSocket", {}], ["long-poll", {transport: LongPoll}]]) {
  test(`a ${name} socket refused with 503 retries after its backoff and gets in`, T, async (t) => {
    // The first client takes the one token the bucket holds.
    const first = await connectRefusedFirst(t, `first-${name}`, opts);
    const {ch: chFirst} = await enter(first.c, `room:admit-${name}`);

    // The second, right behind it, is refused, retries and connects
    // once the bucket has refilled (in five seconds).
    const started = Date.now();
    const second = await connectRefusedFirst(t, `second-${name}`, opts);
    const waited = Date.now() - started;
    assert.ok(second.errors.length >= 1, `the second socket opened with no failed attempt (${waited} ms)`);
    assert.equal(second.c.opens, 1, "opened once");
    assert.ok(waited >= 300, `the second socket got in after ${waited} ms: the refusal did not hold it back`);
    if (name === "WebSocket") {
      assert.ok(second.c.closes.length >= 1, "each refused attempt closes the socket");
    }

    // Connected for real: it joins, pushes and gets the first one's broadcast.
    const {ch} = await enter(second.c, `room:admit-${name}`);
    assert.deepEqual(await request(ch, "ping", {n: 1}), {status: "ok", response: {n: 1}});
    const got = next(ch, "new_msg");
    assert.equal((await request(chFirst, "new_msg", {body: "hello"})).status, "ok");
    assert.equal((await got).payload.body, "hello");
  });
}
