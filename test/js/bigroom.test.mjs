// Hundreds of phoenix.js clients in one room: everyone joins at once, every
// client's Presence ends with the same list as the server's, and those who
// leave are gone for everyone. The room coalesces its presence in windows,
// so most joiners get a shared presence_state that does not hold them yet,
// and learn of themselves from the window's diff.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {Client, enter, startServer, within} from "./helpers.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

const N = 300;
const LEAVING = 50;

/** Runs fn over items, at most `width` at a time. */
async function inBatches(items, width, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += width) {
    out.push(...await Promise.all(items.slice(i, i + width).map(fn)));
  }
  return out;
}

test(`${N} clients join one room at once and all see the same ${N}; ${LEAVING} leave and all see them go`, {timeout: 120000}, async (t) => {
  const users = Array.from({length: N}, (_, i) => `crowd${String(i).padStart(3, "0")}`);
  const clients = await inBatches(users, 50, (u) => Client.open(server, u));
  t.after(() => { for (const c of clients) c.disconnect(); });

  // Everyone joins at once.
  const rooms = await Promise.all(clients.map((c) => enter(c, "room:crowd")));
  const everyone = (s) => Object.keys(s).length === N && users.every((u) => s[u]?.length === 1);
  await within(Promise.all(rooms.map(({presence}, i) => presence.until(everyone, `${users[i]} to see all ${N}`, 30000))),
    `every client to see all ${N}`, 60000);

  // The same ref for each user in every view.
  const refs = rooms[0].presence.state();
  for (const {presence} of rooms) {
    const s = presence.state();
    for (const u of users) assert.equal(s[u][0].phx_ref, refs[u][0].phx_ref, `${u}'s ref differs between views`);
  }

  // Some leave at once; the others see exactly who stayed.
  const stay = users.slice(LEAVING);
  await Promise.all(rooms.slice(0, LEAVING).map(({ch}) => new Promise((resolve) => ch.leave().receive("ok", resolve))));
  const stayers = (s) => Object.keys(s).length === stay.length && stay.every((u) => s[u]?.length === 1);
  await within(Promise.all(rooms.slice(LEAVING).map(({presence}, i) => presence.until(stayers, `${stay[i]} to see ${stay.length}`, 30000))),
    `every client to see the ${stay.length} who stayed`, 60000);
});
