'use strict';
// node restart.js ws://PROXY/ [clients] [seconds] — clients that open one
// session after the other for that long (handshake, one echo, close), as
// users do while throng restarts. A handshake that is refused or reset
// fails; a Close 1001 after the 101 is a drain, which a client survives by
// reconnecting. Prints "ok=N failed=M" and exits 1 on any failure.

const WebSocket = require('ws');

const url = process.argv[2];
const clients = Number(process.argv[3] || 4);
const seconds = Number(process.argv[4] || 5);
if (!url) fail('usage: node restart.js ws://host:port/ [clients] [seconds]');
setTimeout(() => fail('timed out'), (seconds + 30) * 1000).unref();

function fail(msg) {
  console.error('restart.js: FAIL: ' + msg);
  process.exit(1);
}

const end = Date.now() + seconds * 1000;
let ok = 0;
const errors = [];

// session resolves true for a session that went as a restart allows,
// false (with the reason in errors) for a failed one.
function session(id, n) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: 5000 });
    const msg = `node client ${id} session ${n}`;
    let opened = false;
    let done = false;
    const finish = (good, why) => {
      if (done) return;
      done = true;
      if (!good) errors.push(why);
      ws.terminate();
      resolve(good);
    };
    ws.on('unexpected-response', (_req, res) => finish(false, `client ${id}: handshake answered ${res.statusCode}`));
    ws.on('open', () => {
      opened = true;
      ws.send(msg);
    });
    ws.on('message', (data) => {
      if (data.toString() !== msg) finish(false, `client ${id}: echo ${data} for ${msg}`);
      else ws.close(1000);
    });
    ws.on('close', (code) => {
      if (!opened) finish(false, `client ${id}: closed (${code}) before the handshake`);
      else finish(code === 1000 || code === 1001 || code === 1005, `client ${id}: close ${code}`);
    });
    ws.on('error', (err) => {
      if (!opened) finish(false, `client ${id}: handshake: ${err.message}`);
    });
  });
}

async function client(id) {
  for (let n = 0; Date.now() < end; n++) {
    if (await session(id, n)) ok++;
  }
}

async function main() {
  const all = [];
  for (let id = 0; id < clients; id++) all.push(client(id));
  await Promise.all(all);
  console.log(`ok=${ok} failed=${errors.length}`);
  if (errors.length > 0) fail(`${errors.length} sessions failed; first: ${errors.slice(0, 5).join('; ')}`);
  if (ok === 0) fail('no session succeeded');
  process.exit(0);
}

main();
