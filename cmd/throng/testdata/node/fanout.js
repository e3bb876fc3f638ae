'use strict';
// node fanout.js HOST:PORT — a fan-out chat room as Node clients see it.
// The proxy at HOST:PORT serves /chat/ as a fan-out route whose clients'
// messages are published to their channel. Checks: two clients of
// /chat/nodes, once both are subscribed, each receive the other's message
// (and their own), in order, and the proxy answers a Ping.
// Exits 0 on success, 1 with a message.

const WebSocket = require('ws');

const addr = process.argv[2];
if (!addr) fail('usage: node fanout.js host:port');
setTimeout(() => fail('timed out after 20s'), 20000).unref();

function fail(msg) {
  console.error('fanout.js: FAIL: ' + msg);
  process.exit(1);
}

function open(name) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}/chat/nodes`);
    ws.got = [];
    ws.on('message', (d) => ws.got.push(d.toString()));
    ws.on('open', () => resolve(ws));
    ws.on('error', (e) => reject(new Error(`${name}: ${e.message}`)));
  });
}

(async () => {
  const a = await open('a');
  const b = await open('b');
  // Subscriptions on the bus take a moment: probe until both hear a.
  for (let i = 0; !(a.got.some((m) => m.startsWith('probe')) && b.got.some((m) => m.startsWith('probe'))); i++) {
    if (i > 200) fail('the room never heard a probe');
    a.send(`probe${i}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // Late probes may still land: they are filtered out below.
  a.got.length = 0;
  b.got.length = 0;
  a.send('one from a');
  b.send('one from b');
  const pong = new Promise((resolve) => a.once('pong', (d) => resolve(d.toString())));
  a.ping('are you there');
  if ((await pong) !== 'are you there') fail('the proxy did not answer the Ping');
  const deadline = Date.now() + 10000;
  while ((a.got.length < 2 || b.got.length < 2) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const [name, ws] of [['a', a], ['b', b]]) {
    const got = ws.got.filter((m) => !m.startsWith('probe')).sort();
    if (got.join('|') !== 'one from a|one from b') fail(`${name} got ${JSON.stringify(ws.got)}`);
  }
  console.log('ok: both heard both');
  a.close(1000);
  b.close(1000);
  process.exit(0);
})().catch((e) => fail(e.message));
