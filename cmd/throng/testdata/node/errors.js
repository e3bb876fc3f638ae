'use strict';
// node errors.js HOST:PORT — how throng refuses and fails, as a Node client
// sees it. The proxy at HOST:PORT routes /dead to a backend with nothing
// listening and everything else to an echo backend. Checks:
//   - /dead: the handshake gets 'unexpected-response' with status 502;
//   - a plain HTTP GET without Upgrade gets 426 and "Upgrade: websocket";
//   - a frame with RSV2 set and no extension negotiated (RFC 6455 §5.2) gets
//     a Close 1002 from the proxy.
// Exits 0 on success, 1 with a message.

const http = require('http');
const WebSocket = require('ws');

const addr = process.argv[2];
if (!addr) fail('usage: node errors.js host:port');
const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
setTimeout(() => fail('timed out after 30s'), 30000).unref();
// Nothing left to wait for, yet not done: a promise that will never settle.
process.on('beforeExit', () => fail('stalled: the event loop emptied before the checks finished'));

function fail(msg) {
  console.error('errors.js: FAIL: ' + msg);
  process.exit(1);
}

function backendRefused() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}/dead`);
    ws.on('open', () => reject(new Error('/dead: opened, want 502')));
    ws.on('error', (err) => reject(new Error(`/dead: error ${err.message}, want unexpected-response 502`)));
    ws.on('unexpected-response', (req, res) => {
      res.resume();
      req.destroy();
      if (res.statusCode !== 502) reject(new Error(`/dead: status ${res.statusCode}, want 502`));
      else resolve();
    });
  });
}

function plainGet() {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', agent: false }, (res) => {
      res.resume();
      if (res.statusCode !== 426) {
        reject(new Error(`plain GET: status ${res.statusCode}, want 426`));
      } else if ((res.headers.upgrade || '').toLowerCase() !== 'websocket') {
        reject(new Error(`plain GET: upgrade header ${JSON.stringify(res.headers.upgrade)}, want websocket`));
      } else {
        resolve();
      }
    });
    req.on('error', (err) => reject(new Error(`plain GET: ${err.message}`)));
  });
}

function reservedBit() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}/`);
    ws.on('error', () => {}); // the close code below is what counts
    ws.on('open', () => {
      // FIN, RSV2, text; masked, 2 bytes "hi".
      const mask = Buffer.from([1, 2, 3, 4]);
      const body = Buffer.from('hi').map((b, i) => b ^ mask[i % 4]);
      ws._socket.write(Buffer.concat([Buffer.from([0x80 | 0x20 | 0x1, 0x80 | body.length]), mask, body]));
    });
    ws.on('message', (data) => reject(new Error(`RSV2 frame: got a message of ${data.length} bytes, want Close 1002`)));
    ws.on('close', (code) => {
      if (code !== 1002) reject(new Error(`RSV2 frame: close code ${code}, want 1002`));
      else resolve();
    });
  });
}

async function main() {
  await backendRefused();
  await plainGet();
  await reservedBit();
  console.log('errors.js: ok: 502, 426, 1002');
  process.exit(0);
}

main().catch((err) => fail(err.message));
