package wsframe

import (
	"encoding/binary"

	"github.com/gobwas/ws"
)

// Header is the part of a frame header (RFC 6455 §5.2) that a reader acts
// on. RSV bits are always zero (ParseHeader refuses them), and the masking
// key of a masked frame is p[n-4:n], just before the payload. It is kept to
// three fields so that it is returned in registers: a [4]byte key in it
// would cost every frame a trip through memory.
type Header struct {
	Length int64
	OpCode ws.OpCode
	Fin    bool
}

// ParseHeader parses the frame header at the start of p (RFC 6455 §5.2),
// masking key included, and returns it with its size n. It returns n == 0
// and a nil error while p holds only part of a header. Frames must be masked
// exactly when masked says (client frames are, server frames are not:
// §5.1), carry no RSV bits and a known opcode; control frames must be final
// and at most 125 bytes (§5.5); data frames at most maxLen bytes. A
// violation is reported as soon as the bytes that show it are in p. The
// error is one of the package's *Error values. It does not allocate.
func ParseHeader(p []byte, masked bool, maxLen int64) (h Header, n int, err error) {
	if len(p) < 2 {
		return h, 0, nil
	}
	b0, b1 := p[0], p[1]
	h.Fin, h.OpCode = b0&0x80 != 0, ws.OpCode(b0&0x0f)
	switch {
	case b0&0x70 != 0:
		return h, 0, ErrReservedBits
	case (b1&0x80 != 0) != masked:
		return h, 0, ErrMask
	case h.OpCode > ws.OpBinary && h.OpCode < ws.OpClose, h.OpCode > ws.OpPong:
		return h, 0, ErrReservedOpcode
	}
	n = 2
	switch l := b1 & 0x7f; l {
	case 126:
		if len(p) < 4 {
			return h, 0, nil
		}
		h.Length, n = int64(binary.BigEndian.Uint16(p[2:4])), 4
	case 127:
		if len(p) < 10 {
			return h, 0, nil
		}
		u := binary.BigEndian.Uint64(p[2:10])
		if u>>63 != 0 {
			return h, 0, ErrBadLength
		}
		h.Length, n = int64(u), 10
	default:
		h.Length = int64(l)
	}
	if h.OpCode.IsControl() {
		if !h.Fin || h.Length > ws.MaxControlFramePayloadSize {
			return h, 0, ErrControl
		}
	} else if h.Length > maxLen {
		return h, 0, ErrTooLong
	}
	if masked {
		if len(p) < n+4 {
			return h, 0, nil
		}
		n += 4
	}
	return h, n, nil
}

// Mask returns the masking key of the masked frame whose header, of size
// n, starts p (RFC 6455 §5.3).
func Mask(p []byte, n int) (key [4]byte) {
	copy(key[:], p[n-4:n])
	return key
}

// HeaderSize returns the size of an unmasked frame header for a payload of
// n bytes (RFC 6455 §5.2).
func HeaderSize(n int64) int {
	switch {
	case n < 126:
		return 2
	case n <= 0xffff:
		return 4
	default:
		return 10
	}
}

// PutHeader writes an unmasked frame header with no RSV bits into dst's
// spare capacity and returns its length, HeaderSize(n) (RFC 6455 §5.2). dst
// must have that room: it never allocates, so a header can be written in
// place in front of a payload.
func PutHeader(dst []byte, fin bool, op ws.OpCode, n int64) int {
	dst = dst[:HeaderSize(n)]
	dst[0] = byte(op)
	if fin {
		dst[0] |= 0x80
	}
	switch len(dst) {
	case 2:
		dst[1] = byte(n)
	case 4:
		dst[1] = 126
		binary.BigEndian.PutUint16(dst[2:], uint16(n))
	default:
		dst[1] = 127
		binary.BigEndian.PutUint64(dst[2:], uint64(n))
	}
	return len(dst)
}

// AppendHeader appends the frame header h (RFC 6455 §5.2), masking key
// included when h.Masked, to dst. RSV bits are not written. It allocates
// only to grow dst.
func AppendHeader(dst []byte, h ws.Header) []byte {
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
