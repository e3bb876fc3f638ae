package codec

// How much of a TLS connection's first bytes is the client's ClientHello
// (RFC 8446 §4.1.2, §5.1; RFC 5246 §6.2.1): the event loop holds a
// connection until the whole message is there, so a client that sends half
// of one never takes a handshake goroutine.

import "errors"

// MaxClientHelloBytes is the most ClientHelloLen waits for: n never exceeds
// it, and a ClientHello whose records would end past it is ErrBadHello.
// ClientHellos with post-quantum key shares (X25519MLKEM768) take about
// 1.3–1.8 KB today; 64 KiB leaves room for larger ones while bounding what a
// connection can make the loop buffer.
const MaxClientHelloBytes = 64 << 10

var (
	// ErrHelloIncomplete is returned by ClientHelloLen while its input is a
	// valid start of a ClientHello flight: read more, then call again with
	// all the bytes.
	ErrHelloIncomplete = errors.New("codec: ClientHello incomplete")
	// ErrNotTLS is a connection whose first bytes cannot start a TLS record,
	// such as a plain HTTP request ('G' of GET) or an SSLv2-style
	// ClientHello (first byte 0x80).
	ErrNotTLS = errors.New("codec: not a TLS handshake")
	// ErrBadHello is a connection that starts with TLS records but not with
	// a ClientHello throng accepts. The errors ClientHelloLen returns wrap
	// it and say what was wrong; compare them with errors.Is.
	ErrBadHello = errors.New("codec: bad ClientHello")
)

// ClientHelloLen's ErrBadHello failures.
var (
	errHelloNotHandshake = &detailError{"codec: bad ClientHello: first record is not a handshake record", ErrBadHello}
	errHelloRecord       = &detailError{"codec: bad ClientHello: a record of another type or version interleaves", ErrBadHello}
	errHelloRecordLen    = &detailError{"codec: bad ClientHello: record length 0 or over 2^14", ErrBadHello}
	errHelloType         = &detailError{"codec: bad ClientHello: first handshake message is not a ClientHello", ErrBadHello}
	errHelloTooLong      = &detailError{"codec: bad ClientHello: longer than MaxClientHelloBytes", ErrBadHello}
)

// TLS record layer and handshake constants (RFC 8446 §5.1, §4; RFC 6520 for
// heartbeat).
const (
	recordHeaderLen      = 5       // type, legacy_record_version, length
	maxRecordPayload     = 1 << 14 // TLSPlaintext.length limit
	recordChangeCipher   = 20      // the lowest TLS content type
	recordHandshake      = 22
	recordHeartbeat      = 24 // the highest one a TLS 1.2 or 1.3 peer sends
	handshakeHeaderLen   = 4  // msg_type, uint24 length
	handshakeClientHello = 1
)

// recordVersionOK reports whether a record header's version bytes are one
// a ClientHello is sent in: 0x0301 to 0x0303 (TLS 1.3 keeps 0x0301 or
// 0x0303 there, RFC 8446 §5.1).
func recordVersionOK(major, minor byte) bool { return major == 3 && 1 <= minor && minor <= 3 }

// ClientHelloLen reports how many bytes at the start of b hold the client's
// first handshake message completely: handshake records (content type 22,
// version 0x0301–0x0303 in the record header), the message possibly
// fragmented over several of them (RFC 8446 §5.1). n is the end of the
// record completing it; a record may hold bytes past the message's end.
//
// While b is a valid start of such records, it returns ErrHelloIncomplete:
// the caller reads more and calls again with all the bytes. ErrNotTLS is a
// first record whose header cannot start TLS: a first byte that is no TLS
// content type (20–24) is enough to tell, so plain HTTP is known from its
// first byte; an SSLv2-compatible ClientHello (RFC 5246 Appendix E.2, first
// byte 0x80 or more) is ErrNotTLS too, as it is not a TLS record and
// crypto/tls refuses it. Errors wrapping ErrBadHello are returned as soon as
// the bytes show them: a first record of another TLS content type (an
// alert, say), a later one of another type or version (RFC 8446 §5.1 forbids
// interleaving), a record length of 0 or over 2^14, a first message that is
// not a ClientHello (type 1), or records that would end past
// MaxClientHelloBytes. The ClientHello's body is not parsed: crypto/tls does
// that.
//
// It does not allocate and does not retain b.
func ClientHelloLen(b []byte) (n int, err error) {
	// The first record header tells TLS from anything else.
	if len(b) == 0 {
		return 0, ErrHelloIncomplete
	}
	if b[0] < recordChangeCipher || b[0] > recordHeartbeat {
		return 0, ErrNotTLS
	}
	if len(b) > 1 && b[1] != 3 || len(b) > 2 && !recordVersionOK(b[1], b[2]) {
		return 0, ErrNotTLS
	}
	if len(b) < 3 {
		return 0, ErrHelloIncomplete
	}
	if b[0] != recordHandshake {
		return 0, errHelloNotHandshake
	}

	seen := 0    // bytes of the handshake header seen, up to 4
	bodyLen := 0 // the message's length, once its header is seen; then what is left of it
	for pos := 0; ; {
		if pos > 0 {
			if len(b) <= pos {
				return 0, ErrHelloIncomplete
			}
			if b[pos] != recordHandshake || len(b) > pos+1 && b[pos+1] != 3 ||
				len(b) > pos+2 && !recordVersionOK(b[pos+1], b[pos+2]) {
				return 0, errHelloRecord
			}
		}
		if len(b) <= pos+3 {
			return 0, ErrHelloIncomplete
		}
		// The length's high byte alone can put it over 2^14.
		if int(b[pos+3])<<8 > maxRecordPayload {
			return 0, errHelloRecordLen
		}
		if len(b) <= pos+4 {
			return 0, ErrHelloIncomplete
		}
		recLen := int(b[pos+3])<<8 | int(b[pos+4])
		if recLen == 0 || recLen > maxRecordPayload {
			return 0, errHelloRecordLen
		}
		recEnd := pos + recordHeaderLen + recLen
		if recEnd > MaxClientHelloBytes {
			return 0, errHelloTooLong
		}
		i := pos + recordHeaderLen
		// The handshake header may itself be split over records.
		for ; seen < handshakeHeaderLen && i < recEnd; i++ {
			if i >= len(b) {
				return 0, ErrHelloIncomplete
			}
			if seen == 0 && b[i] != handshakeClientHello {
				return 0, errHelloType
			}
			if seen > 0 {
				bodyLen = bodyLen<<8 | int(b[i])
			}
			seen++
			if seen == handshakeHeaderLen && i+1+bodyLen > MaxClientHelloBytes {
				return 0, errHelloTooLong // even if the rest came in this record
			}
		}
		if seen == handshakeHeaderLen {
			if bodyLen <= recEnd-i {
				// The record completes the message; wait for all of it.
				if len(b) < recEnd {
					return 0, ErrHelloIncomplete
				}
				return recEnd, nil
			}
			bodyLen -= recEnd - i
		}
		if len(b) < recEnd {
			return 0, ErrHelloIncomplete
		}
		pos = recEnd
	}
}
