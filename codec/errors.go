package codec

import "errors"

// HandshakeError is a rejected client handshake: what the client is told.
// The values are the preallocated sentinels below; compare them with
// errors.Is or read Status and Header through errors.As.
type HandshakeError struct {
	Status int    // HTTP status to answer with
	Header string // extra header lines to send, each ending in "\r\n", or ""
	msg    string // "codec: ..." for logs
}

// Error returns the log message, e.g. "codec: handshake is not a GET". It does
// not allocate.
func (e *HandshakeError) Error() string { return e.msg }

// Client handshake failures (RFC 6455 §4.2.1, RFC 9112), returned by
// ParseRequest. Each carries the HTTP status the client is answered with.
var (
	// ErrMalformed is a request head that is not valid HTTP/1.1 syntax, or
	// whose target is not in origin form.
	ErrMalformed = &HandshakeError{Status: 400, msg: "codec: malformed request"}
	// ErrNotGet is a handshake whose method is not GET (RFC 6455 §4.2.1 item 1).
	ErrNotGet = &HandshakeError{Status: 405, msg: "codec: handshake method is not GET"}
	// ErrHTTP10 is a handshake sent as HTTP/1.0 (RFC 6455 §4.2.1 item 1).
	ErrHTTP10 = &HandshakeError{Status: 400, msg: "codec: handshake is HTTP/1.0"}
	// ErrNotUpgrade is a request without "Upgrade: websocket" (RFC 6455
	// §4.2.1 item 3); the answer names the protocol (RFC 9110 §15.5.22).
	ErrNotUpgrade = &HandshakeError{Status: 426, Header: "Upgrade: websocket\r\n", msg: "codec: no Upgrade: websocket"}
	// ErrNoConnectionUpgrade is a request whose Connection header lacks the
	// "upgrade" token (RFC 6455 §4.2.1 item 4).
	ErrNoConnectionUpgrade = &HandshakeError{Status: 400, msg: "codec: no Connection: upgrade"}
	// ErrBadVersion is a missing Sec-WebSocket-Version or one other than 13;
	// the answer names the version throng speaks (RFC 6455 §4.2.2 item 4).
	ErrBadVersion = &HandshakeError{Status: 426, Header: "Sec-WebSocket-Version: 13\r\n", msg: "codec: bad Sec-WebSocket-Version"}
	// ErrBadKey is a missing Sec-WebSocket-Key or one that is not the base64
	// encoding of 16 bytes (RFC 6455 §4.2.1 item 5).
	ErrBadKey = &HandshakeError{Status: 400, msg: "codec: bad Sec-WebSocket-Key"}
	// ErrNoHost is a request without a Host header or with an empty one
	// (RFC 9112 §3.2, RFC 6455 §4.2.1 item 2).
	ErrNoHost = &HandshakeError{Status: 400, msg: "codec: no Host"}
	// ErrDuplicateHeader is Host or Sec-WebSocket-Key sent twice
	// (RFC 9110 §7.2, RFC 6455 §11.3.1).
	ErrDuplicateHeader = &HandshakeError{Status: 400, msg: "codec: duplicate Host or Sec-WebSocket-Key"}
	// ErrHasBody is a handshake announcing a body: any Content-Length, "0"
	// included, or any Transfer-Encoding.
	ErrHasBody = &HandshakeError{Status: 400, msg: "codec: handshake has a body"}
	// ErrHeadTooLarge is a head longer than the configured limit; the engine
	// returns it, ParseRequest does not.
	ErrHeadTooLarge = &HandshakeError{Status: 431, msg: "codec: request head too large"}
	// ErrTooManyHeaders is a head with more than MaxHeaders header lines.
	ErrTooManyHeaders = &HandshakeError{Status: 431, msg: "codec: too many header lines"}
)

// Backend response failures, returned by ParseResponse, CheckUpgrade,
// Response.Body and ChunkedDecoder. The engine answers the client 502 for all
// of them.
var (
	// ErrBadResponse is a response head that is not valid HTTP/1.1, or whose
	// body framing is invalid or unsupported.
	ErrBadResponse = errors.New("codec: malformed response")
	// ErrBadAccept is a 101 whose Sec-WebSocket-Accept is missing, repeated
	// or wrong (RFC 6455 §4.1, client check 4).
	ErrBadAccept = errors.New("codec: bad Sec-WebSocket-Accept")
	// ErrBadUpgradeResponse is a 101 without "Upgrade: websocket" or
	// "Connection: upgrade" (RFC 6455 §4.1, client checks 2 and 3), or a
	// response to CheckUpgrade whose status is not 101.
	ErrBadUpgradeResponse = errors.New("codec: bad upgrade response")
	// ErrUnofferedProtocol is a 101 selecting a subprotocol the client did
	// not offer, or more than one (RFC 6455 §4.1, client check 6).
	ErrUnofferedProtocol = errors.New("codec: unoffered subprotocol")
	// ErrUnofferedExtension is a 101 accepting an extension the client did
	// not offer (RFC 6455 §4.1, client check 5).
	ErrUnofferedExtension = errors.New("codec: unoffered extension")
	// ErrBadChunk is a malformed chunked body (RFC 9112 §7.1).
	ErrBadChunk = errors.New("codec: malformed chunked body")
)
