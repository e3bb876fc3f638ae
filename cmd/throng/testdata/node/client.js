'use strict';
// node client.js ws://PROXY/ — Node's ws client through throng to the
// throng-bench echo backend: text and binary messages of the edge sizes of
// RFC 6455 §5.2 (7-bit, 16-bit and 64-bit lengths), a ping, a subprotocol,
// and a close code the backend echoes. Exits 0 on success, 1 with a message.

const crypto = require('crypto');
const WebSocket = require('ws');

const url = process.argv[2];
if (!url) fail('usage: node client.js ws://host:port/');
setTimeout(() => fail('timed out after 60s'), 60000).unref();
// Nothing left to wait for, yet not done: a promise that will never settle.
process.on('beforeExit', () => fail('stalled: the event loop emptied before the checks finished'));

const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];

function fail(msg) {
  console.error('client.js: FAIL: ' + msg);
  process.exit(1);
}

// next resolves with the next event of the given name on ws, or rejects on
// close or error first.
function next(ws, name) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      cleanup();
      resolve(args);
    };
    const onClose = (code) => {
      cleanup();
      reject(new Error(`closed with ${code} while waiting for ${name}`));
    };
    const onError = (err) => {
      cleanup();
      reject(err);
    };
    function cleanup() {
      ws.off(name, onEvent);
      ws.off('close', onClose);
      ws.off('error', onError);
    }
    ws.on(name, onEvent);
    if (name !== 'close') ws.on('close', onClose);
    ws.on('error', onError);
  });
}

function payload(n, text) {
  if (!text) return crypto.randomBytes(n);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 97 + ((i * 7) % 26);
  return b;
}

async function main() {
  const ws = new WebSocket(url, ['chat', 'superchat']);
  await next(ws, 'open');
  if (ws.protocol !== 'chat') fail(`protocol ${JSON.stringify(ws.protocol)}, want "chat"`);

  for (const n of sizes) {
    for (const text of [true, false]) {
      const kind = text ? 'text' : 'binary';
      const want = payload(n, text);
      const got = next(ws, 'message');
      ws.send(text ? want.toString() : want, { binary: !text });
      const [data, isBinary] = await got;
      if (isBinary === text) fail(`${kind} ${n}: echo isBinary=${isBinary}`);
      if (!want.equals(data)) fail(`${kind} ${n}: echo of ${data.length} bytes differs`);
    }
  }

  const pong = next(ws, 'pong');
  ws.ping(Buffer.from('are you there'));
  const [pdata] = await pong;
  if (pdata.toString() !== 'are you there') fail(`pong payload ${JSON.stringify(pdata.toString())}`);

  const closed = next(ws, 'close');
  ws.close(4000, 'bye');
  const [code, reason] = await closed;
  if (code !== 4000) fail(`close code ${code} (reason ${JSON.stringify(reason.toString())}), want 4000`);

  console.log(`client.js: ok: ${sizes.length * 2} echoes, ping, protocol, close ${code}`);
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
