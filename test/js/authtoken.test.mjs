// phoenix.js 1.8's authToken option, the way the Phoenix guides now
// authenticate a socket: `new Socket("/socket", {authToken})` keeps the
// token out of the URL, in the WebSocket subprotocols or, over long-poll,
// in the X-Phoenix-AuthToken header. Both examples accept it; a forged
// token is refused on both transports.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {LongPoll} from "phoenix";

import {Client, join, login, request, startServer} from "./helpers.mjs";

const T = {timeout: 30000};
let chat;
let donations;

before(async () => {
  [chat, donations] = await Promise.all([startServer(), startServer({command: "donations"})]);
});
after(async () => {
  await Promise.all([chat?.stop(), donations?.stop()]);
});

/** A phoenix.js socket with no params, the token in authToken only. */
async function openWithAuthToken(t, server, token, opts = {}) {
  const c = new Client(server, undefined, {authToken: token, ...opts});
  t.after(() => c.disconnect());
  await c.connect();
  return c;
}

/** Resolves once phoenix.js reports that the connection failed, and checks that it never opened. */
async function refused(t, server, token, opts = {}) {
  const c = new Client(server, undefined, {authToken: token, ...opts});
  t.after(() => c.disconnect());
  c.socket.connect();
  await c.until(() => c.closes.length >= 2, "two failed connection attempts");
  assert.equal(c.opens, 0, "the socket opened with a forged token");
}

function forge(token) {
  // Flip the first character of the MAC (all six of its bits are data).
  const cut = token.lastIndexOf(".") + 1;
  return token.slice(0, cut) + (token[cut] === "A" ? "B" : "A") + token.slice(cut + 1);
}

test("chat over WebSocket: the token travels in the subprotocols, and phoenix is answered", T, async (t) => {
  const token = await login(chat, "alice");
  const c = await openWithAuthToken(t, chat, token);
  assert.equal(c.socket.conn.protocol, "phoenix");
  assert.doesNotMatch(c.socket.endPointURL(), /token/, "the token is in the URL");
  const ch = c.channel("room:authtoken");
  assert.equal((await join(ch)).status, "ok");
  const reply = await request(ch, "new_msg", {body: "hello"});
  assert.equal(reply.status, "ok", JSON.stringify(reply));
});

test("chat over long-poll: the token travels in X-Phoenix-AuthToken", T, async (t) => {
  const token = await login(chat, "bob");
  const c = await openWithAuthToken(t, chat, token, {transport: LongPoll});
  assert.ok(c.socket.conn instanceof LongPoll);
  const ch = c.channel("room:authtoken");
  assert.equal((await join(ch)).status, "ok");
  assert.deepEqual(await request(ch, "ping", {n: 1}), {status: "ok", response: {n: 1}});
});

test("chat refuses a forged authToken over WebSocket and long-poll", T, async (t) => {
  const token = forge(await login(chat, "mallory"));
  await refused(t, chat, token);
  await refused(t, chat, token, {transport: LongPoll});
});

test("donations accept authToken and refuse a forged one", T, async (t) => {
  const token = await login(donations, "dora");
  const c = await openWithAuthToken(t, donations, token);
  assert.equal((await join(c.channel("campaign:clean-water"))).status, "ok");
  const lp = await openWithAuthToken(t, donations, token, {transport: LongPoll});
  assert.equal((await join(lp.channel("campaign:school-books"))).status, "ok");
  await refused(t, donations, forge(token));
  await refused(t, donations, forge(token), {transport: LongPoll});
});
