'use strict';
// node hardening.js HOST:PORT — issue 9's defects as Node's ws client (and
// Node's own HTTP parser, llhttp) sees them through throng. The backend
// behind HOST:PORT answers by path:
//   /spoof     101, telling in X-Seen what client-address headers it got;
//   /chunked   403 with a chunked body "go away" in two chunks;
//   /cut       403 announcing 99999999 bytes, sending 1000, then closing;
//   /bad-close 101, then a Close with code 1005, which may not be sent.
// Checks: no spoofed address reaches the backend; the chunked refusal
// arrives whole; the cut one arrives visibly incomplete; the forbidden
// Close reaches the client as the proxy's 1001, not as 1005.
// Exits 0 on success, 1 with a message.

const WebSocket = require('ws');

const addr = process.argv[2];
if (!addr) fail('usage: node hardening.js host:port');
setTimeout(() => fail('timed out after 30s'), 30000).unref();
process.on('beforeExit', () => fail('stalled: the event loop emptied before the checks finished'));

function fail(msg) {
  console.error('hardening.js: FAIL: ' + msg);
  process.exit(1);
}

function spoof() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}/spoof`, {
      headers: { 'X-Real-IP': '1.2.3.4', Forwarded: 'for=1.2.3.4;proto=https', 'True-Client-IP': '1.2.3.4' },
    });
    ws.on('error', (err) => reject(new Error(`/spoof: ${err.message}`)));
    ws.on('upgrade', (res) => {
      const seen = res.headers['x-seen'];
      if (seen !== 'none') reject(new Error(`/spoof: the backend saw ${JSON.stringify(seen)}, want none`));
      else resolve();
      ws.terminate();
    });
  });
}

// refusal opens path and resolves with the refusal's status, body and
// whether Node's parser saw it complete.
function refusal(path) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}${path}`);
    ws.on('open', () => reject(new Error(`${path}: opened, want a refusal`)));
    ws.on('error', (err) => reject(new Error(`${path}: ${err.message}, want unexpected-response`)));
    ws.on('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { body += d; });
      const done = () => resolve({ status: res.statusCode, body, complete: res.complete });
      res.on('end', done);
      res.on('aborted', done);
      res.on('error', done);
      res.on('close', done);
    });
  });
}

function badClose() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${addr}/bad-close`);
    ws.on('error', () => {}); // the close code below is what counts
    ws.on('close', (code) => {
      if (code !== 1001) reject(new Error(`/bad-close: close code ${code}, want the proxy's 1001`));
      else resolve();
    });
  });
}

(async () => {
  await spoof();
  const chunked = await refusal('/chunked');
  if (chunked.status !== 403 || chunked.body !== 'go away' || !chunked.complete) {
    fail(`/chunked: ${JSON.stringify(chunked)}, want 403 "go away", complete`);
  }
  const cut = await refusal('/cut');
  if (cut.status !== 403 || cut.body.length !== 1000 || cut.complete) {
    fail(`/cut: status ${cut.status}, ${cut.body.length} bytes, complete ${cut.complete}; want 403, 1000 bytes, incomplete`);
  }
  await badClose();
  console.log('hardening.js: ok');
  process.exit(0);
})().catch((err) => fail(err.message));
