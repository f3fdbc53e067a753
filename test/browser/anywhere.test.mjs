// The built binary needs nothing from the directory it runs in: started
// from an empty temporary directory, it serves the chat page with its
// phoenix.js client, and the URL it prints is the one to open.
import assert from "node:assert/strict";
import {mkdtemp, readdir, rm} from "node:fs/promises";
import {tmpdir} from "node:os";
import path from "node:path";
import {after, before, test} from "node:test";

import {startServer} from "../js/helpers.mjs";
import {launchChromium, WAIT} from "./browser.mjs";

let dir;
let server;
let browser;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "pyre-anywhere-"));
  server = await startServer({cwd: dir});
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) await rm(dir, {recursive: true, force: true});
});

test("from an empty directory, the printed URL opens a chat that works", {timeout: 60000}, async () => {
  const line = await server.awaitLog((e) => e.message === "pyre listening", "the listening line");
  assert.equal(line.url, `${server.url}/`);
  assert.ok(!server.logs.some((l) => /phoenix\.mjs/.test(l)), `the server complained about its client:\n${server.logs.join("\n")}`);

  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(msg.text()); });
  try {
    await page.goto(line.url);
    await page.fill("#username", "wanderer");
    await page.click("#login-button");
    await page.locator("#status[data-state=online]").waitFor();
    await page.locator("#current-room[data-state=joined]", {hasText: "lobby"}).waitFor();
    await page.fill("#message-input", "hello from nowhere");
    await page.press("#message-input", "Enter");
    await page.locator('#messages li.message[data-user="wanderer"]', {hasText: "hello from nowhere"}).waitFor();
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
  assert.deepEqual(await readdir(dir), [], "the server wrote into its working directory");
});
