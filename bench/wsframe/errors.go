package wsframe

import "github.com/gobwas/ws"

// Error is a frame that breaks RFC 6455, with the close code the sender is
// told (RFC 6455 §7.4.1). Every Error is one of the preallocated values
// below, so the hot path never builds one; compare with errors.Is.
type Error struct {
	// Code is the close code that answers the frame: 1002, or 1009 for a
	// frame over the reader's limit.
	Code ws.StatusCode
	msg  string
}

// Error returns the message, prefixed "wsframe: ".
func (e *Error) Error() string { return e.msg }

// Frame errors (RFC 6455 §5.1–§5.5). ParseHeader returns the first six; the
// last two are for readers that follow messages across frames.
var (
	// ErrReservedBits is a frame with RSV bits set: no extension is ever
	// negotiated (§5.2).
	ErrReservedBits = &Error{ws.StatusProtocolError, "wsframe: RSV bits set"}
	// ErrMask is a frame masked when its sender must not mask (a server), or
	// unmasked when it must (a client) (§5.1).
	ErrMask = &Error{ws.StatusProtocolError, "wsframe: frame masked against its sender's role"}
	// ErrReservedOpcode is an opcode 0x3–0x7 or 0xB–0xF (§5.2).
	ErrReservedOpcode = &Error{ws.StatusProtocolError, "wsframe: reserved opcode"}
	// ErrControl is a control frame without FIN or with more than 125 bytes
	// of payload (§5.5).
	ErrControl = &Error{ws.StatusProtocolError, "wsframe: fragmented or long control frame"}
	// ErrTooLong is a data frame longer than the reader's limit.
	ErrTooLong = &Error{ws.StatusMessageTooBig, "wsframe: frame longer than the limit"}
	// ErrBadLength is a 64-bit payload length with its top bit set (§5.2).
	ErrBadLength = &Error{ws.StatusProtocolError, "wsframe: 64-bit length with its top bit set"}
	// ErrUnexpectedContinuation is a continuation frame with no fragmented
	// message open (§5.4).
	ErrUnexpectedContinuation = &Error{ws.StatusProtocolError, "wsframe: continuation with no message open"}
	// ErrExpectedContinuation is a text or binary frame while a fragmented
	// message is open (§5.4).
	ErrExpectedContinuation = &Error{ws.StatusProtocolError, "wsframe: message started inside another"}
)
