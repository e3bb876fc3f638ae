package codec

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Frame-header violations (RFC 6455 §5.2–§5.5, RFC 7692 §6.1), returned by
// Stream.Scan. Each is a preallocated *CloseError carrying the close code the
// sending peer is told.
var (
	// ErrMaskRequired is a client frame without a mask (RFC 6455 §5.1).
	ErrMaskRequired = &CloseError{Code: ws.StatusProtocolError, msg: "codec: client frame not masked"}
	// ErrMaskUnexpected is a server frame with a mask (RFC 6455 §5.1).
	ErrMaskUnexpected = &CloseError{Code: ws.StatusProtocolError, msg: "codec: server frame masked"}
	// ErrReservedOpcode is an opcode 0x3–0x7 or 0xB–0xF (RFC 6455 §5.2).
	ErrReservedOpcode = &CloseError{Code: ws.StatusProtocolError, msg: "codec: reserved opcode"}
	// ErrReservedBits is an RSV bit no negotiated extension allows: RSV1
	// outside the first frame of a data message or without permessage-deflate
	// (RFC 7692 §6.1), RSV2 or RSV3 without another extension (RFC 6455 §5.2).
	ErrReservedBits = &CloseError{Code: ws.StatusProtocolError, msg: "codec: reserved bits set"}
	// ErrControlTooLong is a control frame with more than 125 bytes of payload
	// (RFC 6455 §5.5).
	ErrControlTooLong = &CloseError{Code: ws.StatusProtocolError, msg: "codec: control frame too long"}
	// ErrControlFragmented is a control frame without FIN (RFC 6455 §5.5).
	ErrControlFragmented = &CloseError{Code: ws.StatusProtocolError, msg: "codec: control frame fragmented"}
	// ErrUnexpectedContinuation is a continuation frame outside a fragmented
	// message (RFC 6455 §5.4).
	ErrUnexpectedContinuation = &CloseError{Code: ws.StatusProtocolError, msg: "codec: unexpected continuation frame"}
	// ErrExpectedContinuation is a text or binary frame while a fragmented
	// message is open (RFC 6455 §5.4).
	ErrExpectedContinuation = &CloseError{Code: ws.StatusProtocolError, msg: "codec: expected continuation frame"}
	// ErrBadClosePayload is a Close frame with a 1-byte payload, too short for
	// a code (RFC 6455 §5.5.1).
	ErrBadClosePayload = &CloseError{Code: ws.StatusProtocolError, msg: "codec: close payload of 1 byte"}
	// ErrFrameTooLarge is a payload length above the Stream's limit; it is
	// reported before any byte of that frame is forwarded.
	ErrFrameTooLarge = &CloseError{Code: ws.StatusMessageTooBig, msg: "codec: frame too large"}
	// ErrBadLength is a 64-bit payload length with its most significant bit
	// set (RFC 6455 §5.2). Non-minimal length encodings are accepted.
	ErrBadLength = &CloseError{Code: ws.StatusProtocolError, msg: "codec: bad payload length"}
	// ErrBadCloseCode is a Close frame whose status code may not appear on
	// the wire: 0–999, 1004 (reserved), 1005, 1006 and 1015 (RFC 6455
	// §7.4.1: never sent in a Close), 1016–2999 (reserved, §7.4.2) and
	// 5000 and over. See ValidCloseCode.
	ErrBadCloseCode = &CloseError{Code: ws.StatusProtocolError, msg: "codec: close code not allowed on the wire"}
	// ErrBadCloseReason is a Close frame whose reason is not valid UTF-8
	// (RFC 6455 §5.5.1).
	ErrBadCloseReason = &CloseError{Code: ws.StatusProtocolError, msg: "codec: close reason not UTF-8"}
)

// violation names a Scan failure in one byte, so a failed Stream can return
// its error again without holding an 8-byte pointer.
type violation uint8

const (
	vNone violation = iota
	vMaskRequired
	vMaskUnexpected
	vReservedOpcode
	vReservedBits
	vControlTooLong
	vControlFragmented
	vUnexpectedContinuation
	vExpectedContinuation
	vBadClosePayload
	vFrameTooLarge
	vBadLength
	vBadCloseCode
	vBadCloseReason
	// vCloseFrame is no violation: parse's mark for a valid Close header,
	// whose payload Scan checks before forwarding it. Folding it into the
	// violation keeps data frames on the one branch they already take.
	vCloseFrame
)

func (v violation) err() error {
	switch v {
	case vMaskRequired:
		return ErrMaskRequired
	case vMaskUnexpected:
		return ErrMaskUnexpected
	case vReservedOpcode:
		return ErrReservedOpcode
	case vReservedBits:
		return ErrReservedBits
	case vControlTooLong:
		return ErrControlTooLong
	case vControlFragmented:
		return ErrControlFragmented
	case vUnexpectedContinuation:
		return ErrUnexpectedContinuation
	case vExpectedContinuation:
		return ErrExpectedContinuation
	case vBadClosePayload:
		return ErrBadClosePayload
	case vFrameTooLarge:
		return ErrFrameTooLarge
	case vBadLength:
		return ErrBadLength
	case vBadCloseCode:
		return ErrBadCloseCode
	case vBadCloseReason:
		return ErrBadCloseReason
	}
	return nil
}

// Role says which side sent the bytes a Stream sees.
type Role uint8

const (
	// FromClient is the client-to-backend direction: every frame must be
	// masked (RFC 6455 §5.1).
	FromClient Role = iota
	// FromServer is the backend-to-client direction: no frame may be masked
	// (RFC 6455 §5.1).
	FromServer
)

// String returns "client" or "server". It does not allocate.
func (r Role) String() string {
	if r == FromServer {
		return "server"
	}
	return "client"
}

// Stream flags.
const (
	fServer       = 1 << iota // frames must not be masked
	fDeflate                  // permessage-deflate: RSV1 on first data frames
	fOther                    // another extension: any RSV bit anywhere
	fInMessage                // a fragmented data message is open
	fClose                    // the current frame is a Close
	fCloseSeen                // a whole Close frame has been scanned
	fClosePending             // Scan stopped at a Close frame not yet whole
)

// noMax in Stream.max means no limit on a frame's payload.
const noMax = 1<<32 - 1

// partTail is how many bytes of a held-back header do not fit in remain.
const partTail = ws.MaxHeaderSize - 1 - 8

// Stream follows one direction of a WebSocket connection frame by frame
// (RFC 6455 §5), so the proxy can relay it verbatim and cut-through: it
// validates each frame header and skips payload bytes without reading them.
// The zero value is not usable: call Init. A Stream is 48 bytes and holds no
// pointers. It is not safe for concurrent use: it belongs to the session's
// loop.
type Stream struct {
	// remain is how many payload bytes of the current frame are still to
	// come. While npart != 0 the stream is between frames, so remain is free
	// and holds instead bytes 0–7 of the held-back partial header
	// (little-endian), and part bytes 8–12: this keeps Stream at 48 bytes.
	remain uint64
	frames uint64 // headers accepted
	// max is the largest payload accepted; noMax for no limit (and for
	// any limit of 4 GiB or more), which keeps Stream at 48 bytes beside
	// msgs.
	max  uint32
	msgs uint32 // data messages whose last frame's header was accepted (wraps)
	// held keeps the bytes of a held-back header once it completes, for
	// Scan to return; a new partial header may be held in the same call.
	held  [ws.MaxHeaderSize - 1]byte
	part  [partTail]byte
	npart uint8 // length of the held-back partial header, 0–13
	flags uint8
	fail  violation // first violation; the Stream is dead once set
	// closeCode is the status code of the Close relayed (1005 for one
	// without a code), 0 before it.
	closeCode uint16
}

// Init prepares s for a new connection, forgetting any earlier state.
// maxFrame is the largest payload length allowed (0, or 4 GiB and more,
// means no limit). deflate
// says permessage-deflate was negotiated, so RSV1 may be set on the first
// frame of a data message (RFC 7692 §6.1); other says some other extension
// was negotiated, so any RSV bit may be set on any frame (RFC 6455 §5.2).
// It does not allocate.
func (s *Stream) Init(role Role, maxFrame uint64, deflate, other bool) {
	*s = Stream{max: noMax}
	if maxFrame != 0 && maxFrame < noMax {
		s.max = uint32(maxFrame)
	}
	if role == FromServer {
		s.flags |= fServer
	}
	if deflate {
		s.flags |= fDeflate
	}
	if other {
		s.flags |= fOther
	}
}

// Scan advances over p, the next bytes of this direction, and says which of
// them the proxy may forward now. The caller forwards held, then p[:n].
//
// held is the header that an earlier Scan held back, now complete and valid;
// usually it is empty. It points into s and is valid until the next call on s.
//
// n counts the bytes of p that may be forwarded: whole frame headers that
// passed validation and payload bytes, up to and including a Close frame
// (see CloseSeen). n < len(p) when p ends in an
// incomplete header: those bytes (at most 13) are copied into s and held back
// for a later Scan, so the caller discards all of p. n < len(p) also when err
// is not nil: held and p[:n] are then the valid bytes before the offending
// header, which the caller may forward before failing the session with err's
// code.
//
// A Close frame is forwarded only whole, once its status code and reason
// have been checked (RFC 6455 §5.5.1, §7.4): when p ends inside one, Scan
// stops at its first byte, n ends there, nothing of it is copied into s, and
// ClosePending reports true. The caller then keeps p[n:] (at most 131 bytes)
// and passes it again, followed by the bytes that come next, in the
// following call: bufio.SplitFunc's "return 0 for more".
//
// err is a *CloseError for the first violation found (RFC 6455 §5.2–§5.5,
// §7.4); a header is checked as soon as its first two bytes are present,
// its length as soon as the extended length is, and a Close frame's payload
// once the frame is whole. Afterwards s only returns the same error again.
//
// Scan does not allocate and does not modify p. It costs O(1) per frame
// header and per call: payload bytes are jumped over, never read.
func (s *Stream) Scan(p []byte) (held []byte, n int, err error) { return s.scan(p, nil) }

// Gate says where ScanGated stops, and reports what it stopped at. The
// caller owns it and sets Data and Pongs; the Stream writes the rest.
type Gate struct {
	// Length is the payload length of the frame stopped at: for a data
	// frame all of it is still to come, for a Pong it has been scanned.
	Length uint64
	// Data asks for a stop right after each data frame header (text,
	// binary, continuation); Pongs and Pings for a stop right after each
	// whole Pong or Ping.
	Data, Pongs, Pings bool
	// Stopped says the last ScanGated stopped: after a data frame header
	// whose Size bytes end held and p[:n], Split of them in held (the rest
	// end p[:n]); or, with Pong (or Ping) set, after a whole Pong (Ping)
	// frame of Size + Length bytes that ends p[:n] (Split is 0: such a
	// frame is never held).
	Stopped, Pong, Ping bool
	Size, Split         uint8
	// First marks a message's first frame (text or binary), Fin its last.
	First, Fin bool
}

// ScanGated is Scan, except that it stops where g asks, describing the
// frame in g, so that the caller can decide on it: right after each data
// frame header (g.Data), before its payload goes out, to forward the
// header or drop it and the next g.Length payload bytes; after each whole
// Pong (g.Pongs), to recognise the answer to a Ping of its own; after
// each whole Ping (g.Pings), to answer it itself. While g.Pongs (g.Pings)
// is set a Pong (Ping) is, like a Close, never held in s: when p ends
// inside one, Scan stops at its first byte and ClosePending reports true.
// It serves per-message limits and proxy pings (docs/policy.md); it costs
// one return per stop, so the relay uses it only for sessions that need
// it. A data frame's payload is accounted as still due (AtBoundary is
// false until it has been scanned). It does not allocate.
func (s *Stream) ScanGated(p []byte, g *Gate) (held []byte, n int, err error) {
	g.Stopped, g.Pong, g.Ping = false, false, false
	return s.scan(p, g)
}

// Cut splits what a ScanGated returned (held, then p[:n] as out) at the
// frame it stopped at: pre (in two parts) comes before it, hdr (in two
// parts) is the data frame's header, or the whole Pong. When g is not
// Stopped, everything is pre.
func (g *Gate) Cut(held, out []byte) (preHeld, pre, hdrHeld, hdr []byte) {
	if !g.Stopped {
		return held, out, nil, nil
	}
	split, inOut := int(g.Split), int(g.Size-g.Split)
	if g.Pong || g.Ping {
		inOut += int(g.Length)
	}
	return held[:len(held)-split], out[:len(out)-inOut], held[len(held)-split:], out[len(out)-inOut:]
}

// gateAt reports whether a gated scan stops at the header just accepted
// (first byte b0), and if so fills g; the whole payload is then still due.
func (s *Stream) gateAt(g *Gate, b0 byte, size, split int, length uint64) bool {
	if g == nil || !g.Data || ws.OpCode(b0&0x0f).IsControl() {
		return false
	}
	g.Length, g.Stopped, g.Size, g.Split = length, true, uint8(size), uint8(split)
	g.First, g.Fin = ws.OpCode(b0&0x0f) != ws.OpContinuation, b0&0x80 != 0
	s.remain = length
	return true
}

// pongAt handles a Pong or Ping header at the start of b (parse gave size and
// length) for a gated scan that stops at Pongs. It reports whether the
// scan stops here: with whole false when b ends inside the frame (the
// caller keeps b, as for a Close), with whole true after accepting it.
func (s *Stream) pongAt(g *Gate, b []byte, size int, length uint64) (stop, whole bool) {
	if g == nil {
		return false, false
	}
	op := ws.OpCode(b[0] & 0x0f)
	if !(op == ws.OpPong && g.Pongs || op == ws.OpPing && g.Pings) {
		return false, false
	}
	// length <= 125: parse checked it.
	if size == 0 || len(b) < size || uint64(len(b)-size) < length {
		s.flags |= fClosePending
		return true, false
	}
	s.accept(b[0], length)
	g.Length, g.Stopped, g.Pong, g.Ping, g.Size, g.Split = length, true, op == ws.OpPong, op == ws.OpPing, uint8(size), 0
	g.First, g.Fin = false, true
	return true, true
}

func (s *Stream) scan(p []byte, g *Gate) (held []byte, n int, err error) {
	if s.fail != vNone {
		return nil, 0, s.fail.err()
	}
	s.flags &^= fClosePending
	i := 0
	switch {
	case s.npart != 0:
		var length uint64
		var done bool
		var v violation
		held, i, length, done, v = s.resume(p)
		if v != vNone {
			return nil, 0, s.failWith(v)
		}
		if !done {
			return nil, 0, nil
		}
		// resume held at least one byte, so held[0] is the header's first.
		if g != nil && s.gateAt(g, held[0], len(held)+i, len(held), length) {
			return held, i, nil
		}
		if left := uint64(len(p) - i); length > left {
			s.remain = length - left
			return held, len(p), nil
		}
		i += int(length)
		s.endPayload()
	case s.remain != 0:
		if uint64(len(p)) < s.remain {
			s.remain -= uint64(len(p))
			return nil, len(p), nil
		}
		i = int(s.remain)
		s.remain = 0
		s.endPayload()
	}
	// Nothing after a Close is forwarded (see CloseSeen): the loop stops
	// there, and a later call returns n == 0.
	for i < len(p) && s.flags&fCloseSeen == 0 {
		size, length, v := s.parse(p[i:])
		if v != vNone {
			if v != vCloseFrame {
				return held, i, s.failWith(v)
			}
			// length <= 125: parse checked it.
			if len(p)-i < size || uint64(len(p)-i-size) < length {
				s.flags |= fClosePending
				return held, i, nil
			}
			code, v := checkClosePayload(p[i:i+size+int(length)], size)
			if v != vNone {
				return held, i, s.failWith(v)
			}
			s.closeCode = uint16(code)
		} else if g != nil {
			if stop, whole := s.pongAt(g, p[i:], size, length); stop {
				if whole {
					i += size + int(length)
				}
				return held, i, nil
			}
		}
		if size == 0 || len(p)-i < size {
			if ws.OpCode(p[i]&0x0f) == ws.OpClose {
				// One byte of a Close: not held in s, like all of one.
				s.flags |= fClosePending
				return held, i, nil
			}
			s.hold(p[i:])
			return held, i, nil
		}
		s.accept(p[i], length)
		i += size
		if g != nil && s.gateAt(g, p[i-size], size, 0, length) {
			return held, i, nil
		}
		if left := uint64(len(p) - i); length > left {
			s.remain = length - left
			return held, len(p), nil
		}
		i += int(length)
		s.endPayload()
	}
	return held, i, nil
}

// AtBoundary reports whether everything forwarded so far ends exactly at a
// frame boundary: no payload is still due. A header held back does not count,
// since none of it was forwarded. Only then may the proxy inject a frame of
// its own (a Close) toward this stream's receiver, and it must forward
// nothing more of this stream afterwards. It is true after Scan has failed,
// since the offending header was not forwarded.
func (s *Stream) AtBoundary() bool { return s.npart != 0 || s.remain == 0 }

// InMessage reports whether a fragmented data message is open: its first
// frame has been accepted, its final frame not yet (RFC 6455 §5.4).
func (s *Stream) InMessage() bool { return s.flags&fInMessage != 0 }

// ClosePending reports whether the last Scan stopped at a Close frame that
// is not whole yet: the caller must pass the bytes from there on again.
func (s *Stream) ClosePending() bool { return s.flags&fClosePending != 0 }

// MidFrame reports whether this direction stands inside a frame: part of a
// header, some but not all of a payload, or part of a Close has arrived. A
// peer that keeps a stream mid-frame for long holds the session open
// without finishing anything (docs/tuning.md, "Slow senders").
func (s *Stream) MidFrame() bool {
	return s.remain != 0 || s.npart != 0 || s.flags&fClosePending != 0
}

// CloseSeen reports whether a whole Close frame, header and payload, has been
// scanned in this direction (RFC 6455 §5.5.1). A Close ends the stream: an
// endpoint must not send anything after it, so Scan stops right after the
// Close (n ends there) and returns n == 0 for every later call. The bytes it
// did not count are dropped, never forwarded.
func (s *Stream) CloseSeen() bool { return s.flags&fCloseSeen != 0 }

// Frames returns how many frame headers have been accepted, for access logs.
func (s *Stream) Frames() uint64 { return s.frames }

// CloseCode is the status code of the Close frame this direction carried,
// once it was seen whole and valid (1005 when it had no code), else 0.
func (s *Stream) CloseCode() ws.StatusCode { return ws.StatusCode(s.closeCode) }

// Messages counts the data messages whose final frame's header has been
// accepted, modulo 2³²: the difference of two readings is exact as long as
// fewer than 2³² messages passed between them. It does not allocate.
func (s *Stream) Messages() uint32 { return s.msgs }

// parse examines the header at the start of b, which may hold only part of
// it. size is the header's length in bytes, 0 while b holds fewer than 2;
// length is the payload length once b holds the extended length. v is the
// first rule broken by the bytes present, or vCloseFrame for a Close header
// that breaks none. The checks on the first two bytes
// come before those on the extended length, so a header gives the same
// answer whether it arrives whole or in pieces.
func (s *Stream) parse(b []byte) (size int, length uint64, v violation) {
	if len(b) < 2 {
		return 0, 0, vNone
	}
	b0, b1 := b[0], b[1]
	op := ws.OpCode(b0 & 0x0f)
	if op.IsReserved() {
		return 0, 0, vReservedOpcode
	}
	masked := b1&0x80 != 0
	if s.flags&fServer != 0 {
		if masked {
			return 0, 0, vMaskUnexpected
		}
	} else if !masked {
		return 0, 0, vMaskRequired
	}
	if rsv := b0 & 0x70; rsv != 0 && s.flags&fOther == 0 {
		// RFC 7692 §6.1: RSV1 marks a compressed message, on its first frame.
		if rsv != 0x40 || s.flags&fDeflate == 0 || (op != ws.OpText && op != ws.OpBinary) {
			return 0, 0, vReservedBits
		}
	}
	l7 := b1 & 0x7f
	mark := vNone
	switch {
	case op.IsControl():
		switch {
		case b0&0x80 == 0:
			return 0, 0, vControlFragmented
		case l7 > ws.MaxControlFramePayloadSize:
			return 0, 0, vControlTooLong
		case op == ws.OpClose && l7 == 1:
			return 0, 0, vBadClosePayload
		case op == ws.OpClose:
			mark = vCloseFrame
		}
	case op == ws.OpContinuation:
		if s.flags&fInMessage == 0 {
			return 0, 0, vUnexpectedContinuation
		}
	case s.flags&fInMessage != 0:
		return 0, 0, vExpectedContinuation
	}
	size = 2
	if masked {
		size += 4
	}
	switch l7 {
	case 126:
		size += 2
		if len(b) < 4 {
			return size, 0, vNone
		}
		length = uint64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		size += 8
		if len(b) < 10 {
			return size, 0, vNone
		}
		length = binary.BigEndian.Uint64(b[2:10])
		if length>>63 != 0 {
			return 0, 0, vBadLength
		}
	default:
		length = uint64(l7)
	}
	if length > uint64(s.max) && s.max != noMax {
		return 0, 0, vFrameTooLarge
	}
	return size, length, mark
}

// checkClosePayload checks a whole Close frame f whose header is size bytes
// long: its status code must be one allowed on the wire and its reason
// valid UTF-8 (RFC 6455 §5.5.1, §7.4). A client's payload is unmasked into
// a copy on the stack first; f is not modified.
func checkClosePayload(f []byte, size int) (ws.StatusCode, violation) {
	payload := f[size:]
	if len(payload) == 0 {
		return ws.StatusNoStatusRcvd, vNone // no status code: allowed (§5.5.1)
	}
	var buf [ws.MaxControlFramePayloadSize]byte
	b := buf[:copy(buf[:], payload)]
	if f[1]&0x80 != 0 {
		var mask [4]byte
		copy(mask[:], f[size-4:size])
		ws.Cipher(b, mask, 0)
	}
	code := ws.StatusCode(binary.BigEndian.Uint16(b))
	if !ValidCloseCode(code) {
		return 0, vBadCloseCode
	}
	if !utf8.Valid(b[2:]) {
		return 0, vBadCloseReason
	}
	return code, vNone
}

// ValidCloseCode reports whether code may be sent in a Close frame (RFC 6455
// §7.4): 1000–1003, 1007–1014 (1012–1014 registered with IANA since) and
// 3000–4999. 1005, 1006 and 1015 are for APIs and logs only, 1004 and
// 1016–2999 are reserved, the rest undefined. It does not allocate.
func ValidCloseCode(code ws.StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// accept records a header that parse found whole and valid; b0 is its first
// byte.
func (s *Stream) accept(b0 byte, length uint64) {
	s.frames++
	op := ws.OpCode(b0 & 0x0f)
	s.flags &^= fClose
	switch {
	case op == ws.OpClose:
		s.flags |= fClose
	case op.IsControl():
	case b0&0x80 != 0:
		s.flags &^= fInMessage
		s.msgs++
	default:
		s.flags |= fInMessage
	}
}

// endPayload records that the current frame's payload has all been scanned.
func (s *Stream) endPayload() {
	if s.flags&fClose != 0 {
		s.flags |= fCloseSeen
	}
}

// resume completes the header held back by an earlier Scan with bytes from
// the start of p. If the header is still incomplete, all of p is added to it
// and done is false. If it is complete and valid, it is accepted, used is how
// many bytes of p it took, length is its payload length, and its held-back
// bytes are copied to s.held and returned as held.
func (s *Stream) resume(p []byte) (held []byte, used int, length uint64, done bool, v violation) {
	var h [ws.MaxHeaderSize]byte
	binary.LittleEndian.PutUint64(h[:8], s.remain)
	copy(h[8:], s.part[:])
	old := int(s.npart)
	k := copy(h[old:], p)
	// A Close is never held (Scan keeps it whole), so v is never
	// vCloseFrame here.
	size, length, v := s.parse(h[:old+k])
	if v != vNone {
		return nil, 0, 0, false, v
	}
	if size == 0 || old+k < size {
		// size <= len(h), so a header still incomplete took all of p.
		s.hold(h[:old+k])
		return nil, len(p), 0, false, vNone
	}
	s.npart = 0
	s.remain = 0
	s.accept(h[0], length)
	held = s.held[:copy(s.held[:], h[:old])]
	return held, size - old, length, true, vNone
}

// hold keeps b, a partial header of at most 13 bytes, for the next Scan.
func (s *Stream) hold(b []byte) {
	var h [ws.MaxHeaderSize]byte
	copy(h[:], b)
	s.remain = binary.LittleEndian.Uint64(h[:8])
	copy(s.part[:], h[8:])
	s.npart = uint8(len(b))
}

// failWith marks s dead with v and returns v's error. Nothing is held back
// any more, so AtBoundary reports true.
func (s *Stream) failWith(v violation) error {
	s.fail = v
	s.npart = 0
	s.remain = 0
	return v.err()
}
