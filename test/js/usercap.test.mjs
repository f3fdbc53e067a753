// The cap on one user's sockets through the official phoenix.js client:
// `pyre chat -max-sockets-per-user 1` answers a user's second socket 429,
// which phoenix.js takes for a failed attempt. It keeps trying after its
// backoff, never gives up, and gets in on its own once the user's first
// socket has closed, over WebSocket and long-poll alike.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {LongPoll} from "phoenix";

import {Client, admin, enter, login, request, startServer} from "./helpers.mjs";

const T = {timeout: 60000};
let server;

before(async () => { server = await startServer({extraArgs: ["-max-sockets-per-user", "1"]}); });
after(async () => { await server?.stop(); });

for (const [name, opts] of [["WebSocket", {}], ["long-poll", {transport: LongPoll}]]) {
  test(`a ${name} socket over the per-user cap retries until a place frees`, T, async (t) => {
    const user = `capped-${name === "WebSocket" ? "ws" : "lp"}`;
    const first = await Client.open(server, user, opts);
    t.after(() => first.disconnect());
    const {ch: firstCh} = await enter(first, `room:cap-${user}`);

    const second = new Client(server, await login(server, user), opts);
    t.after(() => second.disconnect());
    const errors = [];
    second.socket.onError((err) => { errors.push(err); second.wake(); });
    second.socket.connect();
    // Refused again and again (the Client retries every 50 ms), never open.
    await second.until(() => errors.length >= 3, "three refused attempts");
    assert.equal(second.opens, 0, "the second socket opened while the first held the user's one place");
    await server.awaitLog((l) => l.cap === "max_sockets_per_id" && l.socket_id === `users_socket:${user}` && l.limit === 1);
    // The first socket still works.
    assert.deepEqual(await request(firstCh, "ping", {n: 1}), {status: "ok", response: {n: 1}});

    // The first tab closes: the second gets in with no help. A long-poll
    // client cannot tell the server it left, so its session would hold the
    // place until its timeout (20 s); the app's disconnect ends it now.
    await first.disconnect();
    if (opts.transport === LongPoll) {
      const res = await admin(server, "/api/disconnect", {user});
      assert.equal(res.status, 200, `disconnect: ${JSON.stringify(res)}`);
    }
    await second.until(() => second.opens > 0, "the second socket open", 20000);
    const {ch} = await enter(second, `room:cap-${user}`);
    assert.deepEqual(await request(ch, "ping", {n: 2}), {status: "ok", response: {n: 2}});
  });
}
