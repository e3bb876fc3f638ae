'use strict';
// node msglimits.js HOST:PORT — per-message rate limits as a Node client
// sees them. The proxy at HOST:PORT allows /close 5 messages a second
// (burst 5) with rate_limit_action = "close". Checks: a burst of 20
// messages sent at once is closed with 1008 (policy violation), cleanly
// (not 1006: the proxy reads on until the client's Close answers), and
// what was echoed before it is a prefix of the first 5 (the Close goes as
// the sixth message is read; later echoes are not sent).
// Exits 0 on success, 1 with a message.

const WebSocket = require('ws');

const addr = process.argv[2];
if (!addr) fail('usage: node msglimits.js host:port');
setTimeout(() => fail('timed out after 20s'), 20000).unref();

function fail(msg) {
  console.error('msglimits.js: FAIL: ' + msg);
  process.exit(1);
}

const ws = new WebSocket(`ws://${addr}/close`);
const echoed = [];
ws.on('open', () => {
  for (let i = 0; i < 20; i++) ws.send(`n${i}`);
});
ws.on('message', (data) => echoed.push(data.toString()));
ws.on('error', (err) => fail(`error ${err.message}`));
ws.on('close', (code) => {
  if (code !== 1008) fail(`closed with ${code}, want 1008`);
  const want = ['n0', 'n1', 'n2', 'n3', 'n4'];
  if (echoed.length > 5 || echoed.join(',') !== want.slice(0, echoed.length).join(',')) {
    fail(`echoed ${JSON.stringify(echoed)}, want a prefix of ${JSON.stringify(want)}`);
  }
  console.log(`ok: ${echoed.length} echoed, then 1008`);
  process.exit(0);
});
