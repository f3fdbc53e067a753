// phoenix_vectors.mjs writes phoenix_vectors.json, the Phoenix.Token test
// vectors that token/phoenix_vectors_test.go checks the Go code against.
//
// It is a second, independent implementation of the format, written from
// the description of the algorithm rather than from the Go code, using only
// node:crypto:
//
//   key     = PBKDF2-HMAC(digest, secret_key_base, salt, iterations, length)
//   payload = term_to_binary({data, signed_at_ms, max_age_seconds})
//   text    = "SFMyNTY." + base64url(payload)          ("SFMyNTY" = base64 "HS256")
//   token   = text + "." + base64url(HMAC-SHA256(key, text))
//
// The Erlang external term format encoder below follows term_to_binary's
// choices (smallest integer encoding, lists of bytes as STRING_EXT, atoms
// as SMALL_ATOM_UTF8_EXT like OTP 26+, map keys in term order).
//
// Run from the repository root, with any Node.js from 18 on:
//
//   node token/testdata/phoenix_vectors.mjs > token/testdata/phoenix_vectors.json
//
// The output depends on nothing but this file (there is no clock or
// randomness), so running it again must reproduce the committed JSON.

import { createHmac, pbkdf2Sync } from 'node:crypto';

// ---- Terms -------------------------------------------------------------
//
// A term is written as a tagged JSON object, so that the JSON file can say
// exactly which Erlang term is meant:
//   {int: "123"}  {float: 1.5}  {binary: "text"}  {binary_hex: "00ff"}
//   {atom: "ok"}  {list: [...]}  {tuple: [...]}  {map: [[key, value], ...]}
// Integers are decimal strings so that bignums survive JSON.

const int = (n) => ({ int: String(n) });
const float = (f) => ({ float: f });
const bin = (s) => ({ binary: s });
const binHex = (h) => ({ binary_hex: h });
const atom = (a) => ({ atom: a });
const list = (...xs) => ({ list: xs });
const tuple = (...xs) => ({ tuple: xs });
const map = (...pairs) => ({ map: pairs });

const u8 = (n) => Buffer.from([n]);
const u16 = (n) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const i32 = (n) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };

function bytesOf(t) {
  return 'binary' in t ? Buffer.from(t.binary, 'utf8') : Buffer.from(t.binary_hex, 'hex');
}

// encodeBody returns the external format of t without the version byte.
function encodeBody(t) {
  if ('int' in t) {
    const n = BigInt(t.int);
    if (n >= 0n && n <= 255n) return Buffer.concat([u8(97), u8(Number(n))]);
    if (n >= -(2n ** 31n) && n < 2n ** 31n) return Buffer.concat([u8(98), i32(Number(n))]);
    let mag = n < 0n ? -n : n;
    const digits = [];
    while (mag > 0n) { digits.push(Number(mag & 0xffn)); mag >>= 8n; }
    const head = digits.length <= 255 ? Buffer.concat([u8(110), u8(digits.length)]) : Buffer.concat([u8(111), u32(digits.length)]);
    return Buffer.concat([head, u8(n < 0n ? 1 : 0), Buffer.from(digits)]);
  }
  if ('float' in t) {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(t.float);
    return Buffer.concat([u8(70), b]);
  }
  if ('binary' in t || 'binary_hex' in t) {
    const b = bytesOf(t);
    return Buffer.concat([u8(109), u32(b.length), b]);
  }
  if ('atom' in t) {
    const b = Buffer.from(t.atom, 'utf8');
    return b.length <= 255 ? Buffer.concat([u8(119), u8(b.length), b]) : Buffer.concat([u8(118), u16(b.length), b]);
  }
  if ('list' in t) {
    const xs = t.list;
    if (xs.length === 0) return u8(106);
    const isByte = (x) => 'int' in x && BigInt(x.int) >= 0n && BigInt(x.int) <= 255n;
    if (xs.length <= 65535 && xs.every(isByte)) {
      return Buffer.concat([u8(107), u16(xs.length), Buffer.from(xs.map((x) => Number(x.int)))]);
    }
    return Buffer.concat([u8(108), u32(xs.length), ...xs.map(encodeBody), u8(106)]);
  }
  if ('tuple' in t) {
    const xs = t.tuple;
    const head = xs.length <= 255 ? Buffer.concat([u8(104), u8(xs.length)]) : Buffer.concat([u8(105), u32(xs.length)]);
    return Buffer.concat([head, ...xs.map(encodeBody)]);
  }
  if ('map' in t) {
    const pairs = [...t.map].sort((a, b) => compareKeys(a[0], b[0]));
    return Buffer.concat([u8(116), u32(pairs.length), ...pairs.flatMap(([k, v]) => [encodeBody(k), encodeBody(v)])]);
  }
  throw new Error('unknown term ' + JSON.stringify(t));
}

// compareKeys orders map keys as Erlang does: numbers < atoms < binaries;
// numbers by value with an integer before an equal float; atoms and
// binaries by their bytes.
function compareKeys(a, b) {
  const rank = (t) => ('int' in t || 'float' in t ? 0 : 'atom' in t ? 1 : 2);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  if (rank(a) === 0) {
    const x = 'int' in a ? BigInt(a.int) : a.float;
    const y = 'int' in b ? BigInt(b.int) : b.float;
    if (x < y) return -1;
    if (x > y) return 1;
    return ('float' in a) - ('float' in b);
  }
  const bytes = (t) => ('atom' in t ? Buffer.from(t.atom, 'utf8') : bytesOf(t));
  return Buffer.compare(bytes(a), bytes(b));
}

const termToBinary = (t) => Buffer.concat([u8(131), encodeBody(t)]);

// adler32 and zlibStored build a zlib stream by hand from stored
// (uncompressed) deflate blocks: valid zlib that any inflater accepts.
function adler32(buf) {
  let a = 1, b = 0;
  for (const c of buf) { a = (a + c) % 65521; b = (b + a) % 65521; }
  return ((b << 16) | a) >>> 0;
}

function zlibStored(data) {
  const parts = [Buffer.from([0x78, 0x01])];
  for (let off = 0; off < data.length || off === 0; off += 65535) {
    const chunk = data.subarray(off, off + 65535);
    const last = off + 65535 >= data.length ? 1 : 0;
    const len = Buffer.alloc(4);
    len.writeUInt16LE(chunk.length, 0);
    len.writeUInt16LE(~chunk.length & 0xffff, 2);
    parts.push(u8(last), len, chunk);
    if (last) break;
  }
  parts.push(u32(adler32(data)));
  return Buffer.concat(parts);
}

// termToBinaryCompressed is term_to_binary(t, [compressed]) with stored
// blocks: 131, 80, uncompressed size, zlib stream of the body.
function termToBinaryCompressed(t) {
  const body = encodeBody(t);
  return Buffer.concat([u8(131), u8(80), u32(body.length), zlibStored(body)]);
}

// ---- Tokens ------------------------------------------------------------

const HEADERS = {
  sha256: Buffer.from('HS256').toString('base64url'),
  sha384: Buffer.from('HS384').toString('base64url'),
  sha512: Buffer.from('HS512').toString('base64url'),
};

const deriveKey = (skb, salt, k = {}) =>
  pbkdf2Sync(Buffer.from(skb), Buffer.from(salt), k.iterations ?? 1000, k.length ?? 32, k.digest ?? 'sha256');

function seal(key, payload, mac = 'sha256') {
  const text = HEADERS[mac] + '.' + payload.toString('base64url');
  return text + '.' + createHmac(mac, key).update(text).digest('base64url');
}

const maxAgeTerm = (m) => (m === 'infinity' ? atom('infinity') : typeof m === 'number' && !Number.isInteger(m) ? float(m) : int(m));

// phoenixPayload is Plug.Crypto's encode/2.
const phoenixPayload = (data, signedAtMs, maxAge = 86400) => termToBinary(tuple(data, int(signedAtMs), maxAgeTerm(maxAge)));

function flip(s, i) {
  return s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
}

const SKB = 'pyre test secret_key_base: 64 bytes of something not random!!!!';
const SALT = 'user socket';
const NOW = 1767225600000; // 2026-01-01T00:00:00Z
const SEC = 1000, DAY = 86400 * SEC;
const KEY = deriveKey(SKB, SALT);

const out = { generator: 'token/testdata/phoenix_vectors.mjs', keys: [], terms: [], tokens: [] };

// Key derivation, including the reference value from an Elixir run
// (PROTOCOL.md 8.5) as a check on this script itself.
const keyCases = [
  { name: 'default options', skb: SKB, salt: SALT },
  { name: 'protocol reference', skb: 'a'.repeat(64), salt: 'user auth', want: '31fbb3adecec68c972fd2697491c1a02763359667d5ac06901233fb98a57fb14' },
  { name: 'custom options', skb: SKB, salt: SALT, k: { iterations: 2000, length: 64, digest: 'sha512' } },
  { name: 'sha384, 20 bytes', skb: SKB, salt: 'other', k: { iterations: 1, length: 20, digest: 'sha384' } },
  { name: 'longer than one block', skb: SKB, salt: SALT, k: { iterations: 3, length: 80, digest: 'sha256' } },
];
for (const c of keyCases) {
  const key = deriveKey(c.skb, c.salt, c.k).toString('hex');
  if (c.want && key !== c.want) throw new Error(`key ${c.name}: got ${key}, want ${c.want}`);
  out.keys.push({ name: c.name, secret_key_base: c.skb, salt: c.salt, iterations: c.k?.iterations ?? 1000, length: c.k?.length ?? 32, digest: c.k?.digest ?? 'sha256', key_hex: key });
}

// Elixir-made tokens from PROTOCOL.md 8.5, to check this script's encoder.
{
  const key = deriveKey('a'.repeat(64), 'user auth');
  const ref = [
    [int(42), 'SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.x2GV8fzmggTQdkMlzdkfE2mSNoVoWKMMirhPRqMzXSc'],
    [bin('user:123'), 'SFMyNTY.g2gDbQAAAAh1c2VyOjEyM24GAABo5c-LAWIAAVGA.y_caxctyPmUU_VfLxUqzSSUcVnBwgAzAzP8395XgYbU'],
  ];
  for (const [data, want] of ref) {
    const got = seal(key, phoenixPayload(data, 1700000000000));
    if (got !== want) throw new Error(`reference token: got ${got}, want ${want}`);
  }
}

// Terms: data values and their exact encodings.
const terms = {
  'small integer': int(42),
  'zero': int(0),
  'integer 255': int(255),
  'integer 256': int(256),
  'negative integer': int(-5),
  'int32 max': int(2147483647),
  'int32 min': int(-2147483648),
  'just above int32': int(2147483648),
  'just below int32': int(-2147483649),
  'signed_at milliseconds': int(NOW),
  'int64 max': int(2n ** 63n - 1n),
  'int64 min': int(-(2n ** 63n)),
  'above int64': int(2n ** 63n),
  'uint64 max': int(2n ** 64n - 1n),
  'below int64': int(-(2n ** 63n) - 1n),
  'bignum 2^100': int(2n ** 100n),
  'negative bignum': int(-(2n ** 100n) - 12345n),
  'large bignum': int(2n ** 2100n + 7n),
  'float': float(3.25),
  'negative float': float(-0.5),
  'huge float': float(1e300),
  'tiny float': float(5e-324),
  'string': bin('user:123'),
  'empty string': bin(''),
  'unicode string': bin('héllo ✓'),
  'non-UTF-8 binary': binHex('00ff80fe'),
  'atom': atom('ok'),
  'true': atom('true'),
  'false': atom('false'),
  'nil': atom('nil'),
  'unicode atom': atom('héllo'),
  'module atom': atom('Elixir.MyApp.User'),
  'long atom': atom('é'.repeat(200)),
  'empty list': list(),
  'charlist': list(int(104), int(105)),
  'byte list with 0 and 255': list(int(0), int(255)),
  'integer list beyond a byte': list(int(1), int(256)),
  'mixed list': list(int(1), bin('two'), atom('three'), float(4.5), list()),
  'nested list': list(list(int(1)), list(list())),
  'empty tuple': tuple(),
  'tuple': tuple(atom('ok'), int(7)),
  'large tuple': tuple(...Array.from({ length: 300 }, (_, i) => int(i))),
  'empty map': map(),
  'map with string keys': map([bin('user_id'), int(123)], [bin('role'), bin('admin')], [bin('scopes'), list(bin('read'), bin('write'))]),
  'string keys sorted by bytes': map([bin('b'), int(1)], [bin('ab'), int(2)], [bin('a'), int(3)], [bin('B'), int(4)], [bin(''), int(5)]),
  'map with atom keys': map([atom('user_id'), int(123)], [atom('admin'), atom('true')], [atom('name'), atom('nil')]),
  'atom keys including true and nil': map([atom('true'), int(1)], [atom('nil'), int(2)], [atom('id'), int(3)]),
  'mixed keys': map([bin('three'), int(3)], [atom('two'), int(2)], [int(1), bin('one')], [float(1.5), bin('one and a half')], [int(-7), atom('nil')]),
  'integer before equal float': map([float(1.0), bin('float')], [int(1), bin('int')]),
  'nested': map(
    [bin('rooms'), list(map([bin('id'), int(1)], [bin('name'), bin('lobby')]), map([bin('id'), int(2)], [bin('name'), bin('dev')]))],
    [bin('meta'), tuple(atom('v'), int(2))],
  ),
};
for (const [name, term] of Object.entries(terms)) {
  out.terms.push({ name, term, etf_hex: termToBinary(term).toString('hex') });
}

// Tokens. Each says how Verify, run at now_ms by a verifier holding
// secret_key_base and salt (and key options), must answer. Entries with
// "sign" were made the way Phoenix.Token.sign makes tokens, so Go's Sign
// must reproduce them byte for byte from the same inputs.
function add(v) {
  out.tokens.push({ secret_key_base: SKB, salt: SALT, now_ms: NOW, ...v });
}
function signed(name, data, signedAtMs, maxAge, want, extra = {}) {
  const payload = phoenixPayload(data, signedAtMs, maxAge);
  const token = seal(KEY, payload);
  add({ name, token, ...extra, want, ...(want === 'ok' ? { data } : {}), sign: { data, signed_at_ms: signedAtMs, max_age: maxAge, payload_hex: payload.toString('hex') } });
  return token;
}
// raw adds a token built from an arbitrary payload, which Go's Sign would
// not (or could not) produce.
function raw(name, payload, want, extra = {}, data) {
  add({ name, token: seal(extra.key ?? KEY, payload, extra.mac), ...strip(extra), want, ...(data ? { data } : {}) });
}
const strip = ({ key, mac, ...rest }) => rest;

const fresh = NOW - 1500;
const tokInt = signed('integer', int(42), fresh, 86400, 'ok');
const tokStr = signed('string', bin('user:123'), fresh, 86400, 'ok');
signed('map with string keys', terms['map with string keys'], fresh, 86400, 'ok');
signed('map with atom keys', terms['map with atom keys'], fresh, 86400, 'ok');
signed('list', terms['mixed list'], fresh, 86400, 'ok');
signed('charlist', terms.charlist, fresh, 86400, 'ok');
signed('tuple', terms.tuple, fresh, 86400, 'ok');
signed('big integers', list(int(2147483648), int(-(2n ** 63n)), int(2n ** 64n), int(-(2n ** 100n))), fresh, 86400, 'ok');
signed('floats', list(float(3.25), float(-0.5), float(1e300), float(5e-324)), fresh, 86400, 'ok');
signed('unicode', tuple(bin('héllo ✓'), atom('héllo')), fresh, 86400, 'ok');
signed('empty values', tuple(bin(''), list(), map()), fresh, 86400, 'ok');
signed('nested', terms.nested, fresh, 86400, 'ok');
signed('non-UTF-8 binary', binHex('00ff80fe'), fresh, 86400, 'ok');
signed('mixed map keys', terms['mixed keys'], fresh, 86400, 'ok');
signed('nil data', atom('nil'), fresh, 86400, 'ok');
signed('signed now', int(1), NOW, 86400, 'ok');

// Ages.
signed('13 days old, 14-day max age in token', int(7), NOW - 13 * DAY, 1209600, 'ok');
signed('13 days old, 14-day max age given to verify', int(7), NOW - 13 * DAY, 86400, 'ok', { verify_max_age: 1209600 });
signed('13 days old, default max age', int(7), NOW - 13 * DAY, 86400, 'expired');
signed('15 days old, 14-day max age in token', int(7), NOW - 15 * DAY, 1209600, 'expired');
signed('exactly one day old', int(7), NOW - DAY, 86400, 'ok');
signed('one day and 1 ms old', int(7), NOW - DAY - 1, 86400, 'expired');
signed('two days old', bin('user:123'), NOW - 2 * DAY, 86400, 'expired');
signed('expired, verify max age infinity', int(7), NOW - 400 * DAY, 86400, 'ok', { verify_max_age: 'infinity' });
signed('max age infinity in token, 10 years old', int(7), NOW - 3650 * DAY, 'infinity', 'ok');
signed('max age infinity in token, verify max age one day', int(7), NOW - 2 * DAY, 'infinity', 'expired', { verify_max_age: 86400 });
signed('fresh, verify max age 0', int(7), fresh, 86400, 'expired', { verify_max_age: 0 });
signed('fresh, verify max age 1 second', int(7), NOW - 1001, 86400, 'expired', { verify_max_age: 1 });
signed('long max age in token shortened by verify', int(7), NOW - 2 * DAY, 3650 * 86400, 'expired', { verify_max_age: 86400 });
signed('signed one day in the future', int(7), NOW + DAY, 86400, 'invalid');
signed('custom signing time in 2023', int(7), 1700000000000, 'infinity', 'ok');
raw('max age 0 in token', phoenixPayload(int(7), NOW, 0), 'expired');
raw('negative max age in token', phoenixPayload(int(7), NOW - 10 * DAY, -5), 'expired');
raw('float max age 0.5 in token, 500 ms old', phoenixPayload(int(7), NOW - 500, 0.5), 'ok', {}, int(7));
raw('float max age 0.5 in token, 501 ms old', phoenixPayload(int(7), NOW - 501, 0.5), 'expired');
raw('bignum max age in token', phoenixPayload(int(7), NOW - 3650 * DAY, 2n ** 80n), 'ok', {}, int(7));

// Older payload shapes Plug.Crypto still accepts.
raw('legacy {data, signed}', termToBinary(tuple(bin('user:123'), int(fresh))), 'ok', {}, bin('user:123'));
raw('legacy {data, signed}, two days old', termToBinary(tuple(bin('user:123'), int(NOW - 2 * DAY))), 'expired');
raw('legacy %{data:, signed:}', termToBinary(map([atom('data'), int(99)], [atom('signed'), int(fresh)])), 'ok', {}, int(99));
raw('legacy %{data:, signed:}, two days old', termToBinary(map([atom('data'), int(99)], [atom('signed'), int(NOW - 2 * DAY)])), 'expired');
raw('compressed payload', termToBinaryCompressed(tuple(terms.nested, int(fresh), int(86400))), 'ok', {}, terms.nested);
raw('HS384 token', phoenixPayload(bin('user:123'), fresh), 'ok', { mac: 'sha384' }, bin('user:123'));
raw('HS512 token', phoenixPayload(bin('user:123'), fresh), 'ok', { mac: 'sha512' }, bin('user:123'));

// Different key options: verifying needs the same options.
{
  const k = { iterations: 2000, length: 64, digest: 'sha512' };
  const payload = phoenixPayload(bin('user:123'), fresh);
  add({ name: 'custom key options', token: seal(deriveKey(SKB, SALT, k), payload), key: k, want: 'ok', data: bin('user:123'), sign: { data: bin('user:123'), signed_at_ms: fresh, max_age: 86400, payload_hex: payload.toString('hex') } });
  add({ name: 'custom key options, verified with defaults', token: seal(deriveKey(SKB, SALT, k), payload), want: 'invalid' });
}

// Forgeries and damage.
const [h, p, m] = tokStr.split('.');
add({ name: 'tampered payload', token: `${h}.${flip(p, 12)}.${m}`, want: 'invalid' });
add({ name: 'tampered payload, last character', token: `${h}.${flip(p, p.length - 1)}.${m}`, want: 'invalid' });
add({ name: 'tampered MAC', token: `${h}.${p}.${flip(m, 5)}`, want: 'invalid' });
add({ name: 'truncated MAC', token: `${h}.${p}.${m.slice(0, -2)}`, want: 'invalid' });
add({ name: 'payload of another token', token: `${h}.${tokInt.split('.')[1]}.${m}`, want: 'invalid' });
add({ name: 'wrong salt', token: tokStr, salt: 'admin socket', want: 'invalid' });
add({ name: 'wrong secret', token: tokStr, secret_key_base: SKB.replace('pyre', 'PYRE'), want: 'invalid' });
add({ name: 'HS384 header on an HS256 MAC', token: `${HEADERS.sha384}.${p}.${m}`, want: 'invalid' });
add({ name: 'unknown header', token: `${Buffer.from('HS257').toString('base64url')}.${p}.${m}`, want: 'invalid' });
add({ name: 'two parts', token: `${p}.${m}`, want: 'invalid' });
add({ name: 'four parts', token: `${tokStr}.${m}`, want: 'invalid' });
add({ name: 'padded MAC', token: `${tokStr}=`, want: 'invalid' });
add({ name: 'standard base64 alphabet', token: `${h}.${p}.${m.replaceAll('-', '+').replaceAll('_', '/')}${/[-_]/.test(m) ? '' : '+'}`, want: 'invalid' });
add({ name: 'missing', token: '', want: 'missing' });
raw('authentic but not a term', Buffer.from('{"data":1,"signed":2}'), 'invalid');
raw('authentic but bytes after the term', Buffer.concat([phoenixPayload(int(7), fresh), u8(0)]), 'invalid');
raw('authentic 4-tuple', termToBinary(tuple(int(7), int(fresh), int(86400), int(0))), 'invalid');
raw('authentic, signed_at not an integer', termToBinary(tuple(int(7), bin('yesterday'), int(86400))), 'invalid');
raw('authentic, max age an unknown atom', termToBinary(tuple(int(7), int(fresh), atom('forever'))), 'invalid');
// Phoenix would return {:ok, pid} here; pyre has no Go form for a pid.
raw('authentic, data is a pid', Buffer.concat([u8(131), u8(104), u8(3), u8(88), Buffer.from([119, 13]), Buffer.from('nonode@nohost'), u32(1), u32(0), u32(0), encodeBody(int(fresh)), encodeBody(int(86400))]), 'invalid', { note: 'Phoenix accepts pids; pyre refuses terms it cannot represent' });

process.stdout.write(JSON.stringify(out, null, 1) + '\n');
