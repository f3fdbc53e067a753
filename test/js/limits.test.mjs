// What a client meets at the limits of `pyre chat`: a frame over 1 MiB is
// refused with close code 1009, every time and whatever its size.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import WS from "ws";

import {login, startServer, within} from "./helpers.mjs";

let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Opens a raw V2 socket, sends one frame of about `size` bytes and resolves with the close code. */
async function closeCodeAfter(token, size) {
  const ws = new WS(`${server.wsURL}/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`);
  ws.on("error", () => {}); // a reset shows as close code 1006
  await within(new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
  }), "socket open");
  const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
  ws.send(JSON.stringify(["1", "1", "room:lobby", "phx_join", {pad: "x".repeat(size)}]));
  return within(closed, `close after a ${size}-byte frame`, 10000);
}

test("a frame over 1 MiB closes the socket with 1009: 50 tries from 1 to 8 MiB", {timeout: 120000}, async () => {
  const token = await login(server, "alice");
  const tries = 50;
  const codes = [];
  for (let i = 0; i < tries; i++) {
    const size = (1 << 20) + 1 + Math.floor((i * (7 << 20)) / (tries - 1));
    codes.push([size, await closeCodeAfter(token, size)]);
  }
  const wrong = codes.filter(([, code]) => code !== 1009);
  assert.deepEqual(wrong, [], `${wrong.length} of ${tries} closes were not 1009 ([bytes, code])`);
});
