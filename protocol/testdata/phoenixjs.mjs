// Writes phoenixjs.json: what the real phoenix.js V2 serializer does with a
// fixed set of messages, so the Go tests can check the protocol package
// against it without Node at test time. Regenerate after a phoenix upgrade:
//
//	node protocol/testdata/phoenixjs.mjs > protocol/testdata/phoenixjs.json
//
// "client" entries are frames phoenix.js encodes; the Go decoder must read
// them back to the same fields. "server" entries are the exact frames the Go
// encoder is expected to write for a call; phoenix.js decodes each one here so
// the test can check the client sees what the server meant.
import {readFileSync} from "node:fs";

import {Serializer} from "../../node_modules/phoenix/priv/static/phoenix.mjs";

const pkg = JSON.parse(readFileSync(new URL("../../node_modules/phoenix/package.json", import.meta.url)));

const b64 = (buf) => Buffer.from(buf).toString("base64");
const bytes = (s) => new TextEncoder().encode(s);

function arrayBuffer(u8) {
  return u8.buffer.slice(u8.byteOffset, u8.byteOffset + u8.byteLength);
}

// binaryFrame lays out a server frame by hand: kind, one length byte per
// field, the fields, then the payload.
function binaryFrame(kind, fields, payload) {
  const enc = fields.map(bytes);
  const out = new Uint8Array(1 + enc.length + enc.reduce((n, f) => n + f.length, 0) + payload.length);
  let i = 0;
  out[i++] = kind;
  for (const f of enc) out[i++] = f.length;
  for (const f of enc) { out.set(f, i); i += f.length; }
  out.set(payload, i);
  return out;
}

function encode(msg) {
  let out;
  Serializer.encode(msg, (x) => { out = x; });
  return out;
}

function decode(raw) {
  let out;
  Serializer.decode(raw, (x) => { out = x; });
  return out;
}

// describe turns a decoded message into plain JSON, binary parts as base64.
function describe(m) {
  const d = {join_ref: m.join_ref, ref: m.ref, topic: m.topic, event: m.event};
  if (m.payload instanceof ArrayBuffer) {
    d.payload_base64 = b64(m.payload);
  } else if (m.payload && m.payload.response instanceof ArrayBuffer) {
    d.status = m.payload.status;
    d.response_base64 = b64(m.payload.response);
  } else {
    d.payload_json = JSON.stringify(m.payload);
  }
  return d;
}

const clientMessages = [
  {name: "join", join_ref: "1", ref: "1", topic: "room:lobby", event: "phx_join", payload: {user: "ana"}},
  {name: "heartbeat", join_ref: null, ref: "2", topic: "phoenix", event: "heartbeat", payload: {}},
  {name: "push", join_ref: "1", ref: "3", topic: "room:lobby", event: "new_msg", payload: {body: "hi \"there\" \u00e9 \u2028"}},
  {name: "leave", join_ref: "1", ref: "4", topic: "room:lobby", event: "phx_leave", payload: {}},
  {name: "escaped topic", join_ref: "5", ref: "6", topic: "room:\"q\"\\\u00e9\u{1F600}", event: "ev\n", payload: {}},
  {name: "binary push", join_ref: "12", ref: "123", topic: "topic", event: "event", payload: arrayBuffer(bytes("ABC"))},
  {name: "binary push, unicode topic", join_ref: "7", ref: "8", topic: "room:\u00e9", event: "up", payload: arrayBuffer(new Uint8Array([0, 255, 1]))},
];

const client = clientMessages.map(({name, ...msg}) => {
  const out = encode(msg);
  const entry = {name, join_ref: msg.join_ref, ref: msg.ref, topic: msg.topic, event: msg.event};
  if (out instanceof ArrayBuffer) {
    entry.payload_base64 = b64(msg.payload);
    entry.binary_base64 = b64(out);
  } else {
    entry.payload_json = JSON.stringify(msg.payload);
    entry.text = out;
  }
  return entry;
});

// Each call names the Go serializer method and its arguments. Refs are JSON
// values used as Go Refs as they stand (null, "1", 7); payloads are JSON text
// or base64 bytes.
const serverFrames = [
  {name: "push", call: {method: "Push", join_ref: "1", topic: "room:lobby", event: "new_msg", payload_json: "{\"body\":\"hi\"}"},
    text: "[\"1\",null,\"room:lobby\",\"new_msg\",{\"body\":\"hi\"}]"},
  {name: "reply", call: {method: "Reply", join_ref: "1", ref: "3", topic: "room:lobby", event: "ok", payload_json: "{\"n\":1}"},
    text: "[\"1\",\"3\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{\"n\":1}}]"},
  {name: "heartbeat reply", call: {method: "Reply", join_ref: null, ref: "2", topic: "phoenix", event: "ok", payload_json: "{}"},
    text: "[null,\"2\",\"phoenix\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]"},
  {name: "broadcast", call: {method: "Broadcast", topic: "room:lobby", event: "shout", payload_json: "{\"a\":[1,2]}"},
    text: "[null,null,\"room:lobby\",\"shout\",{\"a\":[1,2]}]"},
  {name: "close", call: {method: "Close", join_ref: "1", topic: "room:lobby", event: "phx_close", payload_json: "{}"},
    text: "[\"1\",\"1\",\"room:lobby\",\"phx_close\",{}]"},
  {name: "numeric refs", call: {method: "Reply", join_ref: 7, ref: 8, topic: "t", event: "error", payload_json: "{}"},
    text: "[7,8,\"t\",\"phx_reply\",{\"status\":\"error\",\"response\":{}}]"},
  {name: "escaped topic", call: {method: "Broadcast", topic: "a\"b\\c\n\t\u0001\u00e9\u2028\u{1F600}", event: "e", payload_json: "{}"},
    text: "[null,null,\"a\\\"b\\\\c\\n\\t\\u0001\u00e9\\u2028\u{1F600}\",\"e\",{}]"},
  {name: "binary push", call: {method: "Push", join_ref: "12", topic: "topic", event: "event", payload_base64: b64(bytes("ABC"))},
    binary: binaryFrame(0, ["12", "topic", "event"], bytes("ABC"))},
  {name: "binary push, null join_ref", call: {method: "Push", join_ref: null, topic: "topic", event: "event", payload_base64: b64(bytes("ABC"))},
    binary: binaryFrame(0, ["", "topic", "event"], bytes("ABC"))},
  {name: "binary reply", call: {method: "Reply", join_ref: "12", ref: "123", topic: "topic", event: "ok", payload_base64: b64(bytes("ABC"))},
    binary: binaryFrame(1, ["12", "123", "topic", "ok"], bytes("ABC"))},
  {name: "binary broadcast", call: {method: "Broadcast", topic: "room:\u00e9", event: "event", payload_base64: b64(new Uint8Array([0, 255]))},
    binary: binaryFrame(2, ["room:\u00e9", "event"], new Uint8Array([0, 255]))},
];

const server = serverFrames.map(({name, call, text, binary}) => {
  const entry = {name, call};
  if (binary) {
    entry.binary_base64 = b64(binary);
    entry.decoded = describe(decode(arrayBuffer(binary)));
  } else {
    entry.text = text;
    entry.decoded = describe(decode(text));
  }
  return entry;
});

process.stdout.write(JSON.stringify({phoenix: pkg.version, client, server}, null, 1) + "\n");
