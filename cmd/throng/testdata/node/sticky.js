'use strict';
// node sticky.js ws://PROXY/ — the sticky cookie as Node's ws client sees
// it: the first 101 carries Set-Cookie for the backend that answered (named
// by its X-Backend header); sending the cookie back lands on that backend
// every time and is not answered with another cookie; a tampered value is
// ignored and answered with a fresh cookie. Exits 0 on success, 1 with a
// message.

const WebSocket = require('ws');

const url = process.argv[2];
if (!url) fail('usage: node sticky.js ws://host:port/');
setTimeout(() => fail('timed out after 30s'), 30000).unref();

function fail(msg) {
  console.error('sticky.js: FAIL: ' + msg);
  process.exit(1);
}

// open connects with extra headers and resolves with the 101's headers.
function open(headers) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('upgrade', (res) => {
      resolve(res.headers);
      ws.terminate();
    });
    ws.on('error', reject);
    ws.on('unexpected-response', (req, res) => reject(new Error('status ' + res.statusCode)));
  });
}

function cookieOf(headers) {
  const sc = headers['set-cookie'] || [];
  for (const c of sc) {
    if (c.startsWith('throng_backend=')) return c.split(';')[0];
  }
  return '';
}

(async () => {
  const first = await open({});
  const backend = first['x-backend'];
  const cookie = cookieOf(first);
  if (!backend || !cookie) fail('first 101 lacks X-Backend or the cookie: ' + JSON.stringify(first));
  if (!/HttpOnly/.test((first['set-cookie'] || []).join(';'))) fail('cookie not HttpOnly');
  for (let i = 0; i < 8; i++) {
    const h = await open({ Cookie: 'theme=dark; ' + cookie });
    if (h['x-backend'] !== backend) fail(`handshake ${i} with the cookie went to ${h['x-backend']}, not ${backend}`);
    if (cookieOf(h)) fail(`handshake ${i} with a valid cookie was sent another`);
  }
  const value = cookie.split('=')[1];
  const tampered = 'throng_backend=' + (value[0] === 'A' ? 'B' : 'A') + value.slice(1);
  const h = await open({ Cookie: tampered });
  if (!cookieOf(h) || cookieOf(h) === tampered) fail('a tampered cookie was not answered with a fresh one');
  console.log(`ok: ${backend} kept for 8 handshakes with ${cookie.length}-byte cookie`);
  process.exit(0);
})().catch((err) => fail(err.message));
