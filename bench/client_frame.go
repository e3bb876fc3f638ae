package bench

import (
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/gobwas/ws"
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

// Server frame errors: the echo broke RFC 6455 §5.2 (or the client's view of
// an echo). Preallocated; returned by clientReader.next.
var (
	errClientMaskedFrame   = errors.New("bench: client: server sent a masked frame")
	errClientReservedBits  = errors.New("bench: client: server set RSV bits")
	errClientBadOpcode     = errors.New("bench: client: server sent a reserved opcode")
	errClientBadControl    = errors.New("bench: client: server sent a fragmented or long control frame")
	errClientBadContinue   = errors.New("bench: client: server sent a continuation with no message open")
	errClientNestedMessage = errors.New("bench: client: server started a message inside another")
	errClientTooLong       = errors.New("bench: client: server sent a frame longer than the limit")
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

// clientFrameHeader is the part of a server frame header the client needs.
type clientFrameHeader struct {
	length uint64
	op     ws.OpCode
	fin    bool
}

// clientParseHeader parses the server frame header at the start of p
// (RFC 6455 §5.2) with parseFrameHeader: unmasked, data frames at most
// maxLen bytes. It returns n == 0 and a nil error while p holds only part
// of a header. It does not allocate.
func clientParseHeader(p []byte, maxLen uint64) (h clientFrameHeader, n int, err error) {
	length, b0, n, v := parseFrameHeader(p, false, int64(min(maxLen, 1<<63-1)))
	h = clientFrameHeader{length: uint64(length), op: ws.OpCode(b0 & 0x0f), fin: b0&0x80 != 0}
	switch v {
	case frameOK:
		return h, n, nil
	case frameReserved:
		return h, 0, errClientReservedBits
	case frameMasking:
		return h, 0, errClientMaskedFrame
	case frameOpcode:
		return h, 0, errClientBadOpcode
	case frameControl:
		return h, 0, errClientBadControl
	default: // frameTooLong, frameBadLength
		return h, 0, errClientTooLong
	}
}

// clientEvent is what clientReader.next stopped on.
type clientEvent uint8

const (
	clientEvMore    clientEvent = iota // p is used up: feed more
	clientEvMessage                    // a whole data message arrived
	clientEvPing                       // a Ping arrived (its payload is skipped)
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
}

// next consumes bytes of p until an event: a whole message (msg says what it
// carried), a Ping, a Pong or a Close; or until p is used up or holds only
// part of a frame header (clientEvMore). n is the number of bytes consumed;
// the caller calls next again with p[n:] after an event. A protocol error
// stops the connection. It does not allocate.
func (r *clientReader) next(p []byte) (n int, ev clientEvent, msg clientMessage, err error) {
	for {
		if !r.inFrame {
			h, hn, err := clientParseHeader(p[n:], clientMaxSize)
			if err != nil || hn == 0 {
				return n, clientEvMore, msg, err
			}
			n += hn
			switch {
			case h.op.IsControl():
			case h.op == ws.OpContinuation && !r.inMsg:
				return n, clientEvMore, msg, errClientBadContinue
			case h.op != ws.OpContinuation && r.inMsg:
				return n, clientEvMore, msg, errClientNestedMessage
			default:
				r.inMsg = true
			}
			r.inFrame, r.op, r.fin, r.remain = true, h.op, h.fin, h.length
		}
		take := min(r.remain, uint64(len(p)-n))
		if !r.op.IsControl() {
			r.check(p[n : n+int(take)])
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
	f.buf = clientAppendHeader(make([]byte, 0, ws.MaxHeaderSize+size), h)
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

// clientAppendHeader appends the frame header h (RFC 6455 §5.2) to dst.
func clientAppendHeader(dst []byte, h ws.Header) []byte {
	b0 := byte(h.OpCode)
	if h.Fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.Masked {
		b1 = 0x80
	}
	switch {
	case h.Length < 126:
		dst = append(dst, b0, b1|byte(h.Length))
	case h.Length <= 0xffff:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.Length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.Length))
	}
	if h.Masked {
		dst = append(dst, h.Mask[:]...)
	}
	return dst
}

// clientAppendControl appends a masked control frame with payload (at most
// 125 bytes) to dst (RFC 6455 §5.5). It does not allocate beyond growing dst.
func clientAppendControl(dst []byte, op ws.OpCode, mask [4]byte, payload []byte) []byte {
	dst = clientAppendHeader(dst, ws.Header{Fin: true, OpCode: op, Masked: true, Mask: mask, Length: int64(len(payload))})
	n := len(dst)
	dst = append(dst, payload...)
	ws.Cipher(dst[n:], mask, 0)
	return dst
}
