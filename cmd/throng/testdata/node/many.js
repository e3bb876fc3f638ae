'use strict';
// node many.js ws://PROXY/ [clients] [messages] — many concurrent Node ws
// clients through throng, each echoing messages of random sizes up to 4 KiB
// one after another; every echo must match. Exits 0 on success, 1 with a
// message.

const crypto = require('crypto');
const WebSocket = require('ws');

const url = process.argv[2];
const clients = Number(process.argv[3] || 200);
const messages = Number(process.argv[4] || 20);
if (!url) fail('usage: node many.js ws://host:port/ [clients] [messages]');
setTimeout(() => fail('timed out after 60s'), 60000).unref();
// Nothing left to wait for, yet not done: a promise that will never settle.
process.on('beforeExit', () => fail('stalled: the event loop emptied before the checks finished'));

function fail(msg) {
  console.error('many.js: FAIL: ' + msg);
  process.exit(1);
}

// run opens one client, echoes its messages in turn and closes.
function run(id) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    let i = 0;
    let want = null;
    const sendNext = () => {
      want = crypto.randomBytes(crypto.randomInt(0, 4097));
      ws.send(want);
    };
    ws.on('open', sendNext);
    ws.on('message', (data, isBinary) => {
      if (!isBinary || !want.equals(data)) {
        reject(new Error(`client ${id} message ${i}: sent ${want.length} bytes, got ${data.length} (binary=${isBinary})`));
        ws.terminate();
        return;
      }
      if (++i < messages) {
        sendNext();
        return;
      }
      ws.close(1000);
    });
    ws.on('close', (code) => {
      if (i === messages) resolve();
      else reject(new Error(`client ${id} closed with ${code} after ${i} of ${messages} messages`));
    });
    ws.on('error', (err) => reject(new Error(`client ${id}: ${err.message}`)));
  });
}

async function main() {
  const all = [];
  for (let id = 0; id < clients; id++) all.push(run(id));
  const results = await Promise.allSettled(all);
  const bad = results.filter((r) => r.status === 'rejected');
  if (bad.length > 0) {
    fail(`${bad.length} of ${clients} clients failed; first: ${bad[0].reason.message}`);
  }
  console.log(`many.js: ok: ${clients} clients x ${messages} messages`);
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
