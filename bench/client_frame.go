package bench

import (
	"bytes"
	"encoding/binary"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bench/wsframe"
)

// Load generator message layout: every message the client sends is one
// masked binary frame whose payload starts with clientStampLen bytes, the
// send time (nanoseconds since the run started, little endian) and the
// message's sequence number on its connection; the rest is the run's fixed
// pattern (clientPattern). The echo must come back byte for byte, in order.
const (
	clientStampLen = 16
	// clientMinSize is the smallest message payload: the stamp.
	clientMinSize = clientStampLen
	// clientMaxSize bounds the message payload (16 MiB).
	clientMaxSize = 16 << 20
)

// clientPattern returns the bytes that follow the stamp in every message of
// size bytes: byte i is i*31+7 truncated, so shifted or dropped bytes show.
func clientPattern(size int) []byte {
	p := make([]byte, max(size-clientStampLen, 0))
	for i := range p {
		p[i] = byte(i*31 + 7)
	}
	return p
}

// clientEvent is what clientReader.next stopped on.
type clientEvent uint8

const (
	clientEvMore    clientEvent = iota // p is used up: feed more
	clientEvMessage                    // a whole data message arrived
	clientEvPing                       // a Ping arrived (its payload in clientReader.pingPayload)
	clientEvPong                       // a Pong arrived (its payload is skipped)
	clientEvClose                      // a Close arrived
)

// String returns the event's name.
func (e clientEvent) String() string {
	switch e {
	case clientEvMore:
		return "more"
	case clientEvMessage:
		return "message"
	case clientEvPing:
		return "ping"
	case clientEvPong:
		return "pong"
	case clientEvClose:
		return "close"
	default:
		return "unknown"
	}
}

// clientMessage is a message the echo brought back: the stamp it carries,
// and whether everything else matched (size and pattern).
type clientMessage struct {
	sentNanos int64
	seq       uint64
	ok        bool
}

// clientReader follows the server's frames on one connection, message by
// message, as they arrive in any pieces, and checks each echoed message
// against the run's pattern without keeping it. Pieces of a frame header
// are not consumed: the caller keeps them (gnet's inbound buffer) and feeds
// them again with more bytes. The zero value needs pattern and size set. It
// does not allocate and is not safe for concurrent use.
type clientReader struct {
	pattern []byte // read-only, shared by the run: payload after the stamp
	size    uint64 // payload length of every message

	remain  uint64    // payload bytes of the current frame still to come
	msgOff  uint64    // bytes of the open message seen so far
	op      ws.OpCode // opcode of the current frame
	inFrame bool      // a header has been consumed, its payload not all
	fin     bool      // the current frame ends its message
	inMsg   bool      // a data message is open
	bad     bool      // the open message differs from what was sent
	stamp   [clientStampLen]byte
	// ping holds the payload of the Ping being read, which the Pong that
	// answers it must echo (RFC 6455 §5.5.3): a proxy that pings checks it.
	ping  [ws.MaxControlFramePayloadSize]byte
	nping uint8
}

// pingPayload is the payload of the Ping next just returned.
func (r *clientReader) pingPayload() []byte { return r.ping[:r.nping] }

// next consumes bytes of p until an event: a whole message (msg says what it
// carried), a Ping, a Pong or a Close; or until p is used up or holds only
// part of a frame header (clientEvMore). n is the number of bytes consumed;
// the caller calls next again with p[n:] after an event. A protocol error (a
// *wsframe.Error) stops the connection. It does not allocate.
func (r *clientReader) next(p []byte) (n int, ev clientEvent, msg clientMessage, err error) {
	for {
		if !r.inFrame {
			h, hn, err := wsframe.ParseHeader(p[n:], false, clientMaxSize)
			if err != nil || hn == 0 {
				return n, clientEvMore, msg, err
			}
			n += hn
			switch {
			case h.OpCode.IsControl():
			case h.OpCode == ws.OpContinuation && !r.inMsg:
				return n, clientEvMore, msg, wsframe.ErrUnexpectedContinuation
			case h.OpCode != ws.OpContinuation && r.inMsg:
				return n, clientEvMore, msg, wsframe.ErrExpectedContinuation
			default:
				r.inMsg = true
			}
			r.inFrame, r.op, r.fin, r.remain = true, h.OpCode, h.Fin, uint64(h.Length)
			r.nping = 0
		}
		take := min(r.remain, uint64(len(p)-n))
		switch {
		case !r.op.IsControl():
			r.check(p[n : n+int(take)])
		case r.op == ws.OpPing:
			r.nping += uint8(copy(r.ping[r.nping:], p[n:n+int(take)]))
		}
		n += int(take)
		r.remain -= take
		if r.remain > 0 {
			return n, clientEvMore, msg, nil
		}
		r.inFrame = false
		switch r.op {
		case ws.OpPing:
			return n, clientEvPing, msg, nil
		case ws.OpClose:
			return n, clientEvClose, msg, nil
		case ws.OpPong:
			return n, clientEvPong, msg, nil
		}
		if r.fin {
			return n, clientEvMessage, r.finish(), nil
		}
		if n == len(p) {
			return n, clientEvMore, msg, nil
		}
	}
}

// check compares the next bytes b of the open message with what was sent,
// keeping the stamp.
func (r *clientReader) check(b []byte) {
	if r.msgOff < clientStampLen {
		k := copy(r.stamp[r.msgOff:], b)
		r.msgOff += uint64(k)
		b = b[k:]
	}
	if len(b) == 0 {
		return
	}
	off := r.msgOff - clientStampLen
	r.msgOff += uint64(len(b))
	if off+uint64(len(b)) > uint64(len(r.pattern)) || !bytes.Equal(b, r.pattern[off:off+uint64(len(b))]) {
		r.bad = true
	}
}

// finish ends the open message and says what it carried.
func (r *clientReader) finish() clientMessage {
	msg := clientMessage{ok: !r.bad && r.msgOff == r.size}
	if r.msgOff >= clientStampLen {
		msg.sentNanos = int64(binary.LittleEndian.Uint64(r.stamp[0:8]))
		msg.seq = binary.LittleEndian.Uint64(r.stamp[8:16])
	}
	r.inMsg, r.bad, r.msgOff = false, false, 0
	return msg
}

// clientFrame is one connection's outgoing message: a masked binary frame
// whose pattern is masked once, so each send rewrites only the stamp.
type clientFrame struct {
	buf   []byte  // header + masked payload
	hdr   int     // header length
	mask  [4]byte // masking key (RFC 6455 §5.3)
	plain [clientStampLen]byte
}

// newClientFrame builds the frame for messages of len(pattern)+16 bytes
// masked with mask. It allocates the frame once.
func newClientFrame(pattern []byte, mask [4]byte) clientFrame {
	size := clientStampLen + len(pattern)
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: mask, Length: int64(size)}
	f := clientFrame{mask: mask}
	f.buf = wsframe.AppendHeader(make([]byte, 0, ws.MaxHeaderSize+size), h)
	f.hdr = len(f.buf)
	f.buf = append(f.buf, make([]byte, clientStampLen)...)
	f.buf = append(f.buf, pattern...)
	ws.Cipher(f.buf[f.hdr+clientStampLen:], mask, clientStampLen)
	return f
}

// stamp writes sentNanos and seq into the frame and returns it; the slice
// lives until the next stamp. It does not allocate.
func (f *clientFrame) stamp(sentNanos int64, seq uint64) []byte {
	binary.LittleEndian.PutUint64(f.plain[0:8], uint64(sentNanos))
	binary.LittleEndian.PutUint64(f.plain[8:16], seq)
	for i, b := range f.plain {
		f.buf[f.hdr+i] = b ^ f.mask[i&3]
	}
	return f.buf
}

// clientAppendControl appends a masked control frame with payload (at most
// 125 bytes) to dst (RFC 6455 §5.5). It does not allocate beyond growing dst.
func clientAppendControl(dst []byte, op ws.OpCode, mask [4]byte, payload []byte) []byte {
	dst = wsframe.AppendHeader(dst, ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))})
	n := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[n:], mask, 0)
	return dst
}
