'use strict';
// node pings.js HOST:PORT — proxy pings as a Node client sees them. The
// proxy at HOST:PORT pings clients silent for 1 s and closes those that do
// not answer within 1 s. ws answers Pings by itself. Checks: two Pings
// arrive while the client says nothing, and after them (past ping_interval
// plus pong_timeout, twice) the session still echoes.
// Exits 0 on success, 1 with a message.

const WebSocket = require('ws');

const addr = process.argv[2];
if (!addr) fail('usage: node pings.js host:port');
setTimeout(() => fail('timed out after 20s'), 20000).unref();

function fail(msg) {
  console.error('pings.js: FAIL: ' + msg);
  process.exit(1);
}

const ws = new WebSocket(`ws://${addr}/`);
let pings = 0;
ws.on('ping', () => {
  pings++;
  if (pings === 2) ws.send('after two pings');
});
ws.on('message', (data) => {
  if (data.toString() !== 'after two pings') fail(`echo ${data}`);
  console.log('ok: 2 pings answered, the session echoes');
  ws.close(1000);
});
ws.on('close', (code) => {
  if (code !== 1000) fail(`closed with ${code} after ${pings} pings`);
  process.exit(0);
});
ws.on('error', (err) => fail(`error ${err.message}`));
