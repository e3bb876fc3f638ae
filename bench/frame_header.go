package bench

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// frameViolation is what is wrong with a frame header (RFC 6455 §5.2–§5.5);
// each parser's caller maps it to its own preallocated error.
type frameViolation uint8

const (
	frameOK        frameViolation = iota
	frameReserved                 // RSV bits set (no extension is negotiated)
	frameMasking                  // masked when it must not be, or the reverse (§5.1)
	frameOpcode                   // reserved opcode
	frameControl                  // control frame fragmented or longer than 125 bytes (§5.5)
	frameTooLong                  // data frame longer than the limit
	frameBadLength                // 64-bit length with its top bit set (§5.2)
)

// parseFrameHeader parses the frame header at the start of p (RFC 6455
// §5.2): it returns the payload length, the first byte (FIN, RSV bits,
// opcode) and the header's size n, masking key included (the key is
// p[n-4:n] when masked). It returns n == 0 and frameOK while p holds only
// part of a header. Frames must be masked exactly when masked says (client
// frames are, server frames are not: §5.1), carry no RSV bits and a known
// opcode; control frames must be final and at most 125 bytes (§5.5); data
// frames at most maxLen bytes. It does not allocate.
func parseFrameHeader(p []byte, masked bool, maxLen int64) (length int64, b0 byte, n int, v frameViolation) {
	if len(p) < 2 {
		return 0, 0, 0, frameOK
	}
	b0, b1 := p[0], p[1]
	op := ws.OpCode(b0 & 0x0f)
	switch {
	case b0&0x70 != 0:
		return 0, b0, 0, frameReserved
	case (b1&0x80 != 0) != masked:
		return 0, b0, 0, frameMasking
	case op > ws.OpBinary && op < ws.OpClose, op > ws.OpPong:
		return 0, b0, 0, frameOpcode
	}
	n = 2
	switch l := b1 & 0x7f; l {
	case 126:
		if len(p) < 4 {
			return 0, b0, 0, frameOK
		}
		length, n = int64(binary.BigEndian.Uint16(p[2:4])), 4
	case 127:
		if len(p) < 10 {
			return 0, b0, 0, frameOK
		}
		u := binary.BigEndian.Uint64(p[2:10])
		if u>>63 != 0 {
			return 0, b0, 0, frameBadLength
		}
		length, n = int64(u), 10
	default:
		length = int64(l)
	}
	if op.IsControl() {
		if b0&0x80 == 0 || length > ws.MaxControlFramePayloadSize {
			return length, b0, 0, frameControl
		}
	} else if length > maxLen {
		return length, b0, 0, frameTooLong
	}
	if masked {
		if len(p) < n+4 {
			return length, b0, 0, frameOK
		}
		n += 4
	}
	return length, b0, n, frameOK
}
