'use strict';
// node flow.js PROXY BACKEND — flow control as Node's ws sees it through
// throng. The script runs the backend itself, a ws echo server on BACKEND
// (host:port) that throng at PROXY forwards to. Checks:
//   - a client that writes one 8 MiB, then one 16 MiB, binary message and
//     reads only once its write is done (its socket paused) gets each echo
//     whole: throng slows the backend down rather than cutting anyone off;
//   - a backend that reads nothing for 3 s while the client sends 10 MiB in
//     64 KiB messages gets every message, in order, once it reads again.
// Exits 0 on success, 1 with a message.

const WebSocket = require('ws');

const [proxy, backend] = process.argv.slice(2);
if (!proxy || !backend) fail('usage: node flow.js proxy-host:port backend-host:port');
setTimeout(() => fail('timed out after 90s'), 90000).unref();

function fail(msg) {
  console.error('flow.js: FAIL: ' + msg);
  process.exit(1);
}

const [bhost, bport] = [backend.slice(0, backend.lastIndexOf(':')), Number(backend.slice(backend.lastIndexOf(':') + 1))];
const server = new WebSocket.Server({ host: bhost, port: bport, maxPayload: 64 << 20 });
server.on('connection', (ws, req) => {
  if (req.url === '/stall') {
    stallingBackend(ws);
    return;
  }
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

// numbered is message i of a numbered stream: its number, then filler.
function numbered(i, size) {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32BE(i, 0);
  return b;
}

function stallingBackend(ws) {
  const msgs = 160;
  let next = 0;
  ws._socket.pause(); // busy: reads nothing for 3 s
  setTimeout(() => ws._socket.resume(), 3000);
  ws.on('message', (data) => {
    if (data.length !== 64 << 10 || data.readUInt32BE(0) !== next) {
      ws.send(`message ${next}: got ${data.length} bytes numbered ${data.readUInt32BE(0)}`);
      ws.close();
      return;
    }
    next++;
    if (next === msgs) ws.send('all in order');
  });
}

function bigEcho(size) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${proxy}/`, { maxPayload: 64 << 20 });
    const msg = Buffer.alloc(size);
    for (let i = 0; i + 4 <= size; i += 4096) msg.writeUInt32BE(i, i);
    let done = false;
    ws.on('error', (err) => reject(new Error(`${size >> 20} MiB: ${err.message}`)));
    ws.on('close', (code) => { if (!done) reject(new Error(`${size >> 20} MiB: closed with ${code} before the echo`)); });
    ws.on('open', () => {
      ws._socket.pause(); // read only after writing
      ws.send(msg, { binary: true }, (err) => {
        if (err) reject(err);
        else ws._socket.resume();
      });
    });
    ws.on('message', (data) => {
      done = true;
      if (!msg.equals(data)) reject(new Error(`${size >> 20} MiB: echo differs (${data.length} bytes)`));
      else resolve();
      ws.close();
    });
  });
}

function stalledBackend() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${proxy}/stall`);
    ws.on('error', (err) => reject(new Error(`/stall: ${err.message}`)));
    ws.on('open', () => {
      for (let i = 0; i < 160; i++) ws.send(numbered(i, 64 << 10), { binary: true });
    });
    ws.on('message', (data) => {
      if (data.toString() !== 'all in order') reject(new Error(`/stall: backend says ${data}`));
      else resolve();
      ws.close();
    });
  });
}

server.on('listening', async () => {
  try {
    await bigEcho(8 << 20);
    await bigEcho(16 << 20);
    await stalledBackend();
  } catch (err) {
    fail(err.message);
  }
  console.log('flow.js: ok: 8 MiB and 16 MiB echoed to a client reading after writing; 10 MiB reached a stalled backend in order');
  process.exit(0);
});
