// The donations page in headless Chromium, used as donors would: two people
// log in, see each other online, give from the page and watch every total
// move in both windows, also when a donation comes from another client;
// the announcer is crashed through the admin API and the page shows the
// supervisor's restart, and keeps working after it. The binary serves it
// from an empty working directory.
import assert from "node:assert/strict";
import {mkdir, mkdtemp, readdir, rm} from "node:fs/promises";
import {tmpdir} from "node:os";
import path from "node:path";
import {after, before, test} from "node:test";

import {admin, Client, join, request, ROOT, startServer} from "../js/helpers.mjs";
import {launchChromium, WAIT} from "./browser.mjs";

const SCREENSHOT = process.env.PYRE_SCREENSHOT || path.join(ROOT, "test-results", "donations.png");

let dir;
let server;
let browser;

before(async () => {
  // The binary runs from an empty directory: the page and its client are
  // built in. A refresh period far beyond the test: whatever the page
  // shows comes from the donation broadcasts and the join pushes, not
  // from a tick.
  dir = await mkdtemp(path.join(tmpdir(), "pyre-donations-"));
  server = await startServer({command: "donations", extraArgs: ["-refresh", "1h"], cwd: dir});
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  if (dir) {
    assert.deepEqual(await readdir(dir), [], "the server wrote into its working directory");
    await rm(dir, {recursive: true, force: true});
  }
});

/** A fresh browser profile on the donations page, with its script errors collected. */
async function person(name) {
  const context = await browser.newContext({viewport: {width: 1200, height: 860}});
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(`${name}: ${err.message}`));
  page.on("console", (msg) => { if (msg.type() === "error") errors.push(`${name} console: ${msg.text()}`); });
  await page.goto(server.url + "/");
  return {name, page, context, errors};
}

async function logIn({page, name}) {
  await page.fill("#username", name);
  await page.click("#login-button");
  await page.locator("#status[data-state=online]").waitFor();
  await page.locator("#me", {hasText: name}).waitFor();
  // Every campaign card has joined its channel.
  await page.waitForFunction(() => {
    const cards = [...document.querySelectorAll("#campaigns article.campaign")];
    return cards.length > 0 && cards.every((c) => c.dataset.state === "joined");
  });
}

const card = (page, id) => page.locator(`#campaigns article.campaign[data-id="${id}"]`);
const totalOf = async (page, id) => Number(await card(page, id).getAttribute("data-total"));
const online = (page) => page.locator("#donors li.donor").evaluateAll((els) => els.map((e) => e.dataset.user));
const restartsOn = async (page) => Number(await page.locator("#restarts").getAttribute("data-restarts"));

/** Waits until campaign id shows total on page, in the card and in its text. */
async function awaitTotal(page, id, total) {
  await page.locator(`#campaigns article.campaign[data-id="${id}"][data-total="${total}"]`).waitFor();
  const text = await card(page, id).locator(".total").innerText();
  assert.equal(text.replace(/[^0-9]/g, ""), String(total), `the card of ${id} reads ${text}`);
}

async function api(pathname) {
  const res = await fetch(server.url + pathname, {signal: AbortSignal.timeout(WAIT)});
  assert.equal(res.status, 200, `GET ${pathname}`);
  return res.json();
}

test("two donors see totals, each other, a donation from elsewhere and a worker restart live", {timeout: 90000}, async (t) => {
  const alice = await person("alice");
  const bob = await person("bob");
  try {
    // Before logging in the page already shows the catalogue, read-only.
    const snap = await api("/api/campaigns");
    const ids = snap.campaigns.map((c) => c.id);
    assert.ok(ids.length >= 2, `catalogue ${ids}`);
    assert.deepEqual(await alice.page.locator("#campaigns article.campaign").evaluateAll((els) => els.map((e) => e.dataset.id)), ids);
    assert.equal(await card(alice.page, ids[0]).locator(".give-form").isVisible(), false);
    assert.equal(await alice.page.locator("#feed li").count(), 0, "a fresh server has given nothing");
    assert.equal(await alice.page.locator("#feed-empty").isVisible(), true);

    await logIn(alice);
    await logIn(bob);

    // Presence on donors:live: both pages list both names.
    for (const p of [alice, bob]) {
      await p.page.locator('#donors li[data-user="alice"]').waitFor();
      await p.page.locator('#donors li[data-user="bob"]').waitFor();
      assert.deepEqual(await online(p.page), ["alice", "bob"]);
      assert.equal(await p.page.locator("#donors-count").innerText(), "2");
    }
    assert.equal(await alice.page.locator('#donors li[data-me="true"]').getAttribute("data-user"), "alice");

    // alice gives 25 to the first campaign with the amount field; both
    // pages move, and both feeds show it.
    const [first, second] = ids;
    const start = await totalOf(alice.page, first);
    await card(alice.page, first).locator(".amount").fill("25");
    await card(alice.page, first).locator("button.give").click();
    for (const p of [alice, bob]) {
      await awaitTotal(p.page, first, start + 25);
      await p.page.locator(`#feed li.donation[data-donor="alice"][data-campaign="${first}"][data-amount="25"]`).waitFor();
    }
    assert.equal(await card(alice.page, first).locator(".amount").inputValue(), "", "the amount was not cleared");
    assert.equal(await alice.page.locator('#feed li.donation[data-donor="alice"]').getAttribute("data-mine"), "true");
    assert.equal(await bob.page.locator('#feed li.donation[data-donor="alice"]').getAttribute("data-mine"), null);

    // bob gives 100 to the second with a quick button.
    const start2 = await totalOf(bob.page, second);
    await card(bob.page, second).locator('button.quick-amount[data-amount="100"]').click();
    for (const p of [alice, bob]) await awaitTotal(p.page, second, start2 + 100);
    const grand = Number(await alice.page.locator("#grand-total").getAttribute("data-total"));
    const sum = (await api("/api/campaigns")).campaigns.reduce((s, c) => s + c.total, 0);
    assert.equal(grand, sum, "the grand total is not the sum of the campaigns");

    // A refused donation shows the server's error on the card, and changes nothing.
    await card(bob.page, second).locator(".amount").fill("20000");
    await card(bob.page, second).locator("button.give").click();
    await card(bob.page, second).locator(".error", {hasText: "at most 10000"}).waitFor();
    assert.equal(await totalOf(bob.page, second), start2 + 100);

    // A donation from another client (phoenix.js in Node, not a page).
    const carol = await Client.open(server, "carol");
    t.after(() => carol.disconnect());
    const ch = carol.channel(`campaign:${first}`);
    assert.equal((await join(ch)).status, "ok");
    const res = await request(ch, "new_donation", {amount: 40, donor: "carol"});
    assert.equal(res.status, "ok", JSON.stringify(res));
    for (const p of [alice, bob]) {
      await awaitTotal(p.page, first, start + 65);
      await p.page.locator(`#feed li.donation[data-donor="carol"][data-amount="40"]`).waitFor();
    }

    // The announcer is crashed through the admin API: the supervisor
    // restarts it, and both pages show one more restart.
    const restarts = await restartsOn(alice.page);
    assert.equal(restarts, snap.worker_restarts);
    const crash = await admin(server, "/api/crash-worker", {});
    assert.equal(crash.status, 202, crash.text);
    for (const p of [alice, bob]) {
      await p.page.locator(`#restarts[data-restarts="${restarts + 1}"]`).waitFor();
      assert.match(await p.page.locator("#restarts").innerText(), new RegExp(`${restarts + 1} restarts?`));
    }
    assert.equal((await api("/api/campaigns")).worker_restarts, restarts + 1);

    // The page still works after the crash: a donation goes through and
    // reaches both.
    await card(bob.page, first).locator('button.quick-amount[data-amount="10"]').click();
    for (const p of [alice, bob]) await awaitTotal(p.page, first, start + 75);

    // Someone who arrives now, not logged in, sees the totals and the
    // latest donations, newest first, and no way to give yet.
    const dave = await person("dave");
    try {
      await awaitTotal(dave.page, first, start + 75);
      const feed = await dave.page.locator("#feed li.donation").evaluateAll((els) =>
        els.map((e) => `${e.dataset.donor} ${e.dataset.amount} ${e.dataset.campaign}`));
      assert.deepEqual(feed, [`bob 10 ${first}`, `carol 40 ${first}`, `bob 100 ${second}`, `alice 25 ${first}`]);
      assert.equal(await card(dave.page, first).locator(".give-form").isVisible(), false);
      assert.equal(await dave.page.locator("#restarts").getAttribute("data-restarts"), String(restarts + 1));
      assert.deepEqual(dave.errors, []);
    } finally {
      await dave.context.close();
    }

    await mkdir(path.dirname(SCREENSHOT), {recursive: true});
    await alice.page.screenshot({path: SCREENSHOT, fullPage: true, animations: "disabled"});

    // bob closes his page: alice's list drops him.
    await bob.context.close();
    await alice.page.locator('#donors li[data-user="bob"]').waitFor({state: "detached"});
    assert.deepEqual(await online(alice.page), ["alice"]);
    assert.equal(await alice.page.locator("#donors-count").innerText(), "1");

    assert.deepEqual([...alice.errors, ...bob.errors], []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});

test("the page, its script and the phoenix client are served from the binary; other paths are 404", async () => {
  for (const [p, type] of [["/", /^text\/html/], ["/static/app.js", /javascript/], ["/static/style.css", /^text\/css/], ["/assets/phoenix.mjs", /javascript/]]) {
    const res = await fetch(server.url + p, {signal: AbortSignal.timeout(WAIT)});
    await res.arrayBuffer();
    assert.equal(res.status, 200, `GET ${p}`);
    assert.match(res.headers.get("content-type"), type, `GET ${p}`);
  }
  const res = await fetch(server.url + "/no-such-page", {signal: AbortSignal.timeout(WAIT)});
  await res.arrayBuffer();
  assert.equal(res.status, 404);
});
