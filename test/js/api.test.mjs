// The HTTP side of `pyre chat`: health, the page and its assets, login and the
// admin API's bearer key.
import assert from "node:assert/strict";
import {mkdtemp, rm, writeFile} from "node:fs/promises";
import {tmpdir} from "node:os";
import path from "node:path";
import {after, before, test} from "node:test";

import {admin, post, startServer, WAIT_MS} from "./helpers.mjs";

const T = {timeout: 20000};
let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

async function get(path, srv = server) {
  const res = await fetch(srv.url + path, {signal: AbortSignal.timeout(WAIT_MS)});
  return {status: res.status, type: res.headers.get("content-type") || "", text: await res.text()};
}

test("GET /healthz answers 200", T, async () => {
  const res = await get("/healthz");
  assert.equal(res.status, 200);
});

test("GET / serves the chat page, which loads its script and styles from /static", T, async () => {
  const page = await get("/");
  assert.equal(page.status, 200);
  assert.match(page.type, /text\/html/);
  assert.match(page.text, /id="login-form"/);
  assert.match(page.text, /src="\/static\/app\.js"/);
  assert.match(page.text, /href="\/static\/style\.css"/);

  const js = await get("/static/app.js");
  assert.equal(js.status, 200);
  assert.match(js.type, /javascript/);
  assert.match(js.text, /from "\/assets\/phoenix\.mjs"/);

  const css = await get("/static/style.css");
  assert.equal(css.status, 200);
  assert.match(css.type, /text\/css/);
});

test("GET /assets/phoenix.mjs serves the official client, built into the binary", T, async () => {
  const res = await get("/assets/phoenix.mjs");
  assert.equal(res.status, 200);
  assert.match(res.type, /javascript/);
  assert.match(res.text, /export\s*\{[^}]*\bSocket\b/);
  assert.match(res.text, /export\s*\{[^}]*\bPresence\b/);
});

test("POST /api/login returns a token for a user name", T, async () => {
  const res = await post(server, "/api/login", {user: "alice"});
  assert.equal(res.status, 200, res.text);
  assert.equal(typeof res.body.token, "string");
  assert.ok(res.body.token.length > 10, `token too short: ${res.body.token}`);
});

test("POST /api/login refuses a blank or missing user with 400", T, async () => {
  for (const body of [{user: ""}, {user: "   "}, {}, {user: null}]) {
    const res = await post(server, "/api/login", body);
    assert.equal(res.status, 400, `body ${JSON.stringify(body)} gave ${res.status} ${res.text}`);
  }
});

for (const path of ["/api/broadcast", "/api/disconnect"]) {
  test(`POST ${path} needs the admin key: 401 without it or with a wrong one`, T, async () => {
    const body = path === "/api/broadcast"
      ? {topic: "room:lobby", event: "announce", payload: {text: "hi"}}
      : {user: "nobody"};

    const none = await admin(server, path, body, null);
    assert.equal(none.status, 401, `no key: ${none.status} ${none.text}`);

    const wrong = await admin(server, path, body, server.adminKey + "x");
    assert.equal(wrong.status, 401, `wrong key: ${wrong.status} ${wrong.text}`);

    const basic = await post(server, path, body, {Authorization: `Basic ${server.adminKey}`});
    assert.equal(basic.status, 401, `not a bearer: ${basic.status} ${basic.text}`);

    const ok = await admin(server, path, body);
    assert.ok(ok.status >= 200 && ok.status < 300, `right key: ${ok.status} ${ok.text}`);
  });
}

test("-assets DIR serves the phoenix client from another directory", T, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), "pyre-assets-"));
  t.after(() => rm(dir, {recursive: true, force: true}));
  await writeFile(path.join(dir, "phoenix.mjs"), "export const marker = 'from -assets';\n");
  const other = await startServer({extraArgs: ["-assets", dir]});
  t.after(() => other.stop());
  const res = await get("/assets/phoenix.mjs", other);
  assert.equal(res.status, 200);
  assert.match(res.text, /from -assets/);
});

test("the server logs JSON lines to stderr", T, async () => {
  // Make sure something was logged beyond start-up.
  await post(server, "/api/login", {user: "logger"});
  const lines = server.logs.filter((l) => l.trim() !== "");
  assert.ok(lines.length > 0, "no log lines");
  for (const line of lines) {
    let entry;
    assert.doesNotThrow(() => { entry = JSON.parse(line); }, `not JSON: ${line}`);
    assert.equal(typeof entry, "object");
    assert.equal(typeof entry.level, "string", `no level: ${line}`);
  }
});
