package codec

import (
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Close codes registered with IANA (RFC 6455 §11.7) that gobwas/ws does not
// define.
const (
	// StatusTryAgainLater (1013) tells a peer the proxy is overloaded, e.g.
	// it was too slow a consumer and had to be cut off.
	StatusTryAgainLater ws.StatusCode = 1013
	// StatusBadGateway (1014) tells a client that the backend failed.
	StatusBadGateway ws.StatusCode = 1014
)

// maxCloseReason is the longest reason a Close frame carries: a control
// payload is at most 125 bytes (RFC 6455 §5.5), 2 of which are the code.
const maxCloseReason = ws.MaxControlFramePayloadSize - 2

// CloseError is a protocol failure of a peer. Code is the close code the
// proxy tells that peer (RFC 6455 §7.4.1). The values are preallocated
// sentinels (see frame.go): compare them with errors.Is, or read Code through
// errors.As.
type CloseError struct {
	Code ws.StatusCode // close code to send to the failing peer
	msg  string        // "codec: ..." for logs
}

// Error returns the log message, e.g. "codec: control frame too long". It does
// not allocate.
func (e *CloseError) Error() string { return e.msg }

// AppendClose appends to dst a Close frame as a server sends it: unmasked,
// FIN set, payload the 2-byte big-endian code followed by reason (RFC 6455
// §5.5.1). A reason longer than 123 bytes is cut to fit the 125-byte control
// payload limit, at a UTF-8 character boundary so a valid reason stays valid
// (§5.5.1 requires UTF-8). Code 0 gives an empty payload and drops reason.
// The caller must not pass the codes 1005, 1006 or 1015 (§7.4.1).
//
// It does not allocate when dst has room for the frame (at most 127 bytes).
// It is safe off the loop.
func AppendClose(dst []byte, code ws.StatusCode, reason string) []byte {
	return appendClose(dst, code, reason, false, [4]byte{})
}

// AppendMaskedClose is AppendClose for the client role: the frame is masked
// with mask and its payload XORed with it (RFC 6455 §5.3). The proxy uses it
// toward a backend, which must only receive masked frames.
//
// It does not allocate when dst has room for the frame (at most 131 bytes).
// It is safe off the loop.
func AppendMaskedClose(dst []byte, code ws.StatusCode, reason string, mask [4]byte) []byte {
	return appendClose(dst, code, reason, true, mask)
}

// AppendServerFrame appends one final, unmasked frame of op carrying
// payload (RFC 6455 §5.2): what the proxy itself sends a client (a Ping,
// a Pong, a fan-out message). It does not allocate when dst has room.
func AppendServerFrame(dst []byte, op ws.OpCode, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x80|byte(op), byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|byte(op), 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|byte(op), 127)
		for i := 7; i >= 0; i-- {
			dst = append(dst, byte(uint64(n)>>(8*i)))
		}
	}
	return append(dst, payload...)
}

func appendClose(dst []byte, code ws.StatusCode, reason string, masked bool, mask [4]byte) []byte {
	size := 0
	if code != 0 {
		if len(reason) > maxCloseReason {
			cut := maxCloseReason
			for cut > 0 && !utf8.RuneStart(reason[cut]) {
				cut--
			}
			reason = reason[:cut]
		}
		size = 2 + len(reason)
	}
	b1 := byte(size)
	if masked {
		b1 |= 0x80
	}
	dst = append(dst, 0x80|byte(ws.OpClose), b1)
	if masked {
		dst = append(dst, mask[:]...)
	}
	if size == 0 {
		return dst
	}
	start := len(dst)
	dst = append(dst, byte(code>>8), byte(code))
	dst = append(dst, reason...)
	if masked {
		ws.Cipher(dst[start:], mask, 0)
	}
	return dst
}
