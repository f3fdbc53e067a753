// The admin page in headless Chromium against the real `pyre chat`: people
// join rooms, one room's channel crashes, and the page shows it all, narrows
// its table to a filter, and shows a newcomer without being reloaded.
import assert from "node:assert/strict";
import {mkdirSync} from "node:fs";
import path from "node:path";
import {after, before, test} from "node:test";

import {enter, openClient, ROOT, startServer} from "../js/helpers.mjs";
import {launchChromium, WAIT} from "./browser.mjs";

const SCREENSHOT = path.join(ROOT, "test-results", "admin.png");

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const rows = (page, socket) => page.locator(`#sockets tbody tr[data-socket="users_socket:${socket}"]`);
const topicsOf = (page, socket) => rows(page, socket).evaluateAll((els) => els.map((e) => e.dataset.topic).sort());

test("the admin page asks for the key", async () => {
  for (const auth of [undefined, "Bearer wrong", `Basic ${Buffer.from("admin:wrong").toString("base64")}`]) {
    for (const p of ["/admin", "/admin/static/admin.js", "/admin/api/sockets"]) {
      const res = await fetch(server.url + p, {headers: auth ? {authorization: auth} : {}});
      await res.arrayBuffer();
      assert.equal(res.status, 401, `${p} with ${auth}`);
    }
  }
});

test("the admin page shows sockets, channels, topics, presence and a crash, live", {timeout: 90000}, async (t) => {
  const alice = await openClient(t, server, "alice");
  const aliceGarden = await enter(alice, "room:garden");
  await enter(alice, "room:kitchen");
  const bob = await openClient(t, server, "bob");
  await enter(bob, "room:garden");
  const cellar = await enter(bob, "room:cellar");
  const errored = bob.frame((m) => m.event === "phx_error" && m.topic === "room:cellar", "phx_error on room:cellar");
  cellar.ch.push("crash", {});
  await errored;

  const context = await browser.newContext({
    viewport: {width: 1280, height: 1100},
    httpCredentials: {username: "admin", password: server.adminKey},
  });
  t.after(() => context.close());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  await page.goto(server.url + "/admin");
  await page.locator("#status[data-state=ok]").waitFor();

  // Both people, each channel a row (bob's cellar is back: phoenix.js rejoined it).
  await page.waitForFunction(() => document.querySelectorAll("#sockets tbody tr").length === 4);
  assert.deepEqual(await topicsOf(page, "alice"), ["room:garden", "room:kitchen"]);
  assert.deepEqual(await topicsOf(page, "bob"), ["room:cellar", "room:garden"]);
  // The counters come from another request of the same refresh: wait for them.
  await page.waitForFunction(() => document.querySelector("#stat-sockets .value").textContent === "2" &&
    document.querySelector("#stat-channels .value").textContent === "4");
  assert.match(await rows(page, "alice").first().innerText(), /websocket 2\.0\.0/);
  assert.match(await rows(page, "alice").first().innerText(), /user=alice/);
  assert.equal(await page.locator('#topics tr[data-topic="room:garden"] .count').innerText(), "2");
  assert.equal(await page.locator('#topics tr[data-topic="room:kitchen"] .count').innerText(), "1");
  const garden = page.locator('#presence .presence-topic[data-topic="room:garden"] li.presence-key');
  await page.waitForFunction(() => document.querySelectorAll('#presence [data-topic="room:garden"] li').length === 2);
  assert.deepEqual(await garden.evaluateAll((els) => els.map((e) => e.dataset.key)), ["alice", "bob"]);
  await page.locator('#nodes li.self').waitFor();

  // The crash, its stack behind a click.
  const crash = page.locator('#crashes details.crash[data-topic="room:cellar"]');
  assert.equal(await crash.count(), 1);
  assert.match(await crash.locator("summary").innerText(), /handle_in \(crash\): crash requested by bob/);
  assert.equal(await crash.locator("pre.stack").isVisible(), false);
  await crash.locator("summary").click();
  await crash.locator("pre.stack").waitFor({state: "visible"});
  assert.match(await crash.locator("pre.stack").innerText(), /Room\)\.HandleIn/);
  assert.match(await page.locator("#crashes-summary").innerText(), /^1 since start/);

  // The filter narrows the table to the sockets it matches.
  await page.fill("#socket-filter", "kitchen");
  await page.waitForFunction(() => !document.querySelector('#sockets tr[data-socket="users_socket:bob"]'));
  assert.deepEqual(await topicsOf(page, "alice"), ["room:garden", "room:kitchen"]);
  await page.locator("#sockets-summary", {hasText: "1 of 2 sockets matching “kitchen”"}).waitFor();
  await page.fill("#socket-filter", "");
  await rows(page, "bob").first().waitFor();

  // A newcomer appears on its own: no reload. The crash stays open.
  const refreshes = Number(await page.locator("#updated").getAttribute("data-count"));
  const carol = await openClient(t, server, "carol");
  await enter(carol, "room:attic");
  await rows(page, "carol").first().waitFor();
  assert.deepEqual(await topicsOf(page, "carol"), ["room:attic"]);
  await page.locator("#stat-sockets .value", {hasText: "3"}).waitFor();
  assert.ok(Number(await page.locator("#updated").getAttribute("data-count")) > refreshes, "the page did not refresh");
  assert.equal(await crash.locator("pre.stack").isVisible(), true, "the open crash closed on a refresh");
  // Broadcasts: five messages to the garden's two people are counted, and
  // the deliveries card shows their rate.
  const broadcasts = async () =>
    Number((await page.locator("#stat-deliveries .label small").textContent()).match(/(\d+) broadcasts/)[1]);
  const before = await broadcasts();
  for (let i = 0; i < 5; i++) aliceGarden.ch.push("new_msg", {body: `hello ${i}`});
  await page.waitForFunction(() => document.querySelector("#stat-deliveries .value").textContent !== "0");
  await page.waitForFunction((n) =>
    Number(document.querySelector("#stat-deliveries .label small").textContent.match(/(\d+) broadcasts/)[1]) >= n, before + 5);
  // The sparkline has drawn some history.
  await page.waitForFunction(() =>
    document.querySelector("#stat-sockets polyline").getAttribute("points").split(" ").length >= 3);

  mkdirSync(path.dirname(SCREENSHOT), {recursive: true});
  await page.screenshot({path: SCREENSHOT, fullPage: true});
  assert.deepEqual(errors, []);
});
