// The chat page in headless Chromium, used as a person would: two people log
// in, meet in a room, see each other online and typing, and chat.
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {Client, enter, startServer} from "../js/helpers.mjs";
import {launchChromium, WAIT} from "./browser.mjs";

const SCREENSHOT = process.env.PYRE_SCREENSHOT || "/tmp/pyre-chat.png";

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

/** A fresh browser profile on the chat page, with its script errors collected. */
async function person(name) {
  const context = await browser.newContext({viewport: {width: 1100, height: 760}});
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  const sockets = []; // the URLs of the WebSockets the page opened
  page.on("websocket", (ws) => sockets.push(ws.url()));
  page.on("pageerror", (err) => errors.push(`${name}: ${err.message}`));
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(`${name} console: ${msg.text()}`); });
  await page.goto(server.url + "/");
  return {name, page, context, errors, sockets};
}

async function logIn({page, name}) {
  await page.fill("#username", name);
  await page.click("#login-button");
  await page.locator("#chat").waitFor({state: "visible"});
  await page.locator("#status[data-state=online]").waitFor();
  await page.locator("#me", {hasText: name}).waitFor();
}

async function joinRoom({page}, room) {
  await page.fill("#room", room);
  await page.click("#join-button");
  await page.locator(`#current-room[data-state=joined]`, {hasText: room}).waitFor();
}

async function say({page}, text) {
  await page.fill("#message-input", text);
  await page.press("#message-input", "Enter");
}

const message = (page, user, text) => page.locator(`#messages li.message[data-user="${user}"]`, {hasText: text});
const online = (page) => page.locator("#presence-list li.person").evaluateAll((els) => els.map((e) => e.dataset.user));

test("two people chat in a room, see who is online and who is typing", {timeout: 90000}, async () => {
  const alice = await person("alice");
  const bob = await person("bob");
  try {
    // alice logs in; the page puts her in the lobby.
    await logIn(alice);
    await alice.page.locator("#current-room[data-state=joined]", {hasText: "lobby"}).waitFor();
    await alice.page.locator('#presence-list li[data-user="alice"]').waitFor();

    // She moves to the garden, which leaves the lobby, and says hello.
    await joinRoom(alice, "garden");
    await say(alice, "Hello, garden!");
    const first = message(alice.page, "alice", "Hello, garden!");
    await first.waitFor();
    assert.equal(await first.getAttribute("data-mine"), "true");
    assert.match(await first.locator(".user").innerText(), /alice/);
    assert.equal(await alice.page.inputValue("#message-input"), "", "the input was not cleared");
    await alice.page.locator('#presence-list li[data-user="alice"]').waitFor();
    assert.deepEqual(await online(alice.page), ["alice"]);

    // bob logs in: in the lobby he is alone, since alice left it.
    await logIn(bob);
    await bob.page.locator("#current-room[data-state=joined]", {hasText: "lobby"}).waitFor();
    await bob.page.locator('#presence-list li[data-user="bob"]').waitFor();
    assert.deepEqual(await online(bob.page), ["bob"]);

    // bob cannot enter alice's private room.
    await bob.page.fill("#room", "private-alice");
    await bob.page.click("#join-button");
    await bob.page.locator("#room-error", {hasText: "unauthorized"}).waitFor();

    // He joins the garden; both see both online.
    await joinRoom(bob, "garden");
    await bob.page.waitForFunction(() => document.querySelectorAll("#presence-list li.person").length === 2);
    await alice.page.locator('#presence-list li[data-user="bob"]').waitFor();
    assert.deepEqual(await online(alice.page), ["alice", "bob"]);
    assert.deepEqual(await online(bob.page), ["alice", "bob"]);

    // alice writes; bob's page shows who is typing, then the message.
    await alice.page.fill("#message-input", "How are");
    await alice.page.type("#message-input", " you?");
    await bob.page.locator('#presence-list li[data-user="alice"][data-typing="true"] .typing').waitFor();
    await alice.page.press("#message-input", "Enter");
    const seen = message(bob.page, "alice", "How are you?");
    await seen.waitFor();
    assert.equal(await seen.getAttribute("data-mine"), "false");
    await bob.page.locator('#presence-list li[data-user="alice"][data-typing="false"]').waitFor();

    // bob answers; alice sees it as someone else's message.
    await say(bob, "Very well, thanks.");
    await message(bob.page, "bob", "Very well, thanks.").waitFor();
    const answer = message(alice.page, "bob", "Very well, thanks.");
    await answer.waitFor();
    assert.equal(await answer.getAttribute("data-mine"), "false");
    assert.equal(await message(bob.page, "bob", "Very well, thanks.").getAttribute("data-mine"), "true");

    // A blank message is refused with the server's reason.
    await bob.page.fill("#message-input", "   ");
    await bob.page.click("#send-button");
    await bob.page.locator("#message-error", {hasText: "can't be blank"}).waitFor();

    await alice.page.screenshot({path: SCREENSHOT, fullPage: true});

    // bob leaves the page; alice sees him go.
    await bob.context.close();
    await alice.page.waitForFunction(() => !document.querySelector('#presence-list li[data-user="bob"]'));
    assert.deepEqual(await online(alice.page), ["alice"]);

    assert.deepEqual([...alice.errors, ...bob.errors], []);
    // The page authenticates with phoenix.js's authToken: the token is
    // never in a URL.
    const urls = [...alice.sockets, ...bob.sockets];
    assert.ok(urls.length >= 2, `the page opened ${urls.length} WebSockets`);
    assert.deepEqual(urls.filter((u) => /[?&]token=/.test(u)), [], "a WebSocket URL carries the token");
  } finally {
    await alice.context.close().catch(() => {});
    await bob.context.close().catch(() => {});
  }
});

test("a stale session (token refused by the socket) sends the person back to the login form", {timeout: 60000}, async () => {
  const carol = await person("carol");
  try {
    await carol.page.evaluate(() => {
      sessionStorage.setItem("pyre-chat:session", JSON.stringify({user: "carol", token: "not-a-valid-token"}));
    });
    await carol.page.reload();
    await carol.page.locator("#login-error", {hasText: "log in again"}).waitFor();
    await carol.page.locator("#login").waitFor({state: "visible"});
    assert.equal(await carol.page.locator("#chat").isVisible(), false);

    // Logging in afresh works.
    await logIn(carol);
    await carol.page.locator('#presence-list li[data-user="carol"]').waitFor();
    // The refused WebSocket upgrades are logged by Chromium itself; only
    // script errors count here.
    assert.deepEqual(carol.errors.filter((e) => !e.includes("WebSocket")), []);
  } finally {
    await carol.context.close().catch(() => {});
  }
});

test("a crowded room: the heading counts everyone, the list shows the first 100 and how many more", {timeout: 90000}, async () => {
  // 120 phoenix.js clients are in room:crowd before dora arrives.
  const crowd = [];
  for (let i = 0; i < 120; i += 40) {
    crowd.push(...await Promise.all(Array.from({length: 40}, (_, j) => Client.open(server, `crowd${String(i + j).padStart(3, "0")}`))));
  }
  const dora = await person("dora");
  try {
    await Promise.all(crowd.map((c) => enter(c, "room:crowd")));
    await logIn(dora);
    await joinRoom(dora, "crowd");
    await dora.page.locator("#online-count", {hasText: /^121$/}).waitFor();
    await dora.page.locator("#presence-list li.more", {hasText: "and 21 more"}).waitFor();
    assert.equal(await dora.page.locator("#presence-list li.person").count(), 100);

    // Twenty leave: the count follows, and the list holds everyone but one.
    await Promise.all(crowd.slice(0, 20).map((c) => c.disconnect()));
    await dora.page.locator("#online-count", {hasText: /^101$/}).waitFor();
    await dora.page.locator("#presence-list li.more", {hasText: "and 1 more"}).waitFor();
    assert.deepEqual(dora.errors, []);
  } finally {
    for (const c of crowd) c.disconnect();
    await dora.context.close().catch(() => {});
  }
});
