'use strict';
// watch(socket) counts the WebSocket frames (RFC 6455 §5.2) that arrive on
// socket, and how many carry RSV1, the "compressed" bit of permessage-deflate
// (RFC 7692 §6). It only listens: the ws library reads the same 'data'
// events. Attach it before any frame arrives.

function watch(socket) {
  const stats = { frames: 0, rsv1: 0, rsv23: 0, bytes: 0 };
  let hdr = Buffer.alloc(0); // header bytes of the next frame, so far
  let skip = 0; // payload bytes of the current frame still to come
  socket.on('data', (chunk) => {
    stats.bytes += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - off);
        skip -= n;
        off += n;
        continue;
      }
      const need = hdr.length < 2 ? 2 : headerLength(hdr);
      const n = Math.min(need - hdr.length, chunk.length - off);
      hdr = Buffer.concat([hdr, chunk.subarray(off, off + n)]);
      off += n;
      if (hdr.length < 2 || hdr.length < headerLength(hdr)) continue;
      stats.frames++;
      if (hdr[0] & 0x40) stats.rsv1++;
      if (hdr[0] & 0x30) stats.rsv23++;
      skip = payloadLength(hdr);
      hdr = Buffer.alloc(0);
    }
  });
  return stats;
}

// headerLength returns the length of the frame header whose first two bytes
// are at the start of b.
function headerLength(b) {
  const len7 = b[1] & 0x7f;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  return 2 + ext + (b[1] & 0x80 ? 4 : 0);
}

// payloadLength returns the payload length of the whole header h.
function payloadLength(h) {
  const len7 = h[1] & 0x7f;
  if (len7 === 126) return h.readUInt16BE(2);
  if (len7 === 127) return Number(h.readBigUInt64BE(2));
  return len7;
}

module.exports = { watch };
