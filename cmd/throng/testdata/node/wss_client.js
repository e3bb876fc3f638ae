'use strict';
// node wss_client.js wss://PROXY/ SERVERNAME CA.pem — Node's ws client over
// TLS through throng to the echo backend: the certificate is verified
// against the test CA for SERVERNAME (sent as SNI), text and binary messages
// of the edge sizes of RFC 6455 §5.2 and of TLS records (16 KiB) come back
// byte-exact, and the close handshake completes. Exits 0 on success, 1 with
// a message.

const crypto = require('crypto');
const fs = require('fs');
const WebSocket = require('ws');

const [url, servername, caFile] = process.argv.slice(2);
if (!url || !servername || !caFile) fail('usage: node wss_client.js wss://host:port/ servername ca.pem');
setTimeout(() => fail('timed out after 50s'), 50000).unref();
process.on('beforeExit', () => fail('stalled: the event loop emptied before the checks finished'));

const sizes = [0, 1, 125, 126, 16383, 16384, 16385, 65536, 1 << 20];

function fail(msg) {
  console.error('wss_client.js: FAIL: ' + msg);
  process.exit(1);
}

function once(ws, name) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => { cleanup(); resolve(args); };
    const onClose = (code) => { cleanup(); reject(new Error(`closed with ${code} while waiting for ${name}`)); };
    const onError = (err) => { cleanup(); reject(err); };
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

async function main() {
  const ws = new WebSocket(url, { ca: fs.readFileSync(caFile), servername });
  await once(ws, 'open');
  const sock = ws._socket;
  const proto = sock.getProtocol();
  if (proto !== 'TLSv1.3' && proto !== 'TLSv1.2') fail('negotiated ' + proto);
  for (const n of sizes) {
    for (const binary of [false, true]) {
      const sent = binary ? crypto.randomBytes(n) : 'x'.repeat(n);
      ws.send(sent, { binary });
      const [data, isBinary] = await once(ws, 'message');
      if (isBinary !== binary) fail(`size ${n}: binary ${isBinary}, want ${binary}`);
      const got = binary ? data : data.toString();
      if (binary ? !Buffer.from(got).equals(sent) : got !== sent) fail(`size ${n} binary ${binary}: echo differs`);
    }
  }
  ws.close(1000, 'done');
  const [code] = await once(ws, 'close');
  if (code !== 1000) fail('close code ' + code);
  console.log(`ok: ${proto}, ${sizes.length * 2} messages echoed`);
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
