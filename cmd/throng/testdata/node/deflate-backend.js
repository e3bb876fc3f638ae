'use strict';
// node deflate-backend.js HOST:PORT — a Node ws echo backend that accepts
// permessage-deflate (RFC 7692) and compresses every message it sends
// (threshold 0). It prints READY once listening.
//
//   /echo?id=ID   echoes each message back as it came (text or binary) and
//                 remembers, under ID, the upgrade request's headers and the
//                 frames that arrived (how many with RSV1).
//   /stats?id=ID  sends one text message, JSON {headers, frames, rsv1,
//                 rsv23, bytes} for ID (null if unknown), then closes 1000.
//
// It runs until killed.

const WebSocket = require('ws');
const { watch } = require('./frames');

const addr = process.argv[2];
if (!addr) {
  console.error('deflate-backend.js: usage: node deflate-backend.js host:port');
  process.exit(2);
}
const i = addr.lastIndexOf(':');
const seen = new Map(); // id → {headers, stats}

const wss = new WebSocket.WebSocketServer({
  host: addr.slice(0, i),
  port: Number(addr.slice(i + 1)),
  perMessageDeflate: { threshold: 0 },
});

wss.on('connection', (ws, req) => {
  const u = new URL(req.url, 'http://backend');
  const id = u.searchParams.get('id') || '';
  if (u.pathname === '/stats') {
    const s = seen.get(id);
    ws.send(JSON.stringify(s ? { headers: s.headers, ...s.stats } : null), () => ws.close(1000));
    return;
  }
  seen.set(id, { headers: req.headers, stats: watch(ws._socket) });
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (err) => console.error(`deflate-backend.js: ${id}: ${err.message}`));
});

wss.on('error', (err) => {
  console.error('deflate-backend.js: ' + err.message);
  process.exit(1);
});

wss.on('listening', () => console.log('READY'));
