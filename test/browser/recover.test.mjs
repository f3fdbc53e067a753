// The chat page in headless Chromium loses its socket while messages are
// sent to its room: once it is back it shows each of them exactly once,
// in order, and no "could not be shown" notice.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {admin, startServer} from "../js/helpers.mjs";
import {launchChromium, WAIT} from "./browser.mjs";

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

test("the page shows what was said while its socket was down, once and in order", {timeout: 60000}, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  try {
    await page.goto(server.url + "/");
    await page.fill("#username", "dora");
    await page.click("#login-button");
    await page.fill("#room", "resume");
    await page.click("#join-button");
    await page.locator("#current-room[data-state=joined]", {hasText: "resume"}).waitFor();

    const post = (body, id) => admin(server, "/api/broadcast", {
      topic: "room:resume", event: "new_msg",
      payload: {id, body, user_id: "eve", inserted_at: new Date().toISOString()},
    });
    assert.equal((await post("before", 1)).status, 200);
    await page.locator("#messages li.message", {hasText: "before"}).waitFor();

    // The server drops the page's socket; messages keep coming meanwhile.
    await page.evaluate(() => {
      window.statuses = [];
      const el = document.getElementById("status");
      new MutationObserver(() => window.statuses.push(el.dataset.state)).observe(el, {attributes: true});
    });
    assert.equal((await admin(server, "/api/disconnect", {user: "dora"})).status, 200);
    const bodies = ["before"];
    for (let i = 1; i <= 30; i++) {
      bodies.push(`while away ${i}`);
      assert.equal((await post(`while away ${i}`, i + 1)).status, 200);
    }
    bodies.push("after");
    assert.equal((await post("after", 32)).status, 200);

    await page.locator("#messages li.message", {hasText: "after"}).waitFor();
    const shown = await page.locator("#messages li.message .body").allTextContents();
    assert.deepEqual(shown, bodies);
    assert.ok((await page.evaluate(() => window.statuses)).includes("reconnecting"), "the socket never dropped");
    assert.equal(await page.locator("#recovery-notice").isVisible(), false);
    assert.deepEqual(errors, []);
  } finally {
    await context.close().catch(() => {});
  }
});
