'use strict';
// node deflate-client.js ws://PROXY/ — Node ws clients through throng to
// deflate-backend.js. One offers permessage-deflate (RFC 7692): it must be
// negotiated end to end, messages must round-trip exactly, and compressed
// (RSV1) frames must cross the proxy both ways. One does not offer it: no
// extension, no RSV1 frame either way. Also checks that the backend's
// upgrade request carried Sec-WebSocket-Extensions (when offered),
// X-Forwarded-For and X-Request-Id. Exits 0 on success, 1 with a message.

const crypto = require('crypto');
const WebSocket = require('ws');
const { watch } = require('./frames');

let base = process.argv[2];
if (!base) fail('usage: node deflate-client.js ws://host:port/');
if (!base.endsWith('/')) base += '/';
setTimeout(() => fail('timed out after 60s'), 60000).unref();
// Nothing left to wait for, yet not done: a promise that will never settle.
process.on('beforeExit', () => fail('stalled: the event loop emptied before the checks finished'));

function fail(msg) {
  console.error('deflate-client.js: FAIL: ' + msg);
  process.exit(1);
}

// messages returns the payloads to echo: compressible and incompressible,
// text and binary, at 1 KiB, 64 KiB and 1 MiB.
function messages() {
  const out = [];
  for (const n of [1 << 10, 64 << 10, 1 << 20]) {
    const text = Buffer.alloc(n);
    const phrase = Buffer.from('the quick brown fox jumps over the lazy dog ');
    for (let j = 0; j < n; j++) text[j] = phrase[j % phrase.length];
    out.push({ name: `compressible text ${n}`, data: text, binary: false });
    out.push({ name: `compressible binary ${n}`, data: Buffer.alloc(n, 7), binary: true });
    out.push({ name: `incompressible binary ${n}`, data: crypto.randomBytes(n), binary: true });
  }
  return out;
}

// open connects to url. onOpen runs inside the 'open' event, before any
// frame that came with the 101 is delivered (ws emits those on a later tick,
// but ahead of promise continuations).
function open(url, options, onOpen) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => {
      if (onOpen) onOpen(ws);
      resolve(ws);
    });
    ws.once('error', (err) => reject(new Error(`${url}: ${err.message}`)));
    ws.once('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      reject(new Error(`${url}: status ${res.statusCode}`));
    });
  });
}

function echo(ws, m) {
  return new Promise((resolve, reject) => {
    const onMessage = (data, isBinary) => {
      ws.off('close', onClose);
      if (isBinary !== m.binary) reject(new Error(`${m.name}: echo isBinary=${isBinary}`));
      else if (!m.data.equals(data)) reject(new Error(`${m.name}: echo of ${data.length} bytes differs`));
      else resolve();
    };
    const onClose = (code) => {
      ws.off('message', onMessage);
      reject(new Error(`${m.name}: closed with ${code} while waiting for the echo`));
    };
    ws.once('message', onMessage);
    ws.once('close', onClose);
    ws.send(m.binary ? m.data : m.data.toString(), { binary: m.binary });
  });
}

function close(ws) {
  return new Promise((resolve) => {
    ws.once('close', (code) => resolve(code));
    ws.close(1000);
  });
}

// backendView asks the backend what it saw for id.
async function backendView(id) {
  let first;
  const got = new Promise((resolve) => {
    first = (ws) => ws.once('message', (data) => resolve(data));
  });
  const ws = await open(`${base}stats?id=${id}`, { perMessageDeflate: false }, first);
  const data = await got;
  ws.close(1000); // the backend closes too; whoever is first, no wait
  const v = JSON.parse(data.toString());
  if (v === null) fail(`backend saw no connection with id ${id}`);
  return v;
}

async function session(deflate) {
  const id = deflate ? 'deflate' : 'plain';
  const options = { perMessageDeflate: deflate ? { threshold: 0 } : false };
  let got;
  const ws = await open(`${base}echo?id=${id}`, options, (w) => {
    got = watch(w._socket);
  });
  const hasExt = ws.extensions.includes('permessage-deflate');
  if (deflate && !hasExt) fail(`${id}: extensions ${JSON.stringify(ws.extensions)}, want permessage-deflate`);
  if (!deflate && ws.extensions !== '') fail(`${id}: extensions ${JSON.stringify(ws.extensions)}, want none`);

  const ms = messages();
  for (const m of ms) {
    await echo(ws, m).catch((err) => fail(`${id}: ${err.message}`));
  }
  const code = await close(ws);
  if (code !== 1000) fail(`${id}: close code ${code}, want 1000`);

  const b = await backendView(id);
  const h = b.headers;
  const ext = h['sec-websocket-extensions'] || '';
  if (deflate && !ext.includes('permessage-deflate')) {
    fail(`${id}: backend got Sec-WebSocket-Extensions ${JSON.stringify(ext)}, want permessage-deflate`);
  }
  if (!deflate && ext !== '') fail(`${id}: backend got Sec-WebSocket-Extensions ${JSON.stringify(ext)}, want none`);
  if (!h['x-forwarded-for']) fail(`${id}: backend got no X-Forwarded-For; headers ${JSON.stringify(h)}`);
  if (!h['x-request-id']) fail(`${id}: backend got no X-Request-Id; headers ${JSON.stringify(h)}`);

  // Every message is one frame each way; with deflate each is compressed
  // (threshold 0 on both ends), without it none is. The backend also counts
  // the client's Close frame.
  const wantRSV1 = deflate ? ms.length : 0;
  if (got.rsv1 !== wantRSV1 || got.rsv23 !== 0) {
    fail(`${id}: client received ${got.frames} frames, ${got.rsv1} with RSV1 and ${got.rsv23} with RSV2/3; want ${wantRSV1} with RSV1`);
  }
  if (b.rsv1 !== wantRSV1 || b.rsv23 !== 0) {
    fail(`${id}: backend received ${b.frames} frames, ${b.rsv1} with RSV1 and ${b.rsv23} with RSV2/3; want ${wantRSV1} with RSV1`);
  }
  const payload = ms.reduce((s, m) => s + m.data.length, 0);
  console.log(`deflate-client.js: ${id}: ${ms.length} echoes of ${payload} bytes; wire bytes in: client ${got.bytes}, backend ${b.bytes}; extensions ${JSON.stringify(ws.extensions)}`);
}

async function main() {
  await session(true);
  await session(false);
  console.log('deflate-client.js: ok');
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
