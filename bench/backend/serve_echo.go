package backend

import (
	"encoding/binary"
	"math"
	"unicode/utf8"

	"github.com/gobwas/ws"

	"github.com/throngproxy/throng/bench/wsframe"
)

// serveClose1002 is the Close frame sent on a client protocol error: status
// 1002, no reason (RFC 6455 §7.4.1). Read-only.
var serveClose1002 = []byte{0x80 | byte(ws.OpClose), 2, 0x03, 0xea}

// serveEchoOut is what one serveEcho.feed produces, in wire order: lead (a
// header or control frame kept in serveEcho), body (a span of the input,
// rewritten in place) and tail (a prebuilt Close). Any of them may be empty.
// The slices live until the next feed; body lives as long as the input.
type serveEchoOut struct {
	lead, body, tail []byte
}

// len returns the number of output bytes.
func (o *serveEchoOut) len() int { return len(o.lead) + len(o.body) + len(o.tail) }

// serveEcho is the per-connection echo state of the server side of RFC 6455:
// it turns the client's masked frames into the same frames unmasked, frame by
// frame and byte for byte as they arrive (cut-through: a frame is never held
// whole, except control frames, which are at most 125 bytes). Pings are
// answered with Pongs, Pongs are dropped, a Close is answered with a Close
// carrying the same status code, and a protocol error with Close 1002.
//
// It is not safe for concurrent use and does not allocate.
type serveEcho struct {
	h          ws.Header // frame in progress while left > 0
	left       int64     // payload bytes of h still to come
	pos        int64     // payload bytes of h already seen (mask offset)
	fragmented bool      // inside a fragmented data message
	done       bool      // Close sent: input is ignored
	hdrN       uint8     // bytes in hdr
	ctrlN      uint8     // payload bytes collected in ctrl[2:]
	hdr        [ws.MaxHeaderSize]byte
	lead       [ws.MaxHeaderSize]byte // header of a frame whose input header was split
	ctrl       [2 + ws.MaxControlFramePayloadSize]byte
}

// feed echoes the frames, or pieces of frames, in p. It unmasks and rewrites
// p in place, so the caller must own p and must send out before reading p
// again. closing reports that a Close was put into out (the peer's echo or
// 1002): the caller sends out and closes the connection once its output has
// drained; later input is ignored. It does not allocate.
func (e *serveEcho) feed(p []byte) (out serveEchoOut, closing bool) {
	if e.done {
		return out, false
	}
	body := serveSpan{start: -1}
	r := 0
	for r < len(p) && !e.done {
		if e.left == 0 {
			split := e.hdrN > 0
			n, ok, err := e.readHeader(p[r:])
			r += n
			if err != nil {
				out.tail, e.done = serveClose1002, true
				break
			}
			if !ok {
				break
			}
			e.left, e.pos = e.h.Length, 0
			switch {
			case e.h.OpCode.IsControl() && !split && int64(len(p)-r) >= e.left:
				// The whole control frame is in p: answer in place.
				end := r + int(e.left)
				ws.Cipher(p[r:end], e.h.Mask, 0)
				e.left = 0
				from, to := e.control(p, r, end, &out)
				body.emit(p, from, to)
				r = end
				continue
			case e.h.OpCode.IsControl():
				e.ctrlN = 0 // collect it in e.ctrl
			case split:
				e.fragmented = !e.h.Fin
				n := wsframe.PutHeader(e.lead[:0], e.h.Fin, e.h.OpCode, e.h.Length)
				out.lead = e.lead[:n]
			default:
				// The output header is shorter than the masked input header:
				// write it over the input header's tail, before the payload.
				e.fragmented = !e.h.Fin
				n := wsframe.HeaderSize(e.h.Length)
				wsframe.PutHeader(p[r-n:r-n], e.h.Fin, e.h.OpCode, e.h.Length)
				body.emit(p, r-n, r)
			}
			if e.left == 0 {
				if e.h.OpCode.IsControl() {
					e.answerCollected(&out) // empty, header split
				}
				continue
			}
		}
		take := len(p) - r
		if int64(take) > e.left {
			take = int(e.left)
		}
		chunk := p[r : r+take]
		ws.Cipher(chunk, e.h.Mask, int(e.pos&3))
		e.pos += int64(take)
		e.left -= int64(take)
		if !e.h.OpCode.IsControl() {
			body.emit(p, r, r+take)
			r += take
			continue
		}
		e.ctrlN += uint8(copy(e.ctrl[2+int(e.ctrlN):], chunk))
		r += take
		if e.left == 0 {
			e.answerCollected(&out)
		}
	}
	if body.start >= 0 {
		out.body = p[body.start:body.end]
	}
	return out, e.done
}

// serveSpan is the output gathered at the front of an input buffer: frames
// are moved down over the gaps that their longer input headers left.
type serveSpan struct {
	start, end int // p[start:end]; start < 0 while empty
}

// emit appends p[from:to] to the span. from must not be before the span's end.
func (s *serveSpan) emit(p []byte, from, to int) {
	switch {
	case from == to:
	case s.start < 0:
		s.start, s.end = from, to
	case from == s.end:
		s.end = to
	default:
		s.end += copy(p[s.end:], p[from:to])
	}
}

// answerCollected answers the control frame collected in e.ctrl. It began
// in an earlier feed, so its answer comes first in out.
func (e *serveEcho) answerCollected(out *serveEchoOut) {
	from, to := e.control(e.ctrl[:], 2, 2+int(e.ctrlN), out)
	out.lead = e.ctrl[from:to]
}

// readHeader parses a frame header from the saved partial header followed by
// p into e.h and checks it against the open message (RFC 6455 §5.4). It
// returns how many bytes of p it used and ok == false when the header is
// still incomplete (then all of p was saved). Frames may be of any length.
func (e *serveEcho) readHeader(p []byte) (n int, ok bool, err error) {
	src := p
	saved := int(e.hdrN)
	if saved > 0 {
		k := copy(e.hdr[saved:], p)
		src = e.hdr[:saved+k]
	}
	h, hn, err := wsframe.ParseHeader(src, true, math.MaxInt64)
	switch {
	case err != nil:
		return 0, false, err
	case hn == 0:
		// Incomplete: src is shorter than any header, so it all fits.
		e.hdrN = uint8(copy(e.hdr[:], src))
		return len(p), false, nil
	case h.OpCode.IsControl():
	case h.OpCode == ws.OpContinuation && !e.fragmented:
		return 0, false, wsframe.ErrUnexpectedContinuation
	case h.OpCode != ws.OpContinuation && e.fragmented:
		return 0, false, wsframe.ErrExpectedContinuation
	}
	e.hdrN = 0
	e.h = ws.Header{Fin: h.Fin, OpCode: h.OpCode, Length: h.Length, Masked: true, Mask: wsframe.Mask(src, hn)}
	return hn - saved, true, nil
}

// control answers the unmasked control payload b[from:to], which follows at
// least 2 bytes that are free for the answer's header, and returns the
// answer's span in b (empty for a Pong). A Close sets e.done; an invalid one
// is answered with out.tail = Close 1002 (RFC 6455 §5.5, §7.4).
func (e *serveEcho) control(b []byte, from, to int, out *serveEchoOut) (outFrom, outTo int) {
	payload := b[from:to]
	switch e.h.OpCode {
	case ws.OpPing:
		wsframe.PutHeader(b[from-2:from-2], true, ws.OpPong, int64(len(payload)))
		return from - 2, to
	case ws.OpClose:
		e.done = true
		n := 0
		if len(payload) > 0 {
			if len(payload) == 1 || !serveValidClose(payload) {
				out.tail = serveClose1002
				return from, from
			}
			n = 2 // echo the status code, drop the reason
		}
		wsframe.PutHeader(b[from-2:from-2], true, ws.OpClose, int64(n))
		return from - 2, from + n
	default: // Pong
		return from, from
	}
}

// serveValidClose reports whether a Close payload of 2 bytes or more carries
// a status code a peer may send and a UTF-8 reason (RFC 6455 §5.5.1, §7.4).
func serveValidClose(payload []byte) bool {
	code := ws.StatusCode(binary.BigEndian.Uint16(payload))
	return ws.CheckCloseFrameData(code, "") == nil && utf8.Valid(payload[2:])
}
