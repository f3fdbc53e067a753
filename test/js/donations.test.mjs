// `pyre donations` through the official phoenix.js client: campaign state and
// donations, the restart-policy contract of a Permanent route over a real
// WebSocket, the admin-only dashboard with presence, and the supervision
// tree's ticker and crashing worker.
//
// The Temporary half of the restart-policy contract (crash -> phx_error ->
// onError -> phoenix.js rejoins by itself) is covered on the chat's room:*
// route in room.test.mjs ("crash: phx_error, onError fires, ...").
import assert from "node:assert/strict";
import {after, before, test} from "node:test";

import {
  admin, Client, join, next, openClient, PresenceWatch, refusedJoin, request, startServer, WAIT_MS, within,
} from "./helpers.mjs";

const T = {timeout: 20000};
// The campaign route's policy in examples/donations/campaign.go.
const INTENSITY = 3;
let server;

before(async () => {
  server = await startServer({command: "donations", extraArgs: ["-refresh", "100ms"]});
});
after(async () => { await server?.stop(); });

const open = (t, user, opts) => openClient(t, server, user, opts);

/** Logs in as an admin through POST /api/admin-login and opens a socket. */
async function openAdmin(t, user) {
  const res = await admin(server, "/api/admin-login", {user});
  assert.equal(res.status, 200, res.text);
  const c = new Client(server, res.body.token);
  c.user = user;
  t.after(() => c.disconnect());
  await c.connect();
  return c;
}

/**
 * Joins a campaign on client c and resolves with the channel and the first
 * campaign_state of this join.
 */
async function enterCampaign(c, id) {
  const topic = `campaign:${id}`;
  const from = c.frames.length;
  const ch = c.channel(topic);
  const res = await join(ch);
  assert.equal(res.status, "ok", `${c.user} joining ${topic}: ${JSON.stringify(res)}`);
  const state = await c.frame((f) => f.topic === topic && f.event === "campaign_state" && f.join_ref === ch.joinRef(),
    `campaign_state on ${topic}`, {from});
  return {ch, topic, state: state.payload};
}

/** Resolves with the parsed server log line that satisfies pred, waking on every chunk of stderr. */
function logLine(pred, label, ms = WAIT_MS) {
  const find = () => {
    for (const line of server.logs) {
      try {
        const ev = JSON.parse(line);
        if (pred(ev)) return ev;
      } catch { /* not JSON */ }
    }
    return undefined;
  };
  const hit = find();
  if (hit) return Promise.resolve(hit);
  let onData;
  return within(new Promise((resolve) => {
    onData = () => { const ev = find(); if (ev) resolve(ev); };
    server.proc.stderr.on("data", onData);
  }), label, ms).finally(() => server.proc.stderr.off("data", onData));
}

test("joining a campaign replies ok, then pushes campaign_state with the campaign's totals", T, async (t) => {
  const a = await open(t, "ann");
  const {state} = await enterCampaign(a, "clean-water");
  assert.equal(state.id, "clean-water");
  assert.equal(typeof state.name, "string");
  assert.ok(state.goal > 0, `goal ${state.goal}`);
  assert.ok(Number.isInteger(state.total) && state.total >= 0, `total ${state.total}`);
  assert.ok(Number.isInteger(state.count) && state.count >= 0, `count ${state.count}`);

  const res = await refusedJoin(a.channel("campaign:no-such-campaign"));
  assert.deepEqual(res, {status: "error", response: {reason: "unknown campaign"}});
});

test("new_donation replies ok with the total and broadcasts donation_received; bad ones are refused", T, async (t) => {
  const a = await open(t, "ann");
  const b = await open(t, "bob");
  const {ch, state} = await enterCampaign(a, "clean-water");
  const {ch: bch} = await enterCampaign(b, "clean-water");

  const seen = next(bch, "donation_received", (p) => p.donor === "Ann");
  const res = await request(ch, "new_donation", {amount: 25, donor: "Ann"});
  assert.deepEqual(res, {status: "ok", response: {total: state.total + 25}});
  assert.deepEqual((await seen).payload, {donor: "Ann", amount: 25, total: state.total + 25});

  assert.deepEqual(await request(ch, "new_donation", {amount: 0}),
    {status: "error", response: {errors: {amount: ["must be greater than 0"]}}});
  assert.deepEqual(await request(ch, "new_donation", {amount: 12.5, donor: 3}),
    {status: "error", response: {errors: {amount: ["must be a whole number"], donor: ["must be a string"]}}});
  assert.deepEqual(await request(ch, "new_donation", {amount: 10001}),
    {status: "error", response: {errors: {amount: ["must be at most 10000"]}}});
  // The refused ones were not counted.
  assert.deepEqual(await request(ch, "new_donation", {amount: 1}), {status: "ok", response: {total: state.total + 26}});

  assert.deepEqual(await request(ch, "withdraw", {amount: 1}),
    {status: "error", response: {reason: "unmatched event"}});
});

test("Permanent route: a crash restarts the channel in place, with no phx_error and a fresh campaign_state", T, async (t) => {
  const a = await open(t, "ann");
  const b = await open(t, "bob");
  const {ch, topic, state} = await enterCampaign(a, "school-books");
  const {ch: bch} = await enterCampaign(b, "school-books");
  const errors = [];
  ch.onError((reason) => { errors.push(reason); a.wake(); });
  const joinRef = ch.joinRef();
  const from = a.frames.length;

  ch.push("crash", {}, 2000); // never answered: the push that crashes the channel is lost
  // Sent while the channel restarts: it waits in the mailbox for the new behaviour.
  const during = request(ch, "new_donation", {amount: 2, donor: "Ann"});

  assert.deepEqual(await during, {status: "ok", response: {total: state.total + 2}});
  // Join ran again and pushed a fresh state, on the same join.
  const fresh = await a.frame((f) => f.topic === topic && f.event === "campaign_state", "campaign_state after the restart", {from});
  assert.equal(fresh.join_ref, joinRef);
  assert.equal(fresh.payload.total, state.total + 2);
  assert.equal(fresh.payload.count, state.count + 1);

  // The subscription is intact: a broadcast caused by another client arrives.
  const seen = next(ch, "donation_received", (p) => p.donor === "Bob");
  assert.equal((await request(bch, "new_donation", {amount: 3, donor: "Bob"})).status, "ok");
  assert.deepEqual((await seen).payload, {donor: "Bob", amount: 3, total: state.total + 5});

  // The client never saw an error and never rejoined.
  assert.deepEqual(errors, []);
  assert.equal(a.frames.slice(from).filter((f) => f.topic === topic && f.event === "phx_error").length, 0);
  assert.ok(ch.isJoined());
  assert.equal(ch.joinRef(), joinRef);
  assert.equal(a.closes.length, 0);

  const report = await logLine((ev) => ev.message === "channel crashed" && ev.topic === topic && ev.join_ref === joinRef,
    "crash report for the restarted channel");
  assert.equal(report.decision, "restart");
  assert.equal(report.policy, "permanent");
  assert.equal(report.callback, "handle_in");
  assert.equal(report.event, "crash");
  assert.equal(report.level, "error");
});

test("Permanent route beyond its intensity: phx_error, onError fires, the crash report says stop", T, async (t) => {
  const a = await open(t, "ann");
  const {ch, topic, state} = await enterCampaign(a, "tree-planting");
  const errors = [];
  ch.onError((reason) => { errors.push(reason); a.wake(); });
  const rejoins = [];
  ch.joinPush.receive("ok", () => { rejoins.push(ch.joinRef()); a.wake(); });
  const oldRef = ch.joinRef();
  const from = a.frames.length;

  // Each crash is handled by the behaviour restarted after the previous one.
  for (let i = 0; i <= INTENSITY; i++) ch.push("crash", {}, 2000);

  await a.until(() => errors.length >= 1, "channel onError after too many crashes");
  const err = await a.frame((f) => f.topic === topic && f.event === "phx_error", "phx_error frame", {from});
  assert.equal(err.join_ref, oldRef);

  const stop = await logLine((ev) => ev.message === "channel crashed" && ev.join_ref === oldRef &&
    ev.topic === topic && ev.decision !== "restart", "the final crash report");
  assert.equal(stop.decision, "stop: restart intensity exceeded");
  assert.equal(stop.policy, "permanent");
  assert.equal(stop.restart_count, INTENSITY + 1);
  const restarts = server.logs.map((l) => { try { return JSON.parse(l); } catch { return {}; } })
    .filter((ev) => ev.message === "channel crashed" && ev.topic === topic && ev.join_ref === oldRef &&
      ev.decision === "restart");
  assert.equal(restarts.length, INTENSITY, "one restart report per allowed crash");

  // phoenix.js rejoins by itself, to a fresh channel with the same totals.
  const rejoined = await a.until(() => rejoins.find((r) => r !== oldRef), "automatic rejoin with an ok reply");
  const fresh = await a.frame((f) => f.topic === topic && f.event === "campaign_state" && f.join_ref === rejoined,
    "campaign_state after the rejoin", {from});
  assert.equal(fresh.payload.total, state.total);
  assert.equal(errors.length, 1);
  assert.equal((await request(ch, "new_donation", {amount: 4})).status, "ok");
});

test("dashboard:live refuses user sockets; admins join, are tracked, and get campaign_refreshed", T, async (t) => {
  const eve = await open(t, "eve");
  assert.deepEqual(await refusedJoin(eve.channel("dashboard:live")), {status: "error", response: {reason: "unauthorized"}});
  assert.equal((await admin(server, "/api/admin-login", {user: "eve"}, null)).status, 401);
  assert.equal((await admin(server, "/api/admin-login", {user: "eve"}, "not-the-key")).status, 401);

  const root = await openAdmin(t, "root");
  const ch = root.channel("dashboard:live");
  const watch = new PresenceWatch(ch);
  const refreshed = next(ch, "campaign_refreshed");
  assert.equal((await join(ch)).status, "ok");
  await watch.until((st) => st.root?.length === 1, "root in the dashboard's presence");

  const {payload} = await refreshed;
  assert.deepEqual(payload.campaigns.map((c) => c.id), ["clean-water", "school-books", "tree-planting"]);
  for (const c of payload.campaigns) {
    assert.deepEqual(Object.keys(c).sort(), ["count", "goal", "id", "name", "total"]);
  }
  assert.equal(typeof payload.worker_restarts, "number");

  const ops = await openAdmin(t, "ops");
  assert.equal((await join(ops.channel("dashboard:live"))).status, "ok");
  await watch.until((st) => st.root && st.ops, "ops appears on root's dashboard (presence_diff)");
});

test("the supervisor restarts a crashed worker: worker_restarts goes up, totals survive, campaigns still refresh", T, async (t) => {
  const root = await openAdmin(t, "root");
  const dash = root.channel("dashboard:live");
  assert.equal((await join(dash)).status, "ok");
  const a = await open(t, "ann");
  const {ch, topic, state} = await enterCampaign(a, "clean-water");
  const total = state.total + 6;
  assert.deepEqual(await request(ch, "new_donation", {amount: 6}), {status: "ok", response: {total}});
  const totalOf = (p) => p.campaigns.find((c) => c.id === "clean-water").total;

  const before = (await next(dash, "campaign_refreshed", (p) => totalOf(p) === total)).payload;
  assert.equal((await admin(server, "/api/crash-worker", {}, null)).status, 401);
  assert.equal((await admin(server, "/api/crash-worker", {})).status, 202);

  const afterCrash = (await next(dash, "campaign_refreshed", (p) => p.worker_restarts === before.worker_restarts + 1,
    "campaign_refreshed with one more worker restart")).payload;
  assert.equal(totalOf(afterCrash), total);
  const report = await logLine((ev) => ev.message === "child failed" && ev.child === "announcer", "the supervisor's report");
  assert.equal(report.decision, "restart");
  assert.equal(report.supervisor, "donations");

  // The campaign topic keeps getting refreshes from the restarted worker.
  const refreshed = await next(ch, "campaign_refreshed", (p) => p.total === total, `campaign_refreshed on ${topic}`);
  assert.equal(refreshed.payload.id, "clean-water");

  const res = await fetch(`${server.url}/api/campaigns`, {signal: AbortSignal.timeout(WAIT_MS)});
  const snap = await res.json();
  assert.equal(snap.worker_restarts, before.worker_restarts + 1);
  assert.equal(totalOf(snap), total);
});
